"""The verdict on a macOS wheel from the Mach-O facts of its members (pure computation, no I/O).

Each install name a slice loads is resolved as dyld would, inside the wheel: ``@loader_path`` is the member's
folder, ``@executable_path`` that folder only for an executable (for an extension it is the Python interpreter's,
outside the wheel), ``@rpath`` each LC_RPATH entry of the member and then of the members that load it. Classes:
``carried`` (found in the wheel), ``system`` (``/usr/lib``, ``/System/Library``: the OS provides them),
``missing`` (names the wheel but is not there) and ``external`` (anything else, such as a Homebrew path).

The tag check mirrors manylinux's glibc check: every slice of an architecture the tag promises must ask for a
macOS no newer than the tag's, and every binary must have a slice for each architecture the tag promises.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from typing import Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..model import BinaryAudit, LinkedLibrary, MachOFacts, MachOSlice
from .members import assemble, installed_path

__all__ = ["judge", "tag_architectures", "resolve"]

_TAG = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
# The architectures a macOS platform tag promises: CPython's _osx_support.get_platform_osx names a build for its
# set of -arch flags (fat, intel, fat3, fat64, universal, universal2); packaging adds fat32.
_TAG_ARCHS = {
    "universal2": {"arm64", "x86_64"},
    "intel": {"i386", "x86_64"},
    "fat": {"i386", "ppc"},
    "fat32": {"i386", "ppc"},
    "fat3": {"i386", "ppc", "x86_64"},
    "fat64": {"ppc64", "x86_64"},
    "universal": {"i386", "ppc", "ppc64", "x86_64"},
}
_SYSTEM = ("/usr/lib/", "/System/Library/")
_ARM64_FIRST = (11, 0)  # the first macOS on arm64: an arm64 slice may ask for it whatever older version the tag names


def tag_architectures(tag_arch: str) -> Set[str]:
    """The slice architectures a tag's architecture part promises: ``universal2`` -> {arm64, x86_64}."""
    return set(_TAG_ARCHS.get(tag_arch, {tag_arch}))


def judge(wheel: str, claimed: Tuple[str, ...], facts: Sequence[MachOFacts], problems: List[str]) -> BinaryAudit:
    """The audit of a macOS wheel whose Mach-O members are ``facts``."""
    problems = problems + [f"{f.path}: {p}" for f in facts for p in f.problems]
    if not facts:
        problems.append("platform-tagged wheel without any Mach-O file")
        return BinaryAudit(wheel=wheel, format="macho", claimed_tags=claimed, problems=tuple(problems))
    libraries, loaded_archs = _resolve_all(facts)
    holds, why = _claims_hold(claimed, facts, loaded_archs)
    return assemble(
        wheel, "macho", claimed, facts, libraries, problems + why,
        archs=tuple(sorted({s.arch for f in facts for s in f.slices})),
        min_os=_newest_min_os(facts),
        overall_tag=_overall_tag(facts, loaded_archs),
        claims_hold=holds,
    )


# -- resolution ------------------------------------------------------------------------------------------------------


def _resolve_all(facts: Sequence[MachOFacts]) -> Tuple[Dict[str, Tuple[LinkedLibrary, ...]], Dict[str, Set[str]]]:
    """(member -> what each of its slices loads, resolved; member -> architectures of the slices loading it).

    ``@rpath`` is also tried through the rpaths of the members that load the member, as dyld does."""
    members = {installed_path(f.path): f.path for f in facts}
    first = {f.path: [(s, n, k, resolve(f.path, s, n, members)) for s in f.slices for n, k in s.dylibs] for f in facts}
    loaders: Dict[str, List[Tuple[str, MachOSlice]]] = defaultdict(list)
    for path, rows in first.items():
        for s, _, _, (cls, member) in rows:
            if cls == "carried" and member:
                loaders[member].append((path, s))
    out = {}
    loaded_archs: Dict[str, Set[str]] = defaultdict(set)
    for path, rows in first.items():
        seen: Dict[Tuple[str, str], LinkedLibrary] = {}
        for s, name, kind, (cls, member) in rows:
            if cls == "missing" and name.startswith("@rpath/"):
                for loader, loader_slice in loaders.get(path, ()):
                    found = _through_rpaths(name, loader, loader_slice, members)
                    if found:
                        cls, member = "carried", found
                        break
            if member:
                loaded_archs[member].add(s.arch)
            seen.setdefault((name, kind), LinkedLibrary(name=name, kind=kind, cls=cls, member=member))
        out[path] = tuple(seen.values())
    return out, loaded_archs


def resolve(path: str, slice_: MachOSlice, name: str, members: Mapping[str, str]) -> Tuple[str, Optional[str]]:
    """(class, member providing it) of install name ``name`` loaded by slice ``slice_`` of member ``path``;
    ``members`` maps each Mach-O member's installed path to its member path."""
    if name.startswith("@rpath/"):
        found = _through_rpaths(name, path, slice_, members)
        if found:
            return "carried", found
        outside = any(_rpath_folder(r, path, slice_) is None for r in slice_.rpaths)
        return ("external" if outside else "missing"), None
    folder = _anchor_folder(name, path, slice_)
    if folder is not None:
        candidate = _inside(folder, name.split("/", 1)[1] if "/" in name else "")
        if candidate in members:
            return "carried", members[candidate]
        return ("missing" if candidate is not None else "external"), None
    if name.startswith(_SYSTEM):
        return "system", None
    return "external", None


