"""Where each needed library of an ELF file will be found, and the RUNPATH that makes the loader find it.

A plan is a pure function of the ELF facts (from the scan), the files around them, and the places the user
offers (``--lib-dir`` folders, the store paths of nixpkgs attributes). For every ``DT_NEEDED`` name it says where
the library will come from after patching:

``glibc``         the C library and its loader: the interpreter that runs the program provides it
``interpreter``   libpython: the Python process that imports the extension has it loaded
``carried``       a file of that name in the same wheel (or, in an environment, the same top-level package)
``other-wheel``   a file installed by another wheel in the same site-packages (libtorch from torch)
``lib-dir``       a file of that name in one of the user's ``--lib-dir`` folders
``nix``           the ``lib`` output of the nixpkgs attribute the soname map names, realised in the store
``driver``        the GPU driver, at run time (``/run/opengl-driver/lib`` with ``--nix``)
``not-found``     nowhere: the message says which attribute or option would provide it

The loader searches by *file name* along RUNPATH (and autoPatchelfHook indexes libraries by file name), so a
library the wheel carries under another file name (auditwheel's ``libfoo-1a2b3c4d.so.1``) is used by renaming the
need with ``--replace-needed``, as auditwheel itself does when it grafts libraries.

    >>> plan = plan_member(facts, "demo/_ext.so", files, LibrarySearch(lib_dirs=["/opt/lib"]))  # doctest: +SKIP
    >>> plan.runpath                                                                          # doctest: +SKIP
    ('$ORIGIN/../demo.libs', '/opt/lib')
"""

from __future__ import annotations

import functools
import os
import posixpath
from dataclasses import dataclass, field, replace
from typing import Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..model import ElfFacts
from .sonames import SonameMap

__all__ = ["FOUND_CLASSES", "Need", "MemberPlan", "LibrarySearch", "InstalledFiles", "plan_member", "nix_attributes",
           "DRIVER_DIR"]

FOUND_CLASSES = ("glibc", "interpreter", "carried", "other-wheel", "lib-dir", "nix", "driver", "not-found")
#: where NixOS (and addDriverRunpath) puts the GPU driver's libraries
DRIVER_DIR = "/run/opengl-driver/lib"


@dataclass(frozen=True)
class Need:
    """One needed library and where it will be found; ``directory`` is the RUNPATH entry that finds it."""

    soname: str
    found: str
    directory: Optional[str] = None
    detail: str = ""
    replace_with: Optional[str] = None  # the file name DT_NEEDED is rewritten to
    dlopen: Optional[str] = None  # the .note.dlopen priority, for a library loaded with dlopen()

    def to_json(self) -> dict:
        out = {"soname": self.soname, "found": self.found, "directory": self.directory, "detail": self.detail}
        if self.replace_with:
            out["replace_with"] = self.replace_with
        if self.dlopen:
            out["dlopen"] = self.dlopen
        return out


@dataclass(frozen=True)
class MemberPlan:
    """What patching does to one ELF file (``path``: member path in the wheel, or path under site-packages)."""

    path: str
    needs: Tuple[Need, ...]
    runpath_before: Tuple[str, ...]
    runpath: Tuple[str, ...]
    interpreter_before: Optional[str] = None
    interpreter: Optional[str] = None
    problems: Tuple[str, ...] = ()

    @property
    def replace_needed(self) -> Tuple[Tuple[str, str], ...]:
        return tuple((n.soname, n.replace_with) for n in self.needs if n.replace_with)

    @property
    def changed(self) -> bool:
        return (
            self.runpath != self.runpath_before
            or bool(self.replace_needed)
            or (self.interpreter is not None and self.interpreter != self.interpreter_before)
        )

    @property
    def not_found(self) -> Tuple[str, ...]:
        """Needed libraries (and dlopen() libraries the note marks required) that will not be found."""
        return tuple(n.soname for n in self.needs if n.found == "not-found" and n.dlopen in (None, "required"))

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "changed": self.changed,
            "runpath_before": list(self.runpath_before),
            "runpath": list(self.runpath),
            "interpreter_before": self.interpreter_before,
            "interpreter": self.interpreter,
            "needs": [n.to_json() for n in self.needs],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class LibrarySearch:
    """The places the user offers: ``lib_dirs`` (searched in order), ``nix_paths`` (attribute -> realised store
    path, from :func:`wheelmeta.patchelf_nix.nixlibs.realise`), and the interpreter for executables."""

    soname_map: SonameMap
    lib_dirs: Tuple[str, ...] = ()
    nix_paths: Optional[Mapping[str, str]] = None
    interpreter_dir: Optional[str] = None  # a glibc lib folder holding ld-linux*.so (with --nix)
    nixpkgs_check: Optional[object] = None  # a NixpkgsCheck: the user's nixpkgs spells and proves each attribute

    def entry(self, soname: str):
        """The map's entry for ``soname`` as the checked nixpkgs spells it, and the problem when it cannot
        provide it (the entry is then None)."""
        entry = self.soname_map.lookup(soname)
        if entry is not None and self.nixpkgs_check is not None:
            return self.nixpkgs_check.resolve(soname, entry)
        return entry, None

    @property
    def nix(self) -> bool:
        return self.nix_paths is not None


