//! Watching a run from outside, through the kernel's own files: its process tree (the
//! `children` lists under `/proc`, from the process the runner forked itself), how many tasks it
//! has, and how much memory it holds. Used where no cgroup counts for the kernel: the memory
//! limit of [`MemoryMode::Rlimits`](crate::MemoryMode) and the process cap where no pids
//! controller is writable.

use std::path::Path;

/// One look at a run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Sample {
    /// Tasks (threads included) of the program and everything it started.
    pub tasks: u64,
    /// Anonymous and shared memory resident in the program's processes; an upper bound, since
    /// pages shared after a fork are counted once per process.
    pub resident_bytes: u64,
    pub processes: Vec<u32>,
}

/// The children of every thread of `pid`.
fn children_of(pid: u32, into: &mut Vec<u32>) {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return;
    };
    for thread in threads.flatten() {
        if let Ok(text) = std::fs::read_to_string(thread.path().join("children")) {
            into.extend(
                text.split_whitespace()
                    .filter_map(|id| id.parse::<u32>().ok()),
            );
        }
    }
}

/// `Threads`, `RssAnon` and `RssShmem` from a `/proc/PID/status`.
pub(crate) fn status_figures(status: &str) -> (u64, u64) {
    let mut threads = 0;
    let mut resident_kib = 0;
    for line in status.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let number = || {
            value
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match key {
            "Threads" => threads = number(),
            "RssAnon" | "RssShmem" => resident_kib += number(),
            _ => {}
        }
    }
    (threads, resident_kib * 1024)
}

/// `Pss_Anon` + `Pss_Shmem` (or `Pss` on older kernels) from a `/proc/PID/smaps_rollup`.
pub(crate) fn proportional_bytes(rollup: &str) -> u64 {
    let mut anon_and_shmem = None::<u64>;
    let mut pss = 0;
    for line in rollup.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let kib = value
            .split_whitespace()
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        match key {
            "Pss_Anon" | "Pss_Shmem" => *anon_and_shmem.get_or_insert(0) += kib,
            "Pss" => pss = kib,
            _ => {}
        }
    }
    anon_and_shmem.unwrap_or(pss) * 1024
}

/// The program's tree under `root`. `skip` says how many generations from `root` are the
/// sandbox's own (the shim and init, forks of the runner whose memory is the runner's): they
/// are walked through but not counted.
pub(crate) fn sample(root: u32, skip: usize) -> Sample {
    let mut sample = Sample::default();
    let mut generation = vec![root];
    let mut depth = 0;
    // A run has at most a few hundred tasks; the bound keeps a looping tree from looping here.
    while !generation.is_empty() && sample.processes.len() < 4096 {
        let mut next = Vec::new();
        for &pid in &generation {
            if depth >= skip {
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                    continue; // Gone since its parent listed it.
                };
                let (threads, resident) = status_figures(&status);
                sample.tasks += threads;
                sample.resident_bytes += resident;
                sample.processes.push(pid);
            }
            children_of(pid, &mut next);
        }
        generation = next;
        depth += 1;
    }
    sample
}

/// The memory of `processes` counted fairly (shared pages split between those sharing them),
/// for when the cheap upper bound says a run may be over its limit.
pub(crate) fn proportional_memory(processes: &[u32]) -> u64 {
    processes
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .map(|rollup| proportional_bytes(&rollup))
        .sum()
}

/// Bytes used in the tmpfs mounts the program writes (`/work`, `/tmp`, `/dev/shm`), seen
/// through one of its processes' root: tmpfs pages are memory but in no process's RSS.
pub(crate) fn tmpfs_bytes(pid: u32) -> u64 {
    ["work", "tmp", "dev/shm"]
        .iter()
        .filter_map(|dir| {
            nix::sys::statvfs::statvfs(Path::new(&format!("/proc/{pid}/root/{dir}"))).ok()
        })
        .map(|stat| stat.blocks().saturating_sub(stat.blocks_free()) * stat.fragment_size())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_are_read() {
        let status = "Name:\tpython3\nThreads:\t3\nRssAnon:\t  2048 kB\nRssFile:\t 9000 kB\nRssShmem:\t  1024 kB\n";
        assert_eq!(status_figures(status), (3, 3 * 1024 * 1024));
        assert_eq!(status_figures("junk"), (0, 0));
        let rollup =
            "Rss: 100 kB\nPss: 80 kB\nPss_Anon: 40 kB\nPss_File: 30 kB\nPss_Shmem: 10 kB\n";
        assert_eq!(proportional_bytes(rollup), 50 * 1024);
        assert_eq!(proportional_bytes("Pss: 80 kB\n"), 80 * 1024);
    }

    #[test]
    fn this_process_is_sampled() {
        let me = std::process::id();
        let sample = sample(me, 0);
        assert!(sample.tasks >= 1);
        assert!(sample.resident_bytes > 0);
        assert_eq!(sample.processes.first(), Some(&me));
    }
}
