"""The audit of one wheel: what its ELF members need, what the wheel carries, and which manylinux tag holds.

Everything is computed from the wheel's bytes: no library of the host is looked at, so the answer is the same on
any machine. Members are streamed (never unpacked), each only up to the last byte its ELF facts need, and spread
over threads (inflating and ``os.pread`` release the GIL)::

    >>> audit = audit_source(LocalFileSource("numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl"))  # doctest: +SKIP
    >>> audit.overall_tag, sorted(audit.external_libs)                                              # doctest: +SKIP
    ('manylinux_2_17_x86_64', [])

The tags mean what they mean in ``auditwheel show``: ``sym_tag`` is the best policy the versioned symbols allow,
``overall_tag`` the best policy that the symbols, the external libraries (none may be left), the symbol blacklists,
the x86-64 ISA level and PyFPE_jbuf allow. Two deliberate differences, both because the host is never consulted:
the needs of an external library are unknown (auditwheel reads them from the host's copy), and a need is met
inside the wheel when a library with that file name sits on the member's ``$ORIGIN`` RPATH/RUNPATH, in the member's
own folder, or in a top-level ``*.libs/`` folder (the last two are noted in ``problems``, since the loader only
finds them when they are already loaded). A library carried only under another file name (``libcudart.<hash>.so.13``
with the SONAME ``libcudart.so.13``) does not meet a need for the plain name: the loader searches by file name, so
the need stays external and is also listed in ``preloaded_libs`` (met only when that library is loaded first).
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import sys
import threading
import posixpath
import re
import signal
import zlib
from collections import defaultdict
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple, Union

from ..errors import InvalidWheel, WheelmetaError
from ..model import BinaryAudit, ElfFacts, WheelAudit
from ..sources import BytesSource, ByteSource, LocalFileSource, open_source
from ..wheels.filename import parse_wheel_filename
from ..wheels.zipdir import DEFLATED, STORED, ZipDirectory, ZipEntry, compressed_range, member_head
from .elf import ELF_MAGIC, KEEP_BUDGET_DEFAULT, KeepBudget, read_elf_facts
from .policy import ARCHITECTURES, Policy, PolicySet, load_policies

__all__ = [
    "audit_source", "elf_candidates", "prefix_chunks", "analyze", "platform_policy_name", "is_program_loader",
    "select_architecture", "platform_architecture",
]

try:  # the inflater the zip layer uses too: isal is 2-3x faster than zlib
    from isal import isal_zlib as _inflate_lib
except ImportError:  # pragma: no cover - isal is a declared dependency on CPython
    _inflate_lib = zlib  # type: ignore[assignment]

log = logging.getLogger(__name__)

#: progress(done_bytes, total_bytes): compressed bytes of the ELF members audited so far
Progress = Callable[[int, int], None]

_CHUNK = 1 << 20
_RAW_CHUNK = 256 << 10  # less unconsumed input copied per inflate step
_MIN_ELF = 52  # the smallest ELF header
# members with these suffixes are never ELF files: not even their first bytes are inflated
_NOT_ELF = (
    ".py", ".pyc", ".pyi", ".pyx", ".pxd", ".pxi", ".h", ".hpp", ".hh", ".c", ".cc", ".cpp", ".cxx", ".cu", ".cuh",
    ".txt", ".md", ".rst", ".json", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".html", ".css", ".js", ".map",
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".csv", ".typed", ".pem", ".xml", ".proto", ".inc", ".cmake",
    ".pc", ".a", ".lib", ".def", ".f90", ".f", ".pyf", ".npy", ".npz", ".mat", ".wav", ".ttf", ".afm", ".pfb",
)
# the program interpreter (PT_INTERP) is glibc's (musl's) own loader, provided by the system: never carried or external
_LOADERS = re.compile(r"^(ld-linux.*|ld64\.so\.[12]|ld-musl-.*)$")
_PYFPE = ("PyFPE_jbuf", "PyFPE_dummy", "PyFPE_counter")
_PLATFORM = re.compile(r"^(manylinux1|manylinux2010|manylinux2014|manylinux_\d+_\d+|musllinux_\d+_\d+|linux)_(.+)$")


# -- reading ---------------------------------------------------------------------------------------------------------


def elf_candidates(directory: ZipDirectory) -> List[ZipEntry]:
    """Members that may be ELF files, judged by name and size only (no byte inflated)."""
    out = []
    for entry in directory.entries():
        name = entry.name
        if name.endswith("/") or entry.file_size < _MIN_ELF or ".dist-info/" in name:
            continue
        if name.lower().endswith(_NOT_ELF):
            continue
        out.append(entry)
    return out


def _is_elf(source: ByteSource, entry: ZipEntry) -> bool:
    """Inflate the first bytes of ``entry`` only, and compare them with the ELF magic."""
    return member_head(source, entry, len(ELF_MAGIC)) == ELF_MAGIC


def _member_facts(source: ByteSource, entry: ZipEntry, watch: Callable, budget: KeepBudget) -> Optional[ElfFacts]:
    """The ELF facts of one member, or None when it is not an ELF file. Read errors become ``problems``."""
    try:
        if not _is_elf(source, entry):
            return None
        stream = prefix_chunks(source, entry)
        try:
            return read_elf_facts(
                stream,
                entry.name,
                size=entry.file_size,
                reopen=lambda: prefix_chunks(source, entry),
                watch_symbols=watch,
                budget=budget,
            )
        finally:
            stream.close()  # stop inflating: the facts are complete
    except WheelmetaError as exc:
        return ElfFacts(path=entry.name, problems=(exc.reason,))


def prefix_chunks(source: ByteSource, entry: ZipEntry, chunk: int = _CHUNK, raw_chunk: int = _RAW_CHUNK) -> Iterator[bytes]:
    """The member's inflated bytes for a reader that stops early, never past the declared size.

    Unlike :func:`~wheelmeta.wheels.zipdir.iter_member` this computes no CRC-32 (a reader that stops at the
    dynamic segment can never check it, and on tensorflow's 1.1 GB prefix it costs a sixth of the scan) and
    runs no overlap watch (it scans every compressed byte; the declared size bounds what is inflated anyway).
    The zip layer still locates and checks the member (:func:`~wheelmeta.wheels.zipdir.compressed_range`).
    """
    offset, length = compressed_range(source, entry)
    raw = source.stream(offset, length, raw_chunk)
    if entry.compress_type == STORED:
        yield from raw
        return
    if entry.compress_type != DEFLATED:
        raise InvalidWheel(source.name, f"{entry.name}: unsupported compression method {entry.compress_type}")
    inflater, total = _inflate_lib.decompressobj(-15), 0
    try:
        for data in raw:
            while data and total < entry.file_size:
                block = inflater.decompress(data, chunk)
                data = inflater.unconsumed_tail
                total += len(block)
                yield block
                del block  # let the allocator reuse the buffer for the next step (10% faster)
        while total < entry.file_size:  # what the inflater still holds, bounded per step
            block = inflater.decompress(b"", chunk)
            if not block:
                break
            total += len(block)
            yield block
    except (zlib.error, _inflate_lib.error) as exc:
        raise InvalidWheel(source.name, f"{entry.name}: corrupt deflate data ({exc})") from None


def _read_members(
    source: ByteSource, entries: Sequence[ZipEntry], watch: Callable,
    progress: Optional[Progress], workers: int,
) -> List[ElfFacts]:
    """ELF facts of every ELF member, in wheel order; the largest members start first so workers finish together."""
    total = sum(e.compressed_size for e in entries)
    done = 0
    results: Dict[str, ElfFacts] = {}
    order = sorted(entries, key=lambda e: -e.compressed_size)
    budget = KeepBudget()  # memory stays bounded however many big members the threads read at once

    def finished(entry: ZipEntry, facts: Optional[ElfFacts]) -> None:
        nonlocal done
        done += entry.compressed_size
        if facts is not None:
            results[entry.name] = facts
        if progress is not None:
            progress(done, total)

    if workers <= 1 or len(order) <= 1:
        for entry in order:
            finished(entry, _member_facts(source, entry, watch, budget))
        return [results[e.name] for e in entries if e.name in results]
    if total >= _process_bytes() and _read_in_processes(source, order, watch, workers, finished):
        return [results[e.name] for e in entries if e.name in results]
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(_member_facts, source, e, watch, budget): e for e in order if e.name not in results}
        for future in concurrent.futures.as_completed(futures):
            finished(futures[future], future.result())
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)  # Ctrl-C: drop the queue, the threads end their member
        raise
    pool.shutdown(wait=True)
    return [results[e.name] for e in entries if e.name in results]


#: ELF members this large in all (compressed) are read by worker processes instead of threads
_PROCESS_BYTES = 64 << 20


def _process_bytes() -> int:
    """The threshold, or ``$WHEELMETA_PROCESS_BYTES`` where set (0: always use worker processes)."""
    try:
        return max(0, int(os.environ["WHEELMETA_PROCESS_BYTES"]))
    except (KeyError, ValueError):
        return _PROCESS_BYTES


# What forked workers inherit instead of receiving it pickled (a pickled LocalFileSource would close the shared
# descriptor when the copy is collected). Set only around the pool's lifetime.
_worker_state: Dict[str, object] = {}


def _read_in_processes(
    source: ByteSource, order: Sequence[ZipEntry], watch: Callable, workers: int,
    finished: Callable[[ZipEntry, Optional[ElfFacts]], None],
) -> bool:
    """Read ``order``'s members in forked worker processes; False where that cannot be done or the pool broke.

    Why processes: threads inflate in parallel only while none of them runs Python code. The Python work on the
    many small members (headers, symbol tables) holds the GIL, and each time the thread inflating a huge member
    wants it back it waits: on tensorflow-cpu that stretched its largest member from 0.63 s to 0.86 s. Each worker
    process has a GIL of its own, and members go to whichever worker is free, largest first.

    Forking is only done where it is safe: a local file (workers ``pread`` the inherited descriptor), a platform
    with ``fork``, and no other thread in this process (a fork copies no threads, and could copy a lock one of
    them held). If the pool breaks, the members it did not finish are left to the caller's threads.
    """
    if not isinstance(source, LocalFileSource) or not hasattr(os, "fork") or threading.active_count() > 1:
        return False
    for stream in (sys.stdout, sys.stderr):  # a worker must not write again what this process has buffered
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass
    context = multiprocessing.get_context("fork")
    # one budget for the wheel, as with threads, in shared memory the forked workers inherit
    _worker_state.update(source=source, watch=watch, budget=_SharedBudget(context.Value("q", KEEP_BUDGET_DEFAULT)))
    pool = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(_facts_in_worker, entry): entry for entry in order}
        for future in concurrent.futures.as_completed(futures):
            finished(futures[future], future.result())
    except (OSError, concurrent.futures.process.BrokenProcessPool) as exc:
        _stop_workers(pool)
        log.debug("worker processes failed (%s); reading the rest with threads", exc)
        return False
    except BaseException:
        # Ctrl-C, SIGTERM turned into an exception, an error of the caller's progress callback: the pool's own
        # shutdown would wait for every queued member (the hang after "interrupted"), so the workers are killed
        _stop_workers(pool)
        raise
    else:
        pool.shutdown(wait=True)
    finally:
        _worker_state.clear()
    return True


def _stop_workers(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Kill the pool's worker processes and reap them, without waiting for the members still queued."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        try:
            process.kill()
        except (OSError, ValueError):  # already gone, or already closed
            pass
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.join(5)
        except (OSError, ValueError, AssertionError):
            pass


def _worker_init(parent: int) -> None:
    """Tie the worker's life to the parent's: killed when the parent dies, however it dies (even SIGKILL)."""
    _die_with_parent(parent)
    # Ctrl-C and SIGTERM are the parent's to handle (it kills the pool); a worker prints no traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with_parent(parent: int) -> None:
    """PR_SET_PDEATHSIG through libc's prctl (Linux only; elsewhere the parent's cleanup is all there is).

    The parent may have died between the fork and this call: then the signal was never armed, so check."""
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
            pass
    if os.getppid() != parent:
        os._exit(1)


class _SharedBudget(KeepBudget):
    """A :class:`KeepBudget` whose counter lives in shared memory, so forked workers share one wheel's budget."""

    def __init__(self, value) -> None:  # a multiprocessing.Value("q"), which carries its own lock
        self._value = value

    def take(self, n: int) -> bool:
        with self._value.get_lock():
            if n > self._value.value:
                return False
            self._value.value -= n
            return True

    def give_back(self, n: int) -> None:
        with self._value.get_lock():
            self._value.value += n


