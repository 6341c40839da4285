"""The ``mountns`` sandbox level's init: run as PID 1 of fresh mount, network, PID, IPC and UTS namespaces.

Started by :mod:`wheelmeta.sdist.sandbox` as ``unshare --mount --net --pid --ipc --uts --fork --kill-child
--mount-proc python -I -S mountns.py SPEC -- ARGV...`` (root only: without a user namespace, mounting needs
CAP_SYS_ADMIN). ``unshare`` has made every mount private, so nothing done here is seen outside. It then:

1. remounts every mount a path reaches read-only (``/``, ``/proc``, ``/sys`` with its cgroup trees, ...);
2. replaces ``/dev`` with a tmpfs holding only ``null``, ``zero``, ``full``, ``random``, ``urandom``, ``tty``
   and a private ``/dev/shm`` (a read-only mount does not stop writes to a device node such as the disk);
3. hides the masked folders (``/tmp``, ``/var/tmp``, ``/run``, the caller's home) behind private size-capped
   tmpfs mounts;
4. binds back what must stay visible: the tree and SPEC's writable folders read-write, the interpreter's folders
   below a masked one read-only;
5. drops every capability for good (bounding set emptied, ``SECBIT_NOROOT`` locked, no new privileges), so the
   child, though uid 0, cannot remount anything or pass a file's owner check by capability;
6. forks ARGV and reaps until it exits, then exits with its status (128+N for a signal, as bwrap reports).
   When this process exits, the kernel kills everything left in the PID namespace.

SPEC is JSON: ``{"tree": str, "writable": [str], "read_only": [str], "masked": [str], "tmpfs_bytes": int}``.
Only the standard library: this runs under ``-I -S`` before anything of the project is importable.
"""

import ctypes
import errno
import json
import os
import stat
import sys

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_NOATIME, MS_NODIRATIME, MS_RELATIME = 32, 4096, 1024, 2048, 1 << 21
_KEPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 24, 28, 38, 47
SECBIT_NOROOT, SECBIT_NOROOT_LOCKED, SECBIT_NO_CAP_AMBIENT_RAISE, SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED = 1, 2, 64, 128
DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9), "tty": (5, 0)}

_libc = ctypes.CDLL(None, use_errno=True)


class SetupFailed(Exception):
    """A step of the namespace set-up failed: the run must not start half-contained."""


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise SetupFailed(f"{what}: {os.strerror(code)}")


def _bytes(text):
    return None if text is None else os.fsencode(text)


def mount(source, target, fstype, flags, data=None):
    _check(_libc.mount(_bytes(source), _bytes(target), _bytes(fstype), ctypes.c_ulong(flags), _bytes(data)),
           f"mount {source or fstype or ''} on {target}")


def prctl(option, arg2, what):
    _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0)),
           what)


def _unescape(field):
    """mountinfo writes space, tab, newline and backslash in paths as octal escapes."""
    return field.encode().decode("unicode_escape").encode("latin-1").decode("utf-8", "surrogateescape")


def visible_mounts():
    """(mount point, per-mount flags to keep) for every mount of this namespace that its path reaches.

    A mount is hidden when another covers its point or a folder above it (``--mount-proc`` covers the host's
    ``/proc`` and with it ``/proc/sys/fs/binfmt_misc``): a remount by path would act on the covering mount, and
    nothing can reach the hidden one anyway. Which mount a path reaches is the ``mnt_id`` of a descriptor on it."""
    out = []
    with open("/proc/self/mountinfo") as info:
        for line in info:
            fields = line.split()
            point = _unescape(fields[4])
            if reached_mount_id(point) != int(fields[0]):
                continue
            kept = 0
            for option in fields[5].split(","):
                kept |= _KEPT_FLAGS.get(option, 0)
            out.append((point, kept))
    return out


