//! One run: a fresh work dir with the files, an optional compile phase, the run phase; output
//! streamed as timestamped chunks; stdin fed while it runs; stopped on request, on the wall-clock
//! limit or on too much output; and an outcome saying how it ended and why.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::{ChildStdin, ChildStdout};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc as async_mpsc;

use crate::cgroup::{CgroupCounters, CgroupParent, MemoryMode};
use crate::csharp;
use crate::detect::{which, Runtime, SANDBOX_PATH};
use crate::sandbox::report::{self, InitReports};
use crate::sandbox::{self, Isolation, Layout, Report, Spec};
use crate::watchdog;
use crate::{Limits, RunRequest, RunnerError};

/// The version of the run events' JSON (`docs/run-events.schema.json`): raised whenever a field
/// changes meaning or goes away.
pub const RUN_EVENTS_SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Compile,
    Run,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a run reports, in order, ending with exactly one `Finished`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum RunEvent {
    Started {
        phase: Phase,
        command: String,
    },
    Output {
        phase: Phase,
        stream: Stream,
        /// Milliseconds since the run started.
        at_ms: u64,
        text: String,
    },
    Notice {
        text: String,
    },
    Finished(Outcome),
}

/// A limit the program met, named from what the kernel counted (the cgroup's counters, the
/// signal, the files left at the size cap, the full tmpfs) or what the runner itself measured
/// (wall clock, output, the watchdog's memory and task counts), never from the program's output,
/// except where the kernel keeps no count (see [`Outcome::limits_hit`]).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum LimitHit {
    // In the order a learner should hear about them: the cause before its consequences.
    Memory,
    Processes,
    Disk,
    FileSize,
    Output,
    CpuTime,
    WallClock,
}

impl LimitHit {
    /// What happened, for a learner first.
    pub fn describe(self, limits: &Limits) -> String {
        match self {
            LimitHit::CpuTime => format!(
                "stopped: your program used more than {} s of processor time (does it loop \
                 forever?)",
                limits.cpu_seconds
            ),
            LimitHit::WallClock => format!(
                "stopped: your program was still running after {} s",
                limits.wall_seconds
            ),
            LimitHit::Memory => format!(
                "stopped: your program needed more than its {} MB of memory",
                limits.memory_mib
            ),
            LimitHit::Output => format!(
                "stopped: your program printed more than {} KB of output",
                limits.output_bytes / 1024
            ),
            LimitHit::FileSize => format!(
                "your program tried to write a file larger than {} MB, the largest allowed",
                limits.file_size_mib
            ),
            LimitHit::Processes => format!(
                "your program tried to start more than {} processes or threads, the most \
                 allowed",
                limits.processes
            ),
            LimitHit::Disk => format!(
                "your program filled its {} MB of disk space (/work, /tmp)",
                limits.work_dir_mib
            ),
        }
    }
}

/// How the program (or its compile) ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Termination {
    Exited { code: i32 },
    Signaled { signal: i32, name: String },
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// [`RUN_EVENTS_SCHEMA_VERSION`] of the code that made this outcome.
    pub schema_version: u32,
    /// `python3 3.11.2`, `mono 6.8.0.105`, …
    pub runtime: String,
    pub isolation: Isolation,
    /// How memory (and the process cap) were held for this run.
    pub memory_mode: MemoryMode,
    /// The phase the run ended in: `compile` means the program never started.
    pub phase: Phase,
    pub termination: Termination,
    /// Exited with 0, within every limit, and not stopped.
    pub success: bool,
    /// The first of `limits_hit`: the one to tell a learner about.
    pub limit_hit: Option<LimitHit>,
    /// Every limit the program met, cause first. Named from the kernel's counters and the
    /// runner's own measurements; only under [`MemoryMode::Rlimits`] is a runtime's own
    /// out-of-memory message also taken as the memory limit, because the kernel counts no
    /// allocation that RLIMIT_DATA refused.
    pub limits_hit: Vec<LimitHit>,
    /// The learner's sentence for `limit_hit` ("stopped: your program …").
    pub explanation: Option<String>,
    pub stopped_by_user: bool,
    pub output_truncated: bool,
    pub wall_ms: u64,
    pub cpu_ms: u64,
    pub peak_memory_bytes: u64,
    /// Compile errors with their place (C#).
    pub diagnostics: Vec<csharp::Diagnostic>,
    pub notices: Vec<String>,
}

impl Outcome {
    /// One line for people, what happened first and the details after:
    /// `exited with 0 in 14 ms (CPU 10 ms, peak memory 9.1 MiB)`, or
    /// `stopped: your program … (killed by SIGKILL after 3012 ms; CPU …)`.
    pub fn summary(&self, _limits: &Limits) -> String {
        let how = match &self.termination {
            Termination::Exited { code } => format!("exited with {code}"),
            Termination::Signaled { name, .. } => format!("killed by {name}"),
        };
        let figures = format!(
            "{} ms; CPU {} ms, peak memory {:.1} MiB",
            self.wall_ms,
            self.cpu_ms,
            self.peak_memory_bytes as f64 / (1024.0 * 1024.0)
        );
        if self.phase == Phase::Compile && !self.diagnostics.is_empty() {
            let count = self.diagnostics.len();
            let plural = if count == 1 { "" } else { "s" };
            return format!("did not compile: {count} error{plural} ({how} after {figures})");
        }
        if self.stopped_by_user {
            return format!("stopped by you ({how} after {figures})");
        }
        match &self.explanation {
            Some(explanation) => format!("{explanation} ({how} after {figures})"),
            None => format!("{how} in {figures}"),
        }
    }
}

