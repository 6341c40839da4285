"""Classify an audit's needed sonames into what a Nix build of the wheel must provide.

Every soname a member of the wheel needs lands in exactly one class:

``carried``         found inside the wheel (:func:`carried_in_wheel`): autoPatchelfHook finds it there
``preloaded``       carried only under another file name (``libcudart.<hash>.so.13``, SONAME ``libcudart.so.13``):
                    autoPatchelfHook, which looks files up by name, cannot find it, and the loader meets the need only
                    when that library is loaded first: ``autoPatchelfIgnoreMissingDeps``, with a comment saying so
``glibc``           the C library of stdenv: nothing to add
``cc-runtime``      ``stdenv.cc.cc.lib`` (libstdc++, libgcc_s, libgomp, ...)
``nixpkgs``         a nixpkgs attribute, added to ``buildInputs``
``driver``          the GPU driver at run time: ``autoPatchelfIgnoreMissingDeps`` + ``autoAddDriverRunpath``
``libpython``       the interpreter's own library (``python``)
``python-package``  another Python package's files (``libtorch.so`` from torch): ``addAutoPatchelfSearchPath``
``unpackaged``      known, but nixpkgs has no package (MATLAB's libmx, Knitro): ``autoPatchelfIgnoreMissingDeps``;
                    only the optional plugin that needs it fails to load
``unknown``         nobody knows: listed, never dropped

    >>> inputs = nix_inputs(audit_wheel("tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl"))  # doctest: +SKIP
    >>> inputs.build_inputs                                                                       # doctest: +SKIP
    ('stdenv.cc.cc.lib',)
"""

from __future__ import annotations

import fnmatch
import posixpath
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

from ..model import WheelAudit
from .sonames import SonameMap

__all__ = [
    "CLASSES",
    "NixInputs",
    "nix_inputs",
    "needed_sonames",
    "dlopen_sonames",
    "carried_in_wheel",
    "architectures_served",
]

#: Every class a needed soname can end in.
CLASSES = (
    "glibc",
    "cc-runtime",
    "nixpkgs",
    "driver",
    "carried",
    "preloaded",
    "libpython",
    "python-package",
    "unpackaged",
    "unknown",
)


@dataclass(frozen=True)
class NixInputs:
    """What ``buildPythonPackage`` needs for one wheel's native libraries.

    ``build_inputs`` are attribute paths, sorted (``stdenv.cc.cc.lib`` included when the C++ runtime is needed);
    ``ignore_missing_deps`` the sonames autoPatchelfHook must not look for (driver, unpackaged and preloaded
    libraries); ``preloaded`` needed names the wheel carries only under another file name;
    ``driver_runpath`` whether ``autoAddDriverRunpath`` belongs in ``nativeBuildInputs``;
    ``python_search_paths`` (attribute, folder inside its site-packages) pairs for ``addAutoPatchelfSearchPath``;
    ``by_soname`` maps every needed soname to ``{"class": ..., "attribute": ...}`` (plus ``"problem"`` when the
    user's nixpkgs could not provide it); ``unverified`` the sonames a map entry decided whose evidence does not
    meet the evidence rule; ``nixpkgs`` the nixpkgs the inputs were checked against (None: unchecked) and
    ``nixpkgs_problems`` what that check found.
    """

    build_inputs: Tuple[str, ...] = ()
    ignore_missing_deps: Tuple[str, ...] = ()
    driver_runpath: bool = False
    carried: Tuple[str, ...] = ()
    preloaded: Tuple[str, ...] = ()
    unknown: Tuple[str, ...] = ()
    unpackaged: Tuple[str, ...] = ()
    libpython: Tuple[str, ...] = ()
    python_search_paths: Tuple[Tuple[str, str], ...] = ()
    by_soname: Mapping[str, Mapping[str, Optional[str]]] = field(default_factory=dict)
    unverified: Tuple[str, ...] = ()
    nixpkgs: Optional[str] = None
    nixpkgs_problems: Tuple[str, ...] = ()

    @property
    def needs_patchelf(self) -> bool:
        """True when the wheel has ELF members that need anything at all (so autoPatchelfHook has work)."""
        return bool(self.by_soname)

    def to_json(self) -> dict:
        """The ``nix`` object of ``wheelmeta scan --json`` (keys as the issue names them)."""
        return {
            "buildInputs": list(self.build_inputs),
            "ignoreMissingDeps": list(self.ignore_missing_deps),
            "driverRunpath": self.driver_runpath,
            "carried": list(self.carried),
            "preloaded": list(self.preloaded),
            "unknown": list(self.unknown),
            "unpackaged": list(self.unpackaged),
            "libpython": list(self.libpython),
            "pythonSearchPaths": [{"attribute": a, "path": p} for a, p in self.python_search_paths],
            "by_soname": {name: dict(self.by_soname[name]) for name in sorted(self.by_soname)},
            "unverified": list(self.unverified),
            "nixpkgs": {"checked": self.nixpkgs is not None, "path": self.nixpkgs,
                        "problems": list(self.nixpkgs_problems)},
        }


