//! The code that runs in the forked processes: the shim, init and the program before its exec.
//! Everything here is async-signal-safe (plain system calls on data prepared before the fork):
//! the parent has threads, so nothing may allocate or take a lock.

use std::ffi::{CStr, CString};
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::{Gid, Pid, Uid};
use seccompiler::BpfProgram;

use super::report::{
    header, FILE_CHUNK, FLAG_DISK_FULL, FLAG_FILE_AT_SIZE_LIMIT, FLAG_OUTPUT_FILES_CUT, TAG_EXITED,
    TAG_FILE_DATA, TAG_FILE_NAME, TAG_FLAGS, TAG_SETUP_FAILED, TAG_SIGNALED,
};
use super::{namespace_flags, NOBODY};
use crate::seccomp;

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
        17 => "sending the compiler's output",
        18 => "dropping capabilities",
        19 => "installing the system-call filter",
        20 => "locking the mounts (second user namespace)",
        21 => "hiding the sandbox's own process",
        _ => "an unknown step",
    }
}

/// Raw pointers into CStrings owned by the same `Prepared`, for execve.
pub(super) struct ExecArrays {
    argv: Vec<*const libc::c_char>,
    envp: Vec<*const libc::c_char>,
}

impl ExecArrays {
    pub(super) fn new(argv: &[CString], envp: &[CString]) -> Self {
        let with_null = |strings: &[CString]| {
            strings
                .iter()
                .map(|s| s.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect()
        };
        Self {
            argv: with_null(argv),
            envp: with_null(envp),
        }
    }
}

pub(super) enum MountOp {
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

pub(super) struct Copy {
    pub source: CString,
    pub target: CString,
}

/// Everything the forked processes use, made before the fork.
pub(super) struct Prepared {
    pub program: CString,
    pub _argv: Vec<CString>,
    pub _envp: Vec<CString>,
    pub exec: ExecArrays,
    pub rlimits: Vec<(Resource, u64, u64)>,
    pub report_fd: RawFd,
    /// The shim reads one byte here before going on (see [`super::start`]).
    pub go_fd: RawFd,
    /// The host directory holding the program's files; init closes it once they are copied.
    pub work_fd: RawFd,
    /// The descriptors above stderr the shim keeps, sorted; it closes every other one.
    pub kept_fds: Vec<RawFd>,
    /// The runner's pid: the shim checks it is still its parent once its death signal is set.
    pub runner_pid: libc::pid_t,
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    pub mounts: Vec<MountOp>,
    pub directories: Vec<CString>,
    pub copies: Vec<Copy>,
    pub work_tmpfs_options: CString,
    pub exec_failed_message: CString,
    pub seccomp: Vec<BpfProgram>,
    pub last_capability: u32,
    pub collect_out: bool,
    pub file_size_bytes: u64,
}

// SAFETY: the raw pointers point into CStrings owned by the same struct, which never changes after
// it is built; the struct is only read in the forked child.
unsafe impl Send for Prepared {}
// SAFETY: as above; shared reads only.
unsafe impl Sync for Prepared {}

pub(super) fn drop_root_if_root() -> nix::Result<()> {
    if Uid::current().is_root() {
        nix::unistd::setgroups(&[])?;
        let nobody_gid = Gid::from_raw(NOBODY);
        let nobody_uid = Uid::from_raw(NOBODY);
        nix::unistd::setresgid(nobody_gid, nobody_gid, nobody_gid)?;
        nix::unistd::setresuid(nobody_uid, nobody_uid, nobody_uid)?;
        // Changing uid makes the process non-dumpable, which leaves its /proc files owned by
        // root and the uid map unwritable. Init turns non-dumpable again before the program
        // exists.
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } != 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

fn write_all(fd: RawFd, mut bytes: &[u8]) -> nix::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: write(2) from a valid buffer.
        let written = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if written < 0 {
            let error = Errno::last();
            if error == Errno::EINTR {
                continue;
            }
            return Err(error);
        }
        bytes = &bytes[written as usize..];
    }
    Ok(())
}

fn report(fd: RawFd, tag: u8, step: u8, value: i32) {
    let _ = write_all(fd, &header(tag, step, value));
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

/// Maps the user in a user namespace this process just made.
fn map_user(prepared: &Prepared) -> nix::Result<()> {
    let maps: [(&CStr, &[u8]); 3] = [
        (c"/proc/self/setgroups", b"deny"),
        (c"/proc/self/uid_map", &prepared.uid_map),
        (c"/proc/self/gid_map", &prepared.gid_map),
    ];
    for (path, contents) in maps {
        write_file(path, contents)?;
    }
    Ok(())
}

fn apply_rlimits(prepared: &Prepared) -> nix::Result<()> {
    for &(resource, soft, hard) in &prepared.rlimits {
        setrlimit(resource, soft, hard)?;
    }
    Ok(())
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

/// No capabilities in any set, none that an exec could bring back, no new privileges, and the
/// system-call filter.
fn drop_privileges(prepared: &Prepared) -> Result<(), (u8, Errno)> {
    for capability in 0..=prepared.last_capability {
        // SAFETY: prctl with integer arguments only.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) } != 0
            && Errno::last() != Errno::EINVAL
        {
            return Err((18, Errno::last()));
        }
    }
    // SAFETY: as above.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    #[repr(C)]
    struct CapHeader {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct CapData {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut cap_header = CapHeader {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let empty = [CapData {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: capset(2) with a valid header and two data structs, as version 3 requires.
    if unsafe { libc::syscall(libc::SYS_capset, &mut cap_header, empty.as_ptr()) } != 0 {
        return Err((18, Errno::last()));
    }
    for program in &prepared.seccomp {
        seccomp::install(program).map_err(|errno| (19, errno))?;
    }
    Ok(())
}

/// Rlimits-only child: its own session (so the whole group can be killed), no root, limits,
/// the filter.
pub(super) fn limited(prepared: &Prepared) -> std::io::Result<()> {
    let _ = nix::unistd::setsid();
    drop_root_if_root().map_err(std::io::Error::from)?;
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    apply_rlimits(prepared).map_err(std::io::Error::from)?;
    for program in &prepared.seccomp {
        seccomp::install(program).map_err(std::io::Error::from)?;
    }
    Ok(())
}

/// The shim: never returns. It unshares, forks init and waits for it.
pub(super) fn shim(prepared: &Prepared) -> ! {
    let fd = prepared.report_fd;
    // The shim never execs, so the descriptors the parent marked close-on-exec would stay open
    // here, among them the pipe on which `Command::spawn` waits for the exec: it would wait
    // for the whole run.
    close_fds_except(&prepared.kept_fds);
    let _ = nix::unistd::setsid();
    if let Err(errno) = drop_root_if_root() {
        fail(fd, 1, errno);
    }
    // Set after the uid change, which clears it; if the runner died before, stop here.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if nix::unistd::getppid().as_raw() != prepared.runner_pid {
        // SAFETY: ends the shim.
        unsafe { libc::_exit(125) }
    }
    if let Err(errno) = unshare(namespace_flags()) {
        fail(fd, 2, errno);
    }
    if let Err(errno) = map_user(prepared) {
        fail(fd, 3, errno);
    }
    // The runner moves the shim into the run's cgroups while it makes the namespaces above
    // (on cgroup v1 a move waits for a kernel grace period of ~10 ms); nothing may be forked
    // before the move is done.
    let mut go = [0u8; 1];
    // SAFETY: read(2) into a stack buffer, close(2) of our own descriptor.
    unsafe {
        libc::read(prepared.go_fd, go.as_mut_ptr().cast(), 1);
        libc::close(prepared.go_fd);
    }
    // Init learns here whether the shim died before init's own death signal was set.
    let (life_read, life_write) =
        match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK) {
            Ok(pipe) => pipe,
            Err(errno) => fail(fd, 16, errno),
        };
    // SAFETY: the child continues with async-signal-safe calls only.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => {
            drop(life_write);
            init(prepared, life_read)
        }
        Ok(nix::unistd::ForkResult::Parent { child }) => {
            drop(life_read);
            let _ = nix::sys::wait::waitpid(child, None);
            drop(life_write);
            // SAFETY: ends the shim; the real status went through the report pipe.
            unsafe { libc::_exit(0) }
        }
        Err(errno) => fail(fd, 16, errno),
    }
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
    // SAFETY: plain file syscalls on valid C strings; fds are closed on every path.
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

/// Copies everything from one open file to another with a stack buffer.
fn copy_fd(source: RawFd, target: RawFd) -> nix::Result<()> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        // SAFETY: read into a stack buffer from a valid descriptor.
        let read = unsafe { libc::read(source, buffer.as_mut_ptr().cast(), buffer.len()) };
        if read < 0 {
            return Err(Errno::last());
        }
        if read == 0 {
            return Ok(());
        }
        write_all(target, &buffer[..read as usize])?;
    }
}

/// Calls `visit(dir_fd, name, d_type)` for every entry of the directory `dir` (not `.`/`..`).
fn for_each_entry(dir: RawFd, mut visit: impl FnMut(RawFd, &CStr, u8)) -> nix::Result<()> {
    let mut entries = [0u8; 4096];
    loop {
        // SAFETY: getdents64 into a stack buffer on a valid directory descriptor.
        let read = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                dir,
                entries.as_mut_ptr(),
                entries.len(),
            )
        };
        if read < 0 {
            return Err(Errno::last());
        }
        if read == 0 {
            return Ok(());
        }
        let mut offset = 0usize;
        while offset + 19 < read as usize {
            // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            let length = u16::from_ne_bytes([entries[offset + 16], entries[offset + 17]]) as usize;
            let kind = entries[offset + 18];
            let end = (offset + length).min(read as usize);
            if length == 0 {
                return Err(Errno::EIO);
            }
            if let Ok(name) = CStr::from_bytes_until_nul(&entries[offset + 19..end]) {
                if name != c"." && name != c".." {
                    visit(dir, name, kind);
                }
            }
            offset += length;
        }
    }
}

/// Whether a file under `dir` (up to `depth` levels down) reached `size` bytes.
fn any_file_at_least(dir: RawFd, size: u64, depth: u32) -> bool {
    let mut found = false;
    let _ = for_each_entry(dir, |dir, name, kind| {
        if found {
            return;
        }
        if kind == libc::DT_DIR && depth > 0 {
            // SAFETY: openat on a valid directory fd and name; closed below.
            let child = unsafe {
                libc::openat(
                    dir,
                    name.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                )
            };
            if child >= 0 {
                found = any_file_at_least(child, size, depth - 1);
                // SAFETY: our own descriptor.
                unsafe { libc::close(child) };
            }
        } else if kind == libc::DT_REG {
            // SAFETY: stat is plain old data, filled by fstatat on a valid fd and name.
            let mut stat: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            let result =
                unsafe { libc::fstatat(dir, name.as_ptr(), &mut stat, libc::AT_SYMLINK_NOFOLLOW) };
            found = result == 0 && stat.st_size as u64 >= size;
        }
    });
    found
}

fn open_dir(path: &CStr) -> Option<RawFd> {
    // SAFETY: open on a valid C string.
    let fd = unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    (fd >= 0).then_some(fd)
}

/// What the program left behind that tells a limit was met: a full tmpfs (the disk), or a
/// file at RLIMIT_FSIZE (the kernel cut a write there and answered EFBIG).
fn limit_flags(prepared: &Prepared) -> i32 {
    let mut flags = 0;
    for dir in [c"/work", c"/tmp", c"/dev/shm"] {
        if let Ok(stat) = nix::sys::statvfs::statvfs(dir) {
            if stat.blocks_available() == 0 || stat.files_available() == 0 {
                flags |= FLAG_DISK_FULL;
            }
        }
        if let Some(fd) = open_dir(dir) {
            if any_file_at_least(fd, prepared.file_size_bytes, 8) {
                flags |= FLAG_FILE_AT_SIZE_LIMIT;
            }
            // SAFETY: our own descriptor.
            unsafe { libc::close(fd) };
        }
    }
    flags
}

/// Sends the regular files the compiler left in /out over the report pipe.
fn send_out(fd: RawFd) -> nix::Result<()> {
    let Some(dir) = open_dir(c"/out") else {
        return Err(Errno::last());
    };
    let mut result = Ok(());
    let _ = for_each_entry(dir, |dir, name, kind| {
        if result.is_err() || kind != libc::DT_REG {
            return;
        }
        // SAFETY: openat on a valid directory fd and name; closed below.
        let source = unsafe {
            libc::openat(
                dir,
                name.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
            )
        };
        if source < 0 {
            result = Err(Errno::last());
            return;
        }
        let name = name.to_bytes();
        result = write_all(fd, &header(TAG_FILE_NAME, 0, name.len() as i32))
            .and_then(|()| write_all(fd, name));
        let mut buffer = [0u8; FILE_CHUNK];
        while result.is_ok() {
            // SAFETY: read into a stack buffer from our own descriptor.
            let read = unsafe { libc::read(source, buffer.as_mut_ptr().cast(), buffer.len()) };
            if read <= 0 {
                if read < 0 {
                    result = Err(Errno::last());
                }
                break;
            }
            result = write_all(fd, &header(TAG_FILE_DATA, 0, read as i32))
                .and_then(|()| write_all(fd, &buffer[..read as usize]));
        }
        // SAFETY: our own descriptor.
        unsafe { libc::close(source) };
    });
    // SAFETY: our own descriptor.
    unsafe { libc::close(dir) };
    result
}

/// PID 1 of the new namespace: builds the root, starts the program, reaps, reports.
fn init(prepared: &Prepared, life: std::os::fd::OwnedFd) -> ! {
    use std::os::fd::AsRawFd;
    let fd = prepared.report_fd;
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    // The shim's end of the pipe is closed only when the shim is gone: then no death signal
    // will come, and init must not go on alone.
    let mut byte = [0u8; 1];
    // SAFETY: read(2) into a stack buffer from our own non-blocking descriptor.
    if unsafe { libc::read(life.as_raw_fd(), byte.as_mut_ptr().cast(), 1) } == 0 {
        // SAFETY: ends init.
        unsafe { libc::_exit(125) }
    }
    drop(life);
    if let Err((step, errno)) = build_root(prepared) {
        fail(fd, step, errno);
    }
    // The host directory is the last host descriptor here besides the report pipe.
    // SAFETY: our own descriptor.
    unsafe { libc::close(prepared.work_fd) };
    // A second user namespace with its own mount namespace: the mounts above are copied into it
    // locked (read-only, nosuid stay so), even for a process with every capability there.
    if let Err(errno) = unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS) {
        fail(fd, 20, errno);
    }
    if let Err(errno) = map_user(prepared) {
        fail(fd, 20, errno);
    }
    // From here init's /proc files belong to the host's root and it cannot be traced or read:
    // its memory is a copy of the runner's.
    // SAFETY: prctl with integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        fail(fd, 21, Errno::last());
    }
    // SAFETY: the child continues with async-signal-safe calls only, then execs.
    let program = match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => exec_program(prepared),
        Ok(nix::unistd::ForkResult::Parent { child }) => child,
        Err(errno) => fail(fd, 16, errno),
    };
    let mut ended = None;
    while ended.is_none() {
        match nix::sys::wait::waitpid(Pid::from_raw(-1), None) {
            Ok(nix::sys::wait::WaitStatus::Exited(pid, code)) if pid == program => {
                ended = Some((TAG_EXITED, code));
            }
            Ok(nix::sys::wait::WaitStatus::Signaled(pid, signal, _)) if pid == program => {
                ended = Some((TAG_SIGNALED, signal as i32));
            }
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    // Whatever the program left running goes now, so nothing inside is there while init reads
    // the files and reports.
    let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
    while let Ok(_) | Err(Errno::EINTR) = nix::sys::wait::waitpid(Pid::from_raw(-1), None) {}
    let (tag, value) = ended.unwrap_or((TAG_SIGNALED, libc::SIGKILL));
    report(fd, tag, 0, value);
    let mut flags = limit_flags(prepared);
    if prepared.collect_out && send_out(fd).is_err() {
        flags |= FLAG_OUTPUT_FILES_CUT;
    }
    if flags != 0 {
        report(fd, TAG_FLAGS, 0, flags);
    }
    // Exiting as PID 1 makes the kernel kill whatever might be left.
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
    // hidepid=2: a process the program cannot trace (init, once non-dumpable) is not listed.
    mount(
        Some(c"proc"),
        c"/tmp/proc",
        Some(c"proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some(c"hidepid=2"),
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
    // The compiler writes to a tmpfs whose files init sends back over the report pipe: no host
    // directory is ever mounted or held open while a program runs.
    if prepared.collect_out {
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

/// PID 2: limits, no privileges, the filter, then exec. Never returns.
fn exec_program(prepared: &Prepared) -> ! {
    // Only stdin, stdout, stderr and the report pipe (close-on-exec, for a failed exec) remain.
    close_fds_except(&[prepared.report_fd]);
    if let Err(errno) = apply_rlimits(prepared) {
        fail(prepared.report_fd, 15, errno);
    }
    if let Err((step, errno)) = drop_privileges(prepared) {
        fail(prepared.report_fd, step, errno);
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