/// What the caller holds while a run goes on.
pub struct RunHandle {
    events: async_mpsc::UnboundedReceiver<RunEvent>,
    control: Arc<Control>,
}

#[derive(Default)]
struct Control {
    stdin: Mutex<Option<ChildStdin>>,
    stdin_closed: AtomicBool,
    pending_stdin: Mutex<Vec<u8>>,
    stop: AtomicBool,
    wake: Mutex<Option<mpsc::Sender<Wake>>>,
}

enum Wake {
    Exited(std::io::Result<(i32, libc::rusage)>),
    Stop,
    OutputCap,
    /// The watchdog found the run over its memory limit.
    OverMemory,
}

impl RunHandle {
    /// The next event; `None` after `Finished`.
    pub async fn next_event(&mut self) -> Option<RunEvent> {
        self.events.recv().await
    }

    /// The next event, for callers without an async runtime.
    pub fn blocking_next_event(&mut self) -> Option<RunEvent> {
        self.events.blocking_recv()
    }

    /// Sends bytes to the program's stdin (kept until the run phase starts).
    pub fn write_stdin(&self, bytes: &[u8]) -> std::io::Result<()> {
        self.stdin_writer().write(bytes)
    }

    /// Ends the program's stdin (end of file).
    pub fn close_stdin(&self) {
        self.stdin_writer().close();
    }

    /// A writer to the program's stdin that another thread can own while this handle reads
    /// events (a terminal forwarding what is typed, say).
    pub fn stdin_writer(&self) -> StdinWriter {
        StdinWriter {
            control: Arc::clone(&self.control),
        }
    }

    /// Stops the run and everything it started.
    pub fn stop(&self) {
        self.control.stop.store(true, Ordering::SeqCst);
        if let Some(wake) = lock(&self.control.wake).as_ref() {
            let _ = wake.send(Wake::Stop);
        }
    }
}

/// Feeds a running program's stdin; see [`RunHandle::stdin_writer`].
#[derive(Clone)]
pub struct StdinWriter {
    control: Arc<Control>,
}

impl StdinWriter {
    /// Sends bytes to the program's stdin (kept until the run phase starts).
    pub fn write(&self, bytes: &[u8]) -> std::io::Result<()> {
        let mut stdin = lock(&self.control.stdin);
        match stdin.as_mut() {
            Some(pipe) => pipe.write_all(bytes).and_then(|()| pipe.flush()),
            None => {
                lock(&self.control.pending_stdin).extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// Ends the program's stdin (end of file).
    pub fn close(&self) {
        self.control.stdin_closed.store(true, Ordering::SeqCst);
        lock(&self.control.stdin).take();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks a learner's file path: relative, no `..`, nothing that could land outside the work dir.
fn safe_relative_path(path: &str) -> Result<PathBuf, RunnerError> {
    let bad = |reason: &str| RunnerError::BadPath {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if path.is_empty() || path.len() > 255 {
        return Err(bad("a file name must have 1 to 255 characters"));
    }
    if path.contains('\0') || path.contains('\\') {
        return Err(bad("it contains a NUL byte or a backslash"));
    }
    let relative = PathBuf::from(path);
    for component in relative.components() {
        match component {
            Component::Normal(_) => {}
            Component::CurDir => {}
            _ => {
                return Err(bad(
                    "it must stay inside the program's folder (no /, no ..)",
                ))
            }
        }
    }
    Ok(relative)
}

fn substitute(template: &str, variables: &BTreeMap<String, String>) -> String {
    let mut text = template.to_owned();
    for (name, value) in variables {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// Substitutes placeholders in each argument; `{sources}` becomes one argument per source, and
/// an argument with `*` becomes the sorted files it matches in its directory.
fn expand_args(
    templates: &[String],
    variables: &BTreeMap<String, String>,
    sources: &[String],
) -> Vec<String> {
    let mut args = Vec::new();
    for template in templates {
        if template == "{sources}" {
            args.extend(sources.iter().cloned());
            continue;
        }
        let arg = substitute(template, variables);
        if let Some(star) = arg.find('*') {
            // Only the simple `prefix/dir/*.ext` form the descriptors use.
            let (head, tail) = arg.split_at(star);
            let (option, dir) = match head.rfind(':') {
                Some(colon) if head.starts_with('-') => (&head[..=colon], &head[colon + 1..]),
                _ => ("", head),
            };
            let suffix = &tail[1..];
            let mut matches: Vec<String> = std::fs::read_dir(dir)
                .map(|entries| {
                    entries
                        .filter_map(Result::ok)
                        .map(|e| e.path().display().to_string())
                        .filter(|p| p.ends_with(suffix))
                        .collect()
                })
                .unwrap_or_default();
            matches.sort();
            args.extend(matches.into_iter().map(|m| format!("{option}{m}")));
        } else {
            args.push(arg);
        }
    }
    args
}

/// A fresh directory for one run, removed when the run ends.
struct RunDir(PathBuf);

impl RunDir {
    fn create(runs_dir: &Path) -> Result<Self, RunnerError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "run-{}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or_default(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = runs_dir.join(name);
        for dir in [path.clone(), path.join("src"), path.join("out")] {
            std::fs::create_dir(&dir).map_err(|source| RunnerError::Io {
                what: format!("creating {}", dir.display()),
                source,
            })?;
            set_mode(&dir, 0o755)?;
        }
        Ok(Self(path))
    }

    fn src(&self) -> PathBuf {
        self.0.join("src")
    }

    fn out(&self) -> PathBuf {
        self.0.join("out")
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), RunnerError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        RunnerError::Io {
            what: format!("setting permissions of {}", path.display()),
            source,
        }
    })
}

fn write_file(dir: &Path, relative: &Path, text: &str) -> Result<(), RunnerError> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| RunnerError::Io {
            what: format!("creating {}", parent.display()),
            source,
        })?;
        let mut ancestor = parent;
        while ancestor != dir {
            set_mode(ancestor, 0o755)?;
            ancestor = match ancestor.parent() {
                Some(next) => next,
                None => break,
            };
        }
    }
    std::fs::write(&path, text).map_err(|source| RunnerError::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    set_mode(&path, 0o644)
}

/// Where the events of one phase go.
trait Sink: Send + Sync {
    fn output(&self, stream: Stream, at_ms: u64, text: String);
}

struct EventSink {
    phase: Phase,
    events: async_mpsc::UnboundedSender<RunEvent>,
}

impl Sink for EventSink {
    fn output(&self, stream: Stream, at_ms: u64, text: String) {
        let _ = self.events.send(RunEvent::Output {
            phase: self.phase,
            stream,
            at_ms,
            text,
        });
    }
}

struct CollectSink(Mutex<String>);

impl Sink for CollectSink {
    fn output(&self, _stream: Stream, _at_ms: u64, text: String) {
        lock(&self.0).push_str(&text);
    }
}

/// Turns byte chunks into text without splitting a UTF-8 character across two chunks.
#[derive(Default)]
struct Utf8Chunker {
    carry: Vec<u8>,
}

impl Utf8Chunker {
    fn push(&mut self, bytes: &[u8]) -> String {
        self.carry.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.carry) {
            Ok(_) => self.carry.len(),
            Err(error) if error.error_len().is_none() => error.valid_up_to(),
            Err(_) => self.carry.len(),
        };
        let text = String::from_utf8_lossy(&self.carry[..valid]).into_owned();
        self.carry.drain(..valid);
        text
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.carry).into_owned();
        self.carry.clear();
        text
    }
}

/// What one phase came to.
struct PhaseResult {
    report: Option<Report>,
    /// Init's findings (full disk, a file at the size cap, the compiler's files).
    init: InitReports,
    usage: Option<libc::rusage>,
    /// From the run's cgroups, where there are some.
    cgroup: Option<CgroupCounters>,
    /// The watchdog saw the program with as many tasks as it may have.
    tasks_at_cap: bool,
    /// The watchdog's highest reading of the run's memory.
    watched_peak: u64,
    limit_hit: Option<LimitHit>,
    stopped: bool,
    output_truncated: bool,
    /// The last 64 KiB of stderr and stdout, for compile errors (and, under rlimits, a
    /// runtime's out-of-memory message).
    tail: String,
}

/// How the kernel holds one run: the memory mode and whether a pids cgroup counts its tasks.
#[derive(Clone, Copy)]
struct Containment<'a> {
    isolation: &'a Isolation,
    cgroups: Option<&'a CgroupParent>,
}

