//! Starting one program in a sandbox: new user, mount, PID, network, IPC and UTS namespaces with a
//! fresh root (system dirs read-only, nothing of the user's files), no capabilities, a seccomp
//! filter and rlimits; or, where user namespaces are not allowed, rlimits and the filter alone,
//! said plainly.
//!
//! Shape of a sandboxed run (each arrow a fork):
//!   runner thread → shim (drops to `nobody` when root, unshares, maps the user, waits)
//!                 → init, PID 1 of the new PID namespace (builds the root, copies the files in,
//!                   closes every host descriptor, enters a second user and mount namespace so
//!                   the read-only mounts are locked, turns non-dumpable, reaps, reports)
//!                 → the program, PID 2 (rlimits, no capabilities, no_new_privs, seccomp, exec)
//! The program is never PID 1, because the kernel ignores signals such as SIGXCPU sent to PID 1.
//! The runner stops a run through the pidfd of the shim it forked: init dies with its parent
//! (`PR_SET_PDEATHSIG`) and the kernel then kills everything left in the namespace. Nothing that
//! comes out of the sandbox names a process the runner acts on.
//!
//! Everything the forked processes need is prepared before `spawn`: after a fork in a
//! multi-threaded process only async-signal-safe calls are allowed, so no allocation happens there.

mod child;
pub(crate) mod report;

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::resource::Resource;
use nix::sys::signal::Signal;
use nix::unistd::{Gid, Pid, Uid};

use crate::cgroup::{MemoryMode, RunCgroup};
use crate::{seccomp, Limits, RunnerError};
use child::{Copy, ExecArrays, MountOp, Prepared};
pub(crate) use report::Report;

/// The uid/gid a run uses when Coderoom itself runs as root: root could read every file the
/// sandbox forgot to hide.
const NOBODY: u32 = 65534;

/// What the sandbox could do on this machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Isolation {
    /// New user, mount, PID, network, IPC and UTS namespaces, no capabilities, a seccomp filter
    /// and rlimits.
    Namespaces,
    /// Rlimits and the seccomp filter alone: the program sees the real file system and network.
    RlimitsOnly { reason: String },
}

impl Isolation {
    /// Tries to create the namespaces in a throwaway child, as a run would.
    pub fn probe() -> Self {
        // SAFETY: the child only calls async-signal-safe functions and exits.
        let result = unsafe { nix::unistd::fork() };
        match result {
            Ok(nix::unistd::ForkResult::Child) => {
                let code = match child::drop_root_if_root()
                    .and_then(|()| nix::sched::unshare(namespace_flags()))
                {
                    Ok(()) => 0,
                    Err(errno) => errno as i32,
                };
                // SAFETY: _exit is async-signal-safe and ends the child without running destructors.
                unsafe { libc::_exit(code) }
            }
            Ok(nix::unistd::ForkResult::Parent { child }) => {
                match nix::sys::wait::waitpid(child, None) {
                    Ok(nix::sys::wait::WaitStatus::Exited(_, 0)) => Isolation::Namespaces,
                    Ok(nix::sys::wait::WaitStatus::Exited(_, errno)) => Isolation::RlimitsOnly {
                        reason: format!(
                            "this system does not allow unprivileged user namespaces ({}), so \
                             programs run with resource limits only: they can see your files and \
                             the network",
                            Errno::from_raw(errno).desc()
                        ),
                    },
                    other => Isolation::RlimitsOnly {
                        reason: format!("the namespace probe failed ({other:?})"),
                    },
                }
            }
            Err(errno) => Isolation::RlimitsOnly {
                reason: format!("cannot fork to probe for namespaces: {}", errno.desc()),
            },
        }
    }
}

fn namespace_flags() -> CloneFlags {
    CloneFlags::CLONE_NEWUSER
        | CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWNET
        | CloneFlags::CLONE_NEWIPC
        | CloneFlags::CLONE_NEWUTS
}

/// The uid the program runs as: the user's own, or `nobody` when Coderoom runs as root.
pub(crate) fn sandbox_uid() -> u32 {
    if Uid::current().is_root() {
        NOBODY
    } else {
        Uid::current().as_raw()
    }
}

fn sandbox_gid() -> u32 {
    if Uid::current().is_root() {
        NOBODY
    } else {
        Gid::current().as_raw()
    }
}

/// One program to start.
pub(crate) struct Spec {
    /// Absolute path of the executable, valid both inside and outside the sandbox.
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Host directory whose regular files are copied into the sandbox's `/work`.
    pub work_dir: PathBuf,
    /// Files (relative paths) to copy from `work_dir`.
    pub files: Vec<PathBuf>,
    /// Whether what the program leaves in `/out` comes back (a compiler's output).
    pub collect_out: bool,
    pub limits: Limits,
    pub memory_mode: MemoryMode,
    /// Whether a pids cgroup holds the run's tasks (then it, not RLIMIT_NPROC, meets the cap).
    pub pids_cgroup: bool,
    /// Committed memory the runtime needs beyond the limit (thread stacks, JIT code), given on
    /// top of RLIMIT_DATA where that is the memory limit.
    pub data_extra_mib: u64,
}

