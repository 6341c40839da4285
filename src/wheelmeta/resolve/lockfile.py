"""The lock: a resolution written as PEP 751 ``pylock.toml``, validated with ``packaging.pylock`` before it is written.

Each package lists, where they exist, the wheel chosen for the target and the release's sdist (url, size, sha256,
upload time), and under ``[packages.tool.wheelmeta]`` what wheelmeta learned: the metadata provenance, the extras
the resolution activated, the sdist's build requirements, where the sdist declares other dependencies than the
wheel, problems, and ``[packages.tool.wheelmeta.nix]``: the wheel's native inputs from the scan. The layout is the
contract in docs/lock.md; the bytes are the same for the same inputs against the same index.

    >>> text = render_lock(lock_document(resolution, target, facts))        # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Callable, Dict, List, Mapping, Optional, Set

from packaging.utils import canonicalize_name

from ..errors import UsageError, WheelmetaError
from ..model import DistFile, DistMetadata

if TYPE_CHECKING:  # pragma: no cover
    from ..target import Target
    from .facts import Facts
    from .provider import LockedPackage, Resolution

__all__ = ["lock_document", "render_lock", "validate_lock", "environment_marker", "SDIST_MODES"]

logger = logging.getLogger(__name__)

#: Which sdists the lock reads: those of packages with no wheel for the target (their metadata comes from them
#: anyway), or every locked sdist (build requirements and the sdist-versus-wheel comparison for all).
SDIST_MODES = ("needed", "all")
#: Keys written as [sub.tables]; every other mapping is an inline table, lists of mappings inline too except these.
_TABLES = frozenset({"sdist", "tool", "wheelmeta", "nix"})
_ARRAYS_OF_TABLES = frozenset({"packages", "wheels"})
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def environment_marker(target: "Target") -> str:
    """The one marker the lock is valid for: the target's Python series, system and machine."""
    env = target.marker_environment()
    return (f"python_full_version == '{target.python_version}.*' and sys_platform == '{env['sys_platform']}' "
            f"and platform_machine == '{env['platform_machine']}'")


def lock_document(
    resolution: "Resolution",
    facts: "Facts",
    *,
    soname_map=None,
    sdists: str = "needed",
    hashes: Optional[Mapping[str, Set[str]]] = None,
    hash_origins: Optional[Mapping[str, str]] = None,
    jobs: int = 8,
    on_scan: Optional[Callable[[str], None]] = None,
) -> dict:
    """The pylock.toml content as a mapping (keys in the contract's order), scans and sdist reads included.

    ``hashes`` are ``--hash`` pins by canonical name: only pinned files are listed, and a package none of whose
    files matches is an error naming where the pin came from.
    """
    from ..patchelf_nix.sonames import SonameMap

    soname_map = soname_map or SonameMap.load()
    packages = [resolution.packages[name] for name in sorted(resolution.packages)]
    wheels = [p.candidate.wheel for p in packages if p.candidate.wheel is not None]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        scans = dict(zip((w.filename for w in wheels), pool.map(lambda w: _scan(facts, w, on_scan), wheels)))
        sdist_facts = dict(zip((p.name for p in packages),
                               pool.map(lambda p: _sdist_metadata(facts, p, sdists), packages)))
    target = facts.target
    entries = [_package_entry(p, facts, scans, sdist_facts[p.name], soname_map, hashes or {}, hash_origins or {})
               for p in packages]
    return {
        "lock-version": "1.0",
        "environments": [environment_marker(target)],
        "requires-python": f"=={target.python_version}.*",
        "extras": [],
        "dependency-groups": [],
        "default-groups": [],
        "created-by": "wheelmeta",
        "packages": entries,
        "tool": {"wheelmeta": {"platforms": list(target.platforms), "abis": list(target.abis),
                               "implementation": target.implementation}},
    }


def _learn(facts: "Facts", what: str, where: str, read: Callable[[], object]):
    """``read()``; online, a failure comes back as the error itself, so that a wheel that cannot be scanned or an sdist
    that cannot be read becomes a problem listed in the lock, not the end of it (offline it is the end: the store
    lacks a fact)."""
    try:
        return read()
    except WheelmetaError as exc:
        if facts.offline:
            raise
        logger.warning("%s: %s failed: %s", where, what, exc.reason)
        return exc


