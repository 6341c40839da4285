"""ELF facts read from a stream of bytes: what a shared object needs, without holding it in memory.

A wheel member arrives as inflated chunks, front to back. What the dynamic linker needs sits in a few places:
the ELF header and program headers (first few KiB), ``PT_INTERP`` and notes (early), ``PT_DYNAMIC`` (usually late:
after the code), and the tables the dynamic segment points to (``.dynsym``, ``.dynstr``, ``.gnu.version_r``, the
hash table), which come *before* the code. So :func:`read_elf_facts` keeps the prefix of the stream that holds
those tables (bounded: by ``keep``, by the end of the first read-only segment or the entry point, and by the end
of the string table, recognised as printable text giving way to binary data) and drops everything after it. It
stops consuming the stream as soon as the dynamic segment and what it points to have been read: the caller then
stops inflating. If a needed range was dropped after all, ``reopen()`` streams the member once more for every
such range together: a wrong guess costs time, never a wrong answer. Only the few strings needed are read, never
a whole string table (a big C++ library has 80 MB of them), and ``PyInit_<module>`` is looked up through the
hash table as the loader would.

    >>> facts = read_elf_facts(iter([open("libdemo.so", "rb").read()]), "demo/libdemo.so")   # doctest: +SKIP
    >>> facts.needed, facts.version_requirements                                             # doctest: +SKIP
    (('libm.so.6', 'libc.so.6'), {'libc.so.6': ('GLIBC_2.2.5',)})

Malformed input never raises: the facts come back with a ``problems`` entry, and every loop and read is bounded.
Section headers are never used (they sit at the end of the file and may be stripped).
"""

from __future__ import annotations

import array
import bisect
import json
import struct
import sys
import threading
from dataclasses import replace
from typing import Callable, Collection, Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from elftools.elf.structs import ELFStructs

from ..model import DlopenNote, ElfFacts

__all__ = ["read_elf_facts", "KeepBudget", "ELF_MAGIC", "machine_name"]

ELF_MAGIC = b"\x7fELF"

KEEP_DEFAULT = 128 << 20  # most of the prefix kept in memory (the tables' end bounds it far lower: metadata_end)
KEEP_BUDGET_DEFAULT = 128 << 20  # kept by all the threads reading one wheel together
TAIL = 8 << 20  # the last bytes consumed past the kept prefix, for reads just behind the stream position
REREAD_SPAN = 4 << 20  # captured after each range read in a second pass
REREAD_CACHE = 32 << 20  # spans of second passes kept at most
SOFT_KEEP = 16 << 20  # below this the whole prefix is kept; above, only until the string table ends
TABLES_AFTER_STRINGS = 8 << 20  # .gnu.version (2 bytes a symbol) and .gnu.version_r follow the string table
_PRINTABLE = bytes(range(32, 127))
MAX_READ = 64 << 20  # largest single range (a string table, the symbol table)
MAX_PHNUM = 512  # real files have about 10 program headers
MAX_DYNAMIC = 1 << 20  # 65536 dynamic entries; real files have < 100
MAX_VERNEED = 4096  # libraries with version needs, and versions per library
MAX_VERNEED_ENTRIES = 4096  # Verneed + Vernaux entries walked in all (real files: a few dozen)
MAX_STRING = 4096

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
PT_GNU_PROPERTY = 0x6474E553
DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 1, 4, 5, 6, 10, 11
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
DT_GNU_HASH, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFEF5, 0x6FFFFFFE, 0x6FFFFFFF
NT_GNU_PROPERTY_TYPE_0 = 5
NT_FDO_DLOPEN = 0x407C0C0A  # the FDO ELF dlopen-metadata note (.note.dlopen), read by nixpkgs' auto-patchelf
DLOPEN_PRIORITIES = ("required", "recommended", "suggested")
GNU_PROPERTY_X86_ISA_1_NEEDED = 0xC0008002
STB_WEAK, STT_NOTYPE, STT_FUNC = 2, 0, 2

# (e_machine, class, little endian) -> the name auditwheel and wheel tags use
_MACHINES = {
    ("EM_386", 32, True): "i686",
    ("EM_X86_64", 64, True): "x86_64",
    ("EM_PPC64", 64, True): "ppc64le",
    ("EM_PPC64", 64, False): "ppc64",
    ("EM_RISCV", 64, True): "riscv64",
    ("EM_AARCH64", 64, True): "aarch64",
    ("EM_S390", 64, False): "s390x",
    ("EM_ARM", 32, True): "armv7l",
    ("EM_LOONGARCH", 64, True): "loongarch64",
}


def machine_name(e_machine: str, elf_class: int, little_endian: bool) -> str:
    """The architecture name of wheel tags (``x86_64``, ``aarch64``...), else pyelftools' ``EM_*`` name."""
    return _MACHINES.get((e_machine, elf_class, little_endian), e_machine)


