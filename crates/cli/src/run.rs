//! `run FILE...` and `runtimes`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use coderoom_runner::{Limits, RunEvent, RunRequest, Runner, SourceFile, Stream};

#[derive(clap::Args)]
pub struct RunArgs {
    /// Source files; the first is the one started. All must be in one language.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// python, javascript or csharp (default: from the first file's extension).
    #[arg(long)]
    language: Option<String>,
    /// Feed this file to the program's stdin instead of the terminal's ("-" for the terminal).
    #[arg(long, value_name = "FILE")]
    stdin: Option<PathBuf>,
    /// Wall-clock limit in seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Memory limit in MiB.
    #[arg(long, value_name = "MIB")]
    memory: Option<u64>,
    /// CPU-time limit in seconds.
    #[arg(long, value_name = "SECONDS")]
    cpu: Option<u64>,
    /// Print every event and the outcome as JSON lines instead of the program's plain output.
    #[arg(long)]
    json: bool,
}

pub(crate) fn runner() -> anyhow::Result<Runner> {
    let data = coderoom_paths::DataDir::resolve()?;
    Ok(Runner::new(data.runs_dir())?)
}

pub fn runtimes() -> anyhow::Result<ExitCode> {
    let runner = runner()?;
    if let coderoom_runner::Isolation::RlimitsOnly { reason } = runner.isolation() {
        println!("sandbox: rlimits and a system-call filter only ({reason})");
    } else {
        println!(
            "sandbox: user, mount, PID, network, IPC and UTS namespaces; no capabilities, \
             a system-call filter, rlimits"
        );
    }
    let mode = runner.memory_mode().describe();
    match runner.memory_cgroup() {
        Ok(_) => println!("memory: {mode}"),
        Err(reason) => println!("memory: {mode} ({reason})"),
    }
    for status in runner.runtimes() {
        match &status.runtime {
            Ok(runtime) => println!(
                "{}: {} {}",
                status.label, runtime.toolchain, runtime.version
            ),
            Err(hint) => println!("{}: not available: {hint}", status.label),
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_sources(files: &[PathBuf]) -> anyhow::Result<Vec<SourceFile>> {
    let mut sources = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text", path.display()))?;
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .with_context(|| format!("{} has no usable file name", path.display()))?;
        if sources.iter().any(|s: &SourceFile| s.path == name) {
            bail!("two files are named {name}: give each file its own name");
        }
        sources.push(SourceFile {
            path: name.to_owned(),
            text,
        });
    }
    Ok(sources)
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let files = read_sources(&args.files)?;
    let language = match args.language {
        Some(language) => language,
        None => coderoom_runner::language_for_path(&files[0].path).with_context(|| {
            format!(
                "cannot tell the language of {}: pass --language",
                files[0].path
            )
        })?,
    };
    let defaults = Limits::default();
    let limits = Limits {
        wall_seconds: args.timeout.unwrap_or(defaults.wall_seconds),
        memory_mib: args.memory.unwrap_or(defaults.memory_mib),
        cpu_seconds: args.cpu.unwrap_or(defaults.cpu_seconds),
        ..defaults
    };
    let runner = runner()?;
    let mut handle = runner.start(RunRequest {
        language,
        files,
        main: None,
        limits,
    })?;

    let stdin = handle.stdin_writer();
    match args.stdin.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            stdin.write(&bytes).context("feeding stdin")?;
            stdin.close();
        }
        _ => {
            // The terminal's stdin, forwarded as it is typed; the thread ends with the process.
            std::thread::spawn(move || {
                let mut buffer = [0u8; 4096];
                let mut terminal = std::io::stdin().lock();
                loop {
                    match terminal.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(read) => {
                            if stdin.write(&buffer[..read]).is_err() {
                                break;
                            }
                        }
                    }
                }
                stdin.close();
            });
        }
    }

    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr());
    while let Some(event) = handle.blocking_next_event() {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(&event)?)?;
            out.flush()?;
            if let RunEvent::Finished(outcome) = event {
                return Ok(exit_code(&outcome));
            }
            continue;
        }
        match event {
            RunEvent::Output {
                stream: Stream::Stdout,
                text,
                ..
            } => {
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            RunEvent::Output {
                stream: Stream::Stderr,
                text,
                ..
            } => err.write_all(text.as_bytes())?,
            RunEvent::Notice { text } => writeln!(err, "coderoom: {text}")?,
            RunEvent::Started { .. } => {}
            RunEvent::Finished(outcome) => {
                for diagnostic in &outcome.diagnostics {
                    writeln!(
                        err,
                        "{}:{}:{}: error {}: {}",
                        diagnostic.file,
                        diagnostic.line,
                        diagnostic.column,
                        diagnostic.code,
                        diagnostic.message
                    )?;
                }
                writeln!(
                    err,
                    "coderoom: {} ({})",
                    outcome.summary(&limits),
                    outcome.runtime
                )?;
                return Ok(exit_code(&outcome));
            }
        }
    }
    bail!("the run ended without an outcome")
}

/// The program's own exit code when it exited; 1 for anything else that failed.
fn exit_code(outcome: &coderoom_runner::Outcome) -> ExitCode {
    match outcome.termination {
        coderoom_runner::Termination::Exited { code } if outcome.limit_hit.is_none() => {
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        _ if outcome.success => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}
