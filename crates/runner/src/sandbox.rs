//! Starting one program in a sandbox: new user, mount, PID, network, IPC and UTS namespaces with a
//! fresh root (system dirs read-only, nothing of the user's files) and rlimits; or, where user
//! namespaces are not allowed, rlimits alone, said plainly.
//!
//! Shape of a sandboxed run (each arrow a fork):
//!   runner thread → shim (drops to `nobody` when root, unshares, forwards PID 1's pid)
//!                 → init, PID 1 of the new PID namespace (builds the root, reaps, reports status)
//!                 → the program, PID 2 (rlimits, exec)
//! The program is never PID 1, because the kernel ignores signals such as SIGXCPU sent to PID 1.
//! When init exits, the kernel kills everything left in the namespace, so nothing outlives a run.
//!
//! Everything the forked processes need is prepared before `spawn`: after a fork in a
//! multi-threaded process only async-signal-safe calls are allowed, so no allocation happens there.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Pid, Uid};

use crate::cgroup::RunCgroup;
use crate::{Limits, RunnerError};

/// The uid/gid a run uses when Coderoom itself runs as root: RLIMIT_NPROC is not enforced for
/// root, and root could read every file the sandbox forgot to hide.
const NOBODY: u32 = 65534;

/// What the sandbox could do on this machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Isolation {
    /// New user, mount, PID, network, IPC and UTS namespaces plus rlimits.
    Namespaces,
    /// Rlimits alone: the program sees the real file system and network.
    RlimitsOnly { reason: String },
}