impl Containment<'_> {
    fn memory_mode(&self) -> MemoryMode {
        match (self.isolation, self.cgroups) {
            (Isolation::Namespaces, Some(parent)) => parent.mode(),
            _ => MemoryMode::Rlimits,
        }
    }

    fn pids_cgroup(&self) -> bool {
        matches!(self.isolation, Isolation::Namespaces)
            && self.cgroups.is_some_and(CgroupParent::counts_processes)
    }
}

const TAIL_BYTES: usize = 64 * 1024;

struct Shared {
    sink: Box<dyn Sink>,
    started: Instant,
    output_used: AtomicU64,
    output_cap: u64,
    truncated: AtomicBool,
    tail: Mutex<String>,
}

fn read_stream(mut pipe: impl Read, stream: Stream, shared: &Shared, wake: &mpsc::Sender<Wake>) {
    let mut buffer = [0u8; 8192];
    let mut chunker = Utf8Chunker::default();
    loop {
        let read = match pipe.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if shared.truncated.load(Ordering::SeqCst) {
            continue; // Keep draining so the program is not blocked on a full pipe.
        }
        let used = shared.output_used.fetch_add(read as u64, Ordering::SeqCst);
        let allowed = shared.output_cap.saturating_sub(used).min(read as u64) as usize;
        let text = chunker.push(&buffer[..allowed]);
        if !text.is_empty() {
            let mut tail = lock(&shared.tail);
            tail.push_str(&text);
            if tail.len() > TAIL_BYTES * 2 {
                let cut = tail.len() - TAIL_BYTES;
                let cut = (cut..tail.len())
                    .find(|&i| tail.is_char_boundary(i))
                    .unwrap_or(0);
                tail.drain(..cut);
            }
            drop(tail);
            let at_ms = shared.started.elapsed().as_millis() as u64;
            shared.sink.output(stream, at_ms, text);
        }
        if allowed < read {
            shared.truncated.store(true, Ordering::SeqCst);
            let _ = wake.send(Wake::OutputCap);
        }
    }
    let rest = chunker.finish();
    if !rest.is_empty() {
        let at_ms = shared.started.elapsed().as_millis() as u64;
        shared.sink.output(stream, at_ms, rest);
    }
}

fn feed_stdin(control: &Control, stdin: ChildStdin) {
    let mut stdin = stdin;
    let pending = std::mem::take(&mut *lock(&control.pending_stdin));
    if !pending.is_empty() {
        let _ = stdin.write_all(&pending);
        let _ = stdin.flush();
    }
    if !control.stdin_closed.load(Ordering::SeqCst) {
        *lock(&control.stdin) = Some(stdin);
    }
}

