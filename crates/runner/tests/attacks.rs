//! The sandbox attacked the way a curious student would: reaching init, host descriptors, the
//! runner's environment, capabilities and remounts, forged reports, memory in every runtime's
//! way, fork and thread bombs, file size, a full disk and output without newlines. Each attack
//! asserts containment (host canaries untouched, a host victim alive, host memory within the
//! limit and a margin) and that the limit is named.
//!
//! Every attack runs twice, each time in a child process of this test binary holding a secret
//! in its environment and arguments: once as the user running the tests and, when that is root
//! (as in CI), once as `nobody`, since a laptop runs Coderoom as its user. A pass as root that
//! cannot happen (tests run by an ordinary user) says so and passes.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coderoom_runner::{LimitHit, Limits, Outcome, Runner};
use common::{request, run, Collected};

const INNER: &str = "CODEROOM_ATTACK_INNER";
const SECRET: &str = "CODEROOM_ATTACK_SECRET";
const CANARY: &str = "CODEROOM_ATTACK_CANARY";
const NOBODY: u32 = 65534;

fn is_root() -> bool {
    nix::unistd::Uid::current().is_root()
}

/// Runs `attack` in a child process of this binary (the test named `name`), as root or as
/// `nobody`, with a secret in its environment and arguments and a canary file on the host.
fn in_child(name: &str, as_nobody: bool, attack: fn(&Host)) {
    if std::env::var_os(INNER).is_some() {
        if std::env::var(INNER).as_deref() == Ok("nobody") {
            become_nobody();
        }
        let host = Host::from_env();
        attack(&host);
        return;
    }
    if !as_nobody && !is_root() {
        eprintln!("skipped: the tests do not run as root, so the root pass cannot happen");
        return;
    }
    let secret = format!(
        "coderoom-secret-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let canary_dir = tempfile::tempdir().expect("canary dir");
    let canary = canary_dir.path().join("canary.txt");
    std::fs::write(&canary, &secret).expect("canary");
    let mode = if as_nobody && is_root() {
        // nobody must be able to reach the canary for the test to mean anything.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(canary_dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod");
        std::fs::set_permissions(&canary, std::fs::Permissions::from_mode(0o666)).expect("chmod");
        "nobody"
    } else {
        "self"
    };
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args([name, "--exact", "--nocapture", "--test-threads=1", &secret])
        .env(INNER, mode)
        .env(SECRET, &secret)
        .env(CANARY, &canary)
        .output()
        .expect("running the attack's child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the attack failed as {mode}:\n{stdout}\n{stderr}"
    );
    eprint!("{stderr}");
    assert_eq!(
        std::fs::read_to_string(&canary).expect("canary read back"),
        secret,
        "the host canary was changed"
    );
    let listing: Vec<_> = std::fs::read_dir(canary_dir.path())
        .expect("canary dir")
        .filter_map(Result::ok)
        .map(|entry| entry.file_name())
        .collect();
    assert_eq!(
        listing.len(),
        1,
        "files appeared next to the canary: {listing:?}"
    );
}

fn become_nobody() {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    if !is_root() {
        return;
    }
    setgroups(&[]).expect("setgroups");
    setresgid(
        Gid::from_raw(NOBODY),
        Gid::from_raw(NOBODY),
        Gid::from_raw(NOBODY),
    )
    .expect("gid");
    setresuid(
        Uid::from_raw(NOBODY),
        Uid::from_raw(NOBODY),
        Uid::from_raw(NOBODY),
    )
    .expect("uid");
    // An ordinary user's process is dumpable; the uid change above cleared it.
    // SAFETY: prctl with integer arguments only.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
}

/// What the child process knows of the host.
struct Host {
    secret: String,
    canary: PathBuf,
    runner: Runner,
    _dir: tempfile::TempDir,
}

impl Host {
    fn from_env() -> Self {
        let dir = tempfile::tempdir().expect("runs dir");
        let runner = Runner::new(dir.path().join("runs")).expect("runner");
        Self {
            secret: std::env::var(SECRET).expect("secret"),
            canary: PathBuf::from(std::env::var_os(CANARY).expect("canary")),
            runner,
            _dir: dir,
        }
    }

    /// Runs `program` and checks it succeeded (within every limit).
    fn succeeds(&self, language: &str, file: &str, program: &str, limits: Limits) -> Collected {
        let result = self.run(language, file, program, limits);
        assert!(
            result.outcome.success,
            "{:?}\n{}",
            result.outcome, result.stderr
        );
        result
    }

    fn run(&self, language: &str, file: &str, program: &str, limits: Limits) -> Collected {
        let result = run(&self.runner, request(language, &[(file, program)], limits));
        let everything = format!("{}{}{:?}", result.stdout, result.stderr, result.outcome);
        assert!(
            !everything.contains(&self.secret),
            "the program got hold of the secret:\n{everything}"
        );
        result
    }
}

/// Declares the two passes of one attack.
macro_rules! attack {
    ($attack:ident) => {
        mod $attack {
            #[test]
            fn as_root() {
                super::in_child(
                    concat!(stringify!($attack), "::as_root"),
                    false,
                    super::$attack,
                );
            }

            #[test]
            fn as_ordinary_user() {
                super::in_child(
                    concat!(stringify!($attack), "::as_ordinary_user"),
                    true,
                    super::$attack,
                );
            }
        }
    };
}

fn short(limits: Limits) -> Limits {
    Limits {
        wall_seconds: 10,
        ..limits
    }
}

fn assert_limit(outcome: &Outcome, limit: LimitHit, stderr: &str) {
    assert_eq!(outcome.limit_hit, Some(limit), "{outcome:?}\n{stderr}");
    assert!(!outcome.success, "{outcome:?}");
    let explanation = outcome.explanation.as_deref().unwrap_or_default();
    assert!(
        explanation.contains("your program"),
        "not said for a learner: {explanation:?}"
    );
    assert!(
        outcome.summary(&Limits::default()).starts_with(explanation),
        "{}",
        outcome.summary(&Limits::default())
    );
}

// ---------------------------------------------------------------------------------------------
// Nothing inside can reach outside.

/// Init (PID 1) is not listed, its files cannot be opened, it cannot be traced or signalled.
fn init_cannot_be_reached(host: &Host) {
    let program = format!(
        r#"
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
for name in ["environ", "cmdline", "mem", "maps", "fd", "root/", "cwd/", "status", "stat"]:
    path = "/proc/1/" + name
    try:
        if name == "fd":
            print("OPENED", path, os.listdir(path))
        elif name.endswith("/"):
            print("OPENED", path, os.listdir(path))
        else:
            with open(path, "rb") as f:
                print("OPENED", path, f.read(200))
    except OSError as e:
        print("refused", path, e.errno)
for request in (16, 0x4206):  # PTRACE_ATTACH, PTRACE_SEIZE
    r = libc.syscall({ptrace}, request, 1, 0, 0)
    print("ptrace", request, r, ctypes.get_errno())
try:
    os.kill(1, signal.SIGKILL)
    print("signal sent")
except OSError as e:
    print("kill refused", e.errno)
print("still here")
"#,
        ptrace = libc::SYS_ptrace
    );
    let result = host.succeeds("python", "main.py", &program, short(Limits::default()));
    assert!(result.stdout.contains("pids [2]"), "{}", result.stdout);
    assert!(!result.stdout.contains("OPENED"), "{}", result.stdout);
    assert_eq!(result.stdout.matches("ptrace").count(), 2);
    assert!(
        !result.stdout.contains("ptrace 16 0") && !result.stdout.contains("ptrace 16902 0"),
        "{}",
        result.stdout
    );
    assert!(result.stdout.contains("still here"), "{}", result.stdout);
}
attack!(init_cannot_be_reached);

/// No descriptor open in the sandbox leads to a host file or directory, and `..` from any of
/// them stays inside.
fn no_host_descriptor_survives(host: &Host) {
    let canary = host.canary.display();
    let program = format!(
        r#"
import os
seen = []
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        fds = os.listdir(f"/proc/{{pid}}/fd")
    except OSError as e:
        print("no fds of", pid, e.errno)
        continue
    for fd in fds:
        link = f"/proc/{{pid}}/fd/{{fd}}"
        try:
            target = os.readlink(link)
        except OSError:
            continue
        seen.append(target)
        for escape in ("/..", "/../..", "/../../.."):
            try:
                print("ESCAPED", link + escape, os.listdir(link + escape)[:20])
            except OSError:
                pass
print("fds", sorted(set(seen)))
for path in ["{canary}", "/proc/1/root{canary}", "/proc/self/root{canary}"]:
    try:
        open(path).read()
        print("READ", path)
    except OSError as e:
        print("cannot read", path, e.errno)
    try:
        open(path, "w").write("overwritten")
        print("WROTE", path)
    except OSError as e:
        print("cannot write", path, e.errno)
"#
    );
    let result = host.succeeds("python", "main.py", &program, short(Limits::default()));
    for word in ["ESCAPED", "READ", "WROTE"] {
        assert!(!result.stdout.contains(word), "{}", result.stdout);
    }
    let fds = result
        .stdout
        .lines()
        .find(|line| line.starts_with("fds "))
        .expect("fds line");
    // Pipes, /dev nodes, the program's own files in /work and /proc: nothing else.
    for target in fds
        .trim_start_matches("fds [")
        .trim_end_matches(']')
        .split(", ")
    {
        let target = target.trim_matches('\'');
        assert!(
            target.starts_with("pipe:")
                || target.starts_with("/dev/")
                || target.starts_with("/work")
                || target.starts_with("/proc/")
                || target.starts_with("anon_inode:")
                || target.is_empty(),
            "a descriptor leads to {target:?}: {fds}"
        );
    }
}
attack!(no_host_descriptor_survives);

/// The runner's environment and arguments (which hold the secret) are nowhere to be read, in
/// Python or Node.
fn environment_and_arguments_stay_outside(host: &Host) {
    let python = r#"
import os
print(dict(os.environ))
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["1", "self"]:
    for name in ("environ", "cmdline"):
        try:
            print(pid, name, open(f"/proc/{pid}/{name}", "rb").read())
        except OSError as e:
            print(pid, name, "refused", e.errno)
"#;
    let result = host.succeeds("python", "main.py", python, short(Limits::default()));
    assert!(result.stdout.contains("'PATH'"), "{}", result.stdout);
    let node = r#"
const fs = require("fs");
console.log(JSON.stringify(process.env));
for (const pid of fs.readdirSync("/proc").filter(p => /^\d+$/.test(p)).concat(["1"])) {
  for (const name of ["environ", "cmdline"]) {
    try { console.log(pid, name, fs.readFileSync(`/proc/${pid}/${name}`).toString()); }
    catch (e) { console.log(pid, name, "refused", e.code); }
  }
}
"#;
    host.succeeds("javascript", "main.js", node, short(Limits::default()));
}
attack!(environment_and_arguments_stay_outside);

/// No capability in any set, no_new_privs and the filter on; read-only mounts stay read-only
/// whatever the program tries.
fn no_capabilities_and_locked_mounts(host: &Host) {
    let program = format!(
        r#"
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
for line in open("/proc/self/status"):
    if line.startswith(("Cap", "NoNewPrivs", "Seccomp:", "Uid")):
        print(line.strip())
MS_RDONLY, MS_REMOUNT, MS_BIND = 1, 32, 4096
for target in (b"/usr", b"/etc", b"/"):
    r = libc.mount(None, target, None, MS_REMOUNT | MS_BIND, None)
    print("remount", target, r, ctypes.get_errno())
r = libc.syscall({unshare}, 0x10000000 | 0x20000)  # CLONE_NEWUSER | CLONE_NEWNS
print("unshare", r, ctypes.get_errno())
for path in ("/usr/coderoom-was-here", "/etc/coderoom-was-here", "/coderoom-was-here"):
    try:
        open(path, "w").write("x")
        print("WROTE", path)
    except OSError as e:
        print("cannot write", path, e.errno)
try:
    os.setuid(0)
    print("BECAME ROOT")
except OSError as e:
    print("setuid refused", e.errno)
"#,
        unshare = libc::SYS_unshare
    );
    let result = host.succeeds("python", "main.py", &program, short(Limits::default()));
    let out = &result.stdout;
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            out.contains(&format!("{set}:\t0000000000000000")),
            "{set} is not empty:\n{out}"
        );
    }
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(
        !out.contains("Uid:\t0\t"),
        "the program runs as root inside:\n{out}"
    );
    assert_eq!(out.matches("remount").count(), 3, "{out}");
    for line in out
        .lines()
        .filter(|l| l.starts_with("remount") || l.starts_with("unshare"))
    {
        assert!(line.contains(" -1 "), "allowed: {line}");
    }
    assert!(
        !out.contains("WROTE") && !out.contains("BECAME ROOT"),
        "{out}"
    );
    assert!(!Path::new("/usr/coderoom-was-here").exists());
    assert!(!Path::new("/etc/coderoom-was-here").exists());
}
attack!(no_capabilities_and_locked_mounts);

