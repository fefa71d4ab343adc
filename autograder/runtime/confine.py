"""Kernel confinement of the worker, applied by the worker itself before any learner code is imported.

The worker calls `confine(plan)` first thing in its boot, while it is still single-threaded (no torch
yet), with a plan the grader wrote (`autograder.sandbox.write_plan`). In order:

1. **namespaces** (`unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)`, unprivileged): a network
   namespace with no interface, and a mount namespace in which a size-limited tmpfs is mounted over the
   worker's home, its only writable folder, and an empty read-only one over each instructor folder
   in the plan (the checkout), so those files do not even exist for learner code, which also
   protects them on kernels that have user namespaces but no Landlock. The user namespace maps only
   the worker's own uid and gid.
2. **capabilities**: the bounding, ambient, inheritable, permitted and effective sets are emptied
   (the namespace step grants all capabilities inside it; a root grader's worker starts with all of them).
3. **Landlock** (the ABI the kernel offers, 1 to 7): read-only access to exactly the paths in the plan
   (interpreter, standard library, the allowed site-packages entries by their real paths, shared
   libraries, the runtime copy, the private submission copy, the GPT-2 cache), read-write only in the
   scratch folder, no execute anywhere; TCP bind/connect denied (ABI >= 4); signals and abstract unix
   sockets scoped to the worker's own domain (ABI >= 6). A Landlock domain also refuses ptrace of, and
   /proc/<pid>/mem access to, every process outside it (the grader, other students' workers).
4. **seccomp** (a BPF filter, after `PR_SET_NO_NEW_PRIVS`): no new process (fork, vfork, clone
   without CLONE_THREAD; clone3 answers ENOSYS so glibc falls back to clone for threads), no execve,
   no socket at all, no ptrace/process_vm_*, no mount/unshare/setns/bpf/perf_event_open/keyctl/
   io_uring and the like, signals only to the worker itself; the architecture is checked. With no
   second process possible, RLIMIT_AS caps all the memory learner code can hold, and nothing outlives
   the worker: its threads die with it.

Why this way, and not a library: the runtime must stay standard library + torch (it runs beside
learner code and ships in the learner's kit), and every mechanism here is a few syscalls. The PyPI
`landlock` package (1.0.0.dev5) wraps the same three Landlock syscalls through ctypes but is a
pre-release that knows fewer ABI versions; `pyseccomp` binds libseccomp (a C library that may not be
installed, and a binding to build); nsjail is a setuid-free but separate C++ binary to ship and
configure. The filters below are small enough to read in full, and each mechanism degrades on its own:
where the kernel lacks one (old kernel, Landlock off, user namespaces disabled, not Linux) the others
still apply, and `confine` returns which were active and which were missing, with the reason; the
grader puts that in the report. Kernel exploits are out of scope.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys
from typing import Any

# -- syscalls and constants ------------------------------------------------------------------
_MACHINE = platform.machine()
_X86_64, _AARCH64 = _MACHINE in ("x86_64", "AMD64"), _MACHINE in ("aarch64", "arm64")
NR_LANDLOCK_CREATE_RULESET, NR_LANDLOCK_ADD_RULE, NR_LANDLOCK_RESTRICT_SELF = 444, 445, 446  # every arch
NR_UNSHARE = 272 if _X86_64 else 97
NR_CAPGET, NR_CAPSET = (125, 126) if _X86_64 else (90, 91)
NR_SECCOMP = 317 if _X86_64 else 277

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, CLONE_THREAD = 0x00020000, 0x10000000, 0x40000000, 0x00010000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x1, 0x2, 0x4, 0x8, 0x4000, 0x40000
PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 4, 38, 24, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC = 1, 1
LINUX_CAPABILITY_VERSION_3 = 0x20080522
CAP_LAST_CAP_FALLBACK = 40  # CAP_CHECKPOINT_RESTORE (Linux 5.9); newer kernels publish theirs in /proc

# Landlock access rights, by the ABI version that introduced them
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_REMOVE_DIR, FS_REMOVE_FILE, FS_MAKE_CHAR, FS_MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
FS_MAKE_REG, FS_MAKE_SOCK, FS_MAKE_FIFO, FS_MAKE_BLOCK, FS_MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV  # all a file rule may hold
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
RULE_PATH_BENEATH = 1
CREATE_RULESET_VERSION = 1 << 0

READ = FS_READ_FILE | FS_READ_DIR
SCRATCH = (READ | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_TRUNCATE
           | FS_REFER)

# seccomp
AUDIT_ARCH = 0xC000003E if _X86_64 else 0xC00000B7  # AUDIT_ARCH_X86_64 / AUDIT_ARCH_AARCH64
RET_ALLOW, RET_KILL_PROCESS, RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
LD_W_ABS, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
X32_SYSCALL_BIT = 0x40000000

# syscalls learner code never needs; each answers EPERM (x86_64 / aarch64 numbers; None: absent there)
DENIED = {
    "fork": (57, None), "vfork": (58, None), "execve": (59, 221), "execveat": (322, 281),
    "socket": (41, 198), "socketpair": (53, 199), "ptrace": (101, 117),
    "process_vm_readv": (310, 270), "process_vm_writev": (311, 271), "kcmp": (312, 272),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "unshare": (272, 97), "setns": (308, 268), "open_tree": (428, 428), "move_mount": (429, 429),
    "fsopen": (430, 430), "fsconfig": (431, 431), "fsmount": (432, 432), "fspick": (433, 433),
    "mount_setattr": (442, 442), "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "keyctl": (250, 219), "add_key": (248, 217), "request_key": (249, 218),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "pidfd_open": (434, 434), "pidfd_getfd": (438, 438), "pidfd_send_signal": (424, 424),
    "open_by_handle_at": (304, 265), "name_to_handle_at": (303, 264), "fanotify_init": (300, 262),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294), "init_module": (175, 105),
    "finit_module": (313, 273), "delete_module": (176, 106), "reboot": (169, 142), "swapon": (167, 224),
    "swapoff": (168, 225), "acct": (163, 89), "quotactl": (179, 60), "iopl": (172, None), "ioperm": (173, None),
}
# (name, x86_64, aarch64, index of the pid argument): allowed only when that pid is the worker's own
SELF_ONLY = [("kill", 62, 129, 0), ("tkill", 200, 130, 0), ("tgkill", 234, 131, 0),
             ("rt_sigqueueinfo", 129, 138, 0), ("rt_tgsigqueueinfo", 297, 240, 0)]
NR_CLONE, NR_CLONE3 = (56 if _X86_64 else 220), 435

_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.syscall.restype = ctypes.c_long
    return _libc


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def _syscall(nr: int, *args: Any) -> int:
    return _c().syscall(ctypes.c_long(nr), *args)


def _prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _c().prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3),
                      ctypes.c_ulong(arg4), ctypes.c_ulong(arg5))


def supported() -> str | None:
    """Why this machine cannot confine at all (None on Linux x86_64/aarch64)."""
    if not sys.platform.startswith("linux"):
        return f"kernel confinement needs Linux (this is {sys.platform})"
    if not (_X86_64 or _AARCH64):
        return f"kernel confinement is written for x86_64 and aarch64 (this is {_MACHINE})"
    return None


# -- the grader's own protection --------------------------------------------------------------
def make_undumpable() -> str | None:
    """PR_SET_DUMPABLE 0 for this process: other processes of the same user can no longer read its
    /proc/<pid>/environ or mem, nor ptrace it. Returns why not, or None."""
    if supported():
        return supported()
    if _prctl(PR_SET_DUMPABLE, 0) != 0:
        return f"prctl(PR_SET_DUMPABLE, 0) failed: {os.strerror(ctypes.get_errno())}"
    return None


# -- 1. namespaces ----------------------------------------------------------------------------
def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    c = _c()
    c.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _check(c.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                   data.encode() if data else None), f"mount {fstype or 'MS_PRIVATE'} on {target}")


def enter_namespaces(scratch: str, scratch_mb: int, hide: list[str]) -> tuple[list[str], list[str]]:
    """Fresh user, mount and network namespaces; a tmpfs of `scratch_mb` MiB over `scratch`, an
    empty read-only one over each folder in `hide`.

    Returns (what worked, what is missing and why); raises OSError when the user namespace itself is
    refused (user namespaces disabled), so the caller reports all of it missing.
    """
    uid, gid = os.geteuid(), os.getegid()
    _check(_syscall(NR_UNSHARE, ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET)), "unshare")
    # only our own ids are mapped: the worker is the same user inside as outside, never more
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{uid} {uid} 1\n")
    _write("/proc/self/gid_map", f"{gid} {gid} 1\n")
    try:
        _mount("none", "/", None, MS_REC | MS_PRIVATE, None)  # nothing we mount propagates out
        _mount("scratch", scratch, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, f"size={scratch_mb}m,mode=0700")
        os.chdir(scratch)  # the old cwd is the folder under the mount
    except OSError as exc:
        return ["userns", "netns", "mountns"], [f"tmpfs scratch of {scratch_mb} MiB: {exc}"]
    done, failed = ["userns", "netns", "mountns", f"tmpfs-scratch({scratch_mb} MiB)"], []
    try:
        for folder in hide:
            if os.path.isdir(folder):
                _mount("hidden", folder, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0555")
        if hide:
            done.append(f"instructor-folders-hidden({len(hide)})")
    except OSError as exc:
        failed.append(f"hiding the instructor folders: {exc}")
    return done, failed


# -- 2. capabilities --------------------------------------------------------------------------
def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return CAP_LAST_CAP_FALLBACK


def drop_capabilities() -> None:
    """Empty every capability set (bounding first: that needs CAP_SETPCAP, which capset then removes)."""
    for cap in range(_last_cap() + 1):
        if _prctl(PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.EPERM):
            raise OSError(ctypes.get_errno(), f"PR_CAPBSET_DROP {cap}")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)  # EINVAL before Linux 4.3: nothing to clear then
    header = struct.pack("Ii", LINUX_CAPABILITY_VERSION_3, 0)
    data = bytes(24)  # two (effective, permitted, inheritable) triples of zeros
    _check(_syscall(NR_CAPSET, ctypes.c_char_p(header), ctypes.c_char_p(data)), "capset")


def effective_capabilities() -> int:
    header = ctypes.create_string_buffer(struct.pack("Ii", LINUX_CAPABILITY_VERSION_3, 0), 8)
    data = ctypes.create_string_buffer(24)
    _check(_syscall(NR_CAPGET, header, data), "capget")
    eff0, _, _, eff1, _, _ = struct.unpack("6I", data.raw)
    return eff0 | eff1 << 32


# -- 3. Landlock ------------------------------------------------------------------------------
def landlock_abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    if supported():
        return 0
    version = _syscall(NR_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _add_path(ruleset: int, path: str, access: int, handled: int) -> bool:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False  # a path that does not exist needs no rule
    try:
        if not os.path.isdir(path):
            access &= FILE_RIGHTS
        attr = struct.pack("=Qi", access & handled, fd)
        _check(_syscall(NR_LANDLOCK_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(RULE_PATH_BENEATH),
                        ctypes.c_char_p(attr), ctypes.c_uint32(0)), f"landlock_add_rule {path}")
    finally:
        os.close(fd)
    return True


def apply_landlock(abi: int, read: list[str], read_write: list[str]) -> list[str]:
    """Restrict this process (and its future threads) to `read` and `read_write`; returns what was applied."""
    handled = FS_BY_ABI.get(abi, FS_BY_ABI[5])
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("QQQ", handled, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    ruleset = _check(_syscall(NR_LANDLOCK_CREATE_RULESET, ctypes.c_char_p(attr), ctypes.c_size_t(len(attr)),
                              ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        for path in read:
            _add_path(ruleset, path, READ, handled)
        for path in read_write:
            _add_path(ruleset, path, SCRATCH, handled)
        _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "PR_SET_NO_NEW_PRIVS")
        _check(_syscall(NR_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(ruleset)
    applied = [f"landlock-fs(abi {abi})"]
    if net:
        applied.append("landlock-net")
    if scoped:
        applied.append("landlock-scope-signal-and-abstract-unix")
    return applied


# -- 4. seccomp -------------------------------------------------------------------------------
def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def seccomp_program(pid: int) -> bytes:
    """The filter: arch check, then one test per syscall rule, then allow."""
    arch_index = 0 if _X86_64 else 1
    eperm, enosys = RET_ERRNO | errno.EPERM, RET_ERRNO | errno.ENOSYS
    prog = [_insn(LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
            _insn(JEQ_K, 1, 0, AUDIT_ARCH),
            _insn(RET_K, 0, 0, RET_KILL_PROCESS),  # a foreign ABI (e.g. i386 on x86_64) bypasses the numbers below
            _insn(LD_W_ABS, 0, 0, 0)]  # seccomp_data.nr
    if _X86_64:  # the x32 ABI shares AUDIT_ARCH_X86_64 with numbers offset by this bit
        prog += [_insn(JGE_K, 0, 1, X32_SYSCALL_BIT), _insn(RET_K, 0, 0, eperm)]
    ruled = [n[arch_index] for n in DENIED.values() if n[arch_index] is not None]
    ruled += [NR_CLONE, NR_CLONE3] + [x86 if _X86_64 else arm for _, x86, arm, _ in SELF_ONLY]
    # below the smallest number with a rule (read, write, mmap, ... on x86_64): allowed at once
    prog += [_insn(JGE_K, 1, 0, min(ruled)), _insn(RET_K, 0, 0, RET_ALLOW)]
    for numbers in DENIED.values():
        nr = numbers[arch_index]
        if nr is not None:
            prog += [_insn(JEQ_K, 0, 1, nr), _insn(RET_K, 0, 0, eperm)]
    prog += [_insn(JEQ_K, 0, 1, NR_CLONE3), _insn(RET_K, 0, 0, enosys)]  # glibc then uses clone for threads
    # clone: flags are the first argument on both architectures; a thread carries CLONE_THREAD
    prog += [_insn(JEQ_K, 0, 4, NR_CLONE), _insn(LD_W_ABS, 0, 0, 16),
             _insn(JSET_K, 0, 1, CLONE_THREAD), _insn(RET_K, 0, 0, RET_ALLOW), _insn(RET_K, 0, 0, eperm)]
    for name, x86, arm, arg in SELF_ONLY:
        nr = x86 if _X86_64 else arm
        low = 16 + 8 * arg  # the low 32 bits of the pid argument (pid_t is 32 bits)
        zero_ok = name == "kill"  # kill(0, sig): the worker's own process group, which holds only itself
        prog += [_insn(JEQ_K, 0, 5, nr), _insn(LD_W_ABS, 0, 0, low),
                 _insn(JEQ_K, 2, 0, pid), _insn(JEQ_K, 1 if zero_ok else 0, 0, 0 if zero_ok else 0xFFFFFFFF),
                 _insn(RET_K, 0, 0, eperm), _insn(RET_K, 0, 0, RET_ALLOW)]
    prog.append(_insn(RET_K, 0, 0, RET_ALLOW))
    return b"".join(prog)


def apply_seccomp() -> list[str]:
    code = seccomp_program(os.getpid())
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HxxxxxxP", len(code) // 8, ctypes.addressof(buf))
    _check(_prctl(PR_SET_NO_NEW_PRIVS, 1), "PR_SET_NO_NEW_PRIVS")
    # TSYNC: every thread gets the filter (there is only one now; this makes sure)
    _check(_syscall(NR_SECCOMP, ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),
                    ctypes.c_char_p(fprog)), "seccomp")
    return ["seccomp"]


# -- all of it --------------------------------------------------------------------------------
def confine(plan: dict[str, Any]) -> dict[str, Any]:
    """Apply every mechanism the plan asks for that the kernel offers.

    `plan` keys: read (paths), scratch (the writable folder), scratch_mb, hide (instructor folders
    to cover), and optionally skip (mechanism names not to apply: namespaces, capabilities,
    landlock, seccomp; for tests and debugging, and then reported missing). Returns {"active": [...], "missing": [...]}:
    a missing entry says which protection is absent and why.
    """
    skip = set(plan.get("skip", ()))
    active: list[str] = []
    missing: list[str] = []
    why_not = supported()
    if why_not:
        return {"active": active, "missing": [f"all kernel confinement: {why_not}"]}
    scratch = plan["scratch"]
    try:  # unshare(CLONE_NEWUSER) and Landlock act on a single thread: nothing may have started another yet
        threads = len(os.listdir("/proc/self/task"))
    except OSError:
        threads = 1
    if threads != 1:
        missing.append(f"confinement started with {threads} threads: the others are not confined")
    missing += [f"{name}: left out on request (SCRATCHGRAD_CONFINE_SKIP)" for name in sorted(skip)]
    if "namespaces" not in skip:
        try:
            done, failed = enter_namespaces(scratch, int(plan.get("scratch_mb", 64)), list(plan.get("hide", [])))
            active += done
            missing += failed
        except OSError as exc:
            missing.append(f"namespaces (network, mount, size-limited scratch): {exc}")
    if "capabilities" not in skip:
        try:
            drop_capabilities()
            active.append("no-capabilities")
        except OSError as exc:
            missing.append(f"dropping capabilities: {exc}")
    abi = landlock_abi() if "landlock" not in skip else 0
    if abi:
        try:
            active += apply_landlock(abi, list(plan["read"]), [scratch])
            if abi < 4:
                missing.append(f"landlock-net: Landlock ABI {abi} < 4 (TCP stays blocked by seccomp and the netns)")
            if abi < 6:
                missing.append(f"landlock-scope: Landlock ABI {abi} < 6 (signals limited by seccomp instead)")
        except OSError as exc:
            missing.append(f"landlock (filesystem, network, signal scope): {exc}")
    elif "landlock" not in skip:
        missing.append("landlock (filesystem, network, signal scope): not offered by this kernel")
    if "seccomp" not in skip:
        try:
            active += apply_seccomp()
        except OSError as exc:
            missing.append(f"seccomp (no new processes, sockets, ptrace): {exc}")
    return {"active": active, "missing": missing}
