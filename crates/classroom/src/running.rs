//! Running a file of the class on this laptop: the document's files go to the sandboxed runner,
//! each step goes to the room (which shows it to the document's readers and keeps it in
//! history) and to this window; the window stops a run and types into it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use coderoom_protocol::{DocId, RunStep};
use coderoom_runner::{Limits, RunEvent, RunRequest, Runner, SourceFile, StdinWriter, Stream};
use tokio::sync::mpsc;

use crate::ClassError;

/// The runner of this install (made once: detecting runtimes takes a moment).
pub fn runner() -> Result<&'static Runner, ClassError> {
    static RUNNER: OnceLock<Result<Runner, String>> = OnceLock::new();
    RUNNER
        .get_or_init(|| {
            let data = coderoom_paths::DataDir::resolve().map_err(|e| e.to_string())?;
            Runner::new(data.runs_dir()).map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|reason| ClassError::Refused(format!("programs cannot run here: {reason}")))
}

/// What would run `file`: the runtime's name and version ("python3 3.11.2"), or what to
/// install, in words.
pub fn runtime_for(file: &str) -> Result<String, ClassError> {
    let language = coderoom_runner::language_for_path(file).ok_or_else(|| {
        ClassError::Refused(format!(
            "{file} cannot be run: Coderoom runs Python (.py), JavaScript (.js) and C# (.cs) files"
        ))
    })?;
    let status = runner()?
        .runtimes()
        .iter()
        .find(|status| status.language == language)
        .ok_or_else(|| ClassError::Refused(format!("no runtime is known for {language}")))?;
    match &status.runtime {
        Ok(runtime) => Ok(format!("{} {}", runtime.toolchain, runtime.version)),
        Err(reason) => Err(ClassError::Refused(format!(
            "{} is not installed on this laptop ({reason}): {}",
            status.label,
            install_hint(&language)
        ))),
    }
}

fn install_hint(language: &str) -> &'static str {
    match language {
        "python" => "install Python 3 (on Debian or Ubuntu: sudo apt install python3)",
        "javascript" => "install Node.js (on Debian or Ubuntu: sudo apt install nodejs)",
        "csharp" => {
            "install the .NET SDK, or Mono (on Debian or Ubuntu: sudo apt install mono-mcs)"
        }
        _ => "install its runtime",
    }
}

/// Runs going on here, by run id: where to send what is typed, and how to stop each.
#[derive(Default)]
pub struct Runs {
    going: Mutex<BTreeMap<u64, GoingRun>>,
}

struct GoingRun {
    stdin: StdinWriter,
    stop: mpsc::UnboundedSender<()>,
}

impl Runs {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, GoingRun>> {
        self.going
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stops a run of this laptop's.
    pub fn stop(&self, run: u64) -> Result<(), ClassError> {
        match self.lock().get(&run) {
            Some(going) => {
                let _ = going.stop.send(());
                Ok(())
            }
            None => Err(ClassError::Refused("that program has already ended".into())),
        }
    }

    /// A line typed into a run's input.
    pub fn input(&self, run: u64, line: &str) -> Result<(), ClassError> {
        let going = self.lock();
        let going = going
            .get(&run)
            .ok_or_else(|| ClassError::Refused("that program has already ended".into()))?;
        going
            .stdin
            .write(format!("{line}\n").as_bytes())
            .map_err(|error| {
                ClassError::Refused(format!("the program takes no more input ({error})"))
            })
    }
}

/// Starts `file` of `files` (a document's files) and sends each step, in order, to `steps`
/// until the run ends; returns the run's id and the runtime's name.
pub fn start(
    runs: &Arc<Runs>,
    doc: DocId,
    files: BTreeMap<String, String>,
    file: &str,
    steps: mpsc::UnboundedSender<(u64, RunStep)>,
) -> Result<(u64, String), ClassError> {
    if !files.contains_key(file) {
        return Err(ClassError::Refused(format!(
            "there is no file {file} to run"
        )));
    }
    let runtime = runtime_for(file)?;
    let language = coderoom_runner::language_for_path(file).unwrap_or_default();
    let limits = Limits::default();
    let files_hash = files_hash(&files);
    let mut handle = runner()?
        .start(RunRequest {
            language,
            files: files
                .into_iter()
                .map(|(path, text)| SourceFile { path, text })
                .collect(),
            main: Some(file.to_owned()),
            limits,
        })
        .map_err(|error| ClassError::Refused(format!("the program could not start: {error}")))?;
    let run = rand::random::<u64>() >> 12;
    let (stop, mut stopped) = mpsc::unbounded_channel();
    runs.lock().insert(
        run,
        GoingRun {
            stdin: handle.stdin_writer(),
            stop,
        },
    );
    let _ = steps.send((
        run,
        RunStep::Started {
            doc,
            path: file.to_owned(),
            runtime: runtime.clone(),
            files_hash,
        },
    ));
    let runs = Arc::clone(runs);
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                event = handle.next_event() => event,
                Some(()) = stopped.recv() => {
                    handle.stop();
                    continue;
                }
            };
            let Some(event) = event else { break };
            let step = match event {
                RunEvent::Output { stream, text, .. } => RunStep::Output {
                    stderr: stream == Stream::Stderr,
                    text,
                },
                RunEvent::Notice { text } => RunStep::Output {
                    stderr: true,
                    text: format!("coderoom: {text}\n"),
                },
                RunEvent::Started { .. } => continue,
                RunEvent::Finished(outcome) => RunStep::Ended {
                    outcome: in_words(&outcome),
                    wall_ms: outcome.wall_ms,
                    cpu_ms: Some(outcome.cpu_ms),
                    peak_kib: Some(outcome.peak_memory_bytes / 1024),
                },
            };
            let ended = matches!(step, RunStep::Ended { .. });
            let _ = steps.send((run, step));
            if ended {
                break;
            }
        }
        runs.lock().remove(&run);
    });
    Ok((run, runtime))
}

/// How a run ended, short, for everyone watching it ("exit 0", "stopped: …"); the window adds
/// how long it took.
pub fn in_words(outcome: &coderoom_runner::Outcome) -> String {
    use coderoom_runner::{Phase, Termination};
    if outcome.phase == Phase::Compile && !outcome.diagnostics.is_empty() {
        let count = outcome.diagnostics.len();
        return format!(
            "did not compile: {count} error{}",
            if count == 1 { "" } else { "s" }
        );
    }
    if outcome.stopped_by_user {
        return "stopped before it ended".into();
    }
    if let Some(explanation) = &outcome.explanation {
        return format!("stopped: {explanation}");
    }
    match &outcome.termination {
        Termination::Exited { code } => format!("exit {code}"),
        Termination::Signaled { name, .. } => format!("killed by {name}"),
    }
}

/// The files a run saw, as one hash (paths and texts, in order).
pub fn files_hash(files: &BTreeMap<String, String>) -> String {
    let mut hasher = blake3::Hasher::new();
    for (path, text) in files {
        for part in [path.as_bytes(), text.as_bytes()] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
    }
    hasher.finalize().to_hex()[..16].to_owned()
}
