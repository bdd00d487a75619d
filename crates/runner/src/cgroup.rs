//! Real memory (and process) limits from the kernel's control groups, where one can be made: a
//! cgroup v2 per run (`memory.max`, `memory.swap.max`, `pids.max`), or on cgroup v1 systems a
//! memory cgroup (`memory.limit_in_bytes`) and, where writable, a pids cgroup per run. Their
//! counters say what happened: out-of-memory kills, the peak, and forks refused at the cap.
//! Where none can be made, [`MemoryMode::Rlimits`] says runs are held by RLIMIT_DATA and the
//! runner's watchdog instead.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Limits;

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// How a run's memory is limited, from the strongest to the weakest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryMode {
    /// A cgroup v2 per run: all the run's memory, page cache and tmpfs included.
    CgroupV2,
    /// A cgroup v1 memory cgroup per run: the same, on older systems.
    CgroupV1,
    /// RLIMIT_DATA per process plus the runner's watchdog on the run's summed memory.
    Rlimits,
}

impl MemoryMode {
    pub fn describe(self) -> &'static str {
        match self {
            MemoryMode::CgroupV2 => "a cgroup v2 per run (memory.max, pids.max)",
            MemoryMode::CgroupV1 => "a cgroup v1 memory cgroup per run (memory.limit_in_bytes)",
            MemoryMode::Rlimits => {
                "RLIMIT_DATA per process and a watchdog on the run's summed memory"
            }
        }
    }
}

/// Where run cgroups are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupParent {
    /// A cgroup v2 directory with memory and pids handed down to children.
    V2 { dir: PathBuf },
    /// cgroup v1 directories: memory always, pids where this process may write there.
    V1 {
        memory: PathBuf,
        pids: Option<PathBuf>,
    },
}

/// One run's cgroups, removed when dropped (after its processes are gone).
#[derive(Debug)]
pub(crate) struct RunCgroup {
    kind: RunCgroupKind,
}

#[derive(Debug)]
enum RunCgroupKind {
    V2(PathBuf),
    V1 {
        memory: PathBuf,
        pids: Option<PathBuf>,
    },
}

/// The cgroup v2 path of this process from `/proc/self/cgroup` (`0::/some/path`).
pub(crate) fn own_cgroup_path(proc_self_cgroup: &str) -> Option<&str> {
    proc_self_cgroup
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
}

/// The cgroup v1 path of this process for one controller (`4:memory:/some/path`).
pub(crate) fn own_v1_path<'a>(proc_self_cgroup: &'a str, controller: &str) -> Option<&'a str> {
    proc_self_cgroup.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let _id = fields.next()?;
        let controllers = fields.next()?;
        let path = fields.next()?;
        controllers
            .split(',')
            .any(|c| c == controller)
            .then_some(path)
    })
}

/// The value of `key` in a flat-keyed cgroup file (`memory.events`, `pids.events`,
/// `memory.oom_control`).
pub(crate) fn keyed_count(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            (name == key).then(|| value.trim().parse().ok()).flatten()
        })
        .unwrap_or(0)
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|error| format!("writing {}: {error}", path.display()))
}

fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_key(path: &Path, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .map(|text| keyed_count(&text, key))
        .unwrap_or(0)
}

/// Makes and removes a throwaway child of `dir`: can this process make run cgroups there?
fn can_make_children(dir: &Path) -> Result<(), String> {
    let probe = dir.join(format!("coderoom-probe-{}", std::process::id()));
    std::fs::create_dir(&probe)
        .map_err(|error| format!("cannot create a cgroup in {}: {error}", dir.display()))?;
    let _ = std::fs::remove_dir(&probe);
    Ok(())
}