class _Unavailable(Exception):
    """A range that the member does not have (truncated, or out of bounds); becomes a ``problems`` entry."""


class KeepBudget:
    """Bytes that all the readers of one wheel may keep at once (they run on several threads).

    A reader that finds the budget spent stops keeping its prefix; if it needs a dropped range later, it streams
    the member again. Memory stays bounded whatever the number and size of the members read together.
    """

    def __init__(self, limit: int = KEEP_BUDGET_DEFAULT) -> None:
        self.available = limit
        self._lock = threading.Lock()

    def take(self, n: int) -> bool:
        with self._lock:
            if n > self.available:
                return False
            self.available -= n
            return True

    def give_back(self, n: int) -> None:
        with self._lock:
            self.available += n


class _Window:
    """Random reads over a forward-only stream: a kept prefix, the stream ahead, and ``reopen`` for the rest."""

    def __init__(
        self, chunks: Iterator[bytes], reopen: Optional[Callable[[], Iterator[bytes]]], keep: int,
        budget: Optional[KeepBudget] = None,
    ) -> None:
        self._budget = budget
        self._chunks = chunks
        self._reopen = reopen
        self.keep = keep
        self._kept: List[bytes] = []  # chunks of the prefix, in order
        self._starts: List[int] = []  # their offsets
        self.kept_end = 0
        self.pos = 0  # bytes consumed from the stream
        self.rereads = 0
        self._cache: List[Tuple[int, bytes]] = []  # spans read again, newest first
        self._tail: List[Tuple[int, bytes]] = []  # the last chunks consumed past the kept prefix

    def release(self) -> None:
        """Drop the kept prefix and return its bytes to the budget."""
        if self._budget is not None:
            self._budget.give_back(self.kept_end)
        self._kept, self._starts, self.kept_end, self._cache, self._tail = [], [], 0, [], []

    def limit_keep(self, bound: int) -> None:
        """Keep no more of the prefix than ``bound`` bytes (what is already kept stays)."""
        self.keep = min(self.keep, max(bound, self.kept_end))

    def read(self, offset: int, length: int) -> bytes:
        """Exactly ``length`` bytes at ``offset``; raises _Unavailable when the member does not have them."""
        if offset < 0 or length < 0 or length > MAX_READ:
            raise _Unavailable(f"range at offset {offset} of {length} bytes is out of bounds")
        end = offset + length
        if end <= self.kept_end:
            return self._from_kept(offset, end)
        if offset >= self.pos:
            return self._advance_to(offset, end)
        if self.kept_end == self.pos:  # starts in the kept prefix, ends ahead in the stream
            return self._from_kept(offset, self.kept_end) + self._advance_to(self.pos, end)
        if self._tail and offset >= self._tail[0][0]:  # just behind the stream position: still at hand
            held = b"".join(chunk for _, chunk in self._tail)[offset - self._tail[0][0] :]
            return held[:length] if end <= self.pos else held + self._advance_to(self.pos, end)
        return self._reread([(offset, end)])[0]  # part of it was consumed and dropped

    def read_many(self, ranges: List[Tuple[int, int]]) -> List[bytes]:
        """Several ``(offset, length)`` ranges; those already dropped are read again in a single second pass."""
        out: Dict[Tuple[int, int], bytes] = {}
        lost = []
        for offset, length in sorted(set(ranges)):
            end = offset + length
            at_hand = self._tail and offset >= self._tail[0][0]
            if end <= self.kept_end or offset >= self.pos or self.kept_end == self.pos or at_hand:
                out[(offset, length)] = self.read(offset, length)
            else:
                lost.append((offset, end))
        if lost:
            for (offset, end), data in zip(lost, self._reread(lost)):
                out[(offset, end - offset)] = data
        return [out[r] for r in ranges]

    def _from_kept(self, offset: int, end: int) -> bytes:
        i = bisect.bisect_right(self._starts, offset) - 1
        parts = []
        while offset < end:
            chunk, start = self._kept[i], self._starts[i]
            take = chunk[offset - start : end - start]
            parts.append(take)
            offset += len(take)
            i += 1
        return b"".join(parts)

    def _advance_to(self, offset: int, end: int) -> bytes:
        """Consume the stream up to ``end``, keeping the prefix and returning ``[offset, end)``."""
        parts = []
        for chunk in self._chunks:
            start = self.pos
            self.pos += len(chunk)
            if start < self.keep and start == self.kept_end:
                if self._budget is None or self._budget.take(len(chunk)):
                    self._kept.append(chunk)
                    self._starts.append(start)
                    self.kept_end = self.pos
                    self._watch_string_table_end(chunk)
                else:
                    self.keep = self.kept_end  # the other readers hold the budget: rely on a second pass
            if start >= self.kept_end:  # past the kept prefix: hold the last few chunks for reads just behind
                self._tail.append((start, chunk))
                while self._tail and self.pos - self._tail[0][0] > TAIL:
                    self._tail.pop(0)
            if self.pos > offset:
                parts.append(chunk[max(offset - start, 0) : end - start])
            if self.pos >= end:
                return b"".join(parts)
            del chunk
        raise _Unavailable(f"member ends at byte {self.pos}, before the range [{offset}, {end}) it refers to")

    def _watch_string_table_end(self, chunk: bytes) -> None:
        """Past a large prefix, stop keeping soon after the string table: a mostly printable run of chunks that
        gives way to binary data (.gnu.version, .gnu.version_r, then relocations or code). Saves up to 100 MB on
        the biggest C++ libraries; a wrong guess costs a second pass, never a wrong answer."""
        if self.kept_end < SOFT_KEEP or len(chunk) < 4096:
            return
        sample = chunk[:65536]  # a sample tells text from binary as well as the whole chunk, 16x cheaper
        printable = len(sample) - len(sample.translate(None, _PRINTABLE))
        if printable * 4 > len(sample) * 3:
            self._in_strings = True
        elif getattr(self, "_in_strings", False):
            self.keep = min(self.keep, self.kept_end + TABLES_AFTER_STRINGS)
            self._in_strings = False

    def _reread(self, ranges: List[Tuple[int, int]]) -> List[bytes]:
        """The ranges fell between the kept prefix and the stream position: stream the member again, once.

        Each range is captured with the few MiB after it, since the next reads (hash chains, symbols, strings)
        land nearby: a second pass per table, not per read.
        """
        if all(self._cached(offset, end) is not None for offset, end in ranges):
            return [self._cached(offset, end) for offset, end in ranges]  # type: ignore[misc]
        if self._reopen is None:
            raise _Unavailable(f"range {list(ranges[0])} lies beyond the kept prefix and the stream cannot reopen")
        self.rereads += 1
        spans: List[List[int]] = []
        for offset, end in sorted(ranges):
            span_end = max(end, offset + REREAD_SPAN)
            offset = max(0, offset - REREAD_SPAN // 4)  # and a little before: a table's header precedes it
            if spans and offset <= spans[-1][1]:
                spans[-1][1] = max(spans[-1][1], span_end)
            else:
                spans.append([offset, span_end])
        parts: List[List[bytes]] = [[] for _ in spans]
        last, pos = spans[-1][1], 0
        for chunk in self._reopen():
            start, pos = pos, pos + len(chunk)
            for i, (offset, end) in enumerate(spans):
                if start < end and pos > offset:
                    parts[i].append(chunk[max(offset - start, 0) : end - start])
            if pos >= last:
                break
        for (offset, _), captured in zip(spans, parts):
            self._cache.insert(0, (offset, b"".join(captured)))
        while sum(len(data) for _, data in self._cache) > REREAD_CACHE and len(self._cache) > len(spans):
            self._cache.pop()
        out = [self._cached(offset, end) for offset, end in ranges]
        if any(data is None for data in out):
            raise _Unavailable(f"member ends at byte {pos}, before a range it refers to")
        return out  # type: ignore[return-value]

    def _cached(self, offset: int, end: int) -> Optional[bytes]:
        for start, data in self._cache:
            if start <= offset and end <= start + len(data):
                return data[offset - start : end - start]
        return None


def read_elf_facts(
    chunks: Iterator[bytes],
    path: str,
    *,
    size: Optional[int] = None,
    reopen: Optional[Callable[[], Iterator[bytes]]] = None,
    watch_symbols: Union[Mapping[str, Collection[str]], Callable[[ElfFacts], Collection[str]]] = {},
    keep: int = KEEP_DEFAULT,
    budget: Optional[KeepBudget] = None,
) -> ElfFacts:
    """The facts of the ELF file whose bytes ``chunks`` yields; ``path`` names it in the result.

    ``size`` (the member's size, when known) lets out-of-file ranges be reported without reading to the end.
    ``reopen()`` returns a fresh stream of the same bytes, used only when a needed range lies after the first
    ``keep`` bytes but before the point the stream has reached. ``watch_symbols`` maps a needed soname to undefined symbol
    names to report in ``watched_symbols`` (auditwheel's policy blacklists); the key ``"*"`` applies to Python
    extensions whatever they need (PyFPE_jbuf). It may also be a function of the facts read so far (needs,
    version needs, init function) that returns the names. The symbol table is read only when a watch applies. Never raises for bad bytes: see ``problems``.
    The stream is left unconsumed past the last byte needed; the caller closes it.
    """
    window = _Window(iter(chunks), reopen, keep, budget)
    reader = _ElfReader(window, path, size, watch_symbols)
    try:
        reader.parse()
    except _Unavailable as exc:
        reader.problem(str(exc))
    except (struct.error, ValueError, KeyError, IndexError) as exc:  # construct/struct on hostile bytes
        reader.problem(f"unreadable ELF structure: {exc}")
    finally:
        window.release()
    return reader.facts()


class _ElfReader:
    """One pass over one ELF file: headers, program headers, dynamic segment, then the ranges it points to."""

    def __init__(self, window: _Window, path: str, size: Optional[int], watch) -> None:
        self.w = window
        self.path = path
        self.size = size
        self.watch = watch
        self.fields: Dict[str, object] = {}
        self.problems: List[str] = []
        self.loads: List[Tuple[int, int, int]] = []  # (vaddr, offset, filesz) of PT_LOAD segments
        self.dyn: Dict[int, int] = {}  # first value of each single-valued DT_ tag
        self.dyn_strings: List[Tuple[int, int]] = []  # (tag, string offset) for NEEDED/SONAME/RPATH/RUNPATH

    def problem(self, text: str) -> None:
        self.problems.append(text)

    def facts(self) -> ElfFacts:
        return replace(ElfFacts(path=self.path), problems=tuple(self.problems), **self.fields)

    def read(self, offset: int, length: int, what: str) -> bytes:
        if self.size is not None and offset + length > self.size:
            raise _Unavailable(f"{what} [{offset}, {offset + length}) lies outside the file ({self.size} bytes)")
        return self.w.read(offset, length)

    # -- headers ------------------------------------------------------------------------------------------------

    def parse(self) -> None:
        ident = self.read(0, 16, "ELF identification")
        if ident[:4] != ELF_MAGIC:
            raise _Unavailable("not an ELF file")
        if ident[4] not in (1, 2) or ident[5] not in (1, 2):
            raise _Unavailable(f"unknown ELF class {ident[4]} or data encoding {ident[5]}")
        elf_class, little = 32 * ident[4], ident[5] == 1
        self.structs = ELFStructs(little_endian=little, elfclass=elf_class)
        self.structs.create_basic_structs()
        ehdr = self.structs.Elf_Ehdr.parse(self.read(0, self.structs.Elf_Ehdr.sizeof(), "ELF header"))
        self.structs.create_advanced_structs(ehdr.e_type, ehdr.e_machine, ehdr.e_ident.EI_OSABI)
        self.little, self.elf_class = little, elf_class
        self.fields.update(
            elf_class=elf_class,
            endian="little" if little else "big",
            machine=machine_name(ehdr.e_machine, elf_class, little),
            osabi=str(ehdr.e_ident.EI_OSABI),
        )
        phdrs = self.program_headers(ehdr)
        self.w.limit_keep(self.metadata_end(ehdr, phdrs))
        dynamic = [p for p in phdrs if p.p_type == "PT_DYNAMIC"]
        if not dynamic:  # a static executable or an object file: it needs nothing from the loader
            self.small_segments(phdrs, before=None)
            return
        self.small_segments(phdrs, before=dynamic[0].p_offset)
        self.read_dynamic(dynamic[0])
        self.read_dynamic_strings()
        self.read_version_needs()
        self.read_symbols()
        self.small_segments(phdrs, before=None, after=dynamic[0].p_offset)

    def program_headers(self, ehdr) -> list:
        entsize = self.structs.Elf_Phdr.sizeof()
        if ehdr.e_phnum > MAX_PHNUM:
            raise _Unavailable(f"program header count {ehdr.e_phnum} is absurd (more than {MAX_PHNUM})")
        if ehdr.e_phnum and ehdr.e_phentsize != entsize:
            raise _Unavailable(f"program header entry size {ehdr.e_phentsize} is not {entsize}")
        raw = self.read(ehdr.e_phoff, ehdr.e_phnum * entsize, "program headers")
        phdrs = [self.structs.Elf_Phdr.parse(raw[i : i + entsize]) for i in range(0, len(raw), entsize)]
        self.loads = sorted((p.p_vaddr, p.p_offset, p.p_filesz) for p in phdrs if p.p_type == "PT_LOAD")
        return phdrs

    def metadata_end(self, ehdr, phdrs: list) -> int:
        """Where the linker's tables (.dynsym, .dynstr, .gnu.version_r...) end at the latest, to keep no more.

        They precede the code: with ``-z separate-code`` they fill the first, read-only PT_LOAD; in older layouts
        the code starts at the entry point. A guess that is wrong costs a second pass, never a wrong answer.
        """
        bounds = [p.p_offset for p in phdrs if p.p_type == "PT_DYNAMIC"]
        loads = sorted((p for p in phdrs if p.p_type == "PT_LOAD"), key=lambda p: p.p_offset)
        if loads and loads[0].p_offset == 0 and not loads[0].p_flags & 1:  # PF_X
            bounds.append(loads[0].p_filesz)
        if ehdr.e_entry:
            try:
                bounds.append(self.offset_of(ehdr.e_entry, "entry point"))
            except _Unavailable:
                pass
        return min(bounds, default=self.w.keep)

    def small_segments(self, phdrs: list, before: Optional[int], after: Optional[int] = None) -> None:
        """PT_INTERP and the GNU property note lying before ``before`` (or from ``after`` on).

        They usually precede PT_DYNAMIC; patchelf moves some to the end of the file, and those are read last so
        that the dynamic segment is not left behind the stream position.
        """
        def wanted(p) -> bool:
            return (before is None or p.p_offset < before) and (after is None or p.p_offset >= after)

        for p in phdrs:
            if p.p_type == "PT_INTERP" and wanted(p):
                raw = self.read(p.p_offset, min(p.p_filesz, MAX_STRING), "PT_INTERP")
                self.fields["interpreter"] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        for p in phdrs:
            if p.p_type == "PT_NOTE" and wanted(p):
                raw = self.read(p.p_offset, min(p.p_filesz, 1 << 16), "note segment")
                self.dlopen_notes(raw, 8 if p.p_align == 8 else 4)
        if self.fields.get("machine") != "x86_64":
            return
        notes = [p for p in phdrs if p.p_type == "PT_GNU_PROPERTY"] or [p for p in phdrs if p.p_type == "PT_NOTE"]
        for p in notes:
            if wanted(p):
                level = self.x86_isa_level(self.read(p.p_offset, min(p.p_filesz, 1 << 16), "note segment"))
                if level:
                    self.fields["isa_extension"] = level

    def dlopen_notes(self, raw: bytes, align: int) -> None:
        """Libraries the file loads with dlopen(), as its FDO ``.note.dlopen`` notes declare them."""
        end = "<" if self.little else ">"
        pos = 0
        found = list(self.fields.get("dlopen", ()))
        while pos + 12 <= len(raw):
            namesz, descsz, ntype = struct.unpack_from(end + "III", raw, pos)
            name_at = pos + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            pos = desc_at + (descsz + align - 1) // align * align
            if ntype != NT_FDO_DLOPEN or raw[name_at : name_at + namesz] != b"FDO\0":
                continue
            try:
                entries = json.loads(raw[desc_at : desc_at + descsz].rstrip(b"\0").decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                self.problem(f"unreadable .note.dlopen: {exc}")
                continue
            for entry in entries if isinstance(entries, list) else [entries]:
                note = _dlopen_note(entry)
                if note is None:
                    self.problem(f"malformed .note.dlopen entry: {str(entry)[:200]}")
                else:
                    found.append(note)
        if found:
            self.fields["dlopen"] = tuple(found)

    def x86_isa_level(self, raw: bytes) -> Optional[str]:
        """The x86-64 level a NT_GNU_PROPERTY_TYPE_0 note requires (auditwheel's reading of the ISA bits)."""
        end = "<" if self.little else ">"
        pos = 0
        while pos + 12 <= len(raw):
            namesz, descsz, ntype = struct.unpack_from(end + "III", raw, pos)
            name_at = pos + 12
            desc_at = name_at + (namesz + 3) // 4 * 4
            pos = desc_at + (descsz + 7) // 8 * 8 if self.elf_class == 64 else desc_at + (descsz + 3) // 4 * 4
            if ntype != NT_GNU_PROPERTY_TYPE_0 or raw[name_at : name_at + namesz] != b"GNU\0":
                continue
            desc = raw[desc_at : desc_at + descsz]
            at = 0
            while at + 8 <= len(desc):
                pr_type, pr_datasz = struct.unpack_from(end + "II", desc, at)
                if pr_type == GNU_PROPERTY_X86_ISA_1_NEEDED and pr_datasz == 4 and at + 12 <= len(desc):
                    bits = struct.unpack_from(end + "I", desc, at + 8)[0] & ~1
                    for bit, level in ((8, "x86_64_v4"), (4, "x86_64_v3"), (2, "x86_64_v2")):
                        if bits & bit:
                            return level
                    return None
                at += 8 + (pr_datasz + 7) // 8 * 8
        return None

    # -- dynamic segment ----------------------------------------------------------------------------------------

    def read_dynamic(self, phdr) -> None:
        if phdr.p_filesz > MAX_DYNAMIC:
            raise _Unavailable(f"dynamic segment of {phdr.p_filesz} bytes is absurd")
        raw = self.read(phdr.p_offset, phdr.p_filesz, "dynamic segment")
        fmt = ("<" if self.little else ">") + ("qQ" if self.elf_class == 64 else "iI")
        for tag, value in struct.iter_unpack(fmt, raw[: len(raw) // struct.calcsize(fmt) * struct.calcsize(fmt)]):
            if tag == DT_NULL:
                break
            if tag in (DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH):
                self.dyn_strings.append((tag, value))
            else:
                self.dyn.setdefault(tag, value)

    def offset_of(self, addr: int, what: str) -> int:
        """The file offset of a virtual address, through the PT_LOAD segments."""
        for vaddr, offset, filesz in self.loads:
            if vaddr <= addr < vaddr + filesz:
                return addr - vaddr + offset
        raise _Unavailable(f"{what} address {addr:#x} lies in no loaded segment")

    def read_dynamic_strings(self) -> None:
        if DT_STRTAB not in self.dyn:
            if self.dyn_strings:
                self.problem("dynamic segment has DT_NEEDED entries but no DT_STRTAB")
            return
        self.strtab = (self.offset_of(self.dyn[DT_STRTAB], "DT_STRTAB"), self.dyn.get(DT_STRSZ, 0))
        if self.size is not None and sum(self.strtab) > self.size:
            raise _Unavailable(f"string table [{self.strtab[0]}, {sum(self.strtab)}) lies outside the file")
        texts = self.strings(offset for _, offset in self.dyn_strings)
        needed, rpath, runpath = [], [], []
        for tag, offset in self.dyn_strings:
            text = texts.get(offset)
            if text is None:
                self.problem(f"dynamic entry string offset {offset} is out of range (table of {self.strtab[1]} bytes)")
            elif tag == DT_NEEDED:
                needed.append(text)
            elif tag == DT_SONAME:
                self.fields.setdefault("soname", text)
            else:
                (rpath if tag == DT_RPATH else runpath).extend(p for p in text.split(":") if p)
        self.fields.update(needed=tuple(needed), rpath=tuple(rpath), runpath=tuple(runpath))

    def strings(self, offsets: Iterable[int]) -> Dict[int, str]:
        """String-table offset -> string, for the offsets inside the table; read in one batch, never the table.

        A library's .dynstr can be 80 MB; only the few strings asked for are read.
        """
        base, size = self.strtab
        wanted = sorted({o for o in offsets if 0 <= o < size})
        ranges = [(base + o, min(256, size - o)) for o in wanted]
        out: Dict[int, str] = {}
        for o, raw in zip(wanted, self.w.read_many(ranges)):
            end = raw.find(b"\0")
            if end < 0 and len(raw) == 256:  # a long string: one more read
                raw = self.w.read(base + o, min(MAX_STRING, size - o))
                end = raw.find(b"\0")
            if end >= 0:
                out[o] = raw[:end].decode("utf-8", "surrogateescape")
        return out

    # -- .gnu.version_r ------------------------------------------------------------------------------------------

    def read_version_needs(self) -> None:
        """Walk the Verneed chain (DT_VERNEED/DT_VERNEEDNUM); loops and absurd counts become problems."""
        if DT_VERNEED not in self.dyn or not hasattr(self, "strtab"):
            return
        count = self.dyn.get(DT_VERNEEDNUM, 0)
        if count > MAX_VERNEED:
            raise _Unavailable(f"DT_VERNEEDNUM {count} is absurd")
        start = self.offset_of(self.dyn[DT_VERNEED], "DT_VERNEED")
        # the section is small and contiguous: one read serves the whole walk in every real file
        block_len = 16 * count * 16 if self.size is None else min(16 * count * 16, max(self.size - start, 0))
        block = self.read(start, min(block_len, 1 << 16), "version needs")
        needs = self.walk_version_needs(start, count, block)
        texts = self.strings([f for f, _ in needs] + [v for _, vs in needs for v in vs])
        requirements: Dict[str, Dict[str, None]] = {}  # dicts: ordered sets, so a repeat costs no list scan
        for file_offset, version_offsets in needs:
            versions = requirements.setdefault(texts.get(file_offset, f"<bad name {file_offset}>"), {})
            for v in version_offsets:
                if v not in texts:
                    self.problem(f"version name offset {v} is out of range")
                else:
                    versions.setdefault(texts[v])
        self.fields["version_requirements"] = {k: tuple(v) for k, v in requirements.items()}

    def walk_version_needs(self, start: int, count: int, block: bytes) -> List[Tuple[int, List[int]]]:
        """[(vn_file, [vna_name...])] in chain order; reads come from ``block`` when they fall inside it."""
        vn, vna = self.structs.Elf_Verneed, self.structs.Elf_Vernaux

        def entry(struct_, offset: int, what: str):
            rel = offset - start
            if 0 <= rel and rel + struct_.sizeof() <= len(block):
                return struct_.parse(block[rel : rel + struct_.sizeof()])
            return struct_.parse(self.read(offset, struct_.sizeof(), what))

        # each entry is 16 bytes of the file: the walk never visits more entries than the bytes after the
        # section's start can hold, nor more than real files have by far (overlapping hostile chains otherwise
        # visit millions of offsets)
        budget = MAX_VERNEED_ENTRIES if self.size is None else min(MAX_VERNEED_ENTRIES, max(self.size - start, 0) // 16)
        seen, out, offset = set(), [], start
        for _ in range(count):
            if offset in seen:
                self.problem(f"version needs chain loops back to offset {offset}")
                break
            if len(seen) >= budget:
                self.problem(f"version needs chain has more than {budget} entries; the rest is not read")
                break
            seen.add(offset)
            need = entry(vn, offset, "version need")
            names: List[int] = []
            aux_at = self.advance(offset, need.vn_aux)
            for _ in range(min(need.vn_cnt, MAX_VERNEED)):
                if aux_at in seen:
                    self.problem(f"version needs chain loops back to offset {aux_at}")
                    break
                if len(seen) >= budget:
                    self.problem(f"version needs chain has more than {budget} entries; the rest is not read")
                    break
                seen.add(aux_at)
                aux = entry(vna, aux_at, "version need entry")
                names.append(aux.vna_name)
                if aux.vna_next == 0:
                    break
                aux_at = self.advance(aux_at, aux.vna_next)
            out.append((need.vn_file, names))
            if need.vn_next == 0:
                break
            offset = self.advance(offset, need.vn_next)
        return out

    def advance(self, offset: int, step: int) -> int:
        """Follow a vn_next/vna_next link as a loader does: in a 32-bit file the address arithmetic wraps."""
        return (offset + step) & 0xFFFFFFFF if self.elf_class == 32 else offset + step

    # -- .dynsym: module init function and watched undefined symbols -------------------------------------------

    def read_symbols(self) -> None:
        """Find ``PyInit_<module>`` (or ``init<module>``) through the hash table, and the watched imports."""
        if DT_SYMTAB not in self.dyn or not hasattr(self, "strtab"):
            return
        self.symtab = self.offset_of(self.dyn[DT_SYMTAB], "DT_SYMTAB")
        self.sym = struct.Struct(("<" if self.little else ">") + ("IBBHQQ" if self.elf_class == 64 else "IIIBBH"))
        module = self.path.rsplit("/", 1)[-1].split(".", 1)[0]
        for name in ("PyInit_" + module, "init" + module, "_cffi_pypyinit_" + module):
            if self.defines_function(name):
                self.fields["python_init"] = name
                break
        if callable(self.watch):
            names = set(self.watch(self.facts()))
        else:
            names = {n for soname in self.fields.get("needed", ()) for n in self.watch.get(soname, ())}
            if "python_init" in self.fields:
                names.update(self.watch.get("*", ()))
        if names:
            self.fields["watched_symbols"] = self.watched_imports(frozenset(names))

    def unpack_symbol(self, raw: bytes) -> Tuple[int, int, int]:
        """(st_name, st_info, st_shndx) of one symbol entry."""
        fields = self.sym.unpack(raw)
        return (fields[0], fields[1], fields[3]) if self.elf_class == 64 else (fields[0], fields[3], fields[5])

    def defines_function(self, name: str) -> bool:
        """Whether the library defines the function ``name``, looked up as the loader does (GNU or SysV hash)."""
        for index in self.hash_candidates(name):
            raw = self.read(self.symtab + index * self.sym.size, self.sym.size, "symbol")
            st_name, info, shndx = self.unpack_symbol(raw)
            if self.strings([st_name]).get(st_name) == name:
                return shndx != 0 and info & 0xF == STT_FUNC
        return False

    def hash_candidates(self, name: str) -> Iterator[int]:
        """Symbol indexes whose hash matches ``name``: the chain of its bucket."""
        end = "<" if self.little else ">"
        if DT_GNU_HASH in self.dyn:
            at = self.offset_of(self.dyn[DT_GNU_HASH], "DT_GNU_HASH")
            nbuckets, symoffset, bloom_size, _ = struct.unpack(end + "IIII", self.read(at, 16, "GNU hash table"))
            if not nbuckets:
                return
            h = 5381
            for byte in name.encode():
                h = (h * 33 + byte) & 0xFFFFFFFF
            buckets_at = at + 16 + bloom_size * (self.elf_class // 8)
            (index,) = struct.unpack(end + "I", self.read(buckets_at + 4 * (h % nbuckets), 4, "GNU hash bucket"))
            chain_at = buckets_at + 4 * nbuckets
            for _ in range(1 << 16):
                if index < symoffset:
                    return
                (value,) = struct.unpack(end + "I", self.read(chain_at + 4 * (index - symoffset), 4, "GNU hash chain"))
                if (value | 1) == (h | 1):
                    yield index
                if value & 1:
                    return
                index += 1
        elif DT_HASH in self.dyn:
            at = self.offset_of(self.dyn[DT_HASH], "DT_HASH")
            nbucket, nchain = struct.unpack(end + "II", self.read(at, 8, "hash table"))
            if not nbucket:
                return
            h = 0
            for byte in name.encode():
                h = ((h << 4) + byte) & 0xFFFFFFFF
                h = (h ^ (h >> 24 & 0xF0)) & 0x0FFFFFFF
            (index,) = struct.unpack(end + "I", self.read(at + 8 + 4 * (h % nbucket), 4, "hash bucket"))
            for _ in range(min(nchain, 1 << 20)):
                if index == 0 or index >= nchain:
                    return
                yield index
                (index,) = struct.unpack(end + "I", self.read(at + 8 + 4 * (nbucket + index), 4, "hash chain"))

    def watched_imports(self, watch: frozenset) -> Tuple[str, ...]:
        """The undefined, non-weak symbols whose names are in the watch list."""
        count = self.symbol_count()
        if count is None:
            return ()
        offsets = []
        per_slice = (1 << 20) // self.sym.size  # a slice at a time: the table of a big library is 10+ MB
        for first in range(0, count, per_slice):
            n = min(per_slice, count - first)
            raw = self.read(self.symtab + first * self.sym.size, n * self.sym.size, "symbol table")
            halves = array.array("H")
            halves.frombytes(raw)
            if self.little != (sys.byteorder == "little"):
                halves.byteswap()
            step = self.sym.size // 2  # st_shndx: the 4th half-word of an ELF64 entry, the 8th of an ELF32 one
            column = halves[3::step] if self.elf_class == 64 else halves[7::step]
            for i in (i for i, shndx in enumerate(column) if shndx == 0):
                st_name, info, _ = self.unpack_symbol(raw[i * self.sym.size : (i + 1) * self.sym.size])
                if info >> 4 != STB_WEAK:
                    offsets.append(st_name)
        names = self.strings(offsets)
        return tuple(sorted({n for n in names.values() if n in watch}))

    def symbol_count(self) -> Optional[int]:
        """Number of .dynsym entries: DT_HASH's nchain, else the highest index the DT_GNU_HASH chains reach."""
        end = "<" if self.little else ">"
        if DT_HASH in self.dyn:
            raw = self.read(self.offset_of(self.dyn[DT_HASH], "DT_HASH"), 8, "hash table")
            return min(struct.unpack(end + "II", raw)[1], MAX_READ // 24)
        if DT_GNU_HASH not in self.dyn:
            self.problem("no DT_HASH or DT_GNU_HASH: symbol table size unknown, symbols not checked")
            return None
        at = self.offset_of(self.dyn[DT_GNU_HASH], "DT_GNU_HASH")
        nbuckets, symoffset, bloom_size, _ = struct.unpack(end + "IIII", self.read(at, 16, "GNU hash table"))
        if nbuckets > MAX_READ // 4 or bloom_size > MAX_READ // 8:
            raise _Unavailable(f"GNU hash table with {nbuckets} buckets is absurd")
        buckets_at = at + 16 + bloom_size * (self.elf_class // 8)
        buckets = struct.unpack(f"{end}{nbuckets}I", self.read(buckets_at, 4 * nbuckets, "GNU hash buckets"))
        last = max(buckets, default=0)
        if last < symoffset:
            return symoffset
        chain_at = buckets_at + 4 * nbuckets
        for index in range(last, last + (1 << 20)):  # a chain ends at an entry with the low bit set
            (value,) = struct.unpack(end + "I", self.read(chain_at + 4 * (index - symoffset), 4, "GNU hash chain"))
            if value & 1:
                return min(index + 1, MAX_READ // 24)
        raise _Unavailable("GNU hash chain never ends")


def _dlopen_note(entry: object) -> Optional[DlopenNote]:
    """One entry of a ``.note.dlopen`` JSON array, or None when it breaks the format."""
    if not isinstance(entry, dict):
        return None
    sonames = entry.get("soname")
    priority = entry.get("priority", "recommended")
    if not isinstance(sonames, list) or not sonames or not all(isinstance(s, str) and s for s in sonames):
        return None
    if priority not in DLOPEN_PRIORITIES:
        return None
    feature, description = entry.get("feature", ""), entry.get("description", "")
    return DlopenNote(
        sonames=tuple(sonames),
        priority=priority,
        feature=feature if isinstance(feature, str) else "",
        description=description if isinstance(description, str) else "",
    )
