"""The verdict on a Windows wheel from the PE facts of its members (pure computation, no I/O).

Each imported or delay-loaded DLL is, in this order: ``carried`` (a member of that name, compared without case as
Windows does, in the importing member's folder, which Python's extension loader searches, or in a ``*.libs``
folder, delvewheel's layout; elsewhere in the wheel it is carried with a problem, since only the package's own
``os.add_dll_directory`` makes the loader look there), ``system`` (an API set, ``api-ms-win-*``/``ext-ms-*``, or a
DLL every Windows from 7 SP1 on has: ``windows-dlls.json``, with its source), ``python`` (``pythonXY.dll``:
the interpreter's), ``msvc-runtime`` (the Visual C++ runtime; CPython ships ``vcruntime140.dll`` and, on 64-bit,
``vcruntime140_1.dll``: any other needs the Redistributable, which is said as a problem) or ``external``.

The tag check: every binary's machine must be the one ``win_amd64``, ``win32`` or ``win_arm64`` promises.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re
from importlib import resources
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..model import BinaryAudit, LinkedLibrary, PEFacts
from .members import assemble, group_by_class, installed_path

__all__ = ["judge", "classify_dll", "TAG_MACHINES"]

#: the PE machine each Windows platform tag promises
TAG_MACHINES = {"win_amd64": "amd64", "win32": "i386", "win_arm64": "arm64"}
_PYTHON_DLL = re.compile(r"^python[0-9]+t?(_d)?\.dll$")  # python3.dll (stable ABI) and python311.dll alike


@functools.lru_cache(maxsize=1)
def _dll_data() -> dict:
    text = resources.files("wheelmeta.binaries").joinpath("windows-dlls.json").read_text(encoding="utf-8")
    data = json.loads(text)
    data["msvc"] = re.compile(data["msvc_runtime_pattern"])
    return data


def classify_dll(name: str, platform: Optional[str]) -> str:
    """The class of a DLL the wheel does not carry: system, python, msvc-runtime or external.

        >>> classify_dll("api-ms-win-crt-runtime-l1-1-0.dll", "win_amd64"), classify_dll("MSVCP140.dll", None)
        ('system', 'msvc-runtime')
    """
    data, lower = _dll_data(), name.lower()
    if lower.startswith(tuple(data["api_set_prefixes"])):
        return "system"
    system = data["system"]
    platforms = [platform] if platform in system else [p for p in system if p != "all"]
    if lower in system["all"] or any(lower in system[p] for p in platforms):
        return "system"
    if _PYTHON_DLL.match(lower):
        return "python"
    if data["msvc"].fullmatch(lower):
        return "msvc-runtime"
    return "external"


def judge(wheel: str, claimed: Tuple[str, ...], facts: Sequence[PEFacts], problems: List[str]) -> BinaryAudit:
    """The audit of a Windows wheel whose PE members are ``facts``."""
    problems = problems + [f"{f.path}: {p}" for f in facts for p in f.problems]
    if not facts:
        problems.append("platform-tagged wheel without any PE file")
        return BinaryAudit(wheel=wheel, format="pe", claimed_tags=claimed, problems=tuple(problems))
    platform = next((p for p in claimed if p in TAG_MACHINES), None)
    by_folder_name = {_folder_and_name(f.path): f.path for f in facts}
    by_name: Dict[str, str] = {}
    for f in sorted(facts, key=lambda f: f.path):
        by_name.setdefault(posixpath.basename(f.path).lower(), f.path)
    libs_dirs = sorted({folder for folder, _ in by_folder_name if folder.split("/")[-1].endswith(".libs")})
    libraries: Dict[str, Tuple[LinkedLibrary, ...]] = {}
    for f in facts:
        rows = []
        for kind, names in (("import", f.imports), ("delay", f.delay_imports)):
            for name in dict.fromkeys(names):
                member = _carried(f.path, name, by_folder_name, libs_dirs)
                if member is None and name.lower() in by_name and not name.lower().startswith("api-ms-win-"):
                    member = by_name[name.lower()]
                    problems.append(f"{f.path}: needs {name}, found in the wheel at {member}, a folder the loader "
                                    "searches only when the package adds it (os.add_dll_directory)")
                cls = "carried" if member else classify_dll(name, platform)
                rows.append(LinkedLibrary(name=name, kind=kind, cls=cls, member=member))
        libraries[f.path] = tuple(rows)
    _, by_class = group_by_class(libraries)
    problems += _redistributable_needs(by_class["msvc-runtime"], platform)
    holds, why = _claims_hold(claimed, facts)
    return assemble(
        wheel, "pe", claimed, facts, libraries, problems + why,
        runtime_libs=tuple(sorted(set(by_class["msvc-runtime"]) | set(by_class["python"]))),
        archs=tuple(sorted({f.machine for f in facts if f.machine})),
        overall_tag=_overall_tag(facts),
        claims_hold=holds,
    )


def _folder_and_name(member: str) -> Tuple[str, str]:
    """(installed folder, lower-case file name): Windows compares DLL names without case."""
    folder, name = posixpath.split(installed_path(member))
    return folder, name.lower()


def _carried(path: str, name: str, by_folder_name, libs_dirs: Sequence[str]) -> Optional[str]:
    """The member called ``name`` in the importer's folder or a ``*.libs`` folder, where the loader finds it."""
    lower = name.lower()
    for folder in [_folder_and_name(path)[0], *libs_dirs]:
        if (folder, lower) in by_folder_name:
            return by_folder_name[(folder, lower)]
    return None


def _redistributable_needs(runtime: Mapping[str, Sequence[str]], platform: Optional[str]) -> List[str]:
    """A problem for each MSVC runtime DLL that neither CPython ships nor the wheel carries."""
    shipped_by = _dll_data()["shipped_with_cpython"]
    shipped = {n for p, names in shipped_by.items() if platform in (None, p) for n in names}
    return [
        f"needs {name} (by {', '.join(sorted(users)[:3])}{' ...' if len(users) > 3 else ''}): part of the Visual C++ "
        "Redistributable, which CPython does not ship and the wheel does not carry"
        for name, users in sorted(runtime.items()) if name.lower() not in shipped
    ]


def _claims_hold(claimed: Sequence[str], facts: Sequence[PEFacts]) -> Tuple[Optional[bool], List[str]]:
    holds: Optional[bool] = None
    why: List[str] = []
    for tag in claimed:
        machine = TAG_MACHINES.get(tag)
        if machine is None:
            continue
        holds = True if holds is None else holds
        wrong = [f for f in facts if f.machine and f.machine != machine]
        if wrong:
            holds = False
            shown = ", ".join(f"{f.path} ({f.machine})" for f in wrong[:3])
            why.append(f"claims {tag} but {len(wrong)} binaries are built for another machine: {shown}")
    return holds, why


def _overall_tag(facts: Sequence[PEFacts]) -> Optional[str]:
    machines = {f.machine for f in facts if f.machine}
    if len(machines) != 1:
        return None
    machine = machines.pop()
    return next((tag for tag, m in TAG_MACHINES.items() if m == machine), None)