def _facts_in_worker(entry: ZipEntry) -> Optional[ElfFacts]:
    state = _worker_state
    return _member_facts(state["source"], entry, state["watch"], state["budget"])


def _default_workers(source: ByteSource) -> int:
    # only sources without seek state may be shared by threads
    if isinstance(source, (LocalFileSource, BytesSource)):
        return max(1, min(4, os.cpu_count() or 1))
    return 1


def audit_source(
    source, *, name: Optional[str] = None, progress: Optional[Progress] = None, workers: Optional[int] = None
) -> Union[WheelAudit, BinaryAudit]:
    """Audit the wheel whose bytes ``source`` (a ByteSource or a local path) holds; ``name`` is its filename or URL.

    macOS and Windows wheels come back as a :class:`~wheelmeta.model.BinaryAudit` of their Mach-O or PE members
    (``binaries/``), other non-Linux wheels with ``kind="non-linux"`` unread, and pure wheels with ``kind="pure"``.
    Raises :class:`~wheelmeta.errors.InvalidWheel` only when the zip itself cannot be read; a bad member becomes a
    ``problems`` entry of that member and the rest of the wheel is still audited.
    """
    source = open_source(source)
    wheel = name or source.name
    claimed, problems = _claimed_platforms(wheel)
    if claimed and all(_is_other_os(p) for p in claimed):
        from ..binaries.audit import audit_binaries, binary_format

        if binary_format(claimed) is None:  # iOS, Android, WebAssembly...: not read
            return WheelAudit(wheel=wheel, claimed_tags=claimed, kind="non-linux")
        return audit_binaries(source, wheel, claimed, problems=problems, progress=progress,
                              workers=workers or _default_workers(source))
    directory = ZipDirectory.read(source)
    watch = _imports_to_watch
    entries = elf_candidates(directory)
    facts = _read_members(source, entries, watch, progress, workers or _default_workers(source))
    if not facts:
        if any(p != "any" for p in claimed):
            problems.append("platform-tagged wheel without any ELF file")
        return WheelAudit(wheel=wheel, claimed_tags=claimed, kind="pure", problems=tuple(problems))
    if claimed and all(p == "any" for p in claimed):
        problems.append("tagged pure (any) but carries ELF files")
    return analyze(wheel, claimed, facts, problems)