/// Where the program's files are, inside the sandbox or (rlimits only) on the host.
pub(crate) struct Layout {
    pub work: String,
    pub out: String,
}

impl Layout {
    pub fn for_isolation(isolation: &Isolation, work_dir: &Path, out_dir: &Path) -> Self {
        match isolation {
            Isolation::Namespaces => Self {
                work: "/work".into(),
                out: "/out".into(),
            },
            Isolation::RlimitsOnly { .. } => Self {
                work: work_dir.display().to_string(),
                out: out_dir.display().to_string(),
            },
        }
    }
}

/// A handle on the process the runner forked, made before anything could reap it: signals go
/// to that process and no other, even once its pid is free again.
pub(crate) struct ChildHandle {
    pid: u32,
    pidfd: Option<OwnedFd>,
    /// Rlimits-only runs lead a process group of their own, killed with them.
    group: bool,
}

impl ChildHandle {
    fn open(pid: u32, group: bool) -> Self {
        // SAFETY: pidfd_open(2) with plain integers; a new descriptor is returned or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        let pidfd = (fd >= 0).then(|| {
            // SAFETY: the kernel just gave us this descriptor and nothing else owns it.
            unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
        });
        Self { pid, pidfd, group }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Kills the process (and with it the sandbox, or its process group without one).
    pub fn kill(&self) {
        match &self.pidfd {
            Some(pidfd) => {
                // SAFETY: pidfd_send_signal(2) on our own pidfd with no siginfo.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        pidfd.as_raw_fd(),
                        libc::SIGKILL,
                        std::ptr::null::<libc::siginfo_t>(),
                        0u32,
                    )
                };
            }
            // Kernels before 5.3: the pid is still ours until the run's waiter reaps it.
            None => {
                if let Ok(pid) = i32::try_from(self.pid) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
        }
        self.kill_group();
    }

    /// Kills what is left of an rlimits-only run's process group.
    pub fn kill_group(&self) {
        if let (true, Ok(pid)) = (self.group, i32::try_from(self.pid)) {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// A started program. `report` carries init's messages; see [`report::parse`].
pub(crate) struct Started {
    pub child: Child,
    pub handle: ChildHandle,
    pub report: File,
}

fn cstring(text: impl AsRef<[u8]>) -> Result<CString, RunnerError> {
    CString::new(text.as_ref()).map_err(|_| RunnerError::BadArgument {
        reason: format!(
            "{:?} contains a NUL byte",
            String::from_utf8_lossy(text.as_ref())
        ),
    })
}

fn path_cstring(path: &Path) -> Result<CString, RunnerError> {
    cstring(path.as_os_str().as_bytes())
}

/// System directories visible read-only inside the sandbox (when they exist).
const SYSTEM_DIRS: [&str; 8] = [
    "/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/etc", "/opt",
];
const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The flags a read-only bind must keep: the kernel refuses, inside a user namespace, to clear
/// flags that the original mount had.
fn locked_flags(path: &Path) -> nix::mount::MsFlags {
    use nix::mount::MsFlags;
    let mut flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV;
    if let Ok(stat) = nix::sys::statvfs::statvfs(path) {
        use nix::sys::statvfs::FsFlags;
        let original = stat.flags();
        for (fs_flag, ms_flag) in [
            (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
            (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
            (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
            (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
        ] {
            if original.contains(fs_flag) {
                flags |= ms_flag;
            }
        }
    }
    flags
}

/// The highest capability number this kernel knows.
fn last_capability() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(40)
}

/// Whether RLIMIT_NPROC counts per user namespace (Linux 5.14 and later): then the run's cap
/// is the limit itself; before that it counted every process of the uid on the machine.
fn nproc_counted_per_namespace() -> bool {
    let Ok(release) = nix::sys::utsname::uname() else {
        return true;
    };
    let release = release.release().to_string_lossy().into_owned();
    let mut numbers = release
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse::<u32>().ok());
    let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
    (major, minor) >= (5, 14)
}

/// How many tasks `uid` already has: before Linux 5.14 RLIMIT_NPROC counts them all, so the
/// limit given to a run is added on top.
fn count_tasks_of(uid: u32) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let wanted = uid.to_string();
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().as_bytes().iter().all(u8::is_ascii_digit))
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("status")).ok())
        .filter(|status| {
            status
                .lines()
                .find(|line| line.starts_with("Uid:"))
                .and_then(|line| line.split_whitespace().nth(1))
                == Some(wanted.as_str())
        })
        .map(|status| crate::watchdog::status_figures(&status).0.max(1))
        .sum()
}