/// How often the watchdog looks at a run whose memory only it holds, and otherwise (counting
/// tasks only). At a few GB/s of page faults, 10 ms is the margin it leaves.
const WATCH_MEMORY_EVERY: Duration = Duration::from_millis(10);
const WATCH_TASKS_EVERY: Duration = Duration::from_millis(25);

/// Starts the watchdog on a run when the kernel does not count what it must: memory under
/// [`MemoryMode::Rlimits`], tasks without a pids cgroup.
fn watch(
    handle_pid: u32,
    containment: Containment<'_>,
    limits: &Limits,
    wake: mpsc::Sender<Wake>,
    done: mpsc::Receiver<()>,
) -> Option<std::thread::JoinHandle<(bool, u64)>> {
    let holds_memory = containment.memory_mode() == MemoryMode::Rlimits;
    if !holds_memory && containment.pids_cgroup() {
        return None;
    }
    // The shim and init are forks of the runner, their memory the runner's: not counted.
    let skip = match containment.isolation {
        Isolation::Namespaces => 2,
        Isolation::RlimitsOnly { .. } => 0,
    };
    let memory_limit = limits.memory_mib * 1024 * 1024;
    let task_cap = limits.processes;
    // The sandbox's own tmpfs mounts are memory too; without namespaces there are none.
    let has_tmpfs = matches!(containment.isolation, Isolation::Namespaces);
    let every = if holds_memory {
        WATCH_MEMORY_EVERY
    } else {
        WATCH_TASKS_EVERY
    };
    std::thread::Builder::new()
        .name("coderoom-watchdog".into())
        .spawn(move || {
            let (mut at_cap, mut peak) = (false, 0u64);
            loop {
                let sample = watchdog::sample(handle_pid, skip);
                at_cap |= sample.tasks >= task_cap;
                if holds_memory {
                    let tmpfs = match sample.processes.first() {
                        Some(&pid) if has_tmpfs => watchdog::tmpfs_bytes(pid),
                        _ => 0,
                    };
                    let mut used = sample.resident_bytes + tmpfs;
                    if used > memory_limit {
                        // The cheap sum counts pages shared after a fork once per process.
                        used = watchdog::proportional_memory(&sample.processes) + tmpfs;
                        if used > memory_limit {
                            peak = peak.max(used);
                            let _ = wake.send(Wake::OverMemory);
                            break;
                        }
                    }
                    peak = peak.max(used);
                }
                // Ends as soon as the run does (or the runner drops the sender).
                if done.recv_timeout(every) != Err(mpsc::RecvTimeoutError::Timeout) {
                    break;
                }
            }
            (at_cap, peak)
        })
        .ok()
}