def _claimed_platforms(wheel: str) -> Tuple[Tuple[str, ...], List[str]]:
    base = posixpath.basename(wheel.split("?", 1)[0].split("#", 1)[0])
    try:
        parsed = parse_wheel_filename(base)
    except WheelmetaError as exc:
        if base.endswith(".whl"):  # a wheel's name that breaks the spec: the same clean error as everywhere else
            raise InvalidWheel(wheel, exc.reason) from None
        return (), [f"filename: {exc.reason}"]  # a source without a wheel's name (bytes, a bare URL)
    return tuple(sorted(parsed.platforms)), []


def _is_other_os(platform: str) -> bool:
    return platform.startswith(("macosx", "win", "ios", "android", "emscripten", "pyodide", "wasi"))


def _imports_to_watch(facts: ElfFacts) -> Set[str]:
    """The imports of this member that could still change ``overall_tag``, so most symbol tables are never read.

    A policy's blacklist only matters if the member's own version needs fit that policy: otherwise the symbol
    policy is already below it. PyFPE_jbuf matters for Python extensions.
    """
    names: Set[str] = set(_PYFPE) if facts.python_init else set()
    arch = facts.machine if facts.machine in ARCHITECTURES else "x86_64"
    musl = any(n.startswith("libc.musl-") for n in facts.needed)
    for policy in load_policies(arch, "musl" if musl else "glibc"):
        if policy.blacklist and policy.versioned_symbols_fit(facts.version_requirements):
            for soname in facts.needed:
                names |= policy.blacklist.get(soname, frozenset())
    return names


