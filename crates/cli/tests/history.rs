//! History through the command line, with real processes: a hub killed with SIGKILL during heavy
//! typing loses nothing it had relayed, is hosted again from where it was with the same ticket,
//! and a learner's offline edits merge; `sessions list|show|export` read it back, and a learner
//! reads back its own history without the instructor.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_coderoom-cli"))
}

/// A `host` process: its stdin for instructor commands and its stdout lines as they come.
struct Host {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    ticket: String,
    session: String,
}

impl Host {
    fn start(data: &Path, extra: &[&str]) -> Host {
        let mut child = cli()
            .args(["host", "--bind", "127.0.0.1:0", "--no-lan"])
            .args(extra)
            .env("CODEROOM_DATA_DIR", data)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("host");
        let stdin = child.stdin.take().expect("stdin");
        let (sender, lines) = mpsc::channel();
        // Both streams, line by line as they come (errors are looked for like any line).
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let readers: [Box<dyn std::io::Read + Send>; 2] = [Box::new(stdout), Box::new(stderr)];
        for reader in readers {
            let sender = sender.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(reader).lines().map_while(Result::ok) {
                    if sender.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let mut host = Host {
            child,
            stdin,
            lines,
            ticket: String::new(),
            session: String::new(),
        };
        host.ticket = host.wait_for("ticket: ");
        host.session = host.wait_for("session: ");
        host
    }

    /// The rest of the first line starting with `prefix` (within 20 s).
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.to_owned();
                    }
                }
                Err(_) => break,
            }
        }
        panic!("the host never printed {prefix:?}");
    }

    /// Sends an instructor command until the host answers `ok:` (the person may not be in yet).
    fn command_until_ok(&mut self, command: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            writeln!(self.stdin, "{command}").expect("command");
            let answer = Instant::now() + Duration::from_millis(500);
            while let Some(left) = answer.checked_duration_since(Instant::now()) {
                match self.lines.recv_timeout(left) {
                    Ok(line) if line.starts_with("ok: ") => return,
                    Ok(line) if line.starts_with("? ") => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("the host never accepted {command:?}");
    }
}

fn interrupt(child: &Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

/// Waits for `child` to exit (within `seconds`), killing it and failing if it does not.
fn exits_within(child: &mut Child, seconds: u64, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {seconds} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `coderoom-cli join TICKET --name NAME` on loopback, to be given its data dir and run.
fn joining(ticket: &str, name: &str) -> Command {
    let mut command = cli();
    command.args(["join", ticket, "--name", name, "--bind", "127.0.0.1:0"]);
    command
}

fn join(data: &Path, ticket: &str, name: &str, extra: &[&str]) -> Child {
    cli()
        .args(["join", ticket, "--name", name, "--bind", "127.0.0.1:0"])
        .args(extra)
        .env("CODEROOM_DATA_DIR", data)
        .stdout(Stdio::null())
        .spawn()
        .expect("join")
}

fn sessions(data: &Path, args: &[&str]) -> String {
    let output = cli()
        .arg("sessions")
        .args(args)
        .env("CODEROOM_DATA_DIR", data)
        .output()
        .expect("sessions");
    assert!(
        output.status.success(),
        "sessions {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The file `name` from the folder under `dir` whose name starts with `folder` and that has
/// it ("" when none has).
fn exported(dir: &Path, folder: &str, name: &str) -> String {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(folder))
        .find_map(|e| std::fs::read_to_string(e.path().join(name)).ok())
        .unwrap_or_default()
}

#[test]
fn a_killed_hub_loses_nothing_it_relayed_and_is_hosted_again_where_it_was() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    let ada_text: String = (0..120).map(|i| format!("print({i})\n")).collect();
    let bea_text: String = (0..400).map(|i| format!("x = {i}\n")).collect();
    std::fs::write(path("ada.py"), &ada_text).expect("ada");
    std::fs::write(path("bea.py"), &bea_text).expect("bea");

    let mut host = Host::start(&path("hub-data"), &[]);
    let ticket = host.ticket.clone();
    let session = host.session.clone();
    // Watch reads the board: what it holds was relayed, so the hub had committed it.
    let mut watch = join(
        &path("watch-data"),
        &ticket,
        "Watch",
        &["--dump", path("watch").to_str().expect("path")],
    );
    // Ada types into her workspace, and goes on while the hub is down.
    let mut ada = join(
        &path("ada-data"),
        &ticket,
        "Ada",
        &[
            "--type",
            path("ada.py").to_str().expect("path"),
            "--rate",
            "120",
            "--for",
            "2",
        ],
    );
    // Bea types at the board with the pen, fast.
    let mut bea = join(
        &path("bea-data"),
        &ticket,
        "Bea",
        &[
            "--type",
            path("bea.py").to_str().expect("path"),
            "--board",
            "--rate",
            "300",
        ],
    );
    host.command_until_ok("pen Bea");
    std::thread::sleep(Duration::from_millis(2_500));

    // SIGKILL mid-typing; Watch stops at once and writes what it had received.
    host.child.kill().expect("kill -9");
    exits_within(&mut host.child, 10, "the killed host");
    interrupt(&watch);
    assert!(exits_within(&mut watch, 10, "Watch after Ctrl-C").success());
    let _ = bea.kill();
    let _ = bea.wait();
    let seen = exported(&path("watch"), "board", "bea.py");
    assert!(seen.len() > 100, "Watch saw only {:?}", seen);

    let export = path("after-crash");
    sessions(
        &path("hub-data"),
        &["export", &session, export.to_str().expect("path")],
    );
    let kept = exported(&export, "board", "bea.py");
    assert!(
        kept.starts_with(&seen),
        "relayed before the crash but not in history:\nseen {} chars, kept {} chars",
        seen.len(),
        kept.len()
    );

    // Hosted again: the same ticket (same room, secret and port), from where it was.
    std::thread::sleep(Duration::from_millis(800));
    let mut again = Host::start(
        &path("hub-data"),
        &[
            "--resume",
            &session,
            "--dump",
            path("hub").to_str().expect("path"),
        ],
    );
    assert_eq!(again.ticket, ticket, "the ticket changed on resume");
    assert_eq!(again.session, session);

    // Ada reconnects by herself; what she typed while the hub was down merges.
    assert!(exits_within(&mut ada, 60, "Ada typing").success());
    interrupt(&again.child);
    assert!(exits_within(&mut again.child, 10, "the resumed host after Ctrl-C").success());
    drop(again.stdin);
    assert_eq!(exported(&path("hub"), "workspace-", "ada.py"), ada_text);

    // The history has it all too, and says who was there.
    let export = path("final");
    sessions(
        &path("hub-data"),
        &[
            "export",
            &session,
            export.to_str().expect("path"),
            "--learner",
            "Ada",
        ],
    );
    assert_eq!(exported(&export, "workspace-Ada", "ada.py"), ada_text);
    let listed = sessions(&path("hub-data"), &["list"]);
    assert!(listed.contains("hosted"), "{listed}");
    assert!(listed.contains("Ada") && listed.contains("Bea"), "{listed}");
    assert!(listed.contains("Python"), "{listed}");
    let shown = sessions(&path("hub-data"), &["show", &session]);
    assert!(shown.contains("participant: Ada"), "{shown}");
    assert!(shown.contains("ada.py"), "{shown}");

    // Ada's own history, without the instructor: her workspace as she typed it.
    let listed = sessions(&path("ada-data"), &["list"]);
    assert!(listed.contains("joined"), "{listed}");
    assert!(
        listed.contains("Watch"),
        "a learner's history says who was there: {listed}"
    );
    let own_id = listed
        .split_whitespace()
        .next()
        .expect("a session id")
        .to_owned();
    let zip = path("ada.zip");
    sessions(
        &path("ada-data"),
        &["export", &own_id, zip.to_str().expect("path"), "--zip"],
    );
    assert!(std::fs::metadata(&zip).expect("zip").len() > 100);
    let mine = path("ada-own");
    sessions(
        &path("ada-data"),
        &["export", &own_id, mine.to_str().expect("path")],
    );
    assert_eq!(exported(&mine, "workspace-", "ada.py"), ada_text);
}

#[test]
fn sessions_on_a_damaged_or_newer_database_say_so_and_leave_it() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("history.sqlite3"), b"not sqlite at all").expect("junk");
    for args in [
        vec!["sessions", "list"],
        vec!["host", "--bind", "127.0.0.1:0", "--for", "1"],
    ] {
        let output = cli()
            .args(&args)
            .env("CODEROOM_DATA_DIR", dir.path())
            .output()
            .expect("run");
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("left as it is"), "{args:?}: {stderr}");
    }
    assert_eq!(
        std::fs::read(dir.path().join("history.sqlite3")).expect("still there"),
        b"not sqlite at all"
    );
    let output = cli()
        .args(["sessions", "show", "42"])
        .env(
            "CODEROOM_DATA_DIR",
            tempfile::tempdir().expect("empty").path(),
        )
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no session 42"));
}