def _through_rpaths(name: str, path: str, slice_: MachOSlice, members: Mapping[str, str]) -> Optional[str]:
    tail = name[len("@rpath/"):]
    for entry in slice_.rpaths:
        folder = _rpath_folder(entry, path, slice_)
        candidate = _inside(folder, tail) if folder is not None else None
        if candidate in members:
            return members[candidate]
    return None


def _anchor_folder(name: str, path: str, slice_: MachOSlice) -> Optional[str]:
    """The wheel folder ``@loader_path`` (or an executable's ``@executable_path``) names, else None."""
    if name.startswith("@loader_path/") or (name.startswith("@executable_path/") and slice_.filetype == "execute"):
        return posixpath.dirname(installed_path(path))
    return None


def _rpath_folder(entry: str, path: str, slice_: MachOSlice) -> Optional[str]:
    """The wheel folder an LC_RPATH entry names, or None when it names a place outside the wheel."""
    for anchor in ("@loader_path", "@executable_path"):
        if entry == anchor or entry.startswith(anchor + "/"):
            folder = _anchor_folder(anchor + "/", path, slice_)
            return _inside(folder, entry[len(anchor) + 1:]) if folder is not None else None
    return None


def _inside(folder: str, rest: str) -> Optional[str]:
    """``folder``/``rest`` normalised, or None when it leaves the wheel."""
    joined = posixpath.normpath(posixpath.join(folder or ".", rest or "."))
    if joined == ".":
        return ""
    return None if joined == ".." or joined.startswith("../") or joined.startswith("/") else joined


# -- the tag ---------------------------------------------------------------------------------------------------------


def _version(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """"11.3" -> (11, 0), "10.13" -> (10, 13): from macOS 11 on a tag names the major only (packaging's rule)."""
    if not text:
        return None
    parts = [int(p) for p in text.split(".")[:2]] + [0]
    return (parts[0], 0) if parts[0] >= 11 else (parts[0], parts[1])


def _allowed(slice_: MachOSlice, tag_version: Tuple[int, int]) -> Tuple[int, int]:
    return max(tag_version, _ARM64_FIRST) if slice_.arch.startswith("arm64") else tag_version


def _claims_hold(
    claimed: Sequence[str], facts: Sequence[MachOFacts], loaded_archs: Mapping[str, Set[str]]
) -> Tuple[Optional[bool], List[str]]:
    """Whether every macosx tag holds for every binary, and why not. A binary that other members load needs a slice
    only for the architectures of the slices loading it (a universal2 wheel may carry one library per arch)."""
    holds: Optional[bool] = None
    why: List[str] = []
    for tag in claimed:
        match = _TAG.match(tag)
        if not match:
            continue
        holds = True if holds is None else holds
        tag_version, wanted = (int(match.group(1)), int(match.group(2))), tag_architectures(match.group(3))
        for f in facts:
            archs = {s.arch for s in f.slices}
            needed_archs = wanted & loaded_archs[f.path] if f.path in loaded_archs else wanted
            if f.slices and not needed_archs <= archs:
                holds = False
                why.append(f"claims {tag} but {f.path} has no {', '.join(sorted(needed_archs - archs))} slice "
                           f"(has {', '.join(sorted(archs))})")
            for s in f.slices:
                if s.arch not in wanted:
                    continue
                if s.platform not in (None, "macOS"):
                    holds = False
                    why.append(f"claims {tag} but {f.path} ({s.arch}) is built for {s.platform}")
                elif s.min_os is None:
                    why.append(f"{f.path} ({s.arch}): no minimum macOS recorded (LC_BUILD_VERSION, LC_VERSION_MIN_MACOSX)")
                elif _version(s.min_os) > _allowed(s, tag_version):
                    holds = False
                    why.append(f"claims {tag} but {f.path} ({s.arch}) needs macOS {s.min_os}")
    return holds, list(dict.fromkeys(why))


def _newest_min_os(facts: Sequence[MachOFacts]) -> Optional[str]:
    versions = [s.min_os for f in facts for s in f.slices if s.min_os and s.platform in (None, "macOS")]
    return max(versions, key=lambda v: tuple(int(p) for p in v.split(".")), default=None)


def _overall_tag(facts: Sequence[MachOFacts], loaded_archs: Mapping[str, Set[str]]) -> Optional[str]:
    """The macosx tag the binaries allow: the architectures every binary that no member loads (extensions,
    programs) has, and the newest minimum macOS the slices of those architectures ask for."""
    entries = [f for f in facts if f.slices and f.path not in loaded_archs] or [f for f in facts if f.slices]
    sets = [{s.arch for s in f.slices} for f in entries]
    if not sets:
        return None
    common = set.intersection(*sets)
    if {"arm64", "x86_64"} <= common:
        arch = "universal2"
    elif common & {"arm64", "x86_64"}:
        arch = next(iter(common & {"arm64", "x86_64"}))
    elif common:
        arch = sorted(common)[0]
    else:
        return None
    wanted = tag_architectures(arch)
    slices = [s for f in facts for s in f.slices if s.arch in wanted and s.platform in (None, "macOS")]
    floor = _ARM64_FIRST if arch == "arm64" else (10, 0)
    # an arm64 slice of a universal2 binary asking for 11.0 says nothing about the x86_64 slice's version
    versions = [v for s in slices if (v := _version(s.min_os)) and not (arch == "universal2" and s.arch.startswith("arm64") and v <= _ARM64_FIRST)]
    major, minor = max(versions + [floor])
    return f"macosx_{major}_{minor}_{arch}"