/// Runs one phase to its end, enforcing the wall clock, stop requests, the output cap and,
/// where the watchdog holds it, memory.
fn execute(
    spec: &Spec,
    containment: Containment<'_>,
    sink: Box<dyn Sink>,
    control: &Control,
    stdin_used: bool,
) -> Result<PhaseResult, RunnerError> {
    let started = Instant::now();
    let isolation = containment.isolation;
    // Run cgroups go with the namespaced shim, which waits to be moved in before it forks.
    let cgroup = match (containment.cgroups, isolation) {
        (Some(parent), Isolation::Namespaces) => parent.create_run(&spec.limits).ok(),
        _ => None,
    };
    let mut child = sandbox::start(spec, isolation, cgroup.as_ref())?;
    let (wake_tx, wake_rx) = mpsc::channel();
    *lock(&control.wake) = Some(wake_tx.clone());

    let shared = Arc::new(Shared {
        sink,
        started,
        output_used: AtomicU64::new(0),
        output_cap: spec.limits.output_bytes,
        truncated: AtomicBool::new(false),
        tail: Mutex::new(String::new()),
    });
    let stdout: Option<ChildStdout> = child.child.stdout.take();
    let stderr = child.child.stderr.take();
    let readers: Vec<_> = [
        stdout.map(|p| (Box::new(p) as Box<dyn Read + Send>, Stream::Stdout)),
        stderr.map(|p| (Box::new(p) as Box<dyn Read + Send>, Stream::Stderr)),
    ]
    .into_iter()
    .flatten()
    .map(|(pipe, stream)| {
        let shared = Arc::clone(&shared);
        let wake = wake_tx.clone();
        std::thread::spawn(move || read_stream(pipe, stream, &shared, &wake))
    })
    .collect();
    match child.child.stdin.take() {
        Some(stdin) if stdin_used => feed_stdin(control, stdin),
        _ => {} // Dropping it gives the phase an empty stdin.
    }

    // Init's report arrives when the program is over: read as data, never more than the files
    // a compiler could leave plus their records.
    let max_file_bytes = (spec.limits.work_dir_mib * 1024 * 1024) as usize;
    let report_pipe = child.report;
    let report_reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let cap = max_file_bytes + max_file_bytes / report::FILE_CHUNK * 6 + 64 * 1024;
        let read = report_pipe.take(cap as u64).read_to_end(&mut bytes);
        read.map_err(|_| report::ReportError::Malformed("the pipe failed"))
            .and_then(|_| report::parse(&bytes, max_file_bytes))
    });
    let child_pid = child.child.id();
    {
        let wake = wake_tx.clone();
        std::thread::spawn(move || {
            let _ = wake.send(Wake::Exited(sandbox::wait_with_usage(child_pid)));
        });
    }
    let (watching_done, watch_until) = mpsc::channel();
    let watchdog = watch(
        child.handle.pid(),
        containment,
        &spec.limits,
        wake_tx.clone(),
        watch_until,
    );
    drop(wake_tx);

    let deadline = started + Duration::from_secs(spec.limits.wall_seconds);
    let mut limit_hit = None;
    let mut stopped = control.stop.load(Ordering::SeqCst);
    if stopped {
        child.handle.kill();
    }
    let exit = loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        match wake_rx.recv_timeout(wait) {
            Ok(Wake::Exited(result)) => break result.ok(),
            Ok(Wake::Stop) => {
                stopped = true;
                child.handle.kill();
            }
            Ok(Wake::OutputCap) => {
                limit_hit.get_or_insert(LimitHit::Output);
                child.handle.kill();
            }
            Ok(Wake::OverMemory) => {
                limit_hit.get_or_insert(LimitHit::Memory);
                child.handle.kill();
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                limit_hit.get_or_insert(LimitHit::WallClock);
                child.handle.kill();
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        }
    };
    let _ = watching_done.send(());
    lock(&control.wake).take();
    lock(&control.stdin).take();
    // Anything left in the process group (rlimits-only runs) goes now, so the pipes close.
    child.handle.kill_group();
    for reader in readers {
        let _ = reader.join();
    }
    let (tasks_at_cap, watched_peak) = watchdog
        .and_then(|watchdog| watchdog.join().ok())
        .unwrap_or_default();
    let tail = std::mem::take(&mut *lock(&shared.tail));
    let (status, usage) = match exit {
        Some((status, usage)) => (Some(status), Some(usage)),
        None => (None, None),
    };
    let reports = report_reader
        .join()
        .unwrap_or(Err(report::ReportError::Malformed("the reader failed")));
    let killed = stopped || limit_hit.is_some();
    let (report, init) = match (isolation, reports) {
        (Isolation::Namespaces, Ok(mut reports)) => (reports.report.take(), reports),
        // Init died with the run before it could finish its report.
        (Isolation::Namespaces, Err(_)) if killed => (None, InitReports::default()),
        (Isolation::Namespaces, Err(error)) => {
            return Err(RunnerError::Sandbox {
                step: "reading the sandbox's report",
                reason: error.to_string(),
            })
        }
        // Without init, the rlimited program is the child itself.
        (Isolation::RlimitsOnly { .. }, _) => (
            status.map(|status| {
                if libc::WIFSIGNALED(status) {
                    Report::Signaled(libc::WTERMSIG(status))
                } else {
                    Report::Exited(libc::WEXITSTATUS(status))
                }
            }),
            InitReports::default(),
        ),
    };
    Ok(PhaseResult {
        report,
        init,
        usage,
        cgroup: cgroup.as_ref().map(|cgroup| cgroup.counters()),
        tasks_at_cap,
        watched_peak,
        limit_hit,
        stopped,
        output_truncated: shared.truncated.load(Ordering::SeqCst),
        tail,
    })
}

fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_owned())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

fn setup_error(report: &Option<Report>) -> Option<RunnerError> {
    match report {
        Some(Report::SetupFailed { step, errno }) => Some(RunnerError::Sandbox {
            step: sandbox::step_name(*step),
            reason: nix::errno::Errno::from_raw(*errno).desc().to_owned(),
        }),
        _ => None,
    }
}

fn program_env(runtime: &Runtime, variables: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_owned(), SANDBOX_PATH.to_owned()),
        ("HOME".to_owned(), "/tmp".to_owned()),
        ("TMPDIR".to_owned(), "/tmp".to_owned()),
        ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ("TERM".to_owned(), "dumb".to_owned()),
    ];
    for (key, value) in &runtime.descriptor.env {
        env.push((key.clone(), substitute(value, variables)));
    }
    env
}

fn resolve(program: &str) -> Result<PathBuf, RunnerError> {
    which(program).ok_or_else(|| RunnerError::RuntimeMissing {
        language: program.to_owned(),
        hint: format!("{program} is not installed in {SANDBOX_PATH}"),
    })
}

/// Runs a probe command in the sandbox and returns what it printed.
pub(crate) fn capture(
    program: &str,
    args: &[String],
    isolation: &Isolation,
    runs_dir: &Path,
) -> Result<String, RunnerError> {
    let dir = RunDir::create(runs_dir)?;
    let spec = Spec {
        program: resolve(program)?,
        args: args.to_vec(),
        env: vec![
            ("PATH".into(), SANDBOX_PATH.into()),
            ("HOME".into(), "/tmp".into()),
            ("DOTNET_CLI_TELEMETRY_OPTOUT".into(), "1".into()),
            ("DOTNET_NOLOGO".into(), "1".into()),
        ],
        work_dir: dir.src(),
        files: Vec::new(),
        collect_out: false,
        limits: Limits {
            wall_seconds: 20,
            output_bytes: 64 * 1024,
            memory_mib: 1024,
            ..Limits::default()
        },
        memory_mode: MemoryMode::Rlimits,
        pids_cgroup: false,
        // `dotnet --list-sdks` starts the whole host: no need to size its memory here.
        data_extra_mib: 4096,
    };
    let sink = Arc::new(CollectSink(Mutex::new(String::new())));
    let result = execute(
        &spec,
        Containment {
            isolation,
            cgroups: None,
        },
        Box::new(ForwardSink(Arc::clone(&sink))),
        &Control::default(),
        false,
    )?;
    if let Some(error) = setup_error(&result.report) {
        return Err(error);
    }
    let text = std::mem::take(&mut *lock(&sink.0));
    Ok(text)
}

