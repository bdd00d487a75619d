//! `coderoom-cli check` and `symbols`, on real files.

use std::process::{Command, Output};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_coderoom-cli"))
        .args(args)
        .output()
        .expect("run coderoom-cli")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_prints_errors_and_exits_1() {
    let dir = tempfile::tempdir().expect("dir");
    let good = dir.path().join("good.py");
    let bad = dir.path().join("bad.py");
    let cs = dir.path().join("Program.cs");
    std::fs::write(&good, "print('ok')\n").expect("write");
    std::fs::write(&bad, "x = 1\nprint('hi'\n").expect("write");
    std::fs::write(&cs, "int x = 5\nSystem.Console.WriteLine(x);\n").expect("write");
    let (good, bad, cs) = (
        good.display().to_string(),
        bad.display().to_string(),
        cs.display().to_string(),
    );

    let output = cli(&["check", &good]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(text(&output.stdout), "");

    let output = cli(&["check", &good, &bad, &cs]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stdout),
        format!("{bad}:2:10: missing ')'\n{cs}:1:9: missing ';'\n")
    );
}

#[test]
fn symbols_prints_the_outline() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("shapes.js");
    std::fs::write(
        &file,
        "class Shape {\n  area() { return 0; }\n}\nfunction main() {}\n",
    )
    .expect("write");
    let output = cli(&["symbols", &file.display().to_string()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        text(&output.stdout),
        "class Shape (line 1)\n  method area (line 2)\nfunction main (line 4)\n"
    );
    let json = cli(&["symbols", "--json", &file.display().to_string()]);
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert_eq!(value[0]["children"][0]["name"], "area");
}

#[test]
fn check_refuses_unreadable_input_clearly() {
    let dir = tempfile::tempdir().expect("dir");
    let junk = dir.path().join("junk.py");
    std::fs::write(&junk, [0xff, 0x00, 0xfe]).expect("write");
    let output = cli(&["check", &junk.display().to_string()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("not UTF-8"));
    let unknown = dir.path().join("notes.md");
    std::fs::write(&unknown, "# hi").expect("write");
    let output = cli(&["check", &unknown.display().to_string()]);
    assert!(text(&output.stderr).contains("--language"));
}