fn rlimits(spec: &Spec, isolation: &Isolation) -> Vec<(Resource, u64, u64)> {
    let limits = &spec.limits;
    let mib = 1024 * 1024;
    // Inside the namespaces, init counts against the user namespace's tasks too; a pids cgroup
    // (program + shim + init), where there is one, meets the cap first (its counter says so),
    // and RLIMIT_NPROC, looser, backs it up.
    let namespace_overhead = match isolation {
        Isolation::Namespaces => 1,
        Isolation::RlimitsOnly { .. } => 0,
    };
    let mut tasks = limits.processes + namespace_overhead + u64::from(spec.pids_cgroup);
    if spec.pids_cgroup {
        // The kernel charges RLIMIT_NPROC when a fork starts and the pids cgroup only later in
        // it, so a bomb's concurrent forks met the looser rlimit first now and then (no counter
        // says so, and the run was not named a process-limit hit). With slack, the pids cgroup
        // always meets the cap first; the rlimit stays a backstop.
        tasks += limits.processes.max(16);
    }
    if !nproc_counted_per_namespace() || matches!(isolation, Isolation::RlimitsOnly { .. }) {
        tasks += count_tasks_of(sandbox_uid());
    }
    let mut rlimits = vec![
        (
            Resource::RLIMIT_CPU,
            limits.cpu_seconds,
            limits.cpu_seconds + 1,
        ),
        (Resource::RLIMIT_NPROC, tasks, tasks),
        (
            Resource::RLIMIT_FSIZE,
            limits.file_size_mib * mib,
            limits.file_size_mib * mib,
        ),
        (
            Resource::RLIMIT_NOFILE,
            limits.open_files,
            limits.open_files,
        ),
        (Resource::RLIMIT_CORE, 0, 0),
        (Resource::RLIMIT_STACK, 8 * mib, 8 * mib),
        (Resource::RLIMIT_MEMLOCK, 0, 0),
        (Resource::RLIMIT_MSGQUEUE, 0, 0),
    ];
    if spec.memory_mode == MemoryMode::Rlimits {
        // Private writable memory, what runtimes really commit (not the address space V8 and
        // .NET reserve). The watchdog holds the sum of a run's processes to the limit itself.
        let data = (limits.memory_mib + spec.data_extra_mib) * mib;
        rlimits.push((Resource::RLIMIT_DATA, data, data));
    }
    rlimits
}

fn prepare(
    spec: &Spec,
    isolation: &Isolation,
    report_fd: RawFd,
    go_fd: RawFd,
    work_fd: RawFd,
) -> Result<Prepared, RunnerError> {
    let program = path_cstring(&spec.program)?;
    let argv: Vec<CString> = std::iter::once(Ok(program.clone()))
        .chain(spec.args.iter().map(cstring))
        .collect::<Result<_, _>>()?;
    let envp: Vec<CString> = spec
        .env
        .iter()
        .map(|(key, value)| cstring(format!("{key}={value}")))
        .collect::<Result<_, _>>()?;
    let exec = ExecArrays::new(&argv, &envp);

    let mut mounts = Vec::new();
    let mut directories = Vec::new();
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        let Ok(metadata) = std::fs::symlink_metadata(path) else {
            continue;
        };
        let link = cstring(format!("/tmp{dir}"))?;
        if metadata.file_type().is_symlink() {
            let destination = std::fs::read_link(path).map_err(|source| RunnerError::Io {
                what: format!("reading the link {dir}"),
                source,
            })?;
            mounts.push(MountOp::Symlink {
                destination: path_cstring(&destination)?,
                link,
            });
        } else if metadata.is_dir() {
            directories.push(link.clone());
            mounts.push(MountOp::BindReadOnly {
                source: cstring(dir)?,
                target: link,
                remount_flags: locked_flags(path),
            });
        }
    }
    for node in DEV_NODES {
        let source = format!("/dev/{node}");
        if Path::new(&source).exists() {
            mounts.push(MountOp::DevNode {
                source: cstring(&source)?,
                target: cstring(format!("/tmp{source}"))?,
            });
        }
    }

    let mut copies = Vec::new();
    let mut work_dirs = Vec::new();
    for file in &spec.files {
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            for ancestor in parent.ancestors().filter(|p| !p.as_os_str().is_empty()) {
                let dir = Path::new("/tmp/work").join(ancestor);
                if !work_dirs.contains(&dir) {
                    work_dirs.push(dir);
                }
            }
        }
        copies.push(Copy {
            source: path_cstring(file)?,
            target: path_cstring(&Path::new("/tmp/work").join(file))?,
        });
    }
    // Parents before children.
    work_dirs.sort_by_key(|dir| dir.components().count());
    let work_dirs: Vec<CString> = work_dirs
        .iter()
        .map(|dir| path_cstring(dir))
        .collect::<Result<_, _>>()?;
    let mut all_directories = directories;
    all_directories.extend(work_dirs);

    let (uid, gid) = (sandbox_uid(), sandbox_gid());
    let limits = &spec.limits;
    Ok(Prepared {
        program,
        _argv: argv,
        _envp: envp,
        exec,
        rlimits: rlimits(spec, isolation),
        report_fd,
        go_fd,
        work_fd,
        kept_fds: {
            let mut fds = vec![report_fd, go_fd, work_fd];
            fds.sort_unstable();
            fds
        },
        runner_pid: std::process::id() as libc::pid_t,
        // The same uid inside as outside, never 0: the program's exec drops every capability.
        uid_map: format!("{uid} {uid} 1\n").into_bytes(),
        gid_map: format!("{gid} {gid} 1\n").into_bytes(),
        mounts,
        directories: all_directories,
        copies,
        work_tmpfs_options: cstring(format!(
            "size={}m,nr_inodes={},mode=0755",
            limits.work_dir_mib, limits.work_dir_files
        ))?,
        exec_failed_message: cstring(format!(
            "coderoom: cannot start {}\n",
            spec.program.display()
        ))?,
        seccomp: seccomp::filters()?,
        last_capability: last_capability(),
        collect_out: spec.collect_out,
        file_size_bytes: limits.file_size_mib * 1024 * 1024,
    })
}