# -- analysis --------------------------------------------------------------------------------------------------------


def is_program_loader(soname: str) -> bool:
    """True for the dynamic loader's names (``ld-linux-x86-64.so.2``, ``ld64.so.2``, ``ld-musl-x86_64.so.1``): the
    libc's own, provided by the system (by stdenv under Nix), so a DT_NEEDED of it is neither carried nor external."""
    return bool(_LOADERS.match(posixpath.basename(soname)))


def platform_policy_name(platform: str) -> Optional[Tuple[str, str]]:
    """(policy name without arch, arch) of a linux platform tag: ``manylinux2014_x86_64`` -> (manylinux2014, x86_64)."""
    match = _PLATFORM.match(platform)
    return (match.group(1), match.group(2)) if match else None


def _wheel_arch_and_libc(claimed: Sequence[str], facts: Sequence[ElfFacts]) -> Tuple[Optional[str], str]:
    """The architecture (from the tags, else the members) and the libc: the one family the tags name, else what
    the members need (musl's libc or loader), else glibc, as auditwheel on a glibc machine."""
    arch, families = None, set()
    for platform in claimed:
        parsed = platform_policy_name(platform)
        if parsed and parsed[1] in ARCHITECTURES:
            arch = arch or parsed[1]
            if parsed[0] != "linux":
                families.add("musl" if parsed[0].startswith("musllinux") else "glibc")
    if arch is None:
        arch = next((f.machine for f in facts if f.machine in ARCHITECTURES), None)
    if len(families) == 1:
        return arch, families.pop()
    musl = any(n.startswith(("libc.musl-", "ld-musl-")) for f in facts for n in f.needed) or any(
        (f.interpreter or "").rsplit("/", 1)[-1].startswith("ld-musl-") for f in facts
    )
    glibc = any(n == "libc.so.6" for f in facts for n in f.needed)
    return arch, "musl" if musl and not glibc else "glibc"


