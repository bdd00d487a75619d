//! Real memory (and process) limits with a cgroup v2, where one can be made: a child cgroup per
//! run with `memory.max`, `memory.swap.max` and `pids.max`, whose `memory.events` tells an
//! out-of-memory kill and whose `memory.peak` the peak. Where none can be made (cgroup v1
//! systems, no delegation), runs keep their per-runtime rlimits and say why.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Limits;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A cgroup v2 directory under which run cgroups are made, with memory and pids enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupParent {
    dir: PathBuf,
}

/// One run's cgroup, removed when dropped (after its processes are gone).
#[derive(Debug)]
pub(crate) struct RunCgroup {
    dir: PathBuf,
}

/// The cgroup v2 path of this process from `/proc/self/cgroup` (`0::/some/path`).
pub(crate) fn own_cgroup_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
}

/// The `oom_kill` count from a `memory.events` file.
pub(crate) fn oom_kills(memory_events: &str) -> u64 {
    memory_events
        .lines()
        .find_map(|line| line.strip_prefix("oom_kill "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0)
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|error| format!("writing {}: {error}", path.display()))
}

impl CgroupParent {
    /// Finds (or makes) a place for run cgroups: this process's own cgroup v2, with the memory
    /// and pids controllers handed down. The process first moves itself into a leaf
    /// (`coderoom-app`), since a cgroup with processes cannot hand controllers to children.
    pub fn probe() -> Result<Self, String> {
        let root = Path::new(CGROUP_ROOT);
        if !root.join("cgroup.controllers").exists() {
            return Err(
                "no cgroup v2 hierarchy at /sys/fs/cgroup (this system uses cgroup v1)".into(),
            );
        }
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|error| format!("reading /proc/self/cgroup: {error}"))?;
        let own = own_cgroup_path(&own).ok_or("this process is in no cgroup v2")?;
        let mut dir = root.join(own.trim_start_matches('/'));
        if dir.file_name().is_some_and(|name| name == "coderoom-app") {
            dir.pop(); // Moved into the leaf by an earlier probe.
        }
        let controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))
            .map_err(|error| format!("reading {}: {error}", dir.display()))?;
        for needed in ["memory", "pids"] {
            if !controllers.split_whitespace().any(|c| c == needed) {
                return Err(format!(
                    "the {needed} controller is not available in {}",
                    dir.display()
                ));
            }
        }
        let leaf = dir.join("coderoom-app");
        match std::fs::create_dir(&leaf) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(error) => {
                return Err(format!(
                    "cannot create a cgroup in {}: {error}",
                    dir.display()
                ))
            }
        }
        write(&leaf.join("cgroup.procs"), &std::process::id().to_string())?;
        write(&dir.join("cgroup.subtree_control"), "+memory +pids")?;
        Ok(Self { dir })
    }

    /// Makes the cgroup for one run with its limits.
    pub(crate) fn create_run(&self, limits: &Limits) -> Result<RunCgroup, String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = self.dir.join(format!(
            "coderoom-run-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)
            .map_err(|error| format!("creating {}: {error}", dir.display()))?;
        let run = RunCgroup { dir };
        write(
            &run.dir.join("memory.max"),
            &(limits.memory_mib * 1024 * 1024).to_string(),
        )?;
        // Without this, a run over its limit swaps instead of stopping (where swap exists).
        let _ = write(&run.dir.join("memory.swap.max"), "0");
        write(&run.dir.join("pids.max"), &limits.processes.to_string())?;
        Ok(run)
    }
}

impl RunCgroup {
    /// Moves a process (before it starts anything) into the cgroup.
    pub(crate) fn add(&self, pid: u32) -> Result<(), String> {
        write(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    pub(crate) fn out_of_memory_kills(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("memory.events"))
            .map(|events| oom_kills(&events))
            .unwrap_or(0)
    }

    /// Peak memory of the whole run (kernels from 5.19 keep `memory.peak`).
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        std::fs::read_to_string(self.dir.join("memory.peak"))
            .ok()
            .and_then(|peak| peak.trim().parse().ok())
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        // The run's processes are gone by now; a cgroup dir is removed with rmdir.
        for _ in 0..50 {
            if std::fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_path_and_events_are_read() {
        let hybrid = "4:memory:/a\n0::/user.slice/app.scope\n";
        assert_eq!(own_cgroup_path(hybrid), Some("/user.slice/app.scope"));
        assert_eq!(own_cgroup_path("4:memory:/a\n"), None);
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(oom_kills(events), 1);
        assert_eq!(oom_kills("garbage"), 0);
    }
}