@dataclass(frozen=True)
class InstalledFiles:
    """The files around the ELF files being planned, by installed path (relative to site-packages).

    ``by_name`` maps a file name to every installed path with that name; ``sonames`` maps an installed path to
    its DT_SONAME; ``same_package`` decides carried (True) against other-wheel (False) for two paths.
    """

    by_name: Mapping[str, Tuple[str, ...]]
    sonames: Mapping[str, str] = field(default_factory=dict)
    whole_wheel_is_one_package: bool = True

    @functools.cached_property
    def folders(self) -> FrozenSet[str]:
        """Every folder that holds one of the files."""
        return frozenset(posixpath.dirname(p) for paths in self.by_name.values() for p in paths)

    def same_package(self, a: str, b: str) -> bool:
        if self.whole_wheel_is_one_package:
            return True
        return _top(a) == _top(b)


def plan_member(facts: ElfFacts, installed: Optional[str], files: InstalledFiles, search: LibrarySearch) -> MemberPlan:
    """The plan for the ELF file ``facts`` describes, installed at ``installed`` (None: outside site-packages,
    such as a wheel's scripts, where ``$ORIGIN``-relative entries cannot be computed)."""
    problems: List[str] = []
    if installed is None and any(files.by_name.get(n) for n in facts.needed):
        problems.append("installed outside site-packages: libraries of the wheel cannot be reached from it")
    needs = tuple(_locate(soname, facts, installed, files, search) for soname in facts.needed)
    needs += tuple(_locate_dlopen(note, facts, installed, files, search) for note in facts.dlopen)
    before = tuple(facts.runpath or facts.rpath)
    entries: Dict[str, None] = dict.fromkeys(before)
    reached = {_resolve(entry, installed) for entry in before}
    # the wheel's own folders first, so a library it carries wins over a same-named one elsewhere
    for need in sorted(needs, key=lambda n: FOUND_CLASSES.index(n.found)):
        if need.directory and _resolve(need.directory, installed) not in reached:
            entries.setdefault(need.directory, None)
    interpreter = None
    if facts.interpreter and search.interpreter_dir:
        interpreter = posixpath.join(search.interpreter_dir, posixpath.basename(facts.interpreter))
    return MemberPlan(
        path=facts.path,
        needs=needs,
        runpath_before=before,
        runpath=tuple(entries),
        interpreter_before=facts.interpreter,
        interpreter=interpreter,
        problems=tuple(problems),
    )


def _locate(soname: str, facts: ElfFacts, installed: Optional[str], files: InstalledFiles, search) -> Need:
    entry, problem = search.entry(soname)
    cls = entry.cls if entry is not None else None
    if cls == "glibc" or (facts.interpreter and posixpath.basename(facts.interpreter) == soname):
        return Need(soname, "glibc", detail="the C library of the interpreter that runs it")
    if cls == "libpython":
        return Need(soname, "interpreter", detail="loaded by the Python process that imports it")
    if installed is not None:
        found = _in_installed_files(soname, installed, files)
        if found is not None:
            return found
    if cls == "python-package" and entry.search_path and installed is not None:
        directory = _origin_relative(installed, entry.search_path + "/x")
        return Need(soname, "other-wheel", directory, f"{entry.attribute} ({entry.search_path})")
    for lib_dir in search.lib_dirs:
        if os.path.exists(os.path.join(lib_dir, soname)):
            return Need(soname, "lib-dir", os.path.abspath(lib_dir), os.path.join(lib_dir, soname))
    if cls in ("nixpkgs", "cc-runtime") and search.nix_paths is not None and entry.attribute in search.nix_paths:
        lib = posixpath.join(search.nix_paths[entry.attribute], "lib")
        if os.path.exists(posixpath.join(lib, soname)):
            return Need(soname, "nix", lib, entry.attribute)
        return Need(soname, "not-found", detail=f"nixpkgs attribute {entry.attribute} ({lib}) has no {soname}")
    if cls == "driver":
        return Need(soname, "driver", DRIVER_DIR if search.nix else None, "the GPU driver provides it at run time")
    outside = _entries_outside(facts, installed, files)
    if outside:  # torch's $ORIGIN/../../nvidia/cu13/lib: another wheel's folder, installed beside it by pip
        return Need(soname, "other-wheel", detail=f"if another wheel installs it in {' or '.join(outside)}")
    return Need(soname, "not-found", detail=problem or _hint(soname, entry, search))


def _entries_outside(facts: ElfFacts, installed: Optional[str], files: InstalledFiles) -> List[str]:
    """A wheel's own ``$ORIGIN`` entries that name folders the wheel does not have (other wheels' folders)."""
    if installed is None or not files.whole_wheel_is_one_package:
        return []
    out = []
    for entry in facts.runpath or facts.rpath:
        resolved = _resolve(entry, installed)
        if resolved.startswith("origin:") and resolved[len("origin:") :] not in files.folders:
            out.append(entry)
    return out