/// Starts the program as `spec` says, under `isolation`.
pub(crate) fn start(
    spec: &Spec,
    isolation: &Isolation,
    cgroup: Option<&RunCgroup>,
) -> Result<Started, RunnerError> {
    // The shim waits for one byte on this pipe before it forks anything, so that it can first
    // be moved into the run's cgroup with nothing left outside.
    let (go_read, go_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| RunnerError::Io {
            what: "creating the start pipe".into(),
            source: errno.into(),
        })?;
    let (report_read, report_write) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| RunnerError::Io {
            what: "creating the status pipe".into(),
            source: errno.into(),
        })?;
    let work = File::open(&spec.work_dir).map_err(|source| RunnerError::Io {
        what: format!("opening the work dir {}", spec.work_dir.display()),
        source,
    })?;
    let prepared = prepare(
        spec,
        isolation,
        report_write.as_raw_fd(),
        go_read.as_raw_fd(),
        work.as_raw_fd(),
    )?;

    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    match isolation {
        Isolation::Namespaces => {
            // SAFETY: the closure only makes async-signal-safe calls on data prepared above.
            unsafe {
                command.pre_exec(move || {
                    child::shim(&prepared);
                })
            };
        }
        Isolation::RlimitsOnly { .. } => {
            command.current_dir(&spec.work_dir);
            // SAFETY: as above.
            unsafe { command.pre_exec(move || child::limited(&prepared)) };
        }
    }
    let child = command.spawn().map_err(|source| RunnerError::Io {
        what: format!("starting {}", spec.program.display()),
        source,
    })?;
    // Nothing has waited for the child yet, so its pid is still its own.
    let handle = ChildHandle::open(
        child.id(),
        matches!(isolation, Isolation::RlimitsOnly { .. }),
    );
    if let (Some(cgroup), Isolation::Namespaces) = (cgroup, isolation) {
        // Failing this leaves the run with its rlimits only, as on a system without cgroups.
        let _ = cgroup.add(child.id());
    }
    // SAFETY: write(2) of one byte from a valid buffer to our own pipe.
    unsafe { libc::write(go_write.as_raw_fd(), b"g".as_ptr().cast(), 1) };
    drop(go_write);
    drop(go_read);
    // The children hold their own copies; the read end sees EOF once all of them are gone.
    drop(report_write);
    drop(work);
    Ok(Started {
        child,
        handle,
        report: File::from(report_read),
    })
}

/// Names of the setup steps, for error messages.
pub(crate) fn step_name(step: u8) -> &'static str {
    child::step_name(step)
}

/// Waits for the shim (or the rlimited program) and returns its status with the resource usage
/// of its whole tree of waited-for descendants.
pub(crate) fn wait_with_usage(pid: u32) -> std::io::Result<(i32, libc::rusage)> {
    let pid = i32::try_from(pid).map_err(|_| std::io::Error::other("pid out of range"))?;
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: wait4 on our own child with valid out-pointers.
        let result = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if result == pid {
            return Ok((status, usage));
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() != Some(libc::EINTR) {
            return Err(error);
        }
    }
}