def _scan(facts: "Facts", wheel: DistFile, on_scan):
    try:
        return _learn(facts, "the scan", wheel.filename, lambda: facts.scan(wheel))
    finally:
        if on_scan is not None:
            on_scan(wheel.filename)


def _sdist_metadata(facts: "Facts", package: "LockedPackage", mode: str):
    """The sdist's own metadata when the lock reads it (its file is the candidate's, or ``mode`` is "all"), None
    when it does not, or the error that stopped the read."""
    sdist = package.candidate.sdist
    if sdist is None:
        return None
    if package.candidate.file is sdist:
        return package.metadata
    if mode != "all":
        return None
    return _learn(facts, "reading the sdist", sdist.filename, lambda: facts.metadata(sdist))


def _file_entry(dist: DistFile) -> dict:
    entry: Dict[str, object] = {"name": dist.filename, "url": dist.url}
    if dist.size is not None:
        entry["size"] = dist.size
    entry["hashes"] = {k: v for k, v in sorted(dist.hashes.items()) if k == "sha256"}
    if dist.upload_time:
        entry["upload-time"] = _datetime(dist.upload_time)
    return entry


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _package_entry(package: "LockedPackage", facts: "Facts", scans: Mapping, sdist_md,
                   soname_map, hashes: Mapping[str, Set[str]], hash_origins: Mapping[str, str]) -> dict:
    candidate, md = package.candidate, package.metadata
    wheel = facts.keyed(candidate.wheel) if candidate.wheel else None
    sdist = facts.keyed(candidate.sdist) if candidate.sdist else None
    wheel, sdist = _apply_hash_pins(package.name, wheel, sdist, hashes, hash_origins)
    entry: Dict[str, object] = {"name": package.name, "version": str(candidate.version)}
    if candidate.file.index and not candidate.direct and "://" in candidate.file.index:
        entry["index"] = candidate.file.index
    if md.requires_python is not None and str(md.requires_python):
        entry["requires-python"] = str(md.requires_python)
    if package.dependencies:
        entry["dependencies"] = [{"name": name} for name in package.dependencies]
    if sdist is not None:
        entry["sdist"] = _file_entry(sdist)
    if wheel is not None:
        entry["wheels"] = [_file_entry(wheel)]
    problems = list(md.problems) + _python_mismatch(md, facts.target)
    if isinstance(sdist_md, WheelmetaError):
        problems.append(f"{sdist.filename}: reading the sdist failed: {sdist_md.reason}")
        sdist_md = None
    tool: Dict[str, object] = {"provenance": md.provenance}
    if package.extras:
        tool["extras"] = list(package.extras)
    if sdist_md is not None:
        if sdist_md.build_requires:
            tool["build-requires"] = sorted(str(r) for r in sdist_md.build_requires)
        if sdist_md is not md:
            differ = _dependencies_differ(sdist_md, md, facts.target, package.extras)
            if differ:
                tool["sdist-dependencies-differ"] = differ
            problems.extend(f"sdist: {p}" for p in sdist_md.problems)
    scan = scans.get(wheel.filename) if wheel is not None else None
    if isinstance(scan, WheelmetaError):
        problems.append(f"{wheel.filename}: scan failed: {scan.reason}")
        scan = None
    if problems:
        tool["problems"] = sorted(set(problems))
    nix = _nix_table(scan, soname_map) if scan else None
    if nix:
        tool["nix"] = nix
    entry["tool"] = {"wheelmeta": tool}
    return entry


def _python_mismatch(md: DistMetadata, target) -> List[str]:
    """setup.py evaluated by another Python than the target's may have answered for that Python: say so."""
    if md.python_version and md.python_version.split(".")[:2] != target.python_version.split("."):
        return [f"{md.provenance} ran under Python {md.python_version}, not the target's {target.python_version} "
                f"(no working python{target.python_version} here); its version-dependent choices may differ"]
    return []


def _apply_hash_pins(name, wheel, sdist, hashes, hash_origins):
    """Keep only the files a ``--hash`` pin allows; none left is an error naming the pin's line."""
    allowed = hashes.get(name)
    if not allowed:
        return wheel, sdist
    kept = [f if f is not None and f.sha256 in allowed else None for f in (wheel, sdist)]
    if not any(kept):
        offered = ", ".join(f"{f.filename} sha256:{f.sha256}" for f in (wheel, sdist) if f is not None)
        raise UsageError(hash_origins.get(name, name), f"no file of {name} matches its --hash pins ({offered})")
    return kept[0], kept[1]


