//! C# as taught today on a compiler that stops at C# 7.2 (Mono's `mcs`): top-level statements are
//! wrapped in a generated entry point with line numbers kept, compile errors are read back as
//! file/line/column, and features the compiler lacks are named with the runtime that has them.

/// A compile error at a place in a source file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Diagnostic {
    pub file: String,
    pub line: u32,
    pub column: u32,
    pub code: String,
    pub message: String,
}

/// Reads compiler output lines matching the toolchain's `compile_error_pattern`.
pub(crate) fn parse_diagnostics(pattern: &regex::Regex, output: &str) -> Vec<Diagnostic> {
    let mut diagnostics: Vec<Diagnostic> = output
        .lines()
        .filter_map(|line| pattern.captures(line.trim_end()))
        .filter_map(|captures| {
            Some(Diagnostic {
                file: captures.name("file")?.as_str().trim().to_owned(),
                line: captures.name("line")?.as_str().parse().ok()?,
                column: captures.name("column")?.as_str().parse().ok()?,
                code: captures
                    .name("code")
                    .map(|m| m.as_str().to_owned())
                    .unwrap_or_default(),
                message: captures.name("message")?.as_str().to_owned(),
            })
        })
        .collect();
    diagnostics.dedup();
    diagnostics
}

/// A C# source with strings, chars and comments blanked out (same length, newlines kept), so
/// that braces and keywords can be found by position.
fn code_only(source: &str) -> Vec<u8> {
    let bytes = source.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for byte in &mut out[from..to.min(bytes.len())] {
            if *byte != b'\n' {
                *byte = b' ';
            }
        }
    };
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(bytes.len(), |p| i + p);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = source[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
                blank(&mut out, i, end);
                i = end;
            }
            b'"' | b'\'' => {
                let quote = bytes[i];
                let verbatim = i > 0 && (bytes[i - 1] == b'@' || (i > 1 && bytes[i - 2] == b'@'));
                let mut j = i + 1;
                while j < bytes.len() {
                    if bytes[j] == b'\\' && !verbatim {
                        j += 2;
                        continue;
                    }
                    if bytes[j] == quote {
                        if verbatim && bytes.get(j + 1) == Some(&quote) {
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    if bytes[j] == b'\n' && !verbatim {
                        break;
                    }
                    j += 1;
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    out
}

const TYPE_START: [&str; 14] = [
    "class",
    "struct",
    "interface",
    "enum",
    "namespace",
    "record",
    "public",
    "internal",
    "static",
    "abstract",
    "sealed",
    "partial",
    "delegate",
    "[",
];

/// Whether `source` is a top-level-statements program (C# 9): statements at brace depth 0 that
/// are not `using` directives or type declarations, and no `Main` method of its own.
fn has_top_level_statements(code: &str) -> bool {
    let mut depth = 0i32;
    for line in code.lines() {
        let trimmed = line.trim();
        if depth == 0 && !trimmed.is_empty() && !trimmed.starts_with("using ") {
            let first_word = trimmed
                .split(|c: char| !c.is_alphanumeric() && c != '_' && c != '[')
                .next()
                .unwrap_or("");
            let is_type = TYPE_START.iter().any(|keyword| {
                first_word == *keyword || (*keyword == "[" && trimmed.starts_with('['))
            });
            if !is_type && !trimmed.starts_with('}') && !trimmed.starts_with('{') {
                return true;
            }
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
    }
    false
}

/// Wraps a top-level-statements program in `static class` + `Main`, keeping every statement on
/// its own line number. Returns `None` when the source needs no wrapping.
pub(crate) fn wrap_top_level_statements(source: &str) -> Option<String> {
    let code = String::from_utf8_lossy(&code_only(source)).into_owned();
    if !has_top_level_statements(&code) {
        return None;
    }
    let is_async = regex::Regex::new(r"\bawait\b")
        .map(|re| re.is_match(&code))
        .unwrap_or(false);
    let main = if is_async {
        "static async System.Threading.Tasks.Task Main(string[] args) {"
    } else {
        "static void Main(string[] args) {"
    };

    let source_lines: Vec<&str> = source.split('\n').collect();
    let code_lines: Vec<&str> = code.split('\n').collect();
    // The statements start after the using directives and end where the first type begins.
    let mut statements_start = 0;
    for (index, line) in code_lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("using ") {
            continue;
        }
        statements_start = index;
        break;
    }
    let mut depth = 0i32;
    let mut types_start = None;
    for (index, line) in code_lines.iter().enumerate().skip(statements_start) {
        let trimmed = line.trim();
        if depth == 0 && !trimmed.is_empty() {
            let first_word = trimmed
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap_or("");
            if TYPE_START.contains(&first_word) || trimmed.starts_with('[') {
                types_start = Some(index);
                break;
            }
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
    }

    let mut lines: Vec<String> = source_lines.iter().map(|s| (*s).to_owned()).collect();
    // On the same lines as existing text, so that no line number moves.
    lines[statements_start] = format!(
        "static class CoderoomProgram {{ {main} {}",
        lines[statements_start]
    );
    match types_start {
        Some(index) => lines[index] = format!("}} }} {}", lines[index]),
        None => {
            let last = lines.len() - 1;
            lines[last].push_str(" } }");
        }
    }
    Some(lines.join("\n"))
}

/// Newer C# features, how to spot them, and the version that brought them.
const NEWER_FEATURES: [(&str, &str, &str); 10] = [
    (
        r"\brecord\s+(class\s+|struct\s+)?[A-Z]\w*\s*[({<]",
        "records",
        "9",
    ),
    (r"\binit\s*;", "init-only setters", "9"),
    (r"\bis\s+not\b", "`is not` patterns", "9"),
    (r"\bswitch\s*\{", "switch expressions", "8"),
    (r"\?\?=", "the `??=` operator", "8"),
    (r"\bwith\s*\{", "`with` expressions", "9"),
    (
        r"(?m)^\s*namespace\s+[\w.]+\s*;",
        "file-scoped namespaces",
        "10",
    ),
    (r#""""#, "raw string literals", "11"),
    (r"\bglobal\s+using\b", "global using directives", "10"),
    (r"\brequired\s+\w", "required members", "11"),
];

/// For a failed compile on an older compiler: which newer features the source uses, and what
/// would run them.
pub(crate) fn newer_feature_notices(source: &str, language_version: &str) -> Vec<String> {
    let code = String::from_utf8_lossy(&code_only(source)).into_owned();
    let mut notices = Vec::new();
    for (pattern, feature, version) in NEWER_FEATURES {
        let Ok(re) = regex::Regex::new(pattern) else {
            continue;
        };
        // Raw strings are blanked by code_only, so look at the source for them.
        let haystack = if feature.starts_with("raw") {
            source
        } else {
            &code
        };
        if re.is_match(haystack) {
            notices.push(format!(
                "this program uses {feature} (C# {version}); the installed C# compiler (Mono) \
                 supports C# up to {language_version}. Install the .NET SDK \
                 (e.g. sudo apt-get install dotnet-sdk-8.0) to run it"
            ));
        }
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_program_is_not_wrapped() {
        let source =
            "using System;\nclass P {\n  static void Main() { Console.WriteLine(\"{\"); }\n}\n";
        assert_eq!(wrap_top_level_statements(source), None);
    }

    #[test]
    fn top_level_statements_keep_their_line_numbers() {
        let source = "using System;\n\nvar name = Console.ReadLine();\nConsole.WriteLine($\"Hi {name}\");\n\nclass Helper {\n  public static int Two() => 2;\n}\n";
        let wrapped = wrap_top_level_statements(source).expect("wrapped");
        let lines: Vec<_> = wrapped.lines().collect();
        assert_eq!(lines.len(), source.lines().count());
        assert!(lines[2].contains("static void Main") && lines[2].contains("var name"));
        assert!(lines[3].contains("Console.WriteLine($\"Hi {name}\")"));
        assert!(lines[5].starts_with("} } class Helper"));
    }

    #[test]
    fn await_makes_an_async_main() {
        let wrapped = wrap_top_level_statements("await System.Threading.Tasks.Task.Delay(1);\n")
            .expect("wrapped");
        assert!(wrapped.contains("async System.Threading.Tasks.Task Main"));
    }

    #[test]
    fn braces_in_strings_and_comments_are_ignored() {
        let source = "// class { not a type\nConsole.WriteLine(\"}\");\nConsole.WriteLine('{');\n";
        let wrapped = wrap_top_level_statements(source).expect("wrapped");
        assert!(
            wrapped.ends_with(" } }") || wrapped.ends_with(" } }\n") || wrapped.contains("} }")
        );
    }

    #[test]
    fn diagnostics_are_read_from_mcs_output() {
        let pattern = regex::Regex::new(
            r"^(?P<file>[^(\s][^(]*)\((?P<line>\d+),(?P<column>\d+)\): error (?P<code>CS\d+): (?P<message>.*)$",
        )
        .expect("pattern");
        let output = "Program.cs(3,31): error CS1525: Unexpected symbol `}'\nCompilation failed: 1 error(s), 0 warnings\n";
        let diagnostics = parse_diagnostics(&pattern, output);
        assert_eq!(
            diagnostics,
            [Diagnostic {
                file: "Program.cs".into(),
                line: 3,
                column: 31,
                code: "CS1525".into(),
                message: "Unexpected symbol `}'".into()
            }]
        );
    }

    #[test]
    fn newer_features_are_named() {
        let notices = newer_feature_notices("record Point(int X, int Y);\n", "7.2");
        assert_eq!(notices.len(), 1, "{notices:?}");
        assert!(notices[0].contains("records") && notices[0].contains(".NET SDK"));
        assert!(newer_feature_notices("class A {}", "7.2").is_empty());
    }
}