class _Library:
    """Where the wheel's own ELF files are: by folder and file name (what the loader and autoPatchelfHook search
    by), and by SONAME (what the loader matches only against libraries already loaded)."""

    def __init__(self, facts: Sequence[ElfFacts]) -> None:
        self.by_dir_name: Dict[Tuple[str, str], str] = {}
        self.by_soname: Dict[str, str] = {}
        for f in facts:
            self.by_dir_name.setdefault(posixpath.split(f.path), f.path)
            if f.soname:
                self.by_soname.setdefault(f.soname, f.path)
        self.libs_dirs = sorted({posixpath.dirname(f.path) for f in facts if _in_libs_dir(f.path)})
        # folders some member's RPATH leads to: an RPATH also serves the libraries its owner loads
        self.rpath_dirs = {
            d for f in facts for e in f.rpath if (d := _origin_dir(e, posixpath.dirname(f.path))) is not None
        }

    def resolve(self, member: ElfFacts, needed: str) -> Tuple[Optional[str], str]:
        """(member path that provides ``needed``, how the loader finds it), or (None, "") when nothing does.

        ``how``: ``"path"``, a file of that name in a folder of the member's ``$ORIGIN`` RPATH/RUNPATH (the loader
        compares DT_NEEDED with file names there); ``"unlisted"``, a file of that name in the member's own folder or
        a ``*.libs/`` folder, off the search path (auditwheel's rule; found when already loaded); ``"soname"``, only
        a file of another name whose SONAME is ``needed`` (an auditwheel-style hashed copy): met only when
        something else loads that library first, and autoPatchelfHook, which indexes files by name, never finds it.
        """
        origin = posixpath.dirname(member.path)
        search = member.runpath or member.rpath  # the loader ignores RPATH when RUNPATH is set
        for entry in search:
            folder = _origin_dir(entry, origin)
            if folder is not None and (folder, needed) in self.by_dir_name:
                return self.by_dir_name[(folder, needed)], "path"
        for folder in [origin] + self.libs_dirs:
            if (folder, needed) in self.by_dir_name:
                return self.by_dir_name[(folder, needed)], "path" if folder in self.rpath_dirs else "unlisted"
        if needed in self.by_soname:
            return self.by_soname[needed], "soname"
        return None, ""