/// The calls a classroom program never needs are refused (EPERM; clone3 ENOSYS so the C
/// library falls back to clone, whose namespace flags are refused too).
fn dangerous_system_calls_are_refused(host: &Host) {
    let calls = [
        ("ptrace", libc::SYS_ptrace),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("bpf", libc::SYS_bpf),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("kexec_load", libc::SYS_kexec_load),
        ("init_module", libc::SYS_init_module),
        ("open_by_handle_at", libc::SYS_open_by_handle_at),
        ("fsopen", libc::SYS_fsopen),
        ("open_tree", libc::SYS_open_tree),
        ("pidfd_getfd", libc::SYS_pidfd_getfd),
        ("sethostname", libc::SYS_sethostname),
    ];
    let list: Vec<String> = calls
        .iter()
        .map(|(name, number)| format!("(\"{name}\", {number})"))
        .collect();
    let program = format!(
        r#"
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
for name, number in [{list}]:
    ctypes.set_errno(0)
    r = libc.syscall(number, 0, 0, 0, 0, 0)
    print(name, r, ctypes.get_errno())
ctypes.set_errno(0)
r = libc.syscall({clone}, 0x10000000 | 17, 0, 0, 0, 0)  # CLONE_NEWUSER | SIGCHLD
print("clone_newuser", r, ctypes.get_errno())
r = libc.syscall({clone3}, 0, 0)
print("clone3", r, ctypes.get_errno())
r = libc.syscall(0x40000000 | 39)  # x32 getpid
print("x32", r, ctypes.get_errno())
import threading
t = threading.Thread(target=lambda: print("threads still work"))
t.start(); t.join()
import os
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
print("fork still works")
"#,
        list = list.join(", "),
        clone = libc::SYS_clone,
        clone3 = libc::SYS_clone3,
    );
    let result = host.succeeds("python", "main.py", &program, short(Limits::default()));
    let out = &result.stdout;
    for (name, _) in calls {
        assert!(
            out.contains(&format!("{name} -1 {}\n", libc::EPERM)),
            "{name} was not refused:\n{out}"
        );
    }
    assert!(
        out.contains(&format!("clone_newuser -1 {}\n", libc::EPERM)),
        "{out}"
    );
    assert!(
        out.contains(&format!("clone3 -1 {}\n", libc::ENOSYS)),
        "{out}"
    );
    if cfg!(target_arch = "x86_64") {
        assert!(out.contains("x32 -1 "), "{out}");
    }
    assert!(
        out.contains("threads still work") && out.contains("fork still works"),
        "{out}"
    );
}
attack!(dangerous_system_calls_are_refused);