struct ForwardSink(Arc<CollectSink>);

impl Sink for ForwardSink {
    fn output(&self, stream: Stream, at_ms: u64, text: String) {
        self.0.output(stream, at_ms, text);
    }
}

pub(crate) fn start(
    runtime: Runtime,
    request: RunRequest,
    isolation: Isolation,
    cgroups: Option<CgroupParent>,
    runs_dir: &Path,
) -> Result<RunHandle, RunnerError> {
    if request.files.is_empty() {
        return Err(RunnerError::NoFiles);
    }
    let mut relative_paths = Vec::new();
    for file in &request.files {
        relative_paths.push(safe_relative_path(&file.path)?);
    }
    let main = request
        .main
        .clone()
        .unwrap_or_else(|| request.files[0].path.clone());
    if !request.files.iter().any(|file| file.path == main) {
        return Err(RunnerError::MainMissing(main));
    }
    let dir = RunDir::create(runs_dir)?;
    let mut notices = Vec::new();
    let wraps = runtime.descriptor.language_version.as_deref() == Some("7.2");
    for (file, relative) in request.files.iter().zip(&relative_paths) {
        let text = match csharp_wrap(wraps, file) {
            Some(wrapped) => {
                notices.push(format!(
                    "{}: top-level statements were wrapped in a Main method for Mono's C# 7.2 \
                     compiler (line numbers are unchanged)",
                    file.path
                ));
                wrapped
            }
            None => file.text.clone(),
        };
        write_file(&dir.src(), relative, &text)?;
    }

    let (events_tx, events_rx) = async_mpsc::unbounded_channel();
    let control = Arc::new(Control::default());
    let handle = RunHandle {
        events: events_rx,
        control: Arc::clone(&control),
    };
    std::thread::Builder::new()
        .name("coderoom-run".into())
        .spawn(move || {
            let outcome = supervise(
                &runtime,
                &request,
                Containment {
                    isolation: &isolation,
                    cgroups: cgroups.as_ref(),
                },
                &dir,
                &relative_paths,
                &main,
                notices,
                &control,
                &events_tx,
            );
            // The work dir is gone before the caller hears the run is over.
            drop(dir);
            let _ = events_tx.send(RunEvent::Finished(outcome));
        })
        .map_err(|source| RunnerError::Io {
            what: "starting the run's thread".into(),
            source,
        })?;
    Ok(handle)
}

fn csharp_wrap(wraps: bool, file: &crate::SourceFile) -> Option<String> {
    if wraps && file.path.ends_with(".cs") {
        csharp::wrap_top_level_statements(&file.text)
    } else {
        None
    }
}

fn usage_cpu_ms(usage: &libc::rusage) -> u64 {
    let millis = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
    millis(usage.ru_utime) + millis(usage.ru_stime)
}

