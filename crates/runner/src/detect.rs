//! Finding the installed runtimes. Each probe runs inside the same sandbox the programs will run
//! in, so a runtime is reported only if a program can really use it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::descriptor::{LanguageDescriptor, ToolchainDescriptor};
use crate::run::capture;
use crate::sandbox::Isolation;

/// The only directories searched for runtimes: the sandbox shows system directories alone.
pub(crate) const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A usable toolchain for one language.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Runtime {
    pub language: String,
    /// `python3`, `node`, `dotnet` or `mono`.
    pub toolchain: String,
    pub version: String,
    /// Values captured by the probes, used in the toolchain's commands.
    pub variables: BTreeMap<String, String>,
    #[serde(skip)]
    pub descriptor: ToolchainDescriptor,
}

/// One language, with its runtime or the reason there is none.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RuntimeStatus {
    pub language: String,
    pub label: String,
    pub runtime: Result<Runtime, String>,
}

/// Resolves a program name the way the sandbox's PATH would.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |path: &Path| {
        path.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let path = PathBuf::from(name);
        return executable(&path).then_some(path);
    }
    SANDBOX_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|path| executable(path))
}

pub(crate) fn detect_all(
    languages: &[LanguageDescriptor],
    isolation: &Isolation,
    runs_dir: &Path,
) -> Vec<RuntimeStatus> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = languages
            .iter()
            .map(|language| scope.spawn(move || detect_language(language, isolation, runs_dir)))
            .collect();
        handles
            .into_iter()
            .zip(languages)
            .map(|(handle, language)| {
                handle.join().unwrap_or_else(|_| RuntimeStatus {
                    language: language.language.clone(),
                    label: language.label.clone(),
                    runtime: Err("detecting this runtime crashed".into()),
                })
            })
            .collect()
    })
}

fn detect_language(
    language: &LanguageDescriptor,
    isolation: &Isolation,
    runs_dir: &Path,
) -> RuntimeStatus {
    let mut reasons = Vec::new();
    for toolchain in &language.toolchains {
        match detect_toolchain(toolchain, isolation, runs_dir) {
            Ok((version, variables)) => {
                return RuntimeStatus {
                    language: language.language.clone(),
                    label: language.label.clone(),
                    runtime: Ok(Runtime {
                        language: language.language.clone(),
                        toolchain: toolchain.name.clone(),
                        version,
                        variables,
                        descriptor: toolchain.clone(),
                    }),
                }
            }
            Err(reason) => reasons.push(reason),
        }
    }
    RuntimeStatus {
        language: language.language.clone(),
        label: language.label.clone(),
        runtime: Err(reasons.join("; ")),
    }
}

fn detect_toolchain(
    toolchain: &ToolchainDescriptor,
    isolation: &Isolation,
    runs_dir: &Path,
) -> Result<(String, BTreeMap<String, String>), String> {
    let mut variables = BTreeMap::new();
    let mut version = None;
    for probe in &toolchain.probes {
        let Some((program, args)) = probe.command.split_first() else {
            return Err(format!("{}: empty probe command", toolchain.name));
        };
        if which(program).is_none() {
            return Err(toolchain.install_hint.clone());
        }
        let output = capture(program, args, isolation, runs_dir)
            .map_err(|error| format!("{}: {error}", toolchain.name))?;
        let pattern = regex::Regex::new(&probe.pattern)
            .map_err(|error| format!("{}: bad pattern: {error}", toolchain.name))?;
        // The last match wins: `dotnet --list-sdks` lists the newest SDK last.
        let captures = pattern.captures_iter(&output).last().ok_or_else(|| {
            format!(
                "{} is installed but `{}` printed nothing usable ({}); {}",
                toolchain.name,
                probe.command.join(" "),
                output.trim(),
                toolchain.install_hint
            )
        })?;
        for name in pattern.capture_names().flatten() {
            if let Some(value) = captures.name(name) {
                if name == "version" && version.is_none() {
                    version = Some(value.as_str().to_owned());
                }
                variables.insert(name.to_owned(), value.as_str().to_owned());
            }
        }
    }
    Ok((version.unwrap_or_else(|| "unknown".into()), variables))
}