// ---------------------------------------------------------------------------------------------
// The runner trusts nothing from inside.

/// The program writes forged reports naming a host process into every pipe it can find, then
/// hangs; the runner stops it through its own handle and the victim lives.
fn forged_reports_name_no_victim(host: &Host) {
    let mut victim = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("victim process");
    let victim_pid = victim.id() as i32;
    let program = format!(
        r#"
import os, struct, time
victim = {victim_pid}
forged = b"".join(struct.pack("=BBi", tag, 0, victim) for tag in range(0, 10))
for pid in [p for p in os.listdir("/proc") if p.isdigit()] + ["1", "self"]:
    try:
        fds = os.listdir(f"/proc/{{pid}}/fd")
    except OSError:
        continue
    for fd in fds:
        try:
            with open(f"/proc/{{pid}}/fd/{{fd}}", "wb", buffering=0) as f:
                f.write(forged * 100)
        except OSError:
            pass
for fd in range(3, 64):
    try:
        os.write(fd, forged)
    except OSError:
        pass
print("forged", flush=True)
time.sleep(60)
"#
    );
    let limits = Limits {
        wall_seconds: 2,
        ..Limits::default()
    };
    let result = host.run("python", "main.py", &program, limits);
    let alive = victim.try_wait().expect("victim status").is_none();
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(
        alive,
        "the host process named in a forged report was killed"
    );
    assert!(result.stdout.contains("forged"), "{}", result.stdout);
    assert_limit(&result.outcome, LimitHit::WallClock, &result.stderr);
}
attack!(forged_reports_name_no_victim);