def _in_libs_dir(path: str) -> bool:
    parts = path.split("/")
    return len(parts) >= 2 and parts[-2].endswith(".libs")


def _origin_dir(entry: str, origin: str) -> Optional[str]:
    """The wheel folder an RPATH entry names, when it is ``$ORIGIN``-relative and stays inside the wheel."""
    if not entry.startswith(("$ORIGIN", "${ORIGIN}")):
        return None  # an absolute path names the host, which the audit never consults
    rest = entry.split("}", 1)[1] if entry.startswith("${") else entry[len("$ORIGIN"):]
    folder = posixpath.normpath(posixpath.join(origin or ".", "./" + rest.lstrip("/")))
    if folder == ".":
        return ""
    return None if folder.startswith("../") or folder == ".." else folder


def analyze(wheel: str, claimed: Sequence[str], facts: Sequence[ElfFacts], problems: Optional[List[str]] = None) -> WheelAudit:
    """The wheel-level verdict from the ELF facts of its members (pure computation, no I/O).

    A wheel whose tags name no architecture (``any``) but whose members are built for several is judged once per
    architecture (``architectures``); :func:`select_architecture` picks the target's verdict.
    """
    problems = list(problems or ())
    problems += [f"{f.path}: {p}" for f in facts for p in f.problems]
    machines = sorted({f.machine for f in facts if f.machine in ARCHITECTURES})
    if _tagged_arch(claimed) is None and len(machines) > 1:
        return _analyze_per_arch(wheel, claimed, facts, problems, machines)
    return _analyze_one(wheel, claimed, facts, problems)


def _analyze_one(wheel: str, claimed: Sequence[str], facts: Sequence[ElfFacts], problems: List[str]) -> WheelAudit:
    """The verdict for one architecture: the tags' own, else the members'; members of another are ignored."""
    arch, libc = _wheel_arch_and_libc(claimed, facts)
    if arch is None:
        problems.append("no ELF member of a known architecture")
        return WheelAudit(wheel=wheel, claimed_tags=tuple(claimed), elf_files=tuple(facts), problems=tuple(problems))
    policies = load_policies(arch, libc)
    considered = []
    for f in facts:
        if f.machine and f.machine != arch:
            problems.append(f"{f.path}: ignored, built for {f.machine} in a {arch} wheel")
        else:
            considered.append(f)
    library = _Library(considered)
    carried, needers, preloaded = _classify_needs(considered, library, problems)
    versioned = _versioned_symbols(considered)
    verdict = _policy_verdict(policies, considered, needers, versioned)
    external = {s: tuple(sorted(m)) for s, m in sorted(needers.items()) if s not in policies.highest.whitelist}
    allowed_by = verdict["overall"] if not verdict["overall"].is_linux else policies.highest
    audit = WheelAudit(
        wheel=wheel,
        claimed_tags=tuple(claimed),
        kind="elf",
        arch=arch,
        elf_files=tuple(facts),
        carried_libs=carried,
        preloaded_libs=preloaded,
        policy_libs=tuple(sorted(s for s in needers if s in allowed_by.whitelist)),
        external_libs=external,
        versioned_symbols={k: tuple(sorted(v)) for k, v in sorted(versioned.items())},
        sym_tag=verdict["sym"].name,
        overall_tag=verdict["overall"].name,
    )
    holds, why = _claims_hold(policies, claimed, verdict, versioned, needers)
    return _replace(audit, claims_hold=holds, problems=tuple(problems + why))


def _tagged_arch(claimed: Sequence[str]) -> Optional[str]:
    """The architecture the filename's Linux platform tags name, if any."""
    for platform in claimed:
        parsed = platform_policy_name(platform)
        if parsed and parsed[1] in ARCHITECTURES:
            return parsed[1]
    return None


