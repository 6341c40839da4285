"""ELF facts read from a stream of bytes: what a shared object needs, without holding it in memory.

A wheel member arrives as inflated chunks, front to back. What the dynamic linker needs sits in a few places:
the ELF header and program headers (first few KiB), ``PT_INTERP`` and notes (early), ``PT_DYNAMIC`` (usually late:
after the code), and the ranges the dynamic segment points to (``.dynstr``, ``.gnu.version_r``, ``.dynsym``, usually
early, *before* the dynamic segment). So :func:`read_elf_facts` keeps a bounded prefix of the stream (``keep``
bytes) and drops everything after it; a range found later that lies in the dropped part is read again through
``reopen()`` (a second pass), which virtually never happens. It stops consuming the stream as soon as everything
needed has been read: the caller then stops inflating.

    >>> facts = read_elf_facts(iter([open("libdemo.so", "rb").read()]), "demo/libdemo.so")   # doctest: +SKIP
    >>> facts.needed, facts.version_requirements                                             # doctest: +SKIP
    (('libm.so.6', 'libc.so.6'), {'libc.so.6': ('GLIBC_2.2.5',)})

Malformed input never raises: the facts come back with a ``problems`` entry, and every loop and read is bounded.
Section headers are never used (they sit at the end of the file and may be stripped).
"""

from __future__ import annotations

import bisect
import struct
from dataclasses import replace
from typing import Callable, Collection, Dict, Iterator, List, Optional, Tuple

from elftools.elf.structs import ELFStructs

from ..model import ElfFacts

__all__ = ["read_elf_facts", "ELF_MAGIC", "machine_name"]

ELF_MAGIC = b"\x7fELF"

KEEP_DEFAULT = 64 << 20  # prefix kept in memory: holds .dynstr/.gnu.version_r even for tensorflow's 1.17 GB library
MAX_READ = 64 << 20  # largest single range (a string table, the symbol table)
MAX_PHNUM = 512  # real files have about 10 program headers
MAX_DYNAMIC = 1 << 20  # 65536 dynamic entries; real files have < 100
MAX_VERNEED = 4096  # libraries with version needs, and versions per library
MAX_STRING = 4096

PT_LOAD, PT_DYNAMIC, PT_INTERP, PT_NOTE = 1, 2, 3, 4
PT_GNU_PROPERTY = 0x6474E553
DT_NULL, DT_NEEDED, DT_HASH, DT_STRTAB, DT_SYMTAB, DT_STRSZ, DT_SYMENT = 0, 1, 4, 5, 6, 10, 11
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
DT_GNU_HASH, DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFEF5, 0x6FFFFFFE, 0x6FFFFFFF
NT_GNU_PROPERTY_TYPE_0 = 5
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


class _Window:
    """Random reads over a forward-only stream: a kept prefix, the stream ahead, and ``reopen`` for the rest."""

    def __init__(self, chunks: Iterator[bytes], reopen: Optional[Callable[[], Iterator[bytes]]], keep: int) -> None:
        self._chunks = chunks
        self._reopen = reopen
        self.keep = keep
        self._kept: List[bytes] = []  # chunks of the prefix, in order
        self._starts: List[int] = []  # their offsets
        self.kept_end = 0
        self.pos = 0  # bytes consumed from the stream
        self.rereads = 0

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
        return self._reread(offset, end)  # part of it was consumed and dropped

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
                self._kept.append(chunk)
                self._starts.append(start)
                self.kept_end = self.pos
            if self.pos > offset:
                parts.append(chunk[max(offset - start, 0) : end - start])
            if self.pos >= end:
                return b"".join(parts)
        raise _Unavailable(f"member ends at byte {self.pos}, before the range [{offset}, {end}) it refers to")

    def _reread(self, offset: int, end: int) -> bytes:
        """The range fell between the kept prefix and the stream position: stream the member again."""
        if self._reopen is None:
            raise _Unavailable(f"range [{offset}, {end}) lies beyond the kept prefix and the stream cannot reopen")
        self.rereads += 1
        pos, parts = 0, []
        for chunk in self._reopen():
            start, pos = pos, pos + len(chunk)
            if pos > offset:
                parts.append(chunk[max(offset - start, 0) : end - start])
            if pos >= end:
                return b"".join(parts)
        raise _Unavailable(f"member ends at byte {pos}, before the range [{offset}, {end}) it refers to")