#[allow(clippy::too_many_arguments)]
fn supervise(
    runtime: &Runtime,
    request: &RunRequest,
    containment: Containment<'_>,
    dir: &RunDir,
    relative_paths: &[PathBuf],
    main: &str,
    mut notices: Vec<String>,
    control: &Control,
    events: &async_mpsc::UnboundedSender<RunEvent>,
) -> Outcome {
    let limits = request.limits;
    let isolation = containment.isolation;
    let memory_mode = containment.memory_mode();
    let layout = Layout::for_isolation(isolation, &dir.src(), &dir.out());
    let mut variables = runtime.variables.clone();
    variables.insert("main".into(), main.to_owned());
    variables.insert("work".into(), layout.work.clone());
    variables.insert("out".into(), layout.out.clone());
    variables.insert("memory_mib".into(), limits.memory_mib.to_string());
    // A runtime's own heap cap (V8, Mono, .NET) gives way to the kernel's limit where a cgroup
    // counts: the kernel then stops the program and says so. Under rlimits the runtime's cap is
    // the limit itself, so its heap is collected before the watchdog has to step in.
    let heap_mib = match memory_mode {
        MemoryMode::Rlimits => limits.memory_mib,
        MemoryMode::CgroupV1 | MemoryMode::CgroupV2 => limits.memory_mib * 2,
    };
    variables.insert("heap_mib".into(), heap_mib.to_string());
    variables.insert(
        "heap_bytes_hex".into(),
        format!("0x{:x}", heap_mib * 1024 * 1024),
    );
    let sources: Vec<String> = relative_paths
        .iter()
        .map(|p| p.display().to_string())
        .filter(|p| runtime.descriptor.compile.is_empty() || p.ends_with(".cs"))
        .collect();
    let env = program_env(runtime, &variables);
    let runtime_name = format!("{} {}", runtime.toolchain, runtime.version);
    if let Isolation::RlimitsOnly { reason } = isolation {
        notices.push(format!("not isolated: {reason}"));
    }
    for notice in &notices {
        let _ = events.send(RunEvent::Notice {
            text: notice.clone(),
        });
    }
    let mut outcome = Outcome {
        schema_version: RUN_EVENTS_SCHEMA_VERSION,
        runtime: runtime_name,
        isolation: isolation.clone(),
        memory_mode,
        phase: Phase::Run,
        termination: Termination::Exited { code: -1 },
        success: false,
        limit_hit: None,
        limits_hit: Vec::new(),
        explanation: None,
        stopped_by_user: false,
        output_truncated: false,
        wall_ms: 0,
        cpu_ms: 0,
        peak_memory_bytes: 0,
        diagnostics: Vec::new(),
        notices,
    };
    let fail = |mut outcome: Outcome, error: RunnerError| {
        let text = format!("coderoom: {error}");
        let _ = events.send(RunEvent::Output {
            phase: outcome.phase,
            stream: Stream::Stderr,
            at_ms: 0,
            text: format!("{text}\n"),
        });
        outcome.notices.push(text);
        outcome
    };

    let mut run_work_dir = dir.src();
    let mut run_files = relative_paths.to_vec();
    let started = Instant::now();
    if !runtime.descriptor.compile.is_empty() {
        outcome.phase = Phase::Compile;
        let args = expand_args(&runtime.descriptor.compile, &variables, &sources);
        let Some((program, args)) = args.split_first() else {
            return fail(
                outcome,
                RunnerError::BadArgument {
                    reason: "empty compile command".into(),
                },
            );
        };
        let spec = match resolve(program) {
            Ok(program) => Spec {
                program,
                args: args.to_vec(),
                env: env.clone(),
                work_dir: dir.src(),
                files: relative_paths.to_vec(),
                collect_out: true,
                limits: Limits {
                    // The compiler is not the learner's code, but its output is capped the same.
                    cpu_seconds: limits.cpu_seconds.max(30),
                    wall_seconds: limits.wall_seconds.max(60),
                    memory_mib: limits.memory_mib.max(1024),
                    ..limits
                },
                memory_mode,
                pids_cgroup: containment.pids_cgroup(),
                data_extra_mib: runtime.descriptor.data_extra_mib,
            },
            Err(error) => return fail(outcome, error),
        };
        let _ = events.send(RunEvent::Started {
            phase: Phase::Compile,
            command: std::iter::once(program.as_str())
                .chain(args.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        });
        let sink = Box::new(EventSink {
            phase: Phase::Compile,
            events: events.clone(),
        });
        let result = match execute(&spec, containment, sink, control, false) {
            Ok(result) => result,
            Err(error) => return fail(outcome, error),
        };
        if let Some(error) = setup_error(&result.report) {
            return fail(outcome, error);
        }
        let compiled = matches!(result.report, Some(Report::Exited(0)));
        if !compiled || result.stopped || result.limit_hit.is_some() {
            if let Some(pattern) = runtime
                .descriptor
                .compile_error_pattern
                .as_deref()
                .and_then(|p| regex::Regex::new(p).ok())
            {
                outcome.diagnostics = csharp::parse_diagnostics(&pattern, &result.tail);
            }
            if let Some(version) = &runtime.descriptor.language_version {
                if version != "latest" {
                    for file in &request.files {
                        for notice in csharp::newer_feature_notices(&file.text, version) {
                            let _ = events.send(RunEvent::Notice {
                                text: notice.clone(),
                            });
                            outcome.notices.push(notice);
                        }
                    }
                }
            }
            return finish(outcome, result, Phase::Compile, &limits, started, runtime);
        }
        for (name, bytes) in &result.init.files {
            let path = dir.out().join(name);
            if let Err(source) = std::fs::write(&path, bytes) {
                return fail(
                    outcome,
                    RunnerError::Io {
                        what: format!("writing the compiler's {name}"),
                        source,
                    },
                );
            }
        }
        for (name, template) in &runtime.descriptor.run_files {
            let path = safe_relative_path(name)
                .map(|relative| (relative.clone(), substitute(template, &variables)));
            match path {
                Ok((relative, text)) => {
                    if let Err(error) = write_file(&dir.out(), &relative, &text) {
                        return fail(outcome, error);
                    }
                }
                Err(error) => return fail(outcome, error),
            }
        }
        run_work_dir = dir.out();
        run_files = match std::fs::read_dir(dir.out()) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| PathBuf::from(e.file_name()))
                .collect(),
            Err(source) => {
                return fail(
                    outcome,
                    RunnerError::Io {
                        what: "reading the compiler's output".into(),
                        source,
                    },
                )
            }
        };
        outcome.cpu_ms += result.usage.as_ref().map(usage_cpu_ms).unwrap_or(0);
    }

    outcome.phase = Phase::Run;
    let args = expand_args(&runtime.descriptor.run, &variables, &sources);
    let Some((program, args)) = args.split_first() else {
        return fail(
            outcome,
            RunnerError::BadArgument {
                reason: "empty run command".into(),
            },
        );
    };
    let spec = match resolve(program) {
        Ok(program) => Spec {
            program,
            args: args.to_vec(),
            env,
            work_dir: run_work_dir,
            files: run_files,
            collect_out: false,
            limits,
            memory_mode,
            pids_cgroup: containment.pids_cgroup(),
            data_extra_mib: runtime.descriptor.data_extra_mib,
        },
        Err(error) => return fail(outcome, error),
    };
    let _ = events.send(RunEvent::Started {
        phase: Phase::Run,
        command: std::iter::once(program.as_str())
            .chain(args.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" "),
    });
    let sink = Box::new(EventSink {
        phase: Phase::Run,
        events: events.clone(),
    });
    let result = match execute(&spec, containment, sink, control, true) {
        Ok(result) => result,
        Err(error) => return fail(outcome, error),
    };
    if let Some(error) = setup_error(&result.report) {
        return fail(outcome, error);
    }
    finish(outcome, result, Phase::Run, &limits, started, runtime)
}

