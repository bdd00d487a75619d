//! Where a program's output points into its files: Python tracebacks and syntax errors, Node's
//! error headers and stack frames, C# compiler errors (Mono's `mcs` and the .NET SDK) and Mono
//! stack traces. The window turns each into a link to the file and line, and a marker.

/// One place the output points at, in a file of the run (relative to its work folder).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorLine {
    pub file: String,
    /// 1-based.
    pub line: u32,
    /// 1-based, when the output says.
    pub column: Option<u32>,
    /// The compiler's message, for a compile error.
    pub message: Option<String>,
}

/// The sandbox's work folder, which the output's paths start with.
const WORK: &str = "/work/";

/// A path from the output as a file of the run, if it is one (not a runtime's own file).
fn run_file(path: &str) -> Option<String> {
    let path = path.trim();
    let relative = path.strip_prefix(WORK).unwrap_or(path);
    let plain = !relative.is_empty()
        && !relative.starts_with('/')
        && !relative.starts_with("node:")
        && !relative.starts_with('<')
        && !relative.split('/').any(|part| part == "..")
        && relative.contains('.');
    plain.then(|| relative.to_owned())
}

/// Every place in `text` (a run's output) that points into the run's files, in order, each once.
pub fn error_lines(text: &str) -> Vec<ErrorLine> {
    let mut found: Vec<ErrorLine> = Vec::new();
    for line in text.lines() {
        if let Some(place) = python(line)
            .or_else(|| csharp_compiler(line))
            .or_else(|| node_frame(line))
            .or_else(|| mono_frame(line))
            .or_else(|| file_line_column(line))
        {
            if !found
                .iter()
                .any(|f| f.file == place.file && f.line == place.line)
            {
                found.push(place);
            }
        }
    }
    found
}

/// `  File "/work/main.py", line 4, in <module>` (tracebacks and syntax errors).
fn python(line: &str) -> Option<ErrorLine> {
    let rest = line.trim_start().strip_prefix("File \"")?;
    let (path, rest) = rest.split_once('"')?;
    let number = rest.strip_prefix(", line ")?;
    let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
    Some(ErrorLine {
        file: run_file(path)?,
        line: digits.parse().ok()?,
        column: None,
        message: None,
    })
}

/// `Program.cs(4,2): error CS1525: Unexpected symbol` (mcs and dotnet build).
fn csharp_compiler(line: &str) -> Option<ErrorLine> {
    let (place, message) = line.split_once("): error ")?;
    let (path, numbers) = place.rsplit_once('(')?;
    let (row, column) = numbers.split_once(',')?;
    let message = message
        .split_once(": ")
        .map_or(message, |(_, text)| text)
        .trim_end_matches(|c: char| c == ']' || c.is_whitespace());
    // dotnet ends the line with the project in brackets.
    let message = message
        .rsplit_once(" [")
        .map_or(message, |(text, _)| text)
        .to_owned();
    Some(ErrorLine {
        file: run_file(path)?,
        line: row.trim().parse().ok()?,
        column: column.trim().parse().ok(),
        message: Some(message),
    })
}

/// `    at f (/work/main.js:2:8)` or `    at /work/main.js:2:8`.
fn node_frame(line: &str) -> Option<ErrorLine> {
    let rest = line.trim_start().strip_prefix("at ")?;
    let place = match rest.rsplit_once('(') {
        Some((_, place)) => place.trim_end().strip_suffix(')')?,
        None => rest.trim(),
    };
    file_line_column(place)
}

/// `  at Program.Main () [0x00001] in /work/Program.cs:3` (Mono with debug information).
fn mono_frame(line: &str) -> Option<ErrorLine> {
    let (_, place) = line.trim_start().strip_prefix("at ")?.rsplit_once(" in ")?;
    let (path, row) = place.rsplit_once(':')?;
    Some(ErrorLine {
        file: run_file(path)?,
        line: row.trim().parse().ok()?,
        column: None,
        message: None,
    })
}

