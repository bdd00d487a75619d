//! Shared by the runner's tests: a runner with its own runs dir, and a run collected to the end.

#![allow(dead_code)]

use coderoom_runner::{Limits, Outcome, RunEvent, RunRequest, Runner, SourceFile, Stream};

pub struct Collected {
    pub stdout: String,
    pub stderr: String,
    pub notices: Vec<String>,
    pub events: Vec<RunEvent>,
    pub outcome: Outcome,
}

pub fn runner() -> (tempfile::TempDir, Runner) {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = Runner::new(dir.path().join("runs")).expect("runner");
    (dir, runner)
}

pub fn request(language: &str, files: &[(&str, &str)], limits: Limits) -> RunRequest {
    RunRequest {
        language: language.into(),
        files: files
            .iter()
            .map(|(path, text)| SourceFile {
                path: (*path).into(),
                text: (*text).into(),
            })
            .collect(),
        main: None,
        limits,
    }
}

pub fn run_with_stdin(runner: &Runner, request: RunRequest, stdin: &str) -> Collected {
    let mut handle = runner.start(request).expect("start");
    handle.write_stdin(stdin.as_bytes()).expect("stdin");
    handle.close_stdin();
    collect(&mut handle)
}

pub fn run(runner: &Runner, request: RunRequest) -> Collected {
    run_with_stdin(runner, request, "")
}

pub fn collect(handle: &mut coderoom_runner::RunHandle) -> Collected {
    let (mut stdout, mut stderr, mut notices, mut events) =
        (String::new(), String::new(), Vec::new(), Vec::new());
    while let Some(event) = handle.blocking_next_event() {
        events.push(event.clone());
        match event {
            RunEvent::Output {
                stream: Stream::Stdout,
                text,
                ..
            } => stdout.push_str(&text),
            RunEvent::Output {
                stream: Stream::Stderr,
                text,
                ..
            } => stderr.push_str(&text),
            RunEvent::Notice { text } => notices.push(text),
            RunEvent::Started { .. } => {}
            RunEvent::Finished(outcome) => {
                return Collected {
                    stdout,
                    stderr,
                    notices,
                    events,
                    outcome,
                };
            }
        }
    }
    panic!("the run ended without a Finished event");
}