def _dependencies_differ(sdist_md: DistMetadata, wheel_md: DistMetadata, target, extras) -> Optional[dict]:
    """Both lists as PEP 508 strings when the sdist's and the wheel's dependencies on ``target`` differ
    semantically (:func:`~wheelmeta.target.normalized_requirements`), else None."""
    from ..target import normalized_requirements

    sdist_reqs, wheel_reqs = sdist_md.for_target(target, extras), wheel_md.for_target(target, extras)
    if normalized_requirements(sdist_reqs) == normalized_requirements(wheel_reqs):
        return None
    return {"sdist": sorted({str(r) for r in sdist_reqs}), "wheel": sorted({str(r) for r in wheel_reqs})}


def _nix_table(scan, soname_map) -> Optional[dict]:
    from ..patchelf_nix.classify import nix_inputs

    audit, modules = scan
    inputs = nix_inputs(audit, soname_map)
    if not inputs.needs_patchelf:
        return None
    table: Dict[str, object] = {}
    if inputs.build_inputs:
        table["build-inputs"] = sorted(inputs.build_inputs)
        # which soname asked for each input: `wheelmeta env --nixpkgs` checks them against the user's nixpkgs
        table["sonames"] = {soname: entry["attribute"] for soname, entry in sorted(inputs.by_soname.items())
                            if entry.get("class") in ("nixpkgs", "cc-runtime") and entry.get("attribute")}
    if inputs.ignore_missing_deps:
        table["ignore-missing-deps"] = sorted(inputs.ignore_missing_deps)
    table["driver-runpath"] = bool(inputs.driver_runpath)
    if inputs.python_search_paths:
        pairs = sorted((canonicalize_name(a), p) for a, p in inputs.python_search_paths)
        table["python-search-paths"] = [{"attribute": a, "path": p} for a, p in pairs]
    if inputs.unknown:
        table["unknown"] = sorted(inputs.unknown)
    if modules:
        table["import-modules"] = sorted(modules)
    return table


# ---------------------------------------------------------------------------------------------------------------------
# TOML out (no TOML writer is among the project's dependencies; the subset a lock needs, checked by reading it back)


def render_lock(document: Mapping) -> str:
    """The document as TOML text, validated: it reads back equal and ``packaging.pylock`` accepts it."""
    lines: List[str] = []
    _table_body(document, [], lines)
    text = "\n".join(lines).strip("\n") + "\n"
    validate_lock(text, "the lock being written", expected=document)
    return text


def validate_lock(text: str, where: str, expected: Optional[Mapping] = None):
    """Parse ``text`` with tomllib and ``packaging.pylock``; a rejection is a WheelmetaError naming ``where``."""
    import tomllib
    from packaging.pylock import Pylock, PylockUnsupportedVersionError, PylockValidationError

    try:
        data = tomllib.loads(text)
        pylock = Pylock.from_dict(data)
    except (tomllib.TOMLDecodeError, PylockValidationError, PylockUnsupportedVersionError) as exc:
        raise WheelmetaError(where, f"not a valid pylock.toml: {exc}") from None
    if expected is not None and data != expected:
        raise WheelmetaError(where, "the TOML written does not read back as the lock (a wheelmeta bug)")
    return pylock


def _table_body(table: Mapping, path: List[str], lines: List[str]) -> None:
    later = []
    for key, value in table.items():
        if _is_table(key, value):
            later.append((key, value, isinstance(value, list)))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value, is_array in later:
        name = ".".join(_key(k) for k in (*path, key))
        for item in (value if is_array else [value]):
            if is_array or not all(_is_table(k, v) for k, v in item.items()):  # [a] holding only [a.b]: implied
                lines.append("")
                lines.append(f"[[{name}]]" if is_array else f"[{name}]")
            _table_body(item, [*path, key], lines)


def _is_table(key: str, value) -> bool:
    return (isinstance(value, Mapping) and key in _TABLES) or (
        isinstance(value, list) and key in _ARRAYS_OF_TABLES and all(isinstance(v, Mapping) for v in value))


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
