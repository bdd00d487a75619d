//! `coderoom-cli host` and `join` as separate processes on loopback.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coderoom-cli"))
}

#[test]
fn a_learner_types_into_a_hosted_room_and_both_dump_the_same_files() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("board.py"), "print('from the board')\n").expect("board");
    std::fs::write(path("mine.py"), "name = 'Ada'\nprint(name)\n").expect("mine");
    let mut host = cli()
        .args(["host", "--bind", "127.0.0.1:0", "--for", "6", "--board"])
        .arg(path("board.py"))
        .arg("--dump")
        .arg(path("hub"))
        .env("CODEROOM_DATA_DIR", path("hub-data"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("host");
    let mut lines = BufReader::new(host.stdout.take().expect("stdout")).lines();
    let ticket = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("ticket: ").map(str::to_owned))
        .expect("a ticket line");
    let code = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(
        code.starts_with("code: ") && code.len() == "code: ".len() + 6,
        "{code}"
    );

    let join = cli()
        .args([
            "join",
            &ticket,
            "--name",
            "Ada",
            "--bind",
            "127.0.0.1:0",
            "--rate",
            "500",
            "--for",
            "1",
            "--type",
        ])
        .arg(path("mine.py"))
        .arg("--dump")
        .arg(path("ada"))
        .env("CODEROOM_DATA_DIR", path("ada-data"))
        .output()
        .expect("join");
    let printed = String::from_utf8_lossy(&join.stdout);
    assert!(
        join.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&join.stderr)
    );
    assert!(
        printed.contains("joined: Coderoom class as learner"),
        "{printed}"
    );
    assert!(host.wait().expect("host exits").success());

    let read = |who: &str, doc: &str, file: &str| {
        let folder = std::fs::read_dir(path(who))
            .expect("dump dir")
            .filter_map(Result::ok)
            .find(|e| e.file_name().to_string_lossy().starts_with(doc))
            .unwrap_or_else(|| panic!("no {doc} in {who}'s dump"));
        std::fs::read_to_string(folder.path().join(file)).expect("dumped file")
    };
    assert_eq!(
        read("ada", "workspace-", "mine.py"),
        "name = 'Ada'\nprint(name)\n"
    );
    assert_eq!(
        read("hub", "workspace-", "mine.py"),
        "name = 'Ada'\nprint(name)\n"
    );
    assert_eq!(
        read("ada", "board", "board.py"),
        "print('from the board')\n"
    );
    // The identity is kept in the data dir, so the learner is the same learner next time.
    assert_eq!(
        std::fs::metadata(path("ada-data").join("identity.key"))
            .expect("key")
            .len(),
        32
    );
}

#[test]
fn bad_tickets_are_clear_errors() {
    let dir = tempfile::tempdir().expect("dir");
    let output = cli()
        .args(["join", "coderoomnotaticket", "--name", "Eve"])
        .env("CODEROOM_DATA_DIR", dir.path())
        .output()
        .expect("join");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("not a Coderoom ticket"), "{stderr}");
    let output = cli()
        .args(["join", "hello", "--name", "Eve"])
        .env("CODEROOM_DATA_DIR", dir.path())
        .output()
        .expect("join");
    assert!(String::from_utf8_lossy(&output.stderr).contains("starts with"));
}

#[test]
fn the_instructor_approves_and_removes_from_the_host_terminal() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    let mut host = cli()
        .args(["host", "--bind", "127.0.0.1:0", "--for", "15", "--approve"])
        .env("CODEROOM_DATA_DIR", path("hub-data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("host");
    let mut commands = host.stdin.take().expect("stdin");
    let mut lines = BufReader::new(host.stdout.take().expect("stdout")).lines();
    let ticket = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("ticket: ").map(str::to_owned))
        .expect("a ticket line");
    let (seen_tx, seen) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = seen_tx.send(line);
        }
    });
    let wait_for = |wanted: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(line) = seen.recv_timeout(std::time::Duration::from_millis(200)) {
                if line.contains(wanted) {
                    return line;
                }
            }
        }
        panic!("the host never printed {wanted:?}");
    };
    let learner = cli()
        .args([
            "join",
            &ticket,
            "--name",
            "Ada",
            "--bind",
            "127.0.0.1:0",
            "--for",
            "8",
        ])
        .env("CODEROOM_DATA_DIR", path("ada-data"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("join");
    wait_for("waiting: Ada");
    writeln!(commands, "approve ada").expect("type");
    wait_for("online: 1 [Ada]");
    writeln!(commands, "remove Ada").expect("type");
    wait_for("online: 0");
    let output = learner.wait_with_output().expect("learner exits");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("waiting for the instructor"), "{printed}");
    assert!(printed.contains("joined:"), "{printed}");
    assert!(printed.contains("removed you"), "{printed}");
    assert_eq!(output.status.code(), Some(1));
    let _ = host.kill();
    let _ = host.wait();
}
