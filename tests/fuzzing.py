"""The fuzz harness: mutations of real inputs, fed to every parser of outside bytes, deterministic by seed.

Each run takes one seed input of a target, mutates it (bit flips, interesting bytes and integers, truncation,
chunk duplication and removal, and mutations that know the format: zip directory fields, tar header fields,
ELF program headers, dynamic entries and version needs, TOML nesting and wrong types, uncomputable markers),
and runs the target's function on the result in a forked child with a wall-clock limit and an address-space
limit. The outcome is one of:

- ``ok``: the library answered;
- ``expected``: it raised a :class:`wheelmeta.WheelmetaError` (a clear, one-line error: what bad input must give);
- ``traceback``: any other exception (a failure);
- ``hang``: the child ran past the wall-clock limit and was killed (a failure);
- ``memory``: ``MemoryError`` under ``RLIMIT_AS`` (a failure);
- ``crash``: the child died without reporting (a signal: a failure);
- ``exit-code``: the CLI returned a code other than 0 or 1 for bad input, e.g. the usage code 2 (a failure);
- ``message``: a :class:`wheelmeta.WheelmetaError` whose message is not one line (a failure: the CLI prints it as
  the one line ``wheelmeta: error: ...``).

A round over the registry::

    >>> counts, failures = fuzz_round(TARGETS, runs=50, seed=1)          # doctest: +SKIP
    >>> counts["sdist-tar.gz"]                                            # doctest: +SKIP
    Counter({'expected': 31, 'ok': 19})

Adding a parser: write a seed factory ``seeds(folder) -> List[bytes]`` that builds real inputs (with
``builders.py``, ``elfbuild.py``, or files from the corpus), a ``run(data, scratch)`` that feeds one input to the
library the way a user's file reaches it, optionally a ``fields(data)`` that lists the format's structure fields
(offset, width, byte order) for the structure-aware mutator, and append a :class:`FuzzTarget` to ``TARGETS`` in
``tests/fuzz_targets.py`` (the registry, also reachable as ``fuzzing.TARGETS``). The suite's short round
(tests/test_fuzz.py) and the long run (benchmarks/fuzz.py) pick it up from there.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import struct
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).parent))  # fuzz_targets imports builders and elfbuild

FAILURES = ("traceback", "hang", "memory", "crash", "exit-code", "message")
OUTCOMES = ("ok", "expected") + FAILURES


class Field(NamedTuple):
    """A structure field worth setting to odd values: where it is, how wide, its byte order, its kind."""

    offset: int
    width: int  # bytes; 0 for a region of bytes (a name)
    little: bool = True
    kind: str = "int"  # "int", "name" (a byte region), "tar" (a 512-byte tar header at offset)
    length: int = 0  # region length for "name"


class Outcome(NamedTuple):
    kind: str  # one of OUTCOMES
    detail: str = ""  # the exception's last traceback lines, for failures


@dataclass(frozen=True)
class FuzzTarget:
    """One parser under fuzz: how to build real seed inputs and how to feed one (mutated) input to the library."""

    name: str
    seeds: Callable[[Path], List[bytes]]
    run: Callable[[bytes, Path], Optional[int]]  # returns a CLI exit code when it runs main(), else None
    fields: Callable[[bytes], List[Field]] = lambda data: []
    text: bool = False  # text inputs also get the line-level mutations (nesting, wrong types, markers)
    # compressed containers: (decode, encode) so mutations can also reach the inner tar's structure
    layer: Optional[Tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]] = None
    # a whole-input rewrite that only a real writer can do (a member renamed thousands of folders deep)
    rebuild: Optional[Callable[[bytes, random.Random], bytes]] = None


# ---------------------------------------------------------------------------------------------------------------------
# mutators


def _interesting(width: int, rng: random.Random, original: int = 0) -> int:
    top = (1 << (8 * width)) - 1
    return rng.choice([0, 1, 2, 16, 0x7F, 0x80, 0xFF, top, top - 1, top >> 1, (top >> 1) + 1,
                       original + rng.randint(-64, 64), rng.randint(0, top), 4096, 0xFFFF]) & top


def _bit_flip(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)


def _interesting_byte(data: bytearray, rng: random.Random) -> None:
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] = rng.choice((0, 0xFF, 0x7F, 0x80, 0x20, 0x0A))


def _interesting_int(data: bytearray, rng: random.Random) -> None:
    width = rng.choice((2, 4, 8))
    if len(data) < width:
        return
    pos = rng.randrange(len(data) - width + 1)
    data[pos : pos + width] = _interesting(width, rng).to_bytes(width, rng.choice(("little", "big")))


def _truncate(data: bytearray, rng: random.Random) -> None:
    del data[rng.randrange(len(data)) :]


def _duplicate_chunk(data: bytearray, rng: random.Random) -> None:
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 4096)]
    at = rng.randrange(len(data) + 1)
    data[at:at] = chunk * rng.choice((1, 1, 2, 16))


def _remove_chunk(data: bytearray, rng: random.Random) -> None:
    start = rng.randrange(len(data))
    del data[start : start + rng.randint(1, 4096)]


BYTE_MUTATORS = (_bit_flip, _interesting_byte, _interesting_int, _truncate, _duplicate_chunk, _remove_chunk)

_TAR_HUGE_SIZE = b"\x80" + (10**26).to_bytes(11, "big")  # base-256 size field: about 10^26 bytes


def _set_field(data: bytearray, f: Field, rng: random.Random) -> None:
    if f.offset + max(f.width, f.length) > len(data):
        return
    if f.kind == "name":
        region = bytearray(data[f.offset : f.offset + f.length])
        if region:
            odd = rng.choice((b"\0", b"/", b"\\", b"..", b"../", b"\xff", b":"))
            pos = rng.randrange(len(region))
            region[pos : pos + len(odd)] = odd
            data[f.offset : f.offset + f.length] = region[: f.length]
        return
    if f.kind == "tar":
        _set_tar_field(data, f.offset, rng)
        return
    order = "little" if f.little else "big"
    original = int.from_bytes(data[f.offset : f.offset + f.width], order)
    data[f.offset : f.offset + f.width] = _interesting(f.width, rng, original).to_bytes(f.width, order)


def _set_tar_field(data: bytearray, at: int, rng: random.Random) -> None:
    """One field of the tar header at ``at`` set to an odd value, with the checksum made right again (so the
    reader gets past the header and meets the odd value)."""
    name, (pos, width) = rng.choice(list({"name": (0, 100), "mode": (100, 8), "size": (124, 12), "type": (156, 1),
                                          "link": (157, 100), "prefix": (345, 155)}.items()))
    if name == "size":
        value = rng.choice((_TAR_HUGE_SIZE, b"\xff" * 12, b"77777777777\0", b"00000000001\0", b"zz\0", b"\0" * 12))
    elif name == "type":
        value = bytes([rng.choice(b"0123456789LKxgSD\0")])
    elif name == "mode":
        value = rng.choice((b"7777777\0", b"0000000\0", b"\x80\xff\xff\xff\xff\xff\xff\xff"))
    else:
        value = rng.choice((b"../../etc/x", b"/abs/x", b"a/\0b", b"a" * width, b"", b"x/" + b"d/" * 40))
    data[at + pos : at + pos + width] = value[:width].ljust(width, b"\0")
    data[at + 148 : at + 156] = b" " * 8
    checksum = sum(data[at : at + 512])
    data[at + 148 : at + 156] = b"%06o\0 " % checksum


_WRONG_VALUES = ("5", "true", "-1", '"text"', "[1, 2]", "{ a = 1 }", "[[1]]", "1979-05-27", "inf", "[]", "{}")


def _nest(lines: List[str], rng: random.Random) -> None:
    depth = rng.choice((200, 1000, 5000, 50000))
    deep = rng.choice((
        "x = " + "[" * depth + "]" * depth,
        "x = " + "{ a = " * depth + "1" + " }" * depth,
        "[" + ".".join(["a"] * depth) + "]",
        "x = " + "[" * depth,
    ))
    lines.insert(rng.randrange(len(lines) + 1), deep)


def _wrong_type(lines: List[str], rng: random.Random) -> None:
    at = rng.randrange(len(lines))
    line = lines[at]
    table = re.fullmatch(r"\s*\[+\s*([^\]]+?)\s*\]+\s*", line)
    if table:
        lines[at] = f"{table.group(1)} = {rng.choice(_WRONG_VALUES)}"
        return
    key = re.match(r"(\s*[\w.\"'-]+\s*[=:]\s*)", line)
    if key:
        lines[at] = key.group(1) + rng.choice(_WRONG_VALUES)


def _odd_marker(lines: List[str], rng: random.Random) -> None:
    at = rng.randrange(len(lines))
    odd = rng.choice(("'a' == 'a'", "python_version >= '" + "1" * 5000 + "'", "os_name < 'x' or 1",
                      "extra == '" + "e" * 3000 + "'", "python_version ~= '3'", "'3' > python_version"))
    line = lines[at].rstrip().rstrip('",')
    quote = '"' if lines[at].rstrip().endswith(('",', '"')) else ""
    lines[at] = f"{line}; {odd}{quote}{',' if lines[at].rstrip().endswith(',') else ''}"


def _long_number(lines: List[str], rng: random.Random) -> None:
    at = rng.randrange(len(lines))
    lines[at] = re.sub(r"\d+", lambda m: m.group(0) * rng.choice((1, 500, 5000)), lines[at], count=1)


def _header_junk(lines: List[str], rng: random.Random) -> None:
    junk = rng.choice(("=?utf-8?q?caf=C3=A9?=", "\udcff\udcfe", "é", "\x00", " continued", "\tcontinued",
                       "No colon here", ":empty-name", "Name:", "Version: " + "9" * 5000))
    at = rng.randrange(len(lines) + 1)
    if rng.random() < 0.5 and lines:
        at = min(at, len(lines) - 1)
        lines[at] = lines[at] + junk
    else:
        lines.insert(at, junk)


TEXT_MUTATORS = (_nest, _wrong_type, _odd_marker, _long_number, _header_junk)


def mutate(target: FuzzTarget, seed: bytes, rng: random.Random) -> bytes:
    """One mutated copy of ``seed``: one to three mutations, the format-aware ones as often as the blind ones."""
    if target.layer is not None and rng.random() < 0.5:
        decode, encode = target.layer
        inner = FuzzTarget(target.name, target.seeds, target.run, _tar_fields, rebuild=target.rebuild)
        return encode(mutate(inner, decode(seed), rng))
    if target.rebuild is not None and rng.random() < 0.1:
        return target.rebuild(seed, rng)
    data = bytearray(seed)
    fields = target.fields(seed)
    for _ in range(rng.choice((1, 1, 2, 3))):
        if target.text and rng.random() < 0.5:
            lines = bytes(data).decode("utf-8", "surrogateescape").split("\n")
            rng.choice(TEXT_MUTATORS)(lines, rng)
            data = bytearray("\n".join(lines).encode("utf-8", "surrogateescape"))
        elif fields and rng.random() < 0.6:
            _set_field(data, rng.choice(fields), rng)
        elif data:
            rng.choice(BYTE_MUTATORS)(data, rng)
    return bytes(data)


# ---------------------------------------------------------------------------------------------------------------------
# structure fields of the formats


def zip_fields(data: bytes) -> List[Field]:
    """The end record's, every central header's and every local header's fields, names and zip64 values."""
    out: List[Field] = []
    eocd = data.rfind(b"PK\x05\x06")
    if eocd < 0 or eocd + 22 > len(data):
        return out
    out += [Field(eocd + 10, 2), Field(eocd + 12, 4), Field(eocd + 16, 4)]
    z64 = data.rfind(b"PK\x06\x06", 0, eocd)
    if z64 >= 0:
        out += [Field(z64 + 32, 8), Field(z64 + 40, 8), Field(z64 + 48, 8)]
    pos = data.find(b"PK\x01\x02")
    while 0 <= pos and pos + 46 <= len(data):
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", data, pos + 28)
        out += [Field(pos + o, w) for o, w in ((8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2), (38, 4),
                                               (42, 4))]
        out.append(Field(pos + 46, 0, kind="name", length=name_len))
        extra = pos + 46 + name_len
        if data[extra : extra + 2] == b"\x01\x00":  # zip64 extra field: 8-byte sizes and offset
            out += [Field(extra + 4 + 8 * i, 8) for i in range(struct.unpack_from("<H", data, extra + 2)[0] // 8)]
        local = struct.unpack_from("<I", data, pos + 42)[0]
        if data[local : local + 4] == b"PK\x03\x04" and local + 30 <= len(data):
            out += [Field(local + o, w) for o, w in ((6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2))]
            out.append(Field(local + 30, 0, kind="name", length=struct.unpack_from("<H", data, local + 26)[0]))
        pos = data.find(b"PK\x01\x02", pos + 46 + name_len + extra_len + comment_len)
    return out


def _tar_fields(data: bytes) -> List[Field]:
    """Every 512-byte header of an uncompressed tar."""
    out, pos = [], 0
    while pos + 512 <= len(data) and data[pos : pos + 512].strip(b"\0"):
        out.append(Field(pos, 0, kind="tar"))
        try:
            size = int(data[pos + 124 : pos + 136].strip(b"\0 ") or b"0", 8)
        except ValueError:
            break
        pos += 512 + (size + 511) // 512 * 512
    return out


def elf_fields(data: bytes) -> List[Field]:
    """ELF header counts and offsets, every program header, every dynamic entry, and the version-needs chain."""
    if data[:4] != b"\x7fELF" or len(data) < 64:
        return []
    wide, little = data[4] == 2, data[5] == 1
    e = "<" if little else ">"
    word = 8 if wide else 4
    out = [Field(o, w, little) for o, w in ((32, 8), (54, 2), (56, 2), (40, 8), (60, 2))] if wide else \
        [Field(o, w, little) for o, w in ((28, 4), (42, 2), (44, 2), (32, 4), (48, 2))]
    phoff = struct.unpack_from(e + ("Q" if wide else "I"), data, 32 if wide else 28)[0]
    phentsize, phnum = struct.unpack_from(e + "HH", data, 54 if wide else 42)
    loads, dynamic = [], None
    for i in range(min(phnum, 64)):
        at = phoff + i * phentsize
        if at + phentsize > len(data):
            break
        ptype = struct.unpack_from(e + "I", data, at)[0]
        if wide:
            offset, vaddr, _, filesz = struct.unpack_from(e + "QQQQ", data, at + 8)
            out += [Field(at + o, 8, little) for o in (8, 16, 32, 40)]
        else:
            offset, vaddr, _, filesz = struct.unpack_from(e + "IIII", data, at + 4)
            out += [Field(at + o, 4, little) for o in (4, 8, 16, 20)]
        out.append(Field(at, 4, little))
        loads.append((vaddr, offset, filesz)) if ptype == 1 else None
        dynamic = (offset, filesz) if ptype == 2 else dynamic
    if dynamic is None:
        return out
    verneed = None
    for at in range(dynamic[0], min(dynamic[0] + dynamic[1], len(data) - 2 * word + 1), 2 * word):
        tag, value = struct.unpack_from(e + ("qQ" if wide else "iI"), data, at)
        out += [Field(at, word, little), Field(at + word, word, little)]
        if tag == 0x6FFFFFFE:
            verneed = next((value - v + o for v, o, s in loads if v <= value < v + s), None)
    return out + _verneed_fields(data, verneed, little)


def _verneed_fields(data: bytes, at: Optional[int], little: bool) -> List[Field]:
    e, out = ("<" if little else ">"), []
    for _ in range(64):
        if at is None or at + 16 > len(data):
            break
        _, cnt, _, aux, nxt = struct.unpack_from(e + "HHIII", data, at)
        out += [Field(at + 2, 2, little), Field(at + 4, 4, little), Field(at + 8, 4, little), Field(at + 12, 4, little)]
        aux_at = at + aux
        for _ in range(min(cnt, 64)):
            if aux_at + 16 > len(data):
                break
            out += [Field(aux_at + 8, 4, little), Field(aux_at + 12, 4, little)]
            step = struct.unpack_from(e + "I", data, aux_at + 12)[0]
            if not step:
                break
            aux_at += step
        at = at + nxt if nxt else None
    return out


# ---------------------------------------------------------------------------------------------------------------------
# running one input


def _child_limits(memory: int) -> None:
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
    sys.stdout = sys.stderr = open(os.devnull, "w")
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    with open("/proc/self/status") as status:
        vm = next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:")), 0)
    resource.setrlimit(resource.RLIMIT_AS, (vm + memory, vm + memory))


def _classify(target: FuzzTarget, data: bytes, scratch: Path) -> Outcome:
    from wheelmeta.errors import WheelmetaError

    try:
        code = target.run(data, scratch)
    except WheelmetaError as exc:
        if "\n" in str(exc) or "\r" in str(exc):
            return Outcome("message", _where(exc) + repr(str(exc))[:2000])
        return Outcome("expected")
    except MemoryError:
        return Outcome("memory", "MemoryError")
    except BaseException as exc:  # noqa: BLE001 - every other exception is what the harness looks for
        return Outcome("traceback", _where(exc) + "".join(traceback.format_exception_only(type(exc), exc))[-2000:])
    if code is not None and code not in (0, 1):
        return Outcome("exit-code", f"exit code {code}")
    return Outcome("expected" if code == 1 else "ok")  # exit 1: the CLI's one-line error


def _where(exc: BaseException) -> str:
    """The innermost wheelmeta frame of the traceback: where the library let the exception through."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/wheelmeta/" in f.filename.replace(os.sep, "/")]
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename.rsplit('/wheelmeta/', 1)[-1]}:{frame.lineno} in {frame.name}: "


def run_one(target: FuzzTarget, data: bytes, *, time_limit: float = 10.0, memory: int = 1 << 30) -> Outcome:
    """Run ``target`` on ``data`` in a forked child under the wall-clock and address-space limits."""
    scratch = Path(tempfile.mkdtemp(prefix="wheelmeta-fuzz-"))
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one JSON line, never return into the caller's stack
        os.close(read_end)
        try:
            _child_limits(memory)
            outcome = _classify(target, data, scratch)
            os.write(write_end, json.dumps(outcome).encode()[:60000])
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        return _collect(pid, read_end, time_limit)
    finally:
        os.close(read_end)
        shutil.rmtree(scratch, ignore_errors=True)


def _collect(pid: int, read_end: int, time_limit: float) -> Outcome:
    deadline, report = time.monotonic() + time_limit, b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([read_end], [], [], left)[0]:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return Outcome("hang", f"no answer within {time_limit:g} s")
        block = os.read(read_end, 65536)
        if not block:
            break
        report += block
    _, status = os.waitpid(pid, 0)
    if not report:
        return Outcome("crash", f"child ended with status {status} and no report")
    kind, detail = json.loads(report)
    return Outcome(kind, detail)


# ---------------------------------------------------------------------------------------------------------------------
# rounds


@dataclass
class Failure:
    target: str
    run: int
    outcome: Outcome
    data: bytes = field(repr=False)


_SEED_CACHE: Dict[str, List[bytes]] = {}


def seed_inputs(target: FuzzTarget) -> List[bytes]:
    """The target's seeds, built once per process in a temporary folder."""
    if target.name not in _SEED_CACHE:
        folder = Path(tempfile.mkdtemp(prefix=f"wheelmeta-seeds-{target.name}-"))
        try:
            _SEED_CACHE[target.name] = target.seeds(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return _SEED_CACHE[target.name]


def _warm_up(target: FuzzTarget, seed: bytes) -> None:
    """Run one seed (a valid input) in this process, so every forked child starts with the modules imported and
    the caches filled: a child then costs its own work, not the imports (three to ten times faster)."""
    scratch = Path(tempfile.mkdtemp(prefix="wheelmeta-fuzz-"))
    saved = sys.stdout, sys.stderr
    try:
        sys.stdout = sys.stderr = io.StringIO()
        _classify(target, seed, scratch)
    finally:
        sys.stdout, sys.stderr = saved
        shutil.rmtree(scratch, ignore_errors=True)


def fuzz_target(
    target: FuzzTarget, *, runs: int, seed: int, time_limit: float = 10.0, memory: int = 1 << 30,
    budget: Optional[float] = None,
) -> Tuple[Counter, List[Failure]]:
    """``runs`` mutated inputs for one target (fewer if ``budget`` seconds run out): outcome counts, failures."""
    seeds = seed_inputs(target)
    _warm_up(target, seeds[0])
    counts: Counter = Counter()
    failures: List[Failure] = []
    started = time.monotonic()
    for i in range(runs):
        if budget is not None and time.monotonic() - started > budget:
            break
        rng = random.Random(f"{seed}:{target.name}:{i}")
        data = mutate(target, rng.choice(seeds), rng) if i >= len(seeds) else seeds[i]  # the seeds themselves first
        outcome = run_one(target, data, time_limit=time_limit, memory=memory)
        counts[outcome.kind] += 1
        if outcome.kind in FAILURES:
            failures.append(Failure(target.name, i, outcome, data))
    return counts, failures


def fuzz_round(
    targets: Sequence[FuzzTarget], *, runs: int, seed: int, **limits
) -> Tuple[Dict[str, Counter], List[Failure]]:
    """:func:`fuzz_target` over every target."""
    counts, failures = {}, []
    for target in targets:
        counts[target.name], found = fuzz_target(target, runs=runs, seed=seed, **limits)
        failures += found
    return counts, failures


def __getattr__(name: str):
    if name == "TARGETS":  # the registry lives in fuzz_targets.py, which builds on the harness above
        from fuzz_targets import TARGETS

        return TARGETS
    raise AttributeError(name)


__all__ = [  # and TARGETS, the registry (module __getattr__ above)
    "FuzzTarget", "Field", "Outcome", "fuzz_round", "fuzz_target", "run_one", "mutate",
           "zip_fields", "elf_fields", "OUTCOMES", "FAILURES"]