def needed_sonames(audit: WheelAudit) -> List[str]:
    """Every soname any ELF member needs, each once, in the order first seen.

    Members built for another architecture than the audit's are left out: autoPatchelfHook skips them too
    ("its architecture differs from target")."""
    seen: Dict[str, None] = {}
    for elf in _own_architecture(audit):
        for soname in elf.needed:
            seen.setdefault(soname, None)
    return list(seen)


def _own_architecture(audit: WheelAudit):
    """The ELF members of the audit's architecture (all of them when it has none)."""
    return (elf for elf in audit.elf_files if not (audit.arch and elf.machine and elf.machine != audit.arch))


def nix_inputs(audit: WheelAudit, soname_map: Optional[SonameMap] = None, nixpkgs=None) -> NixInputs:
    """Classify every needed soname of ``audit``; pure function of the audit, the map and the nixpkgs check.

    ``soname_map`` defaults to the built-in map plus ``$WHEELMETA_SONAME_MAP``. ``nixpkgs`` is a
    :class:`~.nixpkgs_check.NixpkgsCheck` (one for the whole output, :func:`~.nixpkgs_check.check_audits`): the
    user's nixpkgs then picks each attribute's spelling, and what it cannot provide becomes ``unknown``. A pure or
    non-Linux wheel gives empty inputs.
    """
    if soname_map is None:
        soname_map = SonameMap.load()
    build_inputs, drivers, unpackaged, carried, unknown, libpython, preloaded = set(), [], [], [], [], [], []
    search_paths: Dict[Tuple[str, str], None] = {}
    by_soname: Dict[str, Dict[str, Optional[str]]] = {}
    unverified, problems, optional_unknown = [], [], []
    in_wheel = carried_in_wheel(audit)
    # DT_NEEDED first, then what .note.dlopen notes declare (autoPatchelfHook resolves those too)
    needs: Dict[str, Optional[str]] = dict.fromkeys(needed_sonames(audit))
    for soname, priority in dlopen_sonames(audit, soname_map, in_wheel):
        needs[soname] = priority
    for soname, dlopen in needs.items():
        cls, entry, problem = _wheel_class(soname, in_wheel, audit.preloaded_libs), None, None
        if cls is None:
            entry = soname_map.lookup(soname)
            if entry is not None and nixpkgs is not None:
                entry, problem = nixpkgs.resolve(soname, entry)
            cls = "unknown" if entry is None else entry.cls
        attribute = entry.attribute if entry is not None else None
        by_soname[soname] = {"class": cls, "attribute": attribute}
        if dlopen:
            by_soname[soname]["dlopen"] = dlopen
        if problem:
            by_soname[soname]["problem"] = problem
            problems.append(problem)
        if entry is not None and not entry.proves(soname):
            unverified.append(soname)
        if cls == "carried":
            by_soname[soname]["member"] = in_wheel[soname]
            carried.append(soname)
        elif cls == "preloaded":
            by_soname[soname]["member"] = audit.preloaded_libs[soname]
            preloaded.append(soname)
        elif cls in ("nixpkgs", "cc-runtime"):
            build_inputs.add(attribute)
        elif cls == "driver":
            drivers.append(soname)
        elif cls == "unpackaged":
            unpackaged.append(soname)
        elif cls == "libpython":
            libpython.append(soname)
        elif cls == "python-package":
            search_paths.setdefault((attribute, entry.search_path or ""), None)
        elif cls == "unknown":
            unknown.append(soname)
            if dlopen and dlopen != "required":  # an optional dlopen() library must not fail the build
                optional_unknown.append(soname)
    return NixInputs(
        build_inputs=tuple(sorted(build_inputs)),
        ignore_missing_deps=tuple(sorted(drivers + unpackaged + preloaded + optional_unknown)),
        driver_runpath=bool(drivers),
        carried=tuple(sorted(carried)),
        preloaded=tuple(sorted(preloaded)),
        unknown=tuple(sorted(unknown)),
        unpackaged=tuple(sorted(unpackaged)),
        libpython=tuple(sorted(libpython)),
        python_search_paths=tuple(search_paths),
        by_soname=by_soname,
        unverified=tuple(sorted(unverified)),
        nixpkgs=None if nixpkgs is None else nixpkgs.nixpkgs,
        nixpkgs_problems=tuple(problems),
    )