def read_elf_facts(
    chunks: Iterator[bytes],
    path: str,
    *,
    size: Optional[int] = None,
    reopen: Optional[Callable[[], Iterator[bytes]]] = None,
    watch_symbols: Collection[str] = (),
    keep: int = KEEP_DEFAULT,
) -> ElfFacts:
    """The facts of the ELF file whose bytes ``chunks`` yields; ``path`` names it in the result.

    ``size`` (the member's size, when known) lets out-of-file ranges be reported without reading to the end.
    ``reopen()`` returns a fresh stream of the same bytes, used only when a needed range lies after the first
    ``keep`` bytes but before the point the stream has reached. ``watch_symbols`` are undefined symbol names to
    report in ``watched_symbols`` (auditwheel's policy blacklists). Never raises for bad bytes: see ``problems``.
    The stream is left unconsumed past the last byte needed; the caller closes it.
    """
    window = _Window(iter(chunks), reopen, keep)
    reader = _ElfReader(window, path, size, frozenset(watch_symbols))
    try:
        reader.parse()
    except _Unavailable as exc:
        reader.problem(str(exc))
    except (struct.error, ValueError, KeyError, IndexError) as exc:  # construct/struct on hostile bytes
        reader.problem(f"unreadable ELF structure: {exc}")
    return reader.facts()


