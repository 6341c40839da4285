"""PE facts of one streamed wheel member (DLL, .pyd, .exe): machine, imported and delay-loaded DLLs.

pefile parses; this module only decides which bytes it sees. pefile wants the file as one buffer, so it gets an
anonymous memory map of the member's size into which only the headers and the sections holding the import and
delay-import directories are written: untouched pages of such a map cost no memory, so a 200 MB DLL costs the
size of its ``.rdata``, and the member is inflated once, front to back, up to the end of the last of them::

    >>> facts = read_pe_facts(lambda: iter([data]), "pkg/_ext.cp311-win_amd64.pyd", len(data))   # doctest: +SKIP
    >>> facts.machine, facts.imports, facts.delay_imports                                          # doctest: +SKIP
    ('amd64', ('python311.dll', 'KERNEL32.dll'), ())

A name that points outside the sections read makes the member be read a second time with that section kept too.
What pefile cannot read (bad headers, import tables out of range) becomes a ``problems`` entry of the member.
"""

from __future__ import annotations

import mmap
import struct
from typing import Callable, Iterator, List, Set, Tuple

import pefile

from ..errors import WheelmetaError
from ..model import PEFacts
from .members import ForwardReader

__all__ = ["is_pe", "read_pe_facts"]

_IMPORT = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]
_DELAY_IMPORT = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT"]
_HEADER_BYTES = 64 << 10  # DOS + NT headers and the section table; SizeOfHeaders is 0x400-0x1000 in practice
_MAX_DLL_NAME = 256
_PIECE = 1 << 20
_ROUNDS = 3  # reads of the member at most: each may add sections that names pointed into
# directory -> (descriptor size, offset of its name RVA): IMAGE_IMPORT_DESCRIPTOR.Name, ImgDelayDescr.szName
_DESCRIPTORS = {_IMPORT: (20, 12), _DELAY_IMPORT: (32, 4)}
_MAX_DESCRIPTORS = 4096


def is_pe(head: bytes) -> bool:
    """Whether the first bytes of a member are a DOS header (``MZ``), as every PE file starts."""
    return head[:2] == b"MZ"


def read_pe_facts(open_chunks: Callable[[], Iterator[bytes]], path: str, size: int) -> PEFacts:
    """The PE facts of the member whose inflated bytes each call of ``open_chunks`` yields from the start."""
    if size < 64:
        return PEFacts(path=path, problems=("truncated DOS header",))
    try:
        buffer = mmap.mmap(-1, size)  # address space only: pages never written cost no memory
    except (OSError, OverflowError, ValueError) as exc:
        return PEFacts(path=path, problems=(f"cannot map a member of {size} bytes ({exc})",))
    try:
        return _read(open_chunks, path, size, buffer)
    except WheelmetaError:
        raise  # the zip layer's own errors (corrupt deflate data) are the caller's to report
    except Exception as exc:  # noqa: BLE001 - pefile signals some malformed input with assorted exception types
        return PEFacts(path=path, problems=(f"unreadable PE file ({type(exc).__name__}: {exc})",))
    finally:
        buffer.close()