impl Isolation {
    /// Tries to create the namespaces in a throwaway child, as a run would.
    pub fn probe() -> Self {
        // SAFETY: the child only calls async-signal-safe functions and exits.
        let result = unsafe { nix::unistd::fork() };
        match result {
            Ok(nix::unistd::ForkResult::Child) => {
                let code = match drop_root_if_root().and_then(|()| unshare(namespace_flags())) {
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

fn drop_root_if_root() -> nix::Result<()> {
    if Uid::current().is_root() {
        nix::unistd::setgroups(&[])?;
        let nobody_gid = Gid::from_raw(NOBODY);
        let nobody_uid = Uid::from_raw(NOBODY);
        nix::unistd::setresgid(nobody_gid, nobody_gid, nobody_gid)?;
        nix::unistd::setresuid(nobody_uid, nobody_uid, nobody_uid)?;
        // Changing uid makes the process non-dumpable, which leaves its /proc files owned by
        // root and the uid map unwritable; the exec that follows would reset it anyway.
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } != 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// The uid the program's processes count against for RLIMIT_NPROC.
pub(crate) fn sandbox_uid() -> u32 {
    if Uid::current().is_root() {
        NOBODY
    } else {
        Uid::current().as_raw()
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
    /// Host directory bound read-write at `/out` (compiler output), if any.
    pub out_dir: Option<PathBuf>,
    pub limits: Limits,
    /// Extra address space the runtime reserves on top of the memory limit.
    pub address_space_extra_mib: u64,
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

/// A started program. `report` carries init's messages; see [`parse_reports`].
pub(crate) struct Started {
    pub child: Child,
    pub report: File,
}

/// How the program ended, as init saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Report {
    Exited(i32),
    Signaled(i32),
    /// A sandbox step failed before the program started.
    SetupFailed {
        step: u8,
        errno: i32,
    },
}

pub(crate) const TAG_INIT_PID: u8 = 1;
const TAG_EXITED: u8 = 2;
const TAG_SIGNALED: u8 = 3;
const TAG_SETUP_FAILED: u8 = 4;

/// What init reported: its own pid (to stop the whole namespace) and the program's end.
#[derive(Debug, Default)]
pub(crate) struct InitReports {
    pub init_pid: Option<i32>,
    pub report: Option<Report>,
}

/// Reads the 6-byte tagged messages init and the shim wrote.
pub(crate) fn parse_reports(bytes: &[u8]) -> InitReports {
    let mut reports = InitReports::default();
    for message in bytes.chunks_exact(6) {
        let value = i32::from_ne_bytes([message[2], message[3], message[4], message[5]]);
        match message[0] {
            TAG_INIT_PID => reports.init_pid = Some(value),
            TAG_EXITED => reports.report = Some(Report::Exited(value)),
            TAG_SIGNALED => reports.report = Some(Report::Signaled(value)),
            TAG_SETUP_FAILED => {
                reports.report = Some(Report::SetupFailed {
                    step: message[1],
                    errno: value,
                })
            }
            _ => {}
        }
    }
    reports
}

/// Names of the setup steps, for error messages.
pub(crate) fn step_name(step: u8) -> &'static str {
    match step {
        1 => "dropping root privileges",
        2 => "creating the namespaces",
        3 => "mapping the user",
        4 => "making mounts private",
        5 => "mounting the new root",
        6 => "mounting a system directory read-only",
        7 => "setting up /dev",
        8 => "mounting /proc",
        9 => "creating /work",
        10 => "copying the program's files",
        11 => "creating /out",
        12 => "switching to the new root",
        13 => "setting the host name",
        14 => "starting the program",
        15 => "setting resource limits",
        16 => "forking",
        17 => "copying the compiler's output",
        _ => "an unknown step",
    }
}

/// Raw pointers into CStrings owned by the same `Prepared`, for execve.
struct ExecArrays {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

enum MountOp {
    BindReadOnly {
        source: CString,
        target: CString,
        remount_flags: MsFlags,
    },
    Symlink {
        destination: CString,
        link: CString,
    },
    DevNode {
        source: CString,
        target: CString,
    },
}

struct Copy {
    source: CString,
    target: CString,
}

/// Everything the forked processes use, made before the fork.
struct Prepared {
    program: CString,
    _argv: Vec<CString>,
    _envp: Vec<CString>,
    exec: ExecArrays,
    rlimits: Vec<(Resource, u64, u64)>,
    report_fd: RawFd,
    /// The shim reads one byte here before going on (see [`start`]).
    go_fd: RawFd,
    work_fd: RawFd,
    /// The host's output dir, where init copies what the compiler wrote to /out.
    out_fd: Option<RawFd>,
    /// The descriptors above stderr the shim keeps, sorted; it closes every other one.
    kept_fds: Vec<RawFd>,
    uid_map: Vec<u8>,
    gid_map: Vec<u8>,
    mounts: Vec<MountOp>,
    directories: Vec<CString>,
    copies: Vec<Copy>,
    work_tmpfs_options: CString,
    exec_failed_message: CString,
}

// SAFETY: the raw pointers point into CStrings owned by the same struct, which never changes after
// it is built; the struct is only read in the forked child.
unsafe impl Send for Prepared {}
// SAFETY: as above; shared reads only.
unsafe impl Sync for Prepared {}

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
fn locked_flags(path: &Path) -> MsFlags {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    if let Ok(stat) = nix::sys::statvfs::statvfs(path) {
        use nix::sys::statvfs::FsFlags;
        let original = stat.flags();
        for (fs_flag, ms_flag) in [
            (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
            (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
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

fn prepare(
    spec: &Spec,
    report_fd: RawFd,
    go_fd: RawFd,
    work_fd: RawFd,
    out_fd: Option<RawFd>,
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
    let exec = ExecArrays {
        argv: argv
            .iter()
            .map(|arg| arg.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect(),
        envp: envp
            .iter()
            .map(|var| var.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect(),
    };

    let limits = &spec.limits;
    let address_space = (limits.memory_mib + spec.address_space_extra_mib) * 1024 * 1024;
    let running = count_processes_of(sandbox_uid());
    let rlimits = vec![
        (
            Resource::RLIMIT_CPU,
            limits.cpu_seconds,
            limits.cpu_seconds + 1,
        ),
        (Resource::RLIMIT_AS, address_space, address_space),
        (
            Resource::RLIMIT_NPROC,
            limits.processes + running,
            limits.processes + running,
        ),
        (
            Resource::RLIMIT_FSIZE,
            limits.file_size_mib * 1024 * 1024,
            limits.file_size_mib * 1024 * 1024,
        ),
        (
            Resource::RLIMIT_NOFILE,
            limits.open_files,
            limits.open_files,
        ),
        (Resource::RLIMIT_CORE, 0, 0),
    ];

    let uid = sandbox_uid();
    let gid = if Uid::current().is_root() {
        NOBODY
    } else {
        Gid::current().as_raw()
    };

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

    Ok(Prepared {
        program,
        _argv: argv,
        _envp: envp,
        exec,
        rlimits,
        report_fd,
        go_fd,
        work_fd,
        kept_fds: {
            let mut fds: Vec<RawFd> = [Some(report_fd), Some(go_fd), Some(work_fd), out_fd]
                .into_iter()
                .flatten()
                .collect();
            fds.sort_unstable();
            fds
        },
        out_fd,
        uid_map: format!("0 {uid} 1\n").into_bytes(),
        gid_map: format!("0 {gid} 1\n").into_bytes(),
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
    })
}

/// How many processes `uid` already has: RLIMIT_NPROC counts them all, so the limit given to a
/// run is added on top.
fn count_processes_of(uid: u32) -> u64 {
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
        .count() as u64
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
    let out = spec
        .out_dir
        .as_ref()
        .map(|dir| {
            File::open(dir).map_err(|source| RunnerError::Io {
                what: format!("opening the output dir {}", dir.display()),
                source,
            })
        })
        .transpose()?;
    let prepared = prepare(
        spec,
        report_write.as_raw_fd(),
        go_read.as_raw_fd(),
        work.as_raw_fd(),
        out.as_ref().map(AsRawFd::as_raw_fd),
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
                    sandboxed_child(&prepared);
                })
            };
        }
        Isolation::RlimitsOnly { .. } => {
            command.current_dir(&spec.work_dir);
            // SAFETY: as above.
            unsafe { command.pre_exec(move || limited_child(&prepared)) };
        }
    }
    let child = command.spawn().map_err(|source| RunnerError::Io {
        what: format!("starting {}", spec.program.display()),
        source,
    })?;
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
    drop(out);
    Ok(Started {
        child,
        report: File::from(report_read),
    })
}

fn report(fd: RawFd, tag: u8, step: u8, value: i32) {
    let value = value.to_ne_bytes();
    let message = [tag, step, value[0], value[1], value[2], value[3]];
    // SAFETY: write(2) on a valid buffer; a 6-byte write to a pipe is atomic.
    unsafe { libc::write(fd, message.as_ptr().cast(), message.len()) };
}

fn fail(fd: RawFd, step: u8, errno: Errno) -> ! {
    report(fd, TAG_SETUP_FAILED, step, errno as i32);
    // SAFETY: ends the forked process without running the parent's destructors.
    unsafe { libc::_exit(125) }
}

fn write_file(path: &CStr, contents: &[u8]) -> nix::Result<()> {
    // SAFETY: open/write/close on a valid C string and buffer.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(Errno::last());
        }
        let written = libc::write(fd, contents.as_ptr().cast(), contents.len());
        let error = Errno::last();
        libc::close(fd);
        if written < 0 || written as usize != contents.len() {
            return Err(error);
        }
    }
    Ok(())
}

fn apply_rlimits(prepared: &Prepared) -> nix::Result<()> {
    for &(resource, soft, hard) in &prepared.rlimits {
        setrlimit(resource, soft, hard)?;
    }
    Ok(())
}

/// Rlimits-only child: its own session (so the whole group can be killed), no root, limits.
fn limited_child(prepared: &Prepared) -> std::io::Result<()> {
    let _ = nix::unistd::setsid();
    drop_root_if_root().map_err(std::io::Error::from)?;
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    apply_rlimits(prepared).map_err(std::io::Error::from)?;
    Ok(())
}

/// The shim: never returns. It unshares, forks init, forwards init's pid and waits for it.
fn sandboxed_child(prepared: &Prepared) -> ! {
    let fd = prepared.report_fd;
    // The shim never execs, so the descriptors the parent marked close-on-exec would stay open
    // here, among them the pipe on which `Command::spawn` waits for the exec: it would wait
    // for the whole run.
    close_fds_except(&prepared.kept_fds);
    let mut go = [0u8; 1];
    // SAFETY: read(2) into a stack buffer, close(2) of our own descriptor.
    unsafe {
        libc::read(prepared.go_fd, go.as_mut_ptr().cast(), 1);
        libc::close(prepared.go_fd);
    }
    let _ = nix::unistd::setsid();
    if let Err(errno) = drop_root_if_root() {
        fail(fd, 1, errno);
    }
    // Set after the uid change, which clears it.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if let Err(errno) = unshare(namespace_flags()) {
        fail(fd, 2, errno);
    }
    let maps: [(&CStr, &[u8]); 3] = [
        (c"/proc/self/setgroups", b"deny"),
        (c"/proc/self/uid_map", &prepared.uid_map),
        (c"/proc/self/gid_map", &prepared.gid_map),
    ];
    for (path, contents) in maps {
        if let Err(errno) = write_file(path, contents) {
            fail(fd, 3, errno);
        }
    }
    // SAFETY: the child continues with async-signal-safe calls only.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => init(prepared),
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            report(fd, TAG_INIT_PID, 0, child.as_raw());
            let _ = nix::sys::wait::waitpid(child, None);
            // SAFETY: ends the shim; the real status went through the report pipe.
            unsafe { libc::_exit(0) }
        }
        Err(errno) => fail(fd, 16, errno),
    }
}

/// Closes every descriptor above stderr but `kept` (sorted).
fn close_fds_except(kept: &[RawFd]) {
    let mut first: u32 = 3;
    for &fd in kept {
        let fd = fd as u32;
        if fd > first {
            close_range(first, fd - 1);
        }
        first = first.max(fd + 1);
    }
    close_range(first, u32::MAX);
}

fn close_range(first: u32, last: u32) {
    // SAFETY: close_range(2) takes plain integers; it only closes descriptors.
    unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
}

fn symlink(destination: &CStr, link: &CStr) -> nix::Result<()> {
    // SAFETY: symlink(2) on valid C strings.
    if unsafe { libc::symlink(destination.as_ptr(), link.as_ptr()) } == 0 {
        Ok(())
    } else {
        Err(Errno::last())
    }
}

fn mkdir(path: &CStr) -> nix::Result<()> {
    match nix::unistd::mkdir(path, Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(errno) => Err(errno),
    }
}

fn touch(path: &CStr) -> nix::Result<()> {
    // SAFETY: open/close on a valid C string.
    unsafe {
        let fd = libc::open(
            path.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC,
            0o644,
        );
        if fd < 0 {
            return Err(Errno::last());
        }
        libc::close(fd);
    }
    Ok(())
}

/// Copies one file from the host work dir (through its fd) into the sandbox's /work.
fn copy_in(work_fd: RawFd, copy: &Copy) -> nix::Result<()> {
    // SAFETY: plain file syscalls on valid C strings and a stack buffer; fds are closed on
    // every path.
    unsafe {
        let source = libc::openat(
            work_fd,
            copy.source.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        );
        if source < 0 {
            return Err(Errno::last());
        }
        let target = libc::open(
            copy.target.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
            0o644,
        );
        if target < 0 {
            let error = Errno::last();
            libc::close(source);
            return Err(error);
        }
        let result = copy_fd(source, target);
        libc::close(source);
        libc::close(target);
        result
    }
}

/// Copies the regular files the compiler left in /out to the host's output dir.
fn copy_out(host_out_fd: RawFd) -> nix::Result<()> {
    // SAFETY: getdents64/openat/read/write/close on valid descriptors and stack buffers; every
    // opened descriptor is closed.
    unsafe {
        let dir = libc::open(
            c"/out".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        );
        if dir < 0 {
            return Err(Errno::last());
        }
        let mut entries = [0u8; 4096];
        let result = 'outer: loop {
            let read = libc::syscall(
                libc::SYS_getdents64,
                dir,
                entries.as_mut_ptr(),
                entries.len(),
            );
            if read < 0 {
                break Err(Errno::last());
            }
            if read == 0 {
                break Ok(());
            }
            let mut offset = 0usize;
            while offset < read as usize {
                // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
                let record = entries.as_ptr().add(offset);
                let length = u16::from_ne_bytes([*record.add(16), *record.add(17)]) as usize;
                let kind = *record.add(18);
                let name = record.add(19).cast::<libc::c_char>();
                offset += length;
                if kind != libc::DT_REG {
                    continue;
                }
                let source = libc::openat(
                    dir,
                    name,
                    libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                );
                if source < 0 {
                    break 'outer Err(Errno::last());
                }
                let target = libc::openat(
                    host_out_fd,
                    name,
                    libc::O_WRONLY
                        | libc::O_CREAT
                        | libc::O_TRUNC
                        | libc::O_CLOEXEC
                        | libc::O_NOFOLLOW,
                    0o644,
                );
                if target < 0 {
                    let error = Errno::last();
                    libc::close(source);
                    break 'outer Err(error);
                }
                let copied = copy_fd(source, target);
                libc::close(source);
                libc::close(target);
                if let Err(error) = copied {
                    break 'outer Err(error);
                }
            }
        };
        libc::close(dir);
        result
    }
}

/// Copies everything from one open file to another with a stack buffer.
fn copy_fd(source: RawFd, target: RawFd) -> nix::Result<()> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        // SAFETY: read/write on valid descriptors into and out of a stack buffer.
        let read = unsafe { libc::read(source, buffer.as_mut_ptr().cast(), buffer.len()) };
        if read < 0 {
            return Err(Errno::last());
        }
        if read == 0 {
            return Ok(());
        }
        let mut offset = 0;
        while offset < read as usize {
            // SAFETY: as above.
            let written = unsafe {
                libc::write(
                    target,
                    buffer[offset..].as_ptr().cast(),
                    read as usize - offset,
                )
            };
            if written <= 0 {
                return Err(Errno::last());
            }
            offset += written as usize;
        }
    }
}

/// PID 1 of the new namespace: builds the root, starts the program, reaps, reports.
fn init(prepared: &Prepared) -> ! {
    let fd = prepared.report_fd;
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if let Err(errno) = build_root(prepared) {
        let (step, errno) = errno;
        fail(fd, step, errno);
    }
    // SAFETY: the child continues with async-signal-safe calls only, then execs.
    let program = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => exec_program(prepared),
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
        Err(errno) => fail(fd, 16, errno),
    };
    loop {
        match nix::sys::wait::waitpid(Pid::from_raw(-1), None) {
            Ok(nix::sys::wait::WaitStatus::Exited(pid, code)) if pid == program => {
                report(fd, TAG_EXITED, 0, code);
                break;
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(pid, signal, _)) if pid == program => {
                report(fd, TAG_SIGNALED, 0, signal as i32);
                break;
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    if let Some(out_fd) = prepared.out_fd {
        if let Err(errno) = copy_out(out_fd) {
            fail(fd, 17, errno);
        }
    }
    // Exiting as PID 1 makes the kernel kill whatever the program left behind.
    // SAFETY: ends init.
    unsafe { libc::_exit(0) }
}

fn build_root(prepared: &Prepared) -> Result<(), (u8, Errno)> {
    let none: Option<&CStr> = None;
    mount(
        none,
        c"/",
        none,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        none,
    )
    .map_err(|e| (4, e))?;
    // The new root is a tmpfs mounted over /tmp; /tmp is a directory every system has.
    mount(
        Some(c"tmpfs"),
        c"/tmp",
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(c"size=1m,mode=0755"),
    )
    .map_err(|e| (5, e))?;
    for dir in [
        c"/tmp/dev",
        c"/tmp/proc",
        c"/tmp/tmp",
        c"/tmp/work",
        c"/tmp/out",
    ] {
        mkdir(dir).map_err(|e| (5, e))?;
    }
    for dir in &prepared.directories {
        if !dir.to_bytes().starts_with(b"/tmp/work/") {
            mkdir(dir).map_err(|e| (6, e))?;
        }
    }
    mount(
        Some(c"tmpfs"),
        c"/tmp/dev",
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some(c"size=64k,mode=0755"),
    )
    .map_err(|e| (7, e))?;
    for op in &prepared.mounts {
        match op {
            MountOp::BindReadOnly {
                source,
                target,
                remount_flags,
            } => {
                mount(
                    Some(source.as_c_str()),
                    target.as_c_str(),
                    none,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    none,
                )
                .map_err(|e| (6, e))?;
                mount(none, target.as_c_str(), none, *remount_flags, none).map_err(|e| (6, e))?;
            }
            MountOp::Symlink { destination, link } => {
                symlink(destination, link).map_err(|e| (6, e))?;
            }
            MountOp::DevNode { source, target } => {
                touch(target).map_err(|e| (7, e))?;
                mount(
                    Some(source.as_c_str()),
                    target.as_c_str(),
                    none,
                    MsFlags::MS_BIND,
                    none,
                )
                .map_err(|e| (7, e))?;
            }
        }
    }
    for (destination, link) in [
        (c"/proc/self/fd", c"/tmp/dev/fd"),
        (c"/proc/self/fd/0", c"/tmp/dev/stdin"),
        (c"/proc/self/fd/1", c"/tmp/dev/stdout"),
        (c"/proc/self/fd/2", c"/tmp/dev/stderr"),
    ] {
        symlink(destination, link).map_err(|e| (7, e))?;
    }
    mkdir(c"/tmp/dev/shm").map_err(|e| (7, e))?;
    mount(
        Some(c"tmpfs"),
        c"/tmp/dev/shm",
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(c"size=16m"),
    )
    .map_err(|e| (7, e))?;
    mount(
        Some(c"proc"),
        c"/tmp/proc",
        Some(c"proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        none,
    )
    .map_err(|e| (8, e))?;
    mount(
        Some(c"tmpfs"),
        c"/tmp/tmp",
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(prepared.work_tmpfs_options.as_c_str()),
    )
    .map_err(|e| (9, e))?;
    mount(
        Some(c"tmpfs"),
        c"/tmp/work",
        Some(c"tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(prepared.work_tmpfs_options.as_c_str()),
    )
    .map_err(|e| (9, e))?;
    for dir in &prepared.directories {
        if dir.to_bytes().starts_with(b"/tmp/work/") {
            mkdir(dir).map_err(|e| (10, e))?;
        }
    }
    for copy in &prepared.copies {
        copy_in(prepared.work_fd, copy).map_err(|e| (10, e))?;
    }
    // A bind mount of the host's output dir would be simpler, but the kernel refuses to bind a
    // directory opened in another mount namespace, and the sandbox user may not be able to walk
    // the host path: the compiler writes to a tmpfs that init copies out through the fd.
    if prepared.out_fd.is_some() {
        mount(
            Some(c"tmpfs"),
            c"/tmp/out",
            Some(c"tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            Some(prepared.work_tmpfs_options.as_c_str()),
        )
        .map_err(|e| (11, e))?;
    }
    nix::unistd::chdir(c"/tmp").map_err(|e| (12, e))?;
    nix::unistd::pivot_root(c".", c".").map_err(|e| (12, e))?;
    umount2(c".", MntFlags::MNT_DETACH).map_err(|e| (12, e))?;
    nix::unistd::chdir(c"/").map_err(|e| (12, e))?;
    // Nothing outside /work, /tmp and /dev/shm may be written.
    mount(
        none,
        c"/",
        none,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        none,
    )
    .map_err(|e| (12, e))?;
    nix::unistd::sethostname("coderoom").map_err(|e| (13, e))?;
    nix::unistd::chdir(c"/work").map_err(|e| (12, e))?;
    Ok(())
}

/// PID 2: limits, then exec. Never returns.
fn exec_program(prepared: &Prepared) -> ! {
    if let Err(errno) = apply_rlimits(prepared) {
        fail(prepared.report_fd, 15, errno);
    }
    // SAFETY: execve with NUL-terminated arrays of valid C strings that outlive the call.
    unsafe {
        libc::execve(
            prepared.program.as_ptr(),
            prepared.exec.argv.as_ptr(),
            prepared.exec.envp.as_ptr(),
        );
        let message = prepared.exec_failed_message.as_bytes();
        libc::write(2, message.as_ptr().cast(), message.len());
    }
    fail(prepared.report_fd, 14, Errno::last())
}

/// Kills everything a run started: init (which takes its namespace down with it), or the
/// process group where there are no namespaces.
pub(crate) fn kill_all(child_pid: u32, init_pid: Option<i32>) {
    if let Some(init) = init_pid {
        let _ = nix::sys::signal::kill(Pid::from_raw(init), Signal::SIGKILL);
    }
    if let Ok(pid) = i32::try_from(child_pid) {
        let _ = nix::sys::signal::killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
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