class _ElfReader:
    """One pass over one ELF file: headers, program headers, dynamic segment, then the ranges it points to."""

    def __init__(self, window: _Window, path: str, size: Optional[int], watch: frozenset) -> None:
        self.w = window
        self.path = path
        self.size = size
        self.watch = watch
        self.fields: Dict[str, object] = {}
        self.problems: List[str] = []
        self.loads: List[Tuple[int, int, int]] = []  # (vaddr, offset, filesz) of PT_LOAD segments
        self.dyn: Dict[int, int] = {}  # first value of each single-valued DT_ tag
        self.dyn_strings: List[Tuple[int, int]] = []  # (tag, string offset) for NEEDED/SONAME/RPATH/RUNPATH
        self._strtab: Optional[bytes] = None

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
        self.segments_before_dynamic(phdrs)
        dynamic = [p for p in phdrs if p.p_type == "PT_DYNAMIC"]
        if not dynamic:
            return  # a static executable or an object file: it needs nothing from the loader
        self.read_dynamic(dynamic[0])
        self.read_dynamic_strings()
        self.read_version_needs()
        self.read_symbols()

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

    def segments_before_dynamic(self, phdrs: list) -> None:
        """PT_INTERP and the GNU property note, read in file order (they usually precede PT_DYNAMIC)."""
        for p in sorted(phdrs, key=lambda p: p.p_offset):
            if p.p_type == "PT_INTERP":
                raw = self.read(p.p_offset, min(p.p_filesz, MAX_STRING), "PT_INTERP")
                self.fields["interpreter"] = raw.split(b"\0", 1)[0].decode("utf-8", "replace")
        if self.fields.get("machine") != "x86_64":
            return
        notes = [p for p in phdrs if p.p_type == "PT_GNU_PROPERTY"] or [p for p in phdrs if p.p_type == "PT_NOTE"]
        for p in notes:
            level = self.x86_isa_level(self.read(p.p_offset, min(p.p_filesz, 1 << 16), "note segment"))
            if level:
                self.fields["isa_extension"] = level

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
        strsz = self.dyn.get(DT_STRSZ, 0)
        if strsz > MAX_READ:
            raise _Unavailable(f"string table of {strsz} bytes is absurd")
        self._strtab = self.read(self.offset_of(self.dyn[DT_STRTAB], "DT_STRTAB"), strsz, "string table")
        needed, rpath, runpath = [], [], []
        for tag, offset in self.dyn_strings:
            text = self.string(offset)
            if text is None:
                self.problem(f"dynamic entry string offset {offset} is out of range (table of {strsz} bytes)")
            elif tag == DT_NEEDED:
                needed.append(text)
            elif tag == DT_SONAME:
                self.fields.setdefault("soname", text)
            else:
                (rpath if tag == DT_RPATH else runpath).extend(p for p in text.split(":") if p)
        self.fields.update(needed=tuple(needed), rpath=tuple(rpath), runpath=tuple(runpath))

    def string(self, offset: int) -> Optional[str]:
        table = self._strtab
        if table is None or not 0 <= offset < len(table):
            return None
        end = table.find(b"\0", offset, offset + MAX_STRING)
        if end < 0:
            return None
        return table[offset:end].decode("utf-8", "surrogateescape")

    # -- .gnu.version_r ------------------------------------------------------------------------------------------

    def read_version_needs(self) -> None:
        """Walk the Verneed chain (DT_VERNEED/DT_VERNEEDNUM); loops and absurd counts become problems."""
        if DT_VERNEED not in self.dyn or self._strtab is None:
            return
        count = self.dyn.get(DT_VERNEEDNUM, 0)
        if count > MAX_VERNEED:
            raise _Unavailable(f"DT_VERNEEDNUM {count} is absurd")
        vn, vna = self.structs.Elf_Verneed, self.structs.Elf_Vernaux
        offset = self.offset_of(self.dyn[DT_VERNEED], "DT_VERNEED")
        seen = set()
        requirements: Dict[str, List[str]] = {}
        for _ in range(count):
            if offset in seen:
                self.problem(f"version needs chain loops back to offset {offset}")
                break
            seen.add(offset)
            need = vn.parse(self.read(offset, vn.sizeof(), "version need"))
            versions = requirements.setdefault(self.string(need.vn_file) or f"<bad name {need.vn_file}>", [])
            self.read_version_aux(offset + need.vn_aux, min(need.vn_cnt, MAX_VERNEED), vna, versions, seen)
            if need.vn_next == 0:
                break
            offset = self.advance(offset, need.vn_next)
        self.fields["version_requirements"] = {k: tuple(v) for k, v in requirements.items()}

    def advance(self, offset: int, step: int) -> int:
        """Follow a vn_next/vna_next link as a loader does: in a 32-bit file the address arithmetic wraps."""
        return (offset + step) & 0xFFFFFFFF if self.elf_class == 32 else offset + step

    def read_version_aux(self, offset: int, count: int, vna, versions: List[str], seen: set) -> None:
        for _ in range(count):
            if offset in seen:
                self.problem(f"version needs chain loops back to offset {offset}")
                return
            seen.add(offset)
            aux = vna.parse(self.read(offset, vna.sizeof(), "version need entry"))
            name = self.string(aux.vna_name)
            if name is None:
                self.problem(f"version name offset {aux.vna_name} is out of range")
            elif name not in versions:
                versions.append(name)
            if aux.vna_next == 0:
                return
            offset = self.advance(offset, aux.vna_next)

    # -- .dynsym: module init function and watched undefined symbols -------------------------------------------

    def read_symbols(self) -> None:
        """Find ``PyInit_<module>`` (or ``init<module>``) and the watched undefined symbols.

        A library may export 150,000 symbols, so names are not read for each: the init function is matched by its
        string-table offset (found with ``bytes.find``), and only undefined, non-weak symbols (the imports, far
        fewer) have their names read, and only when there are symbols to watch.
        """
        if DT_SYMTAB not in self.dyn or self._strtab is None:
            return
        module = self.path.rsplit("/", 1)[-1].split(".", 1)[0]
        inits = self.name_offsets({"PyInit_" + module, "init" + module, "_cffi_pypyinit_" + module})
        if not inits and not self.watch:
            return
        count = self.symbol_count()
        if count is None:
            return
        entsize = 24 if self.elf_class == 64 else 16
        raw = self.read(self.offset_of(self.dyn[DT_SYMTAB], "DT_SYMTAB"), count * entsize, "symbol table")
        end = "<" if self.little else ">"
        fmt, name_i, info_i, shndx_i = (end + "IBBHQQ", 0, 1, 3) if self.elf_class == 64 else (end + "IIIBBH", 0, 3, 5)
        watched = set()
        for sym in struct.iter_unpack(fmt, raw):
            if sym[shndx_i] == 0:  # undefined: an import
                if self.watch and sym[info_i] >> 4 != STB_WEAK:
                    name = self.string(sym[name_i])
                    if name in self.watch:
                        watched.add(name)
            elif sym[name_i] in inits and sym[info_i] & 0xF == STT_FUNC:
                self.fields["python_init"] = inits[sym[name_i]]
        self.fields["watched_symbols"] = tuple(sorted(watched))

    def name_offsets(self, names: set) -> Dict[int, str]:
        """String-table offset -> name, for every place the table holds exactly one of ``names``."""
        table, out = self._strtab or b"", {}
        for name in names:
            needle = name.encode() + b"\0"
            at = table.find(needle)
            while at >= 0:
                out[at] = name
                at = table.find(needle, at + 1)
        return out

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
                return index + 1
        raise _Unavailable("GNU hash chain never ends")