#[test]
fn runs_and_chat_reach_the_room_and_both_histories() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    std::fs::write(path("hello.py"), "print('hello from the sandbox')\n").expect("hello");
    let mut host = Host::start(&path("hub-data"), &[]);
    let mut ada = join(
        &path("ada-data"),
        &host.ticket.clone(),
        "Ada",
        &[
            "--type",
            path("hello.py").to_str().expect("path"),
            "--rate",
            "400",
            "--run",
            "hello.py",
            "--say",
            "done!\u{1b}[2J",
            "--for",
            "4",
        ],
    );
    // A peer's text reaches the terminal without its escape sequences (this one clears it).
    let chat = host.wait_for("chat: Ada: done!");
    assert_eq!(chat, "\u{fffd}[2J");
    let started = host.wait_for("run: Ada: ");
    assert!(started.starts_with("hello.py (python3 "), "{started}");
    assert_eq!(host.wait_for("Ada| "), "hello from the sandbox");
    let ended = host.wait_for("run: Ada: ");
    assert_eq!(ended, "exit 0");
    host.command_until_ok("say well done");
    assert!(exits_within(&mut ada, 30, "Ada").success());
    interrupt(&host.child);
    assert!(exits_within(&mut host.child, 10, "the host after Ctrl-C").success());

    // The hub's history and Ada's own both have the run with its output, and the chat.
    let shown = sessions(&path("hub-data"), &["show", &host.session]);
    assert!(shown.contains("run: Ada hello.py"), "{shown}");
    assert!(shown.contains("  | hello from the sandbox"), "{shown}");
    assert!(shown.contains("Ada: done!"), "{shown}");
    assert!(!shown.contains('\u{1b}'), "{shown}");
    assert!(shown.contains(": well done"), "{shown}");
    // The time slider's ends: past the last update is the end; no moment is not a moment.
    let late = sessions(&path("hub-data"), &["show", &host.session, "--at", "99999"]);
    assert!(late.contains("files at the end"), "{late}");
    assert!(late.contains("hello.py"), "{late}");
    let bad = cli()
        .args(["sessions", "show", &host.session, "--at", "NaN"])
        .env("CODEROOM_DATA_DIR", path("hub-data"))
        .output()
        .expect("run");
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--at takes the seconds"));
    let listed = sessions(&path("ada-data"), &["list"]);
    let own_id = listed.split_whitespace().next().expect("a session id");
    let own = sessions(&path("ada-data"), &["show", own_id]);
    assert!(own.contains("hello.py"), "{own}");
    assert!(own.contains("  | hello from the sandbox"), "{own}");
    assert!(own.contains("Ada: done!"), "{own}");
    assert!(own.contains(": well done"), "{own}");
}