def dlopen_sonames(audit: WheelAudit, soname_map: SonameMap, in_wheel: Mapping[str, str]) -> List[Tuple[str, str]]:
    """(soname, priority) for each ``.note.dlopen`` entry of the wheel's members: of the alternatives a note
    lists, the first the wheel carries or the map knows (else the first), each soname once."""
    seen: Dict[str, str] = {}
    for elf in _own_architecture(audit):
        for note in elf.dlopen:
            known = [s for s in note.sonames if s in in_wheel or soname_map.lookup(s) is not None]
            soname = (known or list(note.sonames))[0]
            if seen.get(soname) != "required":
                seen[soname] = note.priority
    return list(seen.items())


def carried_in_wheel(audit: WheelAudit) -> Dict[str, str]:
    """soname -> member path for every library the wheel itself holds, as autoPatchelfHook sees them.

    The audit's ``carried_libs`` are the needs the *loader* meets inside the wheel (same folder, ``$ORIGIN``
    RPATH/RUNPATH). autoPatchelfHook is more generous: before anything else it indexes every ``*.so*`` file of
    the package's outputs by file name (``populate_cache(paths_to_patch, recursive)`` in nixpkgs'
    pkgs/by-name/au/auto-patchelf/source/auto-patchelf.py), so a plugin that needs ``libtriton.so`` without any
    RPATH to it (it relies on the library being loaded already) is still satisfied by the wheel's own copy.
    Both count as carried; the audit's answer wins for the member path.
    """
    found: Dict[str, str] = {}
    for elf in audit.elf_files:
        if audit.arch and elf.machine and elf.machine != audit.arch:
            continue  # autoPatchelfHook indexes libraries by file name and architecture
        name = posixpath.basename(elf.path)
        if fnmatch.fnmatchcase(name, "*.so*"):
            found.setdefault(name, elf.path)
    found.update(audit.carried_libs)
    return found


def architectures_served(audit: WheelAudit, inputs: NixInputs, soname_map: Optional[SonameMap] = None) -> List[str]:
    """For a wheel judged per architecture, the architectures whose ELF files ``inputs`` (worked out for the
    target's) provide for too: an expression with those inputs builds there as well (``meta.platforms``)."""
    provided = {
        "build_inputs": set(inputs.build_inputs), "ignore_missing_deps": set(inputs.ignore_missing_deps),
        "libpython": set(inputs.libpython), "python_search_paths": set(inputs.python_search_paths),
    }
    served = []
    for arch, sub in audit.architectures.items():
        needs = nix_inputs(sub, soname_map)
        if not needs.unknown and all(set(getattr(needs, k)) <= v for k, v in provided.items()):
            served.append(arch)
    return served


def _wheel_class(soname: str, in_wheel: Mapping[str, str], preloaded: Mapping[str, str]) -> Optional[str]:
    """``carried`` or ``preloaded`` when the wheel itself answers the need; None when the soname map must.

    A preloaded need is not looked up in the map: the wheel meant its own copy to serve it, and an input from
    nixpkgs would put a second, possibly different, copy of the same SONAME on the RUNPATH."""
    if soname in in_wheel:
        return "carried"
    return "preloaded" if soname in preloaded else None