impl CgroupParent {
    /// Finds a place for run cgroups: cgroup v2 first, then a writable cgroup v1 memory
    /// controller. `Err` says why there is neither.
    pub fn probe() -> Result<Self, String> {
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|error| format!("reading /proc/self/cgroup: {error}"))?;
        let v2 = Self::probe_v2(&own);
        if v2.is_ok() {
            return v2;
        }
        let v1 = Self::probe_v1(&own);
        match (v2, v1) {
            (_, Ok(parent)) => Ok(parent),
            (Err(v2), Err(v1)) => Err(format!("{v2}; {v1}")),
            (Ok(parent), _) => Ok(parent),
        }
    }

    fn probe_v2(own: &str) -> Result<Self, String> {
        let root = Path::new(CGROUP_ROOT);
        if !root.join("cgroup.controllers").exists() {
            return Err("no cgroup v2 hierarchy at /sys/fs/cgroup".into());
        }
        let own = own_cgroup_path(own).ok_or("this process is in no cgroup v2")?;
        let mut dir = root.join(own.trim_start_matches('/'));
        if dir.file_name().is_some_and(|name| name == "coderoom-app") {
            dir.pop(); // Moved into the leaf by an earlier probe.
        }
        let controllers = std::fs::read_to_string(dir.join("cgroup.controllers"))
            .map_err(|error| format!("reading {}: {error}", dir.display()))?;
        for needed in ["memory", "pids"] {
            if !controllers.split_whitespace().any(|c| c == needed) {
                return Err(format!(
                    "the cgroup v2 {needed} controller is not available in {}",
                    dir.display()
                ));
            }
        }
        // A cgroup with processes cannot hand controllers to children: this process first
        // moves into a leaf of its own.
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
        Ok(Self::V2 { dir })
    }

    fn probe_v1(own: &str) -> Result<Self, String> {
        let memory_root = Path::new(CGROUP_ROOT).join("memory");
        if !memory_root.join("memory.limit_in_bytes").exists() {
            return Err("no cgroup v1 memory controller at /sys/fs/cgroup/memory".into());
        }
        let path = own_v1_path(own, "memory").ok_or("this process is in no memory cgroup")?;
        let memory = memory_root.join(path.trim_start_matches('/'));
        can_make_children(&memory)?;
        let pids = own_v1_path(own, "pids")
            .map(|path| {
                Path::new(CGROUP_ROOT)
                    .join("pids")
                    .join(path.trim_start_matches('/'))
            })
            .filter(|dir| can_make_children(dir).is_ok());
        Ok(Self::V1 { memory, pids })
    }

    pub fn mode(&self) -> MemoryMode {
        match self {
            CgroupParent::V2 { .. } => MemoryMode::CgroupV2,
            CgroupParent::V1 { .. } => MemoryMode::CgroupV1,
        }
    }

    /// Whether the kernel counts this run's processes against the cap (pids controller).
    pub fn counts_processes(&self) -> bool {
        match self {
            CgroupParent::V2 { .. } => true,
            CgroupParent::V1 { pids, .. } => pids.is_some(),
        }
    }

    /// Makes the cgroups for one run with its limits. The shim and init live in them too, so
    /// the task cap is the program's plus those two.
    pub(crate) fn create_run(&self, limits: &Limits) -> Result<RunCgroup, String> {
        let tasks = (limits.processes + 2).to_string();
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "coderoom-run-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let memory_bytes = (limits.memory_mib * 1024 * 1024).to_string();
        let make = |dir: &Path| {
            std::fs::create_dir(dir).map_err(|error| format!("creating {}: {error}", dir.display()))
        };
        match self {
            CgroupParent::V2 { dir } => {
                let dir = dir.join(&name);
                make(&dir)?;
                let run = RunCgroup {
                    kind: RunCgroupKind::V2(dir.clone()),
                };
                write(&dir.join("memory.max"), &memory_bytes)?;
                // Without this, a run over its limit swaps instead of stopping (where swap exists).
                let _ = write(&dir.join("memory.swap.max"), "0");
                write(&dir.join("pids.max"), &tasks)?;
                Ok(run)
            }
            CgroupParent::V1 { memory, pids } => {
                let memory = memory.join(&name);
                make(&memory)?;
                let mut run = RunCgroup {
                    kind: RunCgroupKind::V1 {
                        memory: memory.clone(),
                        pids: None,
                    },
                };
                write(&memory.join("memory.limit_in_bytes"), &memory_bytes)?;
                // Swap accounting is often off; where it is on, swap counts against the limit.
                let _ = write(&memory.join("memory.memsw.limit_in_bytes"), &memory_bytes);
                let _ = write(&memory.join("memory.swappiness"), "0");
                if let Some(pids) = pids {
                    let pids = pids.join(&name);
                    if make(&pids).is_ok() {
                        if let RunCgroupKind::V1 { pids: slot, .. } = &mut run.kind {
                            *slot = Some(pids.clone());
                        }
                        write(&pids.join("pids.max"), &tasks)?;
                    }
                }
                Ok(run)
            }
        }
    }
}