// ---------------------------------------------------------------------------------------------
// Memory is a real limit everywhere.

/// Samples the host's available memory while a run goes on: its largest drop.
struct HostMemory {
    done: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

fn available_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|line| line.starts_with("MemAvailable:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

impl HostMemory {
    fn watch() -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let baseline = available_bytes();
        let thread = {
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut lowest = baseline;
                while !done.load(Ordering::SeqCst) {
                    lowest = lowest.min(available_bytes());
                    std::thread::sleep(Duration::from_millis(2));
                }
                baseline.saturating_sub(lowest)
            })
        };
        Self { done, thread }
    }

    fn largest_drop(self) -> u64 {
        self.done.store(true, Ordering::SeqCst);
        self.thread.join().expect("memory watcher")
    }
}

const MEMORY_LIMIT_MIB: u64 = 256;
/// What a run may take beyond its limit on the host: the runtime's own binary and libraries
/// mapped from the page cache, the watchdog's 10 ms between looks at a few GB/s, and the
/// kernel's own bookkeeping. SECURITY.md gives the same figure.
const MEMORY_MARGIN_MIB: u64 = 160;

fn memory_bomb(host: &Host, language: &str, file: &str, program: &str) {
    let limits = Limits {
        memory_mib: MEMORY_LIMIT_MIB,
        wall_seconds: 30,
        cpu_seconds: 30,
        ..Limits::default()
    };
    let watch = HostMemory::watch();
    let started = Instant::now();
    let result = host.run(language, file, program, limits);
    let drop = watch.largest_drop();
    let mib = 1024 * 1024;
    assert_limit(&result.outcome, LimitHit::Memory, &result.stderr);
    assert!(
        drop < (MEMORY_LIMIT_MIB + MEMORY_MARGIN_MIB) * mib,
        "{language}: the host lost {} MiB to a run limited to {MEMORY_LIMIT_MIB} MiB ({:?})",
        drop / mib,
        result.outcome
    );
    assert!(
        result.outcome.peak_memory_bytes < (MEMORY_LIMIT_MIB + MEMORY_MARGIN_MIB) * mib,
        "{:?}",
        result.outcome
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "{:?}",
        started.elapsed()
    );
    eprintln!(
        "{language}: memory mode {:?}, peak {} MiB, host drop {} MiB",
        result.outcome.memory_mode,
        result.outcome.peak_memory_bytes / mib,
        drop / mib
    );
}