def _read(open_chunks: Callable[[], Iterator[bytes]], path: str, size: int, buffer: mmap.mmap) -> PEFacts:
    kept: List[Tuple[int, int]] = [(0, min(size, _HEADER_BYTES))]
    _fill(open_chunks(), size, kept, buffer)
    try:
        pe = pefile.PE(data=buffer, fast_load=True)
    except pefile.PEFormatError as exc:
        return PEFacts(path=path, problems=(f"not a readable PE file: {exc.value}",))
    try:
        for _ in range(_ROUNDS):
            wanted = _missing(_directory_ranges(pe) | _name_ranges(pe, kept), kept)
            if not wanted:
                break
            kept = sorted(kept + wanted)
            _fill(open_chunks(), size, wanted, buffer)
        problems = _parse_imports(pe)
        imports = _dll_names(pe, "DIRECTORY_ENTRY_IMPORT", kept, problems)
        delay = _dll_names(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", kept, problems)
        for index, attribute, label in ((_IMPORT, "DIRECTORY_ENTRY_IMPORT", "import"),
                                        (_DELAY_IMPORT, "DIRECTORY_ENTRY_DELAY_IMPORT", "delay import")):
            found, parsed = len(_descriptor_names(pe, index)), len(getattr(pe, attribute, []))
            if parsed < found:
                problems.append(f"{label} directory: {found} descriptors, only {parsed} with a readable DLL name")
        machine = pefile.MACHINE_TYPE.get(pe.FILE_HEADER.Machine, f"machine 0x{pe.FILE_HEADER.Machine:x}")
        bits = 64 if pe.OPTIONAL_HEADER.Magic == pefile.OPTIONAL_HEADER_MAGIC_PE_PLUS else 32
        return PEFacts(
            path=path,
            machine=machine.replace("IMAGE_FILE_MACHINE_", "").lower(),
            bits=bits,
            dll=pe.is_dll(),
            imports=imports,
            delay_imports=delay,
            problems=tuple(problems),
        )
    finally:
        pe.close()


def _fill(chunks: Iterator[bytes], size: int, ranges: List[Tuple[int, int]], buffer: mmap.mmap) -> None:
    """Write the member's bytes of each (start, end) range, in increasing order, into ``buffer``."""
    reader = ForwardReader(chunks, size)
    try:
        for start, end in sorted(ranges):
            start = max(start, reader.position)
            while end > start:  # a piece at a time: a section of .rdata is never held twice
                data = reader.read(start, min(end - start, _PIECE))
                if not data:
                    break
                buffer[start : start + len(data)] = data
                start += len(data)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()  # stop inflating: the rest of the member is not needed


def _directory_ranges(pe: pefile.PE) -> Set[Tuple[int, int]]:
    """File ranges of the sections holding the import and delay-import directories."""
    out = set()
    directories = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    for index in (_IMPORT, _DELAY_IMPORT):
        if index < len(directories) and directories[index].VirtualAddress:
            out |= _section_range(pe, directories[index].VirtualAddress)
    return out


def _name_ranges(pe: pefile.PE, kept: List[Tuple[int, int]]) -> Set[Tuple[int, int]]:
    """File ranges of the sections that DLL names of the directories parsed so far point into."""
    out = set()
    for rva in _name_rvas(pe):
        offset = _offset(pe, rva)
        if offset is not None and not _inside(offset, kept):
            out |= _section_range(pe, rva)
    return out


def _name_rvas(pe: pefile.PE) -> List[int]:
    return _descriptor_names(pe, _IMPORT) + _descriptor_names(pe, _DELAY_IMPORT)


def _descriptor_names(pe: pefile.PE, index: int) -> List[int]:
    """The name RVA of every descriptor of one directory, read from the descriptor array itself: pefile drops an
    entry whose name it cannot read, so its parsed entries can say neither which bytes are missing nor that one
    was dropped."""
    directories = pe.OPTIONAL_HEADER.DATA_DIRECTORY
    if index >= len(directories) or not directories[index].VirtualAddress:
        return []
    size, field = _DESCRIPTORS[index]
    start, rvas = directories[index].VirtualAddress, []
    for i in range(_MAX_DESCRIPTORS):
        try:
            data = pe.get_data(start + i * size, size)
        except pefile.PEFormatError:
            break
        if len(data) < size or not any(data):  # an all-zero descriptor ends the array
            break
        rvas.append(struct.unpack_from("<I", data, field)[0])
    return rvas


def _section_range(pe: pefile.PE, rva: int) -> Set[Tuple[int, int]]:
    section = pe.get_section_by_rva(rva)
    if section is None:
        return set()
    start = section.PointerToRawData
    return {(start, min(start + section.SizeOfRawData, len(pe.__data__)))}


def _missing(ranges: Set[Tuple[int, int]], kept: List[Tuple[int, int]]) -> List[Tuple[int, int]]:
    return sorted(r for r in ranges if r[1] > r[0] and not any(s <= r[0] and r[1] <= e for s, e in kept))


def _inside(offset: int, kept: List[Tuple[int, int]]) -> bool:
    return any(start <= offset < end for start, end in kept)


def _offset(pe: pefile.PE, rva: int):
    try:
        return pe.get_offset_from_rva(rva)
    except pefile.PEFormatError:
        return None


def _parse_imports(pe: pefile.PE) -> List[str]:
    """Let pefile parse the two directories, once every byte they need is in place; its warnings about them."""
    before = len(pe.get_warnings())
    pe.parse_data_directories(directories=[_IMPORT, _DELAY_IMPORT], import_dllnames_only=True)
    return [w for w in pe.get_warnings()[before:] if "import" in w.lower()]


def _dll_names(pe: pefile.PE, attribute: str, kept: List[Tuple[int, int]], problems: List[str]) -> Tuple[str, ...]:
    """The DLL names of one directory; a name pefile could not read, or read outside the bytes kept, is a problem."""
    names = []
    for entry in getattr(pe, attribute, []):
        rva = entry.struct.Name if attribute == "DIRECTORY_ENTRY_IMPORT" else entry.struct.szName
        offset = _offset(pe, rva)
        raw = entry.dll or b""
        if offset is None or not _inside(offset, kept) or not raw:
            problems.append(f"{attribute[16:].lower().replace('_', ' ')} entry names no readable DLL (RVA 0x{rva:x})")
            continue
        if len(raw) >= _MAX_DLL_NAME or not raw.isascii():
            problems.append(f"{attribute[16:].lower().replace('_', ' ')} entry has an implausible DLL name {raw[:40]!r}")
            continue
        names.append(raw.decode("ascii"))
    return tuple(names)
