//! The system calls a classroom program never needs, refused by a seccomp filter built with
//! `seccompiler` before the fork and installed just before the program's `execve`.
//!
//! It is a deny list on purpose: Python, Node, Mono and .NET use a wide and changing set of calls,
//! and what matters here is that nothing reaches the kernel's attack surface for escaping the
//! namespaces (new namespaces, mounts, ptrace and other processes' memory, keyrings, BPF,
//! perf, io_uring, modules, the clock, the terminal's input queue).

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule,
};

use crate::RunnerError;

/// Calls refused with EPERM whatever their arguments.
const REFUSED: &[i64] = &[
    // Other processes: tracing, their memory, their descriptors.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kcmp,
    libc::SYS_pidfd_getfd,
    // Namespaces and mounts.
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_open_tree,
    libc::SYS_move_mount,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    // Kernel interfaces with a record of escapes.
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_fanotify_init,
    // The machine itself.
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_syslog,
    libc::SYS_acct,
    libc::SYS_quotactl,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_clock_adjtime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_vhangup,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_uselib,
];

/// `clone` flags that make namespaces.
const NAMESPACE_FLAGS: [u64; 8] = [
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
    0x80, // CLONE_NEWTIME
];

/// `ioctl` requests that push input into a terminal or reach the console.
#[allow(clippy::unnecessary_cast)] // c_ulong with glibc, c_int with musl.
const REFUSED_IOCTLS: [u64; 2] = [libc::TIOCSTI as u64, libc::TIOCLINUX as u64];

fn build_error(error: impl std::fmt::Display) -> RunnerError {
    RunnerError::Sandbox {
        step: "building the system-call filter",
        reason: error.to_string(),
    }
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, RunnerError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value).map_err(build_error)
}

fn rule(conditions: Vec<SeccompCondition>) -> Result<SeccompRule, RunnerError> {
    SeccompRule::new(conditions).map_err(build_error)
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    action: SeccompAction,
) -> Result<BpfProgram, RunnerError> {
    let arch = std::env::consts::ARCH.try_into().map_err(build_error)?;
    let filter =
        SeccompFilter::new(rules, SeccompAction::Allow, action, arch).map_err(build_error)?;
    filter.try_into().map_err(build_error)
}

/// x86_64 also accepts the x32 ABI's calls (numbers with bit 30 set) under the same
/// architecture tag; a deny list by number would miss them, so they are all refused first.
fn refuse_x32(mut program: BpfProgram) -> BpfProgram {
    if cfg!(target_arch = "x86_64") {
        const X32_SYSCALL_BIT: u32 = 0x4000_0000;
        let prefix = [
            // A = seccomp_data.nr
            sock_filter {
                code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
                jt: 0,
                jf: 0,
                k: 0,
            },
            // if A >= X32_SYSCALL_BIT: next, else skip one
            sock_filter {
                code: (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16,
                jt: 0,
                jf: 1,
                k: X32_SYSCALL_BIT,
            },
            sock_filter {
                code: (libc::BPF_RET | libc::BPF_K) as u16,
                jt: 0,
                jf: 0,
                k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            },
        ];
        program.splice(0..0, prefix);
    }
    program
}

/// The filters to install, in order.
pub(crate) fn filters() -> Result<Vec<BpfProgram>, RunnerError> {
    let mut refused: BTreeMap<i64, Vec<SeccompRule>> =
        REFUSED.iter().map(|&call| (call, Vec::new())).collect();
    refused.insert(
        libc::SYS_clone,
        NAMESPACE_FLAGS
            .iter()
            .map(|&flag| rule(vec![condition(0, SeccompCmpOp::MaskedEq(flag), flag)?]))
            .collect::<Result<_, _>>()?,
    );
    refused.insert(
        libc::SYS_ioctl,
        REFUSED_IOCTLS
            .iter()
            .map(|&request| {
                rule(vec![condition(
                    1,
                    SeccompCmpOp::MaskedEq(0xffff_ffff),
                    request,
                )?])
            })
            .collect::<Result<_, _>>()?,
    );
    let refused = refuse_x32(compile(refused, SeccompAction::Errno(libc::EPERM as u32))?);
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes the C library fall
    // back to clone, whose flags the filter above sees.
    let clone3 = compile(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    Ok(vec![refused, clone3])
}

/// Installs one filter on the calling thread, setting `no_new_privs` first. Safe after a fork
/// in a threaded process: seccompiler's `apply_filter` makes two system calls on the prepared
/// program and allocates nothing when they succeed.
pub(crate) fn install(program: &BpfProgram) -> nix::Result<()> {
    seccompiler::apply_filter(program).map_err(|error| match error {
        seccompiler::Error::Prctl(error) | seccompiler::Error::Seccomp(error) => error
            .raw_os_error()
            .map(nix::errno::Errno::from_raw)
            .unwrap_or(nix::errno::Errno::EINVAL),
        _ => nix::errno::Errno::EINVAL,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filters_build_for_this_machine() {
        let filters = filters().expect("filters");
        assert_eq!(filters.len(), 2);
        assert!(filters
            .iter()
            .all(|program| !program.is_empty() && program.len() < 4096));
    }
}