fn finish(
    mut outcome: Outcome,
    result: PhaseResult,
    phase: Phase,
    limits: &Limits,
    started: Instant,
    runtime: &Runtime,
) -> Outcome {
    outcome.phase = phase;
    outcome.wall_ms = started.elapsed().as_millis() as u64;
    if let Some(usage) = &result.usage {
        outcome.cpu_ms += usage_cpu_ms(usage);
        outcome.peak_memory_bytes = usage.ru_maxrss.max(0) as u64 * 1024;
    }
    outcome.peak_memory_bytes = outcome.peak_memory_bytes.max(result.watched_peak);
    if let Some(peak) = result.cgroup.and_then(|counters| counters.peak_bytes) {
        outcome.peak_memory_bytes = peak;
    }
    outcome.termination = match result.report {
        Some(Report::Exited(code)) => Termination::Exited { code },
        Some(Report::Signaled(signal)) => Termination::Signaled {
            signal,
            name: signal_name(signal),
        },
        // Init itself was killed (stop, wall clock, output cap): the program died with it.
        Some(Report::SetupFailed { .. }) | None => Termination::Signaled {
            signal: libc::SIGKILL,
            name: "SIGKILL".into(),
        },
    };
    outcome.stopped_by_user = result.stopped;
    outcome.output_truncated = result.output_truncated;
    outcome.limits_hit = limits_hit(&outcome, &result, limits, runtime);
    outcome.limit_hit = outcome.limits_hit.first().copied();
    outcome.explanation = outcome.limit_hit.map(|limit| limit.describe(limits));
    if outcome.output_truncated {
        outcome.notices.push(format!(
            "output was cut at {} KiB; the program was stopped",
            limits.output_bytes / 1024
        ));
    }
    if result.init.files_cut {
        outcome
            .notices
            .push("not all of the compiler's output could be copied back".into());
    }
    outcome.success = outcome.termination == Termination::Exited { code: 0 }
        && outcome.limit_hit.is_none()
        && !outcome.stopped_by_user
        && phase == Phase::Run;
    outcome
}

/// Every limit the program met, from the kernel's counters and the runner's measurements.
fn limits_hit(
    outcome: &Outcome,
    result: &PhaseResult,
    limits: &Limits,
    runtime: &Runtime,
) -> Vec<LimitHit> {
    let mut hits: Vec<LimitHit> = result.limit_hit.into_iter().collect();
    let signal = match &outcome.termination {
        Termination::Signaled { signal, .. } => Some(*signal),
        Termination::Exited { .. } => None,
    };
    let failed = outcome.termination != Termination::Exited { code: 0 };
    // Past the soft limit the kernel sends SIGXCPU, past the hard one SIGKILL (unless the
    // runner killed the run itself, for another reason).
    let killed_by_runner = result.limit_hit.is_some() || result.stopped;
    if signal == Some(libc::SIGXCPU)
        || (signal == Some(libc::SIGKILL)
            && !killed_by_runner
            && outcome.cpu_ms >= limits.cpu_seconds * 1000)
    {
        hits.push(LimitHit::CpuTime);
    }
    if signal == Some(libc::SIGXFSZ) || result.init.file_at_size_limit {
        hits.push(LimitHit::FileSize);
    }
    if result.init.disk_full {
        hits.push(LimitHit::Disk);
    }
    let forks_refused = result
        .cgroup
        .and_then(|counters| counters.forks_refused)
        .unwrap_or(0);
    if result.tasks_at_cap || forks_refused > 0 {
        hits.push(LimitHit::Processes);
    }
    if let Some(counters) = result.cgroup {
        if counters.out_of_memory_kills > 0 || (counters.memory_limit_reached && failed) {
            hits.push(LimitHit::Memory);
        }
    }
    // Without cgroups, RLIMIT_DATA refuses an allocation and RLIMIT_NPROC a fork or thread
    // without a count anywhere (the watchdog's samples catch a program that stays at the cap,
    // not one that meets it and ends within 10 ms): the runtime's own message is all there is.
    if outcome.memory_mode == MemoryMode::Rlimits {
        let said = |patterns: &[String]| {
            patterns
                .iter()
                .any(|pattern| result.tail.contains(pattern.as_str()))
        };
        if said(&runtime.descriptor.out_of_memory_patterns) {
            hits.push(LimitHit::Memory);
        }
        if said(&runtime.descriptor.process_limit_patterns) {
            hits.push(LimitHit::Processes);
        }
    }
    hits.sort();
    hits.dedup();
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        for path in ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "x\0y"] {
            assert!(safe_relative_path(path).is_err(), "{path:?} was accepted");
        }
        assert!(safe_relative_path("src/main.py").is_ok());
    }

    #[test]
    fn utf8_is_not_split_across_chunks() {
        let mut chunker = Utf8Chunker::default();
        let bytes = "héllo".as_bytes();
        let first = chunker.push(&bytes[..2]);
        let second = chunker.push(&bytes[2..]);
        assert_eq!(format!("{first}{second}"), "héllo");
        assert_eq!(first, "h");
        let mut chunker = Utf8Chunker::default();
        assert_eq!(chunker.push(b"a\xffb"), "a\u{fffd}b");
    }

    #[test]
    fn sources_expand_to_one_argument_each() {
        let variables = BTreeMap::from([("out".to_owned(), "/out".to_owned())]);
        let args = expand_args(
            &[
                "mcs".into(),
                "-out:{out}/main.exe".into(),
                "{sources}".into(),
            ],
            &variables,
            &["a.cs".into(), "b.cs".into()],
        );
        assert_eq!(args, ["mcs", "-out:/out/main.exe", "a.cs", "b.cs"]);
    }
}