def nix_attributes(members: Iterable[MemberPlan], search: LibrarySearch) -> List[str]:
    """The nixpkgs attributes ``--nix`` realises for ``members`` planned without Nix: those of the needs nothing
    else provides, as ``search``'s checked nixpkgs spells them, and glibc's when a member is a program (its
    loader becomes the interpreter)."""
    from .nixlibs import GLIBC_ATTRIBUTE

    members = list(members)
    out = {GLIBC_ATTRIBUTE} if any(m.interpreter_before for m in members) else set()
    for member in members:
        for need in member.needs:
            entry, _ = search.entry(need.soname)
            if need.found == "not-found" and entry is not None and entry.cls in ("nixpkgs", "cc-runtime"):
                out.add(entry.attribute)
    return sorted(out)


def _locate_dlopen(note, facts: ElfFacts, installed: Optional[str], files: InstalledFiles, search) -> Need:
    """The first of a .note.dlopen entry's alternatives that will be found (dlopen() searches the RUNPATH of
    the object that calls it, so its folder joins that object's RUNPATH like a DT_NEEDED library's)."""
    located = [_locate(soname, facts, installed, files, search) for soname in note.sonames]
    chosen = next((n for n in located if n.found != "not-found"), located[0])
    return replace(chosen, dlopen=note.priority)


def _in_installed_files(soname: str, installed: str, files: InstalledFiles) -> Optional[Need]:
    here = posixpath.dirname(installed)
    candidates = [p for p in files.by_name.get(soname, ()) if p != installed]
    renamed = False
    if not candidates:  # carried under another file name whose SONAME is still this one (auditwheel's hashing)
        candidates = sorted(p for p, s in files.sonames.items() if s == soname and p != installed)
        renamed = bool(candidates)
    if not candidates:
        return None
    candidates.sort(key=lambda p: (posixpath.dirname(p) != here, not files.same_package(p, installed), p))
    chosen = candidates[0]
    found = "carried" if files.same_package(chosen, installed) else "other-wheel"
    return Need(
        soname,
        found,
        _origin_relative(installed, chosen),
        chosen,
        replace_with=posixpath.basename(chosen) if renamed else None,
    )


def _resolve(entry: str, installed: Optional[str]) -> str:
    """A RUNPATH entry as the folder it names: ``$ORIGIN``-relative entries against the file's own folder."""
    for origin in ("$ORIGIN", "${ORIGIN}"):
        if entry.startswith(origin) and installed is not None:
            rest = entry[len(origin) :].lstrip("/")
            return "origin:" + posixpath.normpath(posixpath.join(posixpath.dirname(installed), rest))
    return posixpath.normpath(entry) if entry else entry


def _origin_relative(installed: str, target: str) -> str:
    rel = posixpath.relpath(posixpath.dirname(target) or ".", posixpath.dirname(installed) or ".")
    return "$ORIGIN" if rel == "." else f"$ORIGIN/{rel}"


def _hint(soname: str, entry, search: LibrarySearch) -> str:
    if entry is None:
        return "unknown to the soname map; offer it with --lib-dir"
    if entry.cls in ("nixpkgs", "cc-runtime"):
        how = "--lib-dir" if search.nix else "--nix or --lib-dir"
        return f"nixpkgs attribute {entry.attribute}; use {how}"
    if entry.cls == "unpackaged":
        return "known, but nixpkgs does not package it; offer it with --lib-dir"
    if entry.cls == "python-package":
        return f"from the Python package {entry.attribute}, which is not installed here"
    return f"class {entry.cls}"


def _top(path: str) -> str:
    head = path.split("/", 1)[0]
    # foo.libs/ (auditwheel) and foo/ belong to one package
    for suffix in (".libs",):
        if head.endswith(suffix):
            head = head[: -len(suffix)]
    return head.lower().replace("-", "_")


def installed_path(member: str) -> Optional[str]:
    """Where a wheel member lands relative to site-packages; None for ``.data/scripts``, ``headers``, ``data``."""
    first, _, rest = member.partition("/")
    if first.endswith(".data") and rest:
        kind, _, inner = rest.partition("/")
        return inner if kind in ("purelib", "platlib") and inner else None
    return member


def installed_files(paths: Sequence[str], sonames: Mapping[str, str], one_package: bool) -> InstalledFiles:
    """An :class:`InstalledFiles` from installed paths and the SONAMEs of the ELF files among them."""
    by_name: Dict[str, List[str]] = {}
    for path in paths:
        by_name.setdefault(posixpath.basename(path), []).append(path)
    return InstalledFiles(
        by_name={k: tuple(sorted(v)) for k, v in by_name.items()},
        sonames=dict(sonames),
        whole_wheel_is_one_package=one_package,
    )