def _analyze_per_arch(wheel: str, claimed: Sequence[str], facts: Sequence[ElfFacts], problems: List[str],
                      machines: Sequence[str]) -> WheelAudit:
    """A pure wheel with binaries for several architectures (a solver for aarch64, i686 and x86_64): each judged
    on its own members. The wheel-level fields are the union of what the architectures need; no tag is given,
    since none fits them all."""
    per_arch = {
        m: _analyze_one(wheel, claimed, [f for f in facts if f.machine == m], list(problems)) for m in machines
    }
    note = (f"ELF files for several architectures ({', '.join(machines)}): each judged on its own (see "
            "architectures; --platform judges the target's)")
    own = [f"for {m}: {p}" for m, a in per_arch.items() for p in a.problems[len(problems):]]
    external: Dict[str, Set[str]] = defaultdict(set)
    versioned: Dict[str, Set[str]] = defaultdict(set)
    for a in per_arch.values():
        for soname, members in a.external_libs.items():
            external[soname].update(members)
        for lib, versions in a.versioned_symbols.items():
            versioned[lib].update(versions)
    return WheelAudit(
        wheel=wheel,
        claimed_tags=tuple(claimed),
        kind="elf",
        elf_files=tuple(facts),
        carried_libs=dict(sorted({k: v for a in per_arch.values() for k, v in a.carried_libs.items()}.items())),
        preloaded_libs=dict(sorted({k: v for a in per_arch.values() for k, v in a.preloaded_libs.items()}.items())),
        policy_libs=tuple(sorted({s for a in per_arch.values() for s in a.policy_libs})),
        external_libs={s: tuple(sorted(m)) for s, m in sorted(external.items())},
        versioned_symbols={k: tuple(sorted(v)) for k, v in sorted(versioned.items())},
        architectures=per_arch,
        problems=tuple(problems + [note] + own),
    )


def select_architecture(audit: WheelAudit, arch: Optional[str]) -> WheelAudit:
    """The audit as the target's architecture sees it.

    For a wheel judged per architecture, the verdict of ``arch`` (its members only; ``architectures`` kept), or,
    when the wheel carries nothing for ``arch``, an audit without a tag that says so. Any other audit, or
    ``arch=None``, comes back unchanged.
    """
    if not audit.architectures or arch is None:
        return audit
    chosen = audit.architectures.get(arch)
    machines = ", ".join(audit.architectures)
    if chosen is None:
        return _replace(audit, arch=arch, carried_libs={}, preloaded_libs={}, policy_libs=(), external_libs={},
                        versioned_symbols={}, problems=audit.problems + (
                            f"no ELF file for {arch}, the target's architecture (only for {machines})",))
    note = f"ELF files for several architectures ({machines}): judged for {arch}, the target's"
    return _replace(chosen, architectures=audit.architectures, problems=chosen.problems + (note,))


def platform_architecture(platform: str) -> Optional[str]:
    """The architecture of a Linux platform tag (``manylinux2014_aarch64`` -> ``aarch64``), or of a bare
    architecture name (``i686``); None for anything else (``win_amd64``, ``macosx_11_0_arm64``)."""
    if platform in ARCHITECTURES:
        return platform
    parsed = platform_policy_name(platform)
    return parsed[1] if parsed and parsed[1] in ARCHITECTURES else None


def _replace(audit: WheelAudit, **changes) -> WheelAudit:
    from dataclasses import replace

    return replace(audit, **changes)


