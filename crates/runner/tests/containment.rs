//! Hostile programs: each is contained, reported clearly, and leaves the machine as it was.

mod common;

use std::time::{Duration, Instant};

use coderoom_runner::{LimitHit, Limits, Termination};
use common::{collect, request, run, runner};

/// Processes whose command line holds `marker`, anywhere on the machine.
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            cmdline
                .contains(marker)
                .then(|| format!("{}: {cmdline}", entry.file_name().to_string_lossy()))
        })
        .collect()
}

/// Waits briefly for the kernel to finish tearing a namespace down, then lists survivors.
fn survivors(marker: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let found = processes_with(marker);
        if found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn unique(name: &str) -> String {
    format!("coderoom-{name}-{}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

#[test]
fn sleeping_program_hits_the_wall_clock() {
    let (_dir, runner) = runner();
    let limits = Limits {
        wall_seconds: 1,
        ..Limits::default()
    };
    let result = run(
        &runner,
        request(
            "python",
            &[("main.py", "import time\ntime.sleep(60)\n")],
            limits,
        ),
    );
    assert_eq!(
        result.outcome.limit_hit,
        Some(LimitHit::WallClock),
        "{:?}",
        result.outcome
    );
    assert!(result.outcome.wall_ms < 3_000, "{:?}", result.outcome);
    assert!(matches!(
        result.outcome.termination,
        Termination::Signaled { .. }
    ));
}

#[test]
fn output_flood_is_cut_with_a_notice() {
    let (_dir, runner) = runner();
    let limits = Limits {
        output_bytes: 64 * 1024,
        ..Limits::default()
    };
    let result = run(
        &runner,
        request(
            "python",
            &[("main.py", "while True:\n    print('x' * 999)\n")],
            limits,
        ),
    );
    assert_eq!(
        result.outcome.limit_hit,
        Some(LimitHit::Output),
        "{:?}",
        result.outcome
    );
    assert!(result.outcome.output_truncated);
    assert!(
        result.stdout.len() <= 64 * 1024,
        "{} bytes",
        result.stdout.len()
    );
    assert!(result
        .outcome
        .notices
        .iter()
        .any(|n| n.contains("output was cut at 64 KiB")));
}

#[test]
fn no_network_at_all() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let (_dir, runner) = runner();
    let program = format!(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n    print('connected')\nexcept OSError as error:\n    print('refused:', error)\n"
    );
    let result = run(
        &runner,
        request("python", &[("main.py", &program)], Limits::default()),
    );
    assert!(
        result.stdout.starts_with("refused:"),
        "stdout: {} stderr: {}",
        result.stdout,
        result.stderr
    );
    assert!(
        listener.accept().is_err(),
        "the sandbox reached the host's listener"
    );
}

#[test]
fn home_and_host_files_are_not_visible() {
    let home = std::env::var("HOME").expect("HOME");
    let secret_dir = tempfile::tempdir_in(&home).expect("dir in home");
    let secret = secret_dir.path().join("secret.txt");
    std::fs::write(&secret, "private").expect("secret");
    let (dir, runner) = runner();
    let beside = dir.path().join("beside.txt");
    std::fs::write(&beside, "private").expect("beside");
    let program = format!(
        "import os\nfor path in [{:?}, {:?}, '/root/.bashrc', '/etc/shadow']:\n    try:\n        open(path).read()\n        print('READ', path)\n    except OSError as error:\n        print('blocked', type(error).__name__)\nprint('home', os.path.exists({:?}))\n",
        secret.display().to_string(),
        beside.display().to_string(),
        home
    );
    let result = run(
        &runner,
        request("python", &[("main.py", &program)], Limits::default()),
    );
    assert!(!result.stdout.contains("READ"), "{}", result.stdout);
    assert_eq!(
        result.stdout.matches("blocked").count(),
        4,
        "{}",
        result.stdout
    );
}

#[test]
fn writing_outside_the_work_dir_fails() {
    let (dir, runner) = runner();
    let host_target = dir.path().join("escaped.txt");
    let program = format!(
        "import os\nfor path in ['/etc/escaped', '/usr/escaped', '/escaped', {:?}, '../escaped', '/proc/sys/kernel/hostname']:\n    try:\n        with open(path, 'w') as f:\n            f.write('x')\n        print('WROTE', path)\n    except OSError as error:\n        print('blocked', type(error).__name__)\nwith open('inside.txt', 'w') as f:\n    f.write('fine')\nprint('inside ok')\n",
        host_target.display().to_string()
    );
    let result = run(
        &runner,
        request("python", &[("main.py", &program)], Limits::default()),
    );
    // `../escaped` lands in the sandbox's own tmpfs root, never on the host.
    assert!(
        result.stdout.contains("inside ok"),
        "{}\n{}",
        result.stdout,
        result.stderr
    );
    for path in ["/etc/escaped", "/usr/escaped", "/escaped"] {
        assert!(
            !std::path::Path::new(path).exists(),
            "{path} appeared on the host"
        );
    }
    assert!(!host_target.exists(), "the host file was written");
    assert!(!result.stdout.contains("WROTE /etc"), "{}", result.stdout);
    assert!(!result.stdout.contains("WROTE /usr"), "{}", result.stdout);
    assert!(!result.stdout.contains("WROTE /proc"), "{}", result.stdout);
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .expect("runs")
        .collect();
    assert!(runs.is_empty(), "the run dir was left behind: {runs:?}");
}

#[test]
fn child_outliving_its_parent_is_killed() {
    let (_dir, runner) = runner();
    let marker = unique("orphan");
    let program = format!(
        "import subprocess\nsubprocess.Popen(['/bin/sh', '-c', 'sleep 300; echo {marker}'], start_new_session=True)\nprint('parent done')\n"
    );
    let result = run(
        &runner,
        request("python", &[("main.py", &program)], Limits::default()),
    );
    assert_eq!(result.stdout, "parent done\n", "{}", result.stderr);
    assert!(result.outcome.wall_ms < 5_000, "{:?}", result.outcome);
    assert_eq!(survivors(&marker), Vec::<String>::new());
}

#[test]
fn stop_kills_the_whole_tree() {
    let (_dir, runner) = runner();
    let marker = unique("stopped");
    let program = format!(
        "import subprocess, time\nsubprocess.Popen(['/bin/sh', '-c', 'sleep 300; echo {marker}'])\nprint('running', flush=True)\ntime.sleep(300)\n"
    );
    let mut handle = runner
        .start(request(
            "python",
            &[("main.py", &program)],
            Limits::default(),
        ))
        .expect("start");
    loop {
        match handle.blocking_next_event() {
            Some(coderoom_runner::RunEvent::Output { text, .. }) if text.contains("running") => {
                break
            }
            Some(_) => {}
            None => panic!("ended before printing"),
        }
    }
    assert_eq!(
        processes_with(&marker).len(),
        1,
        "the grandchild should be running"
    );
    handle.stop();
    let result = collect(&mut handle);
    assert!(result.outcome.stopped_by_user, "{:?}", result.outcome);
    assert!(!result.outcome.success);
    assert_eq!(survivors(&marker), Vec::<String>::new());
}
