//! Runs learners' programs: detects the installed runtimes (node, python3, dotnet or Mono), and
//! runs one or more source files in a sandbox of Linux namespaces and rlimits, streaming output
//! as it comes and reporting how the program ended.

mod cgroup;
mod csharp;
mod descriptor;
mod detect;
mod run;
mod sandbox;
mod seccomp;
mod watchdog;

use std::path::PathBuf;

pub use cgroup::{CgroupParent, MemoryMode};
pub use csharp::Diagnostic;
pub use descriptor::{LanguageDescriptor, ToolchainDescriptor};
pub use detect::{Runtime, RuntimeStatus};
pub use run::{
    LimitHit, Outcome, Phase, RunEvent, RunHandle, StdinWriter, Stream, Termination,
    RUN_EVENTS_SCHEMA_VERSION,
};
pub use sandbox::Isolation;

/// Resource limits for one run. The defaults suit a classroom; a room can change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Limits {
    pub cpu_seconds: u64,
    pub wall_seconds: u64,
    pub memory_mib: u64,
    pub processes: u64,
    pub file_size_mib: u64,
    pub open_files: u64,
    /// Total stdout + stderr kept and streamed; past it the program is stopped.
    pub output_bytes: u64,
    /// Size of the program's writable /work (and /tmp) in the sandbox.
    pub work_dir_mib: u64,
    pub work_dir_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_seconds: 10,
            wall_seconds: 20,
            memory_mib: 512,
            processes: 64,
            file_size_mib: 16,
            open_files: 256,
            output_bytes: 1024 * 1024,
            work_dir_mib: 64,
            work_dir_files: 4096,
        }
    }
}

/// One source file of the program, as a path relative to the program's root.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// What to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RunRequest {
    /// `python`, `javascript` or `csharp`.
    pub language: String,
    pub files: Vec<SourceFile>,
    /// The file to start; defaults to the first file.
    pub main: Option<String>,
    pub limits: Limits,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("runtime descriptor {name}: {reason}")]
    Descriptor { name: String, reason: String },
    #[error("unknown language {0:?}: Coderoom runs python, javascript and csharp")]
    UnknownLanguage(String),
    #[error("{language} cannot run here: {hint}")]
    RuntimeMissing { language: String, hint: String },
    #[error("bad file name {path:?}: {reason}")]
    BadPath { path: String, reason: String },
    #[error("bad argument: {reason}")]
    BadArgument { reason: String },
    #[error("nothing to run: the program has no files")]
    NoFiles,
    #[error("the main file {0:?} is not among the program's files")]
    MainMissing(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("the sandbox could not start the program ({step}): {reason}")]
    Sandbox { step: &'static str, reason: String },
}

/// The language whose runtime runs a file with this name (by its extension), if any.
pub fn language_for_path(path: &str) -> Option<String> {
    let extension = std::path::Path::new(path).extension()?.to_str()?;
    LanguageDescriptor::builtin()
        .ok()?
        .into_iter()
        .find(|language| language.extensions.iter().any(|e| e == extension))
        .map(|language| language.language)
}

/// Detected runtimes and the sandbox, ready to run programs.
pub struct Runner {
    runtimes: Vec<RuntimeStatus>,
    isolation: Isolation,
    /// Where run cgroups are made, or why there is none (memory is then limited by rlimits).
    cgroups: Result<CgroupParent, String>,
    runs_dir: PathBuf,
}

impl Runner {
    /// Probes the sandbox and detects every built-in language's runtime. `runs_dir` is where fresh
    /// work dirs are made (in the app's data dir).
    pub fn new(runs_dir: impl Into<PathBuf>) -> Result<Self, RunnerError> {
        Self::with_isolation(runs_dir, Isolation::probe())
    }

    /// Like [`Runner::new`] with the isolation chosen by the caller, e.g. rlimits only where the
    /// namespaces are known not to work.
    pub fn with_isolation(
        runs_dir: impl Into<PathBuf>,
        isolation: Isolation,
    ) -> Result<Self, RunnerError> {
        let runs_dir = runs_dir.into();
        std::fs::create_dir_all(&runs_dir).map_err(|source| RunnerError::Io {
            what: format!("creating {}", runs_dir.display()),
            source,
        })?;
        let languages = LanguageDescriptor::builtin()?;
        let runtimes = detect::detect_all(&languages, &isolation, &runs_dir);
        let cgroups = match &isolation {
            Isolation::Namespaces => CgroupParent::probe(),
            Isolation::RlimitsOnly { .. } => Err("programs are not in namespaces".into()),
        };
        Ok(Self {
            runtimes,
            isolation,
            cgroups,
            runs_dir,
        })
    }

    /// Every language with the runtime found for it, or why none was.
    pub fn runtimes(&self) -> &[RuntimeStatus] {
        &self.runtimes
    }

    pub fn isolation(&self) -> &Isolation {
        &self.isolation
    }

    /// Where run cgroups are made (the whole run's real memory), or why there are none, in
    /// which case RLIMIT_DATA and the runner's watchdog hold memory.
    pub fn memory_cgroup(&self) -> Result<&CgroupParent, &str> {
        self.cgroups.as_ref().map_err(String::as_str)
    }

    /// How runs' memory is held here.
    pub fn memory_mode(&self) -> MemoryMode {
        match (&self.isolation, &self.cgroups) {
            (Isolation::Namespaces, Ok(parent)) => parent.mode(),
            _ => MemoryMode::Rlimits,
        }
    }

    /// Starts a run; events arrive on the handle until [`RunEvent::Finished`].
    pub fn start(&self, request: RunRequest) -> Result<RunHandle, RunnerError> {
        let status = self
            .runtimes
            .iter()
            .find(|status| status.language == request.language)
            .ok_or_else(|| RunnerError::UnknownLanguage(request.language.clone()))?;
        let runtime = match &status.runtime {
            Ok(runtime) => runtime.clone(),
            Err(hint) => {
                return Err(RunnerError::RuntimeMissing {
                    language: status.label.clone(),
                    hint: hint.clone(),
                })
            }
        };
        run::start(
            runtime,
            request,
            self.isolation.clone(),
            self.cgroups.as_ref().ok().cloned(),
            &self.runs_dir,
        )
    }
}