/// What a run's cgroups counted, read once the run is over.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CgroupCounters {
    pub out_of_memory_kills: u64,
    /// The memory limit was reached at least once (v1's `failcnt`; v2's `max` events).
    pub memory_limit_reached: bool,
    pub peak_bytes: Option<u64>,
    /// Forks refused because the run had `pids.max` tasks (`pids.events`), if counted.
    pub forks_refused: Option<u64>,
}

impl RunCgroup {
    /// Moves a process (before it starts anything) into the run's cgroups.
    pub(crate) fn add(&self, pid: u32) -> Result<(), String> {
        let pid = pid.to_string();
        match &self.kind {
            RunCgroupKind::V2(dir) => write(&dir.join("cgroup.procs"), &pid),
            RunCgroupKind::V1 { memory, pids } => {
                write(&memory.join("cgroup.procs"), &pid)?;
                if let Some(pids) = pids {
                    write(&pids.join("cgroup.procs"), &pid)?;
                }
                Ok(())
            }
        }
    }

    pub(crate) fn counters(&self) -> CgroupCounters {
        match &self.kind {
            RunCgroupKind::V2(dir) => CgroupCounters {
                out_of_memory_kills: read_key(&dir.join("memory.events"), "oom_kill"),
                memory_limit_reached: read_key(&dir.join("memory.events"), "max") > 0,
                // Kernels from 5.19 keep `memory.peak`.
                peak_bytes: read_number(&dir.join("memory.peak")),
                forks_refused: Some(read_key(&dir.join("pids.events"), "max")),
            },
            RunCgroupKind::V1 { memory, pids } => CgroupCounters {
                out_of_memory_kills: read_key(&memory.join("memory.oom_control"), "oom_kill"),
                memory_limit_reached: read_number(&memory.join("memory.failcnt")).unwrap_or(0) > 0,
                peak_bytes: read_number(&memory.join("memory.max_usage_in_bytes")),
                forks_refused: pids
                    .as_ref()
                    .map(|pids| read_key(&pids.join("pids.events"), "max")),
            },
        }
    }
}

fn remove_cgroup(dir: &Path) {
    // The run's processes are gone by now, but the kernel may still be tearing them down.
    for _ in 0..50 {
        if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

impl Drop for RunCgroup {
    fn drop(&mut self) {
        match &self.kind {
            RunCgroupKind::V2(dir) => remove_cgroup(dir),
            RunCgroupKind::V1 { memory, pids } => {
                remove_cgroup(memory);
                if let Some(pids) = pids {
                    remove_cgroup(pids);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_paths_and_counters_are_read() {
        let hybrid = "8:pids:/p\n4:memory:/a/b\n3:cpu,cpuacct:/c\n0::/user.slice/app.scope\n";
        assert_eq!(own_cgroup_path(hybrid), Some("/user.slice/app.scope"));
        assert_eq!(own_cgroup_path("4:memory:/a\n"), None);
        assert_eq!(own_v1_path(hybrid, "memory"), Some("/a/b"));
        assert_eq!(own_v1_path(hybrid, "cpuacct"), Some("/c"));
        assert_eq!(own_v1_path(hybrid, "pids"), Some("/p"));
        assert_eq!(own_v1_path("0::/x\n", "memory"), None);
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed_count(events, "oom_kill"), 1);
        assert_eq!(keyed_count(events, "max"), 12);
        assert_eq!(keyed_count("garbage", "max"), 0);
        let v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
        assert_eq!(keyed_count(v1, "oom_kill"), 3);
    }
}
