//! What the sandbox adds to a run: `python3` and `node` doing nothing, spawned bare against run
//! through the runner (work dir, namespaces, rlimits, copy-in, output pipes), and C# hello world
//! from source to output on Mono (and dotnet where installed).
//!
//! `cargo bench -p coderoom-runner --bench sandbox` (release build; prints a table).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use coderoom_runner::{Limits, RunEvent, RunRequest, Runner, SourceFile};

const ROUNDS: usize = 40;

fn percentile(samples: &mut [Duration], p: f64) -> f64 {
    samples.sort();
    let index = ((samples.len() - 1) as f64 * p).round() as usize;
    samples[index].as_secs_f64() * 1000.0
}

fn bare(program: &str, args: &[&str], dir: &std::path::Path) -> Duration {
    let started = Instant::now();
    // The same binary, arguments and environment the runner uses, minus the sandbox.
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("HOME", dir)
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("bare run");
    assert!(status.status.success());
    started.elapsed()
}

fn sandboxed(runner: &Runner, language: &str, file: &str, text: &str) -> (Duration, String) {
    let started = Instant::now();
    let mut handle = runner
        .start(RunRequest {
            language: language.into(),
            files: vec![SourceFile {
                path: file.into(),
                text: text.into(),
            }],
            main: None,
            limits: Limits::default(),
        })
        .expect("start");
    handle.close_stdin();
    let mut stdout = String::new();
    while let Some(event) = handle.blocking_next_event() {
        match event {
            RunEvent::Output { text, .. } => stdout.push_str(&text),
            RunEvent::Finished(outcome) => {
                assert!(outcome.success, "{outcome:?}\n{stdout}");
                break;
            }
            _ => {}
        }
    }
    (started.elapsed(), stdout)
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = Runner::new(dir.path().join("runs")).expect("runner");
    std::fs::write(dir.path().join("main.py"), "pass\n").expect("main.py");
    std::fs::write(dir.path().join("main.js"), "0\n").expect("main.js");
    println!(
        "isolation: {:?}; {ROUNDS} rounds each, after one warm-up",
        runner.isolation()
    );
    println!("{:<34} {:>9} {:>9}", "", "p50 ms", "p90 ms");

    for (language, file, text, program, args) in [
        (
            "python",
            "main.py",
            "pass\n",
            "/usr/bin/python3",
            &["-u", "main.py"][..],
        ),
        (
            "javascript",
            "main.js",
            "0\n",
            "/usr/bin/node",
            &["--max-old-space-size=512", "main.js"][..],
        ),
    ] {
        bare(program, args, dir.path());
        sandboxed(&runner, language, file, text);
        let (mut bare_times, mut sandbox_times) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            bare_times.push(bare(program, args, dir.path()));
            sandbox_times.push(sandboxed(&runner, language, file, text).0);
        }
        let (bare50, bare90) = (
            percentile(&mut bare_times, 0.5),
            percentile(&mut bare_times, 0.9),
        );
        let (box50, box90) = (
            percentile(&mut sandbox_times, 0.5),
            percentile(&mut sandbox_times, 0.9),
        );
        println!(
            "{:<34} {bare50:>9.1} {bare90:>9.1}",
            format!("{program} {file}, bare")
        );
        println!(
            "{:<34} {box50:>9.1} {box90:>9.1}",
            format!("{program} {file}, sandboxed")
        );
        println!(
            "{:<34} {:>9.1} {:>9.1}",
            "  added by the sandbox",
            box50 - bare50,
            box90 - bare90
        );
    }

    let hello = "using System;\n\nConsole.WriteLine(\"hello\");\n";
    let csharp = runner.runtimes().iter().find(|s| s.language == "csharp");
    match csharp.and_then(|s| s.runtime.as_ref().ok()) {
        Some(runtime) => {
            let (cold, output) = sandboxed(&runner, "csharp", "Program.cs", hello);
            assert_eq!(output, "hello\n");
            let mut warm: Vec<Duration> = (0..ROUNDS / 4)
                .map(|_| sandboxed(&runner, "csharp", "Program.cs", hello).0)
                .collect();
            println!(
                "{:<34} {:>9.1} {:>9.1}   (first run {:.0} ms)",
                format!("C# hello, source to output ({})", runtime.toolchain),
                percentile(&mut warm, 0.5),
                percentile(&mut warm, 0.9),
                cold.as_secs_f64() * 1000.0
            );
        }
        None => println!("C#: no runtime installed"),
    }
    if which_dotnet() {
        println!("dotnet is installed: compare with `dotnet run` by hand (see BENCHMARKS.md)");
    } else {
        println!("dotnet: not installed here, so no dotnet or `dotnet run` figures");
    }
}

fn which_dotnet() -> bool {
    Command::new("dotnet")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}