/// Python lists of fresh strings, each written to.
fn python_lists_hit_the_memory_limit(host: &Host) {
    memory_bomb(
        host,
        "python",
        "main.py",
        "chunks = []\nwhile True:\n    chunks.append(bytearray(b'x' * (4 << 20)))\n",
    );
}
attack!(python_lists_hit_the_memory_limit);

/// Several Python processes together: the limit is the whole run's, not each process's.
fn python_processes_share_one_memory_limit(host: &Host) {
    memory_bomb(
        host,
        "python",
        "main.py",
        "import os, time\nfor _ in range(4):\n    if os.fork() == 0:\n        block = bytearray(b'x' * (100 << 20))\n        time.sleep(5)\n        os._exit(0)\nfor _ in range(4):\n    os.wait()\nprint('done')\n",
    );
}
attack!(python_processes_share_one_memory_limit);

/// Node Buffers live outside V8's heap, so V8's own cap does not hold them.
fn node_buffers_hit_the_memory_limit(host: &Host) {
    memory_bomb(
        host,
        "javascript",
        "main.js",
        "const chunks = [];\nwhile (true) chunks.push(Buffer.alloc(4 << 20, 1));\n",
    );
}
attack!(node_buffers_hit_the_memory_limit);

/// Node strings and arrays in V8's heap.
fn node_strings_hit_the_memory_limit(host: &Host) {
    memory_bomb(
        host,
        "javascript",
        "main.js",
        "const chunks = [];\nlet i = 0;\nwhile (true) chunks.push('x'.repeat(1 << 20) + (i++));\n",
    );
}
attack!(node_strings_hit_the_memory_limit);

