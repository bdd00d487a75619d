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
        text(&output.stderr).contains("out of memory: the limit is 100 MiB"),
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
