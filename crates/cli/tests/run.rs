//! `coderoom-cli run` as teachers and scripts use it: the real binary, real runtimes.

use std::process::{Command, Output, Stdio};

struct Cli {
    data: tempfile::TempDir,
    files: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            data: tempfile::tempdir().expect("data dir"),
            files: tempfile::tempdir().expect("files dir"),
        }
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.files.path().join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_coderoom-cli"))
            .args(args)
            .env("CODEROOM_DATA_DIR", self.data.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start coderoom-cli");
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(stdin.as_bytes()).expect("write stdin");
        drop(pipe);
        child.wait_with_output().expect("wait")
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_streams_output_and_prints_the_outcome() {
    let cli = Cli::new();
    let main = cli.file("hi.py", "name = input('Name? ')\nprint('Hi', name)\n");
    let output = cli.run(&["run", &main], "Ada\n");
    assert_eq!(text(&output.stdout), "Name? Hi Ada\n");
    assert!(
        text(&output.stderr).contains("coderoom: exited with 0"),
        "{}",
        text(&output.stderr)
    );
    assert!(output.status.success());
    assert!(
        cli.data.path().join("runs").is_dir(),
        "runs must live in the data dir"
    );
}

#[test]
fn stdin_from_a_file_and_exit_code_passed_through() {
    let cli = Cli::new();
    let main = cli.file("main.js", "process.stdin.on('data', (d) => { console.log(String(d).trim().toUpperCase()); process.exit(3); });\n");
    let input = cli.file("input.txt", "shout\n");
    let output = cli.run(&["run", &main, "--stdin", &input], "");
    assert_eq!(text(&output.stdout), "SHOUT\n");
    assert_eq!(output.status.code(), Some(3));
}

#[test]
fn json_lines_end_with_the_outcome() {
    let cli = Cli::new();
    let main = cli.file(
        "Program.cs",
        "using System;\n\nConsole.WriteLine(\"hello\");\n",
    );
    let output = cli.run(&["run", "--json", &main], "");
    let events: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect();
    let last = events.last().expect("events");
    assert_eq!(last["event"], "finished");
    assert_eq!(last["success"], true);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "output" && e["text"] == "hello\n"),
        "{events:?}"
    );
    assert!(events
        .iter()
        .any(|e| e["event"] == "started" && e["phase"] == "compile"));
}

#[test]
fn timeout_and_memory_flags_apply() {
    let cli = Cli::new();
    let sleeper = cli.file("sleep.py", "import time\ntime.sleep(30)\n");
    let output = cli.run(&["run", "--timeout", "1", &sleeper], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("still running after 1 s"),
        "{}",
        text(&output.stderr)
    );

    let hog = cli.file("hog.py", "x = bytearray(200 * 1024 * 1024)\n");
    let output = cli.run(&["run", "--memory", "100", &hog], "");
    assert!(
        text(&output.stderr)
            .contains("stopped: your program needed more than its 100 MB of memory"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn compile_errors_print_file_line_and_column() {
    let cli = Cli::new();
    let main = cli.file(
        "Program.cs",
        "using System;\n\nConsole.WriteLine(undefinedName);\n",
    );
    let output = cli.run(&["run", &main], "");
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("Program.cs:3:"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn bad_input_gets_a_clear_error() {
    let cli = Cli::new();
    let missing = cli.files.path().join("missing.py").display().to_string();
    let output = cli.run(&["run", &missing], "");
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("reading"),
        "{}",
        text(&output.stderr)
    );

    let unknown = cli.file("notes.txt", "hello");
    let output = cli.run(&["run", &unknown], "");
    assert!(
        text(&output.stderr).contains("--language"),
        "{}",
        text(&output.stderr)
    );

    let binary = cli.files.path().join("junk.py");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).expect("junk");
    let output = cli.run(&["run", &binary.display().to_string()], "");
    assert!(
        text(&output.stderr).contains("not UTF-8"),
        "{}",
        text(&output.stderr)
    );
}

/// Checks `value` against the subset of JSON Schema that docs/run-events.schema.json uses
/// (`$ref`, `oneOf`, `const`, `enum`, `type`, `required`, `properties`,
/// `additionalProperties: false`, `items`, `minimum`), returning what does not fit.
fn schema_errors(
    schema: &serde_json::Value,
    root: &serde_json::Value,
    value: &serde_json::Value,
) -> Vec<String> {
    use serde_json::Value;
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        return schema_errors(&root["$defs"][name], root, value);
    }
    let mut errors = Vec::new();
    if let Some(options) = schema["oneOf"].as_array() {
        let fitting = options
            .iter()
            .filter(|option| schema_errors(option, root, value).is_empty())
            .count();
        if fitting != 1 {
            errors.push(format!("{value} fits {fitting} of oneOf"));
        }
    }
    if let Some(constant) = schema.get("const") {
        if constant != value {
            errors.push(format!("{value} is not {constant}"));
        }
    }
    if let Some(options) = schema["enum"].as_array() {
        if !options.contains(value) {
            errors.push(format!("{value} is not one of {options:?}"));
        }
    }
    let type_fits = match schema["type"].as_str() {
        Some("object") => value.is_object(),
        Some("array") => value.is_array(),
        Some("string") => value.is_string(),
        Some("integer") => value.is_i64() || value.is_u64(),
        Some("boolean") => value.is_boolean(),
        Some("null") => value.is_null(),
        _ => true,
    };
    if !type_fits {
        errors.push(format!("{value} is not of type {}", schema["type"]));
        return errors;
    }
    if let (Some(minimum), Some(number)) = (schema["minimum"].as_i64(), value.as_i64()) {
        if number < minimum {
            errors.push(format!("{number} is under {minimum}"));
        }
    }
    if let Value::Object(object) = value {
        for key in schema["required"].as_array().into_iter().flatten() {
            if !object.contains_key(key.as_str().unwrap_or_default()) {
                errors.push(format!("{key} is missing from {value}"));
            }
        }
        for (key, field) in object {
            match schema["properties"].get(key) {
                Some(property) => errors.extend(schema_errors(property, root, field)),
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    errors.push(format!("{key} is not in the schema"))
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for item in items {
            errors.extend(schema_errors(item_schema, root, item));
        }
    }
    errors
}

#[test]
fn json_events_follow_the_published_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../../docs/run-events.schema.json"))
            .expect("the schema is JSON");
    let cli = Cli::new();
    let programs = [
        cli.file("hello.py", "print('hello')\n"),
        cli.file("Broken.cs", "class A { void M() { int x = } }\n"),
        cli.file("loop.js", "while (true) {}\n"),
        cli.file("bomb.py", "import os\nwhile True:\n    os.fork()\n"),
    ];
    let mut limits_seen = Vec::new();
    for program in &programs {
        let output = cli.run(
            &["run", "--json", "--timeout", "2", "--cpu", "1", program],
            "",
        );
        let lines = text(&output.stdout);
        for line in lines.lines() {
            let event: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            let errors = schema_errors(&schema, &schema, &event);
            assert!(errors.is_empty(), "{line}\n{errors:#?}");
            if event["event"] == "finished" {
                limits_seen.push(event["limit_hit"].clone());
            }
        }
    }
    assert_eq!(
        limits_seen,
        [
            serde_json::Value::Null,
            serde_json::Value::Null,
            "cpu_time".into(),
            "processes".into()
        ]
    );
}