/// C# arrays, each touched so the memory is real.
fn csharp_arrays_hit_the_memory_limit(host: &Host) {
    memory_bomb(
        host,
        "csharp",
        "Program.cs",
        "using System.Collections.Generic;\n\nvar chunks = new List<byte[]>();\nwhile (true) { var b = new byte[4 << 20]; for (int i = 0; i < b.Length; i += 4096) b[i] = 1; chunks.Add(b); }\n",
    );
}
attack!(csharp_arrays_hit_the_memory_limit);

// ---------------------------------------------------------------------------------------------
// Every limit named.

fn fork_bomb_is_named(host: &Host) {
    let program = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(0.01)\n";
    let limits = Limits {
        wall_seconds: 3,
        ..Limits::default()
    };
    let result = host.run("python", "main.py", program, limits);
    assert_limit(&result.outcome, LimitHit::Processes, &result.stderr);
    assert!(
        result
            .outcome
            .summary(&limits)
            .starts_with("your program tried to start more than 64 processes"),
        "{}",
        result.outcome.summary(&limits)
    );
}
attack!(fork_bomb_is_named);

fn thread_bomb_is_named(host: &Host) {
    let program = "import threading, time\nthreads = []\ntry:\n    while True:\n        t = threading.Thread(target=time.sleep, args=(5,), daemon=True)\n        t.start()\n        threads.append(t)\nexcept RuntimeError as e:\n    print('stopped at', len(threads), e)\n";
    let result = host.run("python", "main.py", program, short(Limits::default()));
    assert!(result.stdout.contains("stopped at"), "{}", result.stderr);
    assert_limit(&result.outcome, LimitHit::Processes, &result.stderr);
    // The cap is exact: with 8 allowed, the program (its main thread) starts 7 more.
    let limits = short(Limits {
        processes: 8,
        ..Limits::default()
    });
    let result = host.run("python", "main.py", program, limits);
    assert!(
        result.stdout.starts_with("stopped at 7 "),
        "{}{}",
        result.stdout,
        result.stderr
    );
    assert_limit(&result.outcome, LimitHit::Processes, &result.stderr);
}
attack!(thread_bomb_is_named);

