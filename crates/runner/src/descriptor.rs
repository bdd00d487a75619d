//! Runtime descriptors: one TOML file per language in `runtimes/`, embedded at build time so the
//! app finds them wherever it is installed.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::RunnerError;

/// The descriptors shipped with Coderoom, in the order languages are listed.
pub const BUILTIN_DESCRIPTORS: [(&str, &str); 3] = [
    ("python.toml", include_str!("../../../runtimes/python.toml")),
    (
        "javascript.toml",
        include_str!("../../../runtimes/javascript.toml"),
    ),
    ("csharp.toml", include_str!("../../../runtimes/csharp.toml")),
];

/// One language: what it is called and the toolchains that can run it, most preferred first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageDescriptor {
    pub language: String,
    pub label: String,
    pub extensions: Vec<String>,
    pub toolchains: Vec<ToolchainDescriptor>,
}

/// How to detect, compile and run one toolchain. Arguments may hold `{placeholders}`: the named
/// groups captured by the probes, plus `{main}`, `{sources}`, `{memory_mib}`, and `{heap_mib}`
/// and `{heap_bytes_hex}` (the cap for a runtime's own heap: twice the limit where a cgroup holds
/// memory, so that the kernel meets it first and counts it; the limit itself otherwise); an
/// argument holding `*` after substitution is expanded as a glob.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolchainDescriptor {
    pub name: String,
    pub install_hint: String,
    pub probes: Vec<Probe>,
    pub main_file: String,
    #[serde(default)]
    pub compile: Vec<String>,
    pub run: Vec<String>,
    #[serde(default)]
    pub run_files: BTreeMap<String, String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Private writable memory this runtime commits beyond what the program uses (thread
    /// stacks, JIT code, GC bookkeeping): added to RLIMIT_DATA where that holds memory.
    #[serde(default = "default_data_extra_mib")]
    pub data_extra_mib: u64,
    /// What the runtime prints when an allocation is refused; read only where no cgroup counts
    /// memory (see `Outcome::limits_hit`).
    #[serde(default)]
    pub out_of_memory_patterns: Vec<String>,
    /// What it prints when a process or thread cannot be started; read only where no cgroup
    /// counts tasks.
    #[serde(default)]
    pub process_limit_patterns: Vec<String>,
    pub compile_error_pattern: Option<String>,
    /// The newest C# version the compiler accepts, where that matters.
    pub language_version: Option<String>,
}

fn default_data_extra_mib() -> u64 {
    256
}

/// A command whose output must match `pattern`; its named groups become placeholders. The first
/// probe's `version` group is the version reported to the user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub command: Vec<String>,
    pub pattern: String,
}

impl LanguageDescriptor {
    pub fn parse(name: &str, text: &str) -> Result<Self, RunnerError> {
        let descriptor: Self = toml::from_str(text).map_err(|error| RunnerError::Descriptor {
            name: name.to_owned(),
            reason: error.to_string(),
        })?;
        if descriptor.toolchains.is_empty() {
            return Err(RunnerError::Descriptor {
                name: name.to_owned(),
                reason: "it lists no toolchains".into(),
            });
        }
        for toolchain in &descriptor.toolchains {
            if toolchain.run.is_empty() || toolchain.probes.is_empty() {
                return Err(RunnerError::Descriptor {
                    name: name.to_owned(),
                    reason: format!(
                        "toolchain {} needs a run command and a probe",
                        toolchain.name
                    ),
                });
            }
            for pattern in toolchain
                .probes
                .iter()
                .map(|probe| &probe.pattern)
                .chain(&toolchain.compile_error_pattern)
            {
                regex::Regex::new(pattern).map_err(|error| RunnerError::Descriptor {
                    name: name.to_owned(),
                    reason: format!("bad pattern {pattern:?}: {error}"),
                })?;
            }
        }
        Ok(descriptor)
    }

    pub fn builtin() -> Result<Vec<Self>, RunnerError> {
        BUILTIN_DESCRIPTORS
            .iter()
            .map(|(name, text)| Self::parse(name, text))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_descriptors_parse() {
        let languages = LanguageDescriptor::builtin().expect("builtin descriptors");
        let names: Vec<_> = languages.iter().map(|l| l.language.as_str()).collect();
        assert_eq!(names, ["python", "javascript", "csharp"]);
        let csharp = &languages[2];
        let toolchains: Vec<_> = csharp.toolchains.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(toolchains, ["dotnet", "mono"]);
    }

    #[test]
    fn broken_descriptor_is_a_clear_error() {
        let err = LanguageDescriptor::parse("x.toml", "language = 3").unwrap_err();
        assert!(err.to_string().contains("x.toml"), "{err}");
        let err = LanguageDescriptor::parse(
            "y.toml",
            "language='a'\nlabel='A'\nextensions=[]\n[[toolchains]]\nname='t'\ninstall_hint='h'\nmain_file='m'\nrun=['r']\nprobes=[{command=['r'], pattern='('}]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad pattern"), "{err}");
    }
}