#[test]
fn a_resumed_room_keeps_roles_its_lock_and_keeps_out_whoever_was_removed() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    let mut host = Host::start(&path("hub-data"), &[]);
    let ticket = host.ticket.clone();
    let mut ada = join(&path("ada-data"), &ticket, "Ada", &[]);
    let mut bea = join(&path("bea-data"), &ticket, "Bea", &[]);
    host.command_until_ok("observer Ada");
    host.command_until_ok("remove Bea");
    host.command_until_ok("lock");
    assert_eq!(
        exits_within(&mut bea, 10, "removed Bea").code(),
        Some(1),
        "a removed learner stops"
    );
    interrupt(&host.child);
    assert!(exits_within(&mut host.child, 10, "the host").success());
    let _ = ada.kill();
    let _ = ada.wait();

    let mut again = Host::start(&path("hub-data"), &["--resume", &host.session]);
    assert_eq!(again.ticket, ticket);
    let rejoin = |data: &str, name: &str| {
        cli()
            .args(["join", &ticket, "--name", name, "--bind", "127.0.0.1:0"])
            .args(["--for", "1"])
            .env("CODEROOM_DATA_DIR", path(data))
            .output()
            .expect("join")
    };
    let ada = rejoin("ada-data", "Ada");
    let said = String::from_utf8_lossy(&ada.stdout);
    assert!(said.contains("as observer"), "{said}");
    let bea = rejoin("bea-data", "Bea");
    assert_eq!(bea.status.code(), Some(1));
    let why = String::from_utf8_lossy(&bea.stderr);
    assert!(why.contains("removed you"), "{why}");
    // The room was locked: still locked to newcomers, though Ada (who was in) got back.
    let cy = rejoin("cy-data", "Cy");
    assert_eq!(cy.status.code(), Some(1));
    let why = String::from_utf8_lossy(&cy.stderr);
    assert!(why.contains("locked"), "{why}");
    interrupt(&again.child);
    assert!(exits_within(&mut again.child, 10, "the resumed host").success());
}