/// What a class does every day stays well inside the defaults: 20 threads, deep recursion.
fn ordinary_programs_are_not_limited(host: &Host) {
    let threads = "import threading\nresults = []\nthreads = [threading.Thread(target=lambda i=i: results.append(sum(range(i * 1000)))) for i in range(20)]\nfor t in threads: t.start()\nfor t in threads: t.join()\nprint(len(results))\n";
    let result = host.succeeds("python", "main.py", threads, short(Limits::default()));
    assert_eq!(result.stdout, "20\n");
    let recursion = "import sys\nsys.setrecursionlimit(20000)\ndef depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\nprint(depth(15000))\n";
    let result = host.succeeds("python", "main.py", recursion, short(Limits::default()));
    assert_eq!(result.stdout, "15000\n");
    let node = "function depth(n) { return n === 0 ? 0 : 1 + depth(n - 1); }\nconsole.log(depth(8000));\nconst { Worker } = require('worker_threads');\nlet done = 0;\nfor (let i = 0; i < 4; i++) new Worker('1', { eval: true }).on('exit', () => { if (++done === 4) console.log('workers done'); });\n";
    let result = host.succeeds("javascript", "main.js", node, short(Limits::default()));
    assert_eq!(result.stdout, "8000\nworkers done\n");
}
attack!(ordinary_programs_are_not_limited);

/// Python ignores SIGXFSZ: the kernel cuts the write at the limit and answers EFBIG.
fn file_size_limit_is_named(host: &Host) {
    let python =
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'x' * 65536)\n";
    let limits = short(Limits {
        file_size_mib: 4,
        ..Limits::default()
    });
    let result = host.run("python", "main.py", python, limits);
    assert!(
        result.stderr.contains("File too large"),
        "{}",
        result.stderr
    );
    assert_limit(&result.outcome, LimitHit::FileSize, &result.stderr);
    // Node does not ignore it: SIGXFSZ ends it.
    let node = "const fs = require('fs');\nconst fd = fs.openSync('/tmp/big.bin', 'w');\nconst chunk = Buffer.alloc(65536, 120);\nwhile (true) fs.writeSync(fd, chunk);\n";
    let result = host.run("javascript", "main.js", node, limits);
    assert_limit(&result.outcome, LimitHit::FileSize, &result.stderr);
}
attack!(file_size_limit_is_named);

/// The program's disk (tmpfs) fills up with files each under the size limit.
fn full_disk_is_named(host: &Host) {
    let program = "import os\ni = 0\ntry:\n    while True:\n        with open(f'/work/part{i}.bin', 'wb') as f:\n            f.write(os.urandom(1 << 20))\n        i += 1\nexcept OSError as e:\n    print('stopped after', i, 'MB:', e.strerror)\n";
    let limits = short(Limits {
        work_dir_mib: 8,
        ..Limits::default()
    });
    let result = host.run("python", "main.py", program, limits);
    assert!(result.stdout.contains("No space left"), "{}", result.stdout);
    assert_limit(&result.outcome, LimitHit::Disk, &result.stderr);
}
attack!(full_disk_is_named);

/// Output with no newline at all is still counted, cut, and the program stopped.
fn output_without_newlines_is_cut(host: &Host) {
    let program = "import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n";
    let limits = short(Limits::default());
    let result = host.run("python", "main.py", program, limits);
    assert_limit(&result.outcome, LimitHit::Output, &result.stderr);
    assert!(result.stdout.len() as u64 <= limits.output_bytes);
    assert!(!result.stdout.contains('\n'));
}
attack!(output_without_newlines_is_cut);

fn endless_loop_is_named(host: &Host) {
    let limits = Limits {
        cpu_seconds: 1,
        ..short(Limits::default())
    };
    let result = host.run("javascript", "main.js", "while (true) {}\n", limits);
    assert_limit(&result.outcome, LimitHit::CpuTime, &result.stderr);
}
attack!(endless_loop_is_named);