/// `/work/main.js:2` or `/work/main.js:2:8` alone (Node's error header), or `Broken.cs:4:2: …`.
fn file_line_column(text: &str) -> Option<ErrorLine> {
    let text = text.trim();
    let mut parts = text.splitn(4, ':');
    let path = parts.next()?;
    let row: u32 = parts.next()?.trim().parse().ok()?;
    let column = parts.next().and_then(|c| c.trim().parse().ok());
    if !path.starts_with(WORK) && !path.ends_with(".cs") {
        return None;
    }
    Some(ErrorLine {
        file: run_file(path)?,
        line: row,
        column,
        message: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, line: u32, column: Option<u32>) -> (String, u32, Option<u32>) {
        (file.to_owned(), line, column)
    }

    fn places(text: &str) -> Vec<(String, u32, Option<u32>)> {
        error_lines(text)
            .into_iter()
            .map(|e| (e.file, e.line, e.column))
            .collect()
    }

    // Each sample is real output of `coderoom-cli run` on this machine (Python 3.11, Node 20,
    // Mono 6.8); the .NET ones are as the SDK prints them.
    #[test]
    fn python_tracebacks_and_syntax_errors() {
        let traceback = "Traceback (most recent call last):\n  File \"/work/boom.py\", line 4, in <module>\n    f()\n  File \"/work/boom.py\", line 2, in f\n    return 1/0\n           ~^~\nZeroDivisionError: division by zero\n";
        assert_eq!(
            places(traceback),
            [at("boom.py", 4, None), at("boom.py", 2, None)]
        );
        let syntax = "  File \"/work/syn.py\", line 1\n    x = (1,\n        ^\nSyntaxError: '(' was never closed\n";
        assert_eq!(places(syntax), [at("syn.py", 1, None)]);
        let library = "  File \"/usr/lib/python3.11/json/__init__.py\", line 346, in loads\n";
        assert!(places(library).is_empty());
    }

    #[test]
    fn node_headers_and_stack_frames() {
        let error = "/work/boom.js:2\n  null.x;\n       ^\n\nTypeError: Cannot read properties of null (reading 'x')\n    at f (/work/boom.js:2:8)\n    at Object.<anonymous> (/work/boom.js:4:1)\n    at Module._compile (node:internal/modules/cjs/loader:1521:14)\n    at node:internal/main/run_main_module:28:49\n\nNode.js v20.20.2\n";
        assert_eq!(
            places(error),
            [at("boom.js", 2, None), at("boom.js", 4, Some(1))]
        );
    }

    #[test]
    fn csharp_compilers_and_mono_frames() {
        let mcs = "Broken.cs(4,2): error CS1525: Unexpected symbol `}'\nCompilation failed: 1 error(s), 0 warnings\n";
        let errors = error_lines(mcs);
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0],
            ErrorLine {
                file: "Broken.cs".into(),
                line: 4,
                column: Some(2),
                message: Some("Unexpected symbol `}'".into()),
            }
        );
        let dotnet = "/work/Program.cs(3,18): error CS1002: ; expected [/work/run.csproj]\n";
        let errors = error_lines(dotnet);
        assert_eq!(errors[0].file, "Program.cs");
        assert_eq!(errors[0].message.as_deref(), Some("; expected"));
        let mono = "Unhandled Exception:\nSystem.DivideByZeroException: Attempted to divide by zero.\n  at Program.Main () [0x00001] in /work/Program.cs:7 \n";
        assert_eq!(places(mono), [at("Program.cs", 7, None)]);
    }

    #[test]
    fn ordinary_output_points_nowhere() {
        for text in [
            "Hello, Ada!\n",
            "ratio: 3:4\n",
            "see https://example.org:8080/x\n",
            "",
        ] {
            assert!(error_lines(text).is_empty(), "{text:?}");
        }
    }
}