#[test]
fn a_history_that_fails_mid_class_is_reported_once_and_the_room_goes_on() {
    let dir = tempfile::tempdir().expect("dir");
    let path = |name: &str| dir.path().join(name);
    let text: String = (0..40).map(|i| format!("print({i})\n")).collect();
    std::fs::write(path("ada.py"), &text).expect("ada");
    let mut host = Host::start(
        &path("hub-data"),
        &["--dump", path("hub").to_str().expect("path")],
    );
    // Someone damages the history while the class goes on.
    {
        let conn =
            rusqlite::Connection::open(path("hub-data").join("history.sqlite3")).expect("sqlite");
        conn.execute_batch("DROP TABLE updates").expect("drop");
    }
    let mut ada = join(
        &path("ada-data"),
        &host.ticket.clone(),
        "Ada",
        &[
            "--type",
            path("ada.py").to_str().expect("path"),
            "--rate",
            "400",
            "--for",
            "1",
        ],
    );
    let failure = host.wait_for("coderoom: history is not being saved: ");
    assert!(failure.contains("updates"), "{failure}");
    assert!(exits_within(&mut ada, 30, "Ada").success());
    interrupt(&host.child);
    exits_within(&mut host.child, 10, "the host");
    // Said once, not once per keystroke; and what Ada typed still reached the room.
    let again: Vec<String> = host
        .lines
        .try_iter()
        .filter(|line| line.contains("history is not being saved"))
        .collect();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(exported(&path("hub"), "workspace-", "ada.py"), text);
}

#[test]
fn ending_the_class_stops_the_learners_and_a_dead_ticket_gives_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let mut host = Host::start(&path("hub-data"), &[]);
    let mut learner = joining(&host.ticket, "Ada")
        .env("CODEROOM_DATA_DIR", path("ada-data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("join");
    host.command_until_ok("pen Ada");
    host.command_until_ok("pen off");
    std::thread::sleep(Duration::from_millis(300));
    writeln!(host.stdin, "end class").expect("end class");
    assert!(exits_within(&mut host.child, 20, "the host").success());
    assert!(exits_within(&mut learner, 20, "the learner").success());
    let mut said = String::new();
    std::io::Read::read_to_string(&mut learner.stdout.take().expect("stdout"), &mut said)
        .expect("output");
    assert!(said.contains("pen: you have the pen"), "{said}");
    assert!(
        said.contains("pen: the instructor took the pen back"),
        "{said}"
    );
    assert!(
        said.contains("ended: the instructor ended the class"),
        "{said}"
    );

    // The room is not running any more: joining with its ticket gives up with a reason.
    let started = Instant::now();
    let late = joining(&host.ticket, "Bea")
        .env("CODEROOM_DATA_DIR", path("bea-data"))
        .output()
        .expect("join");
    assert_eq!(late.status.code(), Some(1));
    let why = String::from_utf8_lossy(&late.stderr);
    assert!(
        why.contains("no answer from the instructor's laptop"),
        "{why}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// Every file called `name` under `dir`, with its text.
fn files_named(dir: &Path, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_named(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
    found
}

#[test]
fn offline_edits_survive_closing_the_app_and_reach_the_room_on_rejoin() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = |name: &str| dir.path().join(name);
    let mut host = Host::start(&path("hub-data"), &[]);
    let text: String = (0..40).map(|i| format!("n{i} = {i}\n")).collect();
    std::fs::write(path("notes.py"), &text).expect("notes.py");
    let notes = path("notes.py").display().to_string();
    let mut ada = joining(&host.ticket, "Ada")
        .args(["--type", &notes, "--rate", "100", "--for", "1"])
        .env("CODEROOM_DATA_DIR", path("ada-data"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("join");
    host.wait_for("online: 1");
    std::thread::sleep(Duration::from_millis(1200));
    // The instructor's app goes away mid-typing; Ada types on offline and closes her app.
    interrupt(&host.child);
    assert!(exits_within(&mut host.child, 10, "the host").success());
    assert!(exits_within(&mut ada, 30, "Ada's first app").success());
    let mut warned = String::new();
    std::io::Read::read_to_string(&mut ada.stderr.take().expect("stderr"), &mut warned)
        .expect("stderr");
    assert!(
        warned.contains("have not reached the instructor's laptop yet"),
        "{warned}"
    );

    // The room is hosted again; Ada opens her app again: her offline edits reach the room.
    let dumped = path("dump");
    let dump_arg = dumped.display().to_string();
    let mut again = Host::start(
        &path("hub-data"),
        &["--resume", &host.session, "--dump", &dump_arg],
    );
    let rejoined = joining(&host.ticket, "Ada")
        .args(["--for", "2"])
        .env("CODEROOM_DATA_DIR", path("ada-data"))
        .output()
        .expect("rejoin");
    let said = String::from_utf8_lossy(&rejoined.stdout);
    assert!(said.contains("resuming: your workspace"), "{said}");
    interrupt(&again.child);
    assert!(exits_within(&mut again.child, 10, "the resumed host").success());
    assert_eq!(files_named(&dumped, "notes.py"), [text]);
}