def _classify_needs(facts: Sequence[ElfFacts], library: _Library, problems: List[str]):
    """(carried soname -> member, outside soname -> members needing it, preloaded soname -> member) over every
    ELF member. A need met only by a library of another file name is outside, as auditwheel's lddtree (which
    searches by file name) counts it, and also preloaded: it holds only if that library is loaded first."""
    carried: Dict[str, str] = {}
    preloaded: Dict[str, str] = {}
    needers: Dict[str, Set[str]] = defaultdict(set)
    for f in facts:
        for soname in f.needed:
            if is_program_loader(soname):
                continue
            provider, how = library.resolve(f, soname)
            if provider is None or how == "soname":
                needers[soname].add(f.path)
            if how == "soname":
                preloaded.setdefault(soname, provider)
                problems.append(f"{f.path}: needs {soname}, which the wheel carries only as {provider} (SONAME "
                                f"{soname}): the loader finds it only when a library with that SONAME is loaded first")
            elif provider is not None:
                carried.setdefault(soname, provider)
                if how == "unlisted":
                    problems.append(f"{f.path}: needs {soname}, found in the wheel at {provider} but not on its RPATH/RUNPATH")
    return dict(sorted(carried.items())), needers, dict(sorted(preloaded.items()))


def _versioned_symbols(facts: Sequence[ElfFacts]) -> Dict[str, Set[str]]:
    """library -> version names, from every member's version needs (the loader's own versions left out)."""
    out: Dict[str, Set[str]] = defaultdict(set)
    for f in facts:
        for lib, versions in f.version_requirements.items():
            if not is_program_loader(lib):
                out[lib].update(versions)
    return out


def _policy_verdict(policies: PolicySet, facts, needers: Mapping[str, Set[str]], versioned) -> Dict[str, Policy]:
    """auditwheel's partial policies (symbols, references, blacklist, ISA, PyFPE) and their minimum."""
    sym = policies.versioned_symbols_policy(versioned)
    ref = max((p for p in policies if all(s in p.whitelist for s in needers) or p.is_linux), default=policies.linux)
    blacklist = max((p for p in policies if not _blacklisted(p, facts)), default=policies.linux)
    isa = policies.linux if any(f.isa_extension for f in facts) else policies.highest
    pyfpe = policies.linux if any(f.python_init and set(_PYFPE) & set(f.watched_symbols) for f in facts) else policies.highest
    overall = min(sym, ref, blacklist, isa, pyfpe)
    return {"sym": sym, "ref": ref, "blacklist": blacklist, "isa": isa, "pyfpe": pyfpe, "overall": overall}


def _blacklisted(policy: Policy, facts: Iterable[ElfFacts]) -> Dict[str, Set[str]]:
    """soname -> blacklisted symbols some member imports from it under ``policy``."""
    out: Dict[str, Set[str]] = defaultdict(set)
    for f in facts:
        for soname in f.needed:
            hits = policy.blacklist.get(soname, frozenset()) & set(f.watched_symbols)
            if hits:
                out[soname] |= hits
    return out


def _claims_hold(policies, claimed, verdict, versioned, needers) -> Tuple[Optional[bool], List[str]]:
    """Whether each manylinux/musllinux tag of the filename is at most as compatible as the overall verdict."""
    holds: Optional[bool] = None
    why: List[str] = []
    overall = verdict["overall"]
    for platform in claimed:
        try:
            policy = policies.by_name(platform)
        except KeyError:
            continue
        holds = True if holds is None else holds
        if policy.priority <= overall.priority:
            continue
        holds = False
        why.append(f"claims {platform} but is only {overall.name}: " + _reasons(policy, verdict, versioned, needers))
    return holds, why


def _reasons(policy: Policy, verdict, versioned, needers) -> str:
    reasons = []
    too_new = sorted(
        v for vs in versioned.values() for v in vs
        if v.partition("_")[0] in policy.symbol_versions
        and v.partition("_")[2] not in policy.symbol_versions[v.partition("_")[0]]
    )
    if too_new:
        reasons.append("needs " + ", ".join(sorted(set(too_new))))
    outside = sorted(s for s in needers if s not in policy.whitelist)
    if outside:
        reasons.append("needs external " + ", ".join(outside))
    if verdict["blacklist"].priority < policy.priority:
        reasons.append("imports blacklisted symbols")
    if verdict["isa"].priority < policy.priority:
        reasons.append("requires an x86-64 ISA extension")
    if verdict["pyfpe"].priority < policy.priority:
        reasons.append("uses PyFPE_jbuf")
    return "; ".join(reasons) or "see sym_tag/overall_tag"