def reached_mount_id(path):
    """The id of the mount ``path`` resolves into (None where it does not resolve)."""
    try:
        fd = os.open(path, getattr(os, "O_PATH", os.O_RDONLY) | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        with open(f"/proc/self/fdinfo/{fd}") as fdinfo:
            for line in fdinfo:
                if line.startswith("mnt_id:"):
                    return int(line.split()[1])
    finally:
        os.close(fd)
    return None


def remount_everything_read_only():
    """Every reachable mount read-only; one that refuses stops the run (fail closed)."""
    for point, kept in visible_mounts():
        mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def private_tmpfs(target, size, mode, flags=MS_NOSUID | MS_NODEV):
    mount("tmpfs", target, "tmpfs", flags, f"size={size},mode={mode:o}")


def private_dev(tmpfs_bytes):
    private_tmpfs("/dev", 1 << 20, 0o755, MS_NOSUID | MS_NOEXEC)
    for name, (major, minor) in sorted(DEVICES.items()):
        os.mknod("/dev/" + name, stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod("/dev/" + name, 0o666)  # mknod's mode is cut by the umask
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):
        os.symlink(target, "/dev/" + name)
    os.mkdir("/dev/shm")
    private_tmpfs("/dev/shm", tmpfs_bytes, 0o1777)


def bind_back(kept, writable):
    """``kept``: path -> O_PATH descriptor opened before anything was hidden."""
    for path, fd in kept:
        source = f"/proc/self/fd/{fd}"
        if not os.path.lexists(path) and os.path.isdir(source):  # below a fresh tmpfs now: make the mount point
            os.makedirs(path)
        elif not os.path.lexists(path):
            open(path, "a").close()
        mount(source, path, None, MS_BIND)
        # a bind copies the read-only flag of the mount it comes from: set the intended one explicitly
        flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (0 if path in writable else MS_RDONLY)
        mount(None, path, None, flags)


def drop_all_capabilities():
    bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED
    prctl(PR_SET_SECUREBITS, bits, "lock out root's capabilities")
    prctl(PR_CAP_AMBIENT, 4, "clear the ambient capabilities")  # PR_CAP_AMBIENT_CLEAR_ALL
    with open("/proc/sys/kernel/cap_last_cap") as last:
        for cap in range(int(last.read()) + 1):
            prctl(PR_CAPBSET_DROP, cap, f"drop capability {cap}")
    prctl(PR_SET_NO_NEW_PRIVS, 1, "forbid new privileges")


def set_up(spec):
    tree, writable = spec["tree"], set([spec["tree"]] + spec["writable"])
    paths = [p for p in spec["read_only"] if p not in writable] + [spec["tree"]] + spec["writable"]
    kept = [(path, os.open(path, getattr(os, "O_PATH", os.O_RDONLY) | os.O_CLOEXEC)) for path in paths]
    remount_everything_read_only()
    private_dev(spec["tmpfs_bytes"])
    for folder in spec["masked"]:
        private_tmpfs(folder, spec["tmpfs_bytes"], 0o1777 if folder in ("/tmp", "/var/tmp") else 0o755)
    bind_back(kept, writable)
    mount(None, "/dev", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC)
    for _, fd in kept:
        os.close(fd)
    os.chdir(tree)
    drop_all_capabilities()


def run(argv):
    """Fork ARGV (not PID 1 itself: an init ignores the signals it has no handler for) and reap until it exits."""
    child = os.fork()
    if child == 0:
        try:
            os.execvp(argv[0], argv)
        except OSError as error:
            sys.stderr.write(f"wheelmeta mountns: cannot run {argv[0]}: {error}\n")
            os._exit(127)
    while True:
        try:
            pid, status = os.wait()
        except OSError as error:
            if error.errno == errno.EINTR:
                continue
            raise
        if pid == child:
            return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def main(args):
    spec, argv = json.loads(args[0]), args[2:]
    _libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0)  # unshare, our parent, gone: the whole namespace goes
    try:
        set_up(spec)
    except (SetupFailed, OSError, ValueError, KeyError) as error:
        sys.stderr.write(f"wheelmeta mountns: cannot set up the sandbox: {error}\n")
        return 125
    sys.stdout.flush()
    return run(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
