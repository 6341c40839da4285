"""``wheelmeta patch --venv PATH``: patch an installed environment in place, and undo it exactly.

Every ELF file under site-packages is planned as a wheel's members are (:mod:`.patch`), with one difference: a
library found in another top-level package of the same site-packages is ``other-wheel`` (libcudart from
nvidia-cuda-runtime), reached through an ``$ORIGIN``-relative entry. Before a file changes, its original bytes
are copied to ``.wheelmeta-patch/originals/`` and the manifest ``.wheelmeta-patch/manifest.json`` records its
hashes before and after; the RECORD files that list patched files are updated the same way. ``--undo`` checks
every file first (a file changed since by someone else is refused, and nothing is restored), then restores.

    >>> plan = plan_site("venv/lib/python3.12/site-packages", search)      # doctest: +SKIP
    >>> patch_site("venv/lib/python3.12/site-packages", search)            # doctest: +SKIP
    >>> undo_site("venv/lib/python3.12/site-packages")                     # doctest: +SKIP
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Tuple

from ..errors import UsageError, WheelmetaError
from ..manylinux.elf import read_elf_facts
from ..model import ElfFacts
from ..sources import file_sha256
from ..wheels.wheelfile import parse_record, record_hash, rewrite_record
from .patch import LibrarySearch, MemberPlan, installed_files, plan_member
from .patchelf import find_patchelf, run_patchelf

__all__ = ["SitePatch", "site_packages_of", "plan_site", "patch_site", "undo_site", "MANIFEST_DIR"]

MANIFEST_DIR = ".wheelmeta-patch"
_MANIFEST = "manifest.json"
_SKIP_DIRS = {MANIFEST_DIR, "__pycache__"}
_ELF_MAGIC = b"\x7fELF"


class SitePatchError(WheelmetaError):
    """An environment that cannot be patched or restored as asked."""


@dataclass(frozen=True)
class SitePatch:
    """The plan for (or the result of patching) one site-packages folder."""

    site: str
    members: Tuple[MemberPlan, ...]

    @property
    def changed(self) -> Tuple[MemberPlan, ...]:
        return tuple(m for m in self.members if m.changed)

    def to_json(self) -> dict:
        return {
            "site_packages": self.site,
            "changed_files": len(self.changed),
            "not_found": sorted({s for m in self.members for s in m.not_found}),
            "members": [m.to_json() for m in self.members],
        }


def site_packages_of(path: str) -> str:
    """The site-packages folder of a virtual environment (or ``path`` itself when it is one)."""
    if not os.path.isdir(path):
        raise UsageError(path, "no such folder")
    if os.path.exists(os.path.join(path, "pyvenv.cfg")) or os.path.isdir(os.path.join(path, "bin")):
        found = sorted(glob.glob(os.path.join(path, "lib", "python*", "site-packages")))
        if len(found) == 1:
            return found[0]
        if found:
            raise UsageError(path, f"{len(found)} site-packages folders; name one with --site-packages")
        raise UsageError(path, "no lib/python*/site-packages in this environment")
    return path


def _walk(site: str) -> Iterator[Tuple[str, str, bool]]:
    """(relative path, absolute path, is a regular file) for every file below ``site``."""
    for root, dirs, files in os.walk(site):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            full = os.path.join(root, name)
            yield os.path.relpath(full, site).replace(os.sep, "/"), full, not os.path.islink(full)


def _elf_facts(full: str, rel: str) -> Optional[ElfFacts]:
    try:
        with open(full, "rb") as handle:
            if handle.read(4) != _ELF_MAGIC:
                return None
            handle.seek(0)
            size = os.fstat(handle.fileno()).st_size
            return read_elf_facts(iter(lambda: handle.read(1 << 20), b""), rel, size=size)
    except OSError:
        return None


def plan_site(site: str, search: LibrarySearch) -> SitePatch:
    """Where every need of every ELF file below ``site`` will be found after patching."""
    names, facts = [], []
    for rel, full, regular in _walk(site):
        names.append(rel)
        if regular:
            elf = _elf_facts(full, rel)
            if elf is not None:
                facts.append(elf)
    sonames = {f.path: f.soname for f in facts if f.soname}
    files = installed_files(names, sonames, one_package=False)
    return SitePatch(site, tuple(plan_member(f, f.path, files, search) for f in facts))


def patch_site(site: str, search: LibrarySearch) -> SitePatch:
    """Patch ``site`` in place, keeping every original for :func:`undo_site`."""
    state = os.path.join(site, MANIFEST_DIR)
    if os.path.exists(state):
        raise SitePatchError(site, f"already patched by wheelmeta ({MANIFEST_DIR} exists); run --undo first")
    plan = plan_site(site, search)
    if not plan.changed:
        return plan
    program = find_patchelf()
    records = _records_listing(site, {m.path for m in plan.changed})
    manifest: Dict[str, list] = {"files": []}
    try:
        os.makedirs(os.path.join(state, "originals"))
    except OSError as exc:
        raise SitePatchError(site, f"cannot write here: {exc.strerror or exc}")
    for member in plan.changed:
        def rewrite(path: str, member: MemberPlan = member) -> None:
            run_patchelf(
                path,
                where=os.path.join(site, member.path),
                runpath=member.runpath if member.runpath != member.runpath_before else None,
                interpreter=member.interpreter if member.interpreter != member.interpreter_before else None,
                replace_needed=member.replace_needed,
                program=program,
            )

        _change_file(site, member.path, rewrite, manifest)
    for record, paths in sorted(records.items()):
        _change_file(site, record, lambda path, paths=paths: _rewrite_record(path, site, record, paths), manifest)
    return plan


def _change_file(site: str, rel: str, rewrite, manifest: Dict[str, list]) -> None:
    """Back up ``rel``, rewrite a copy, and move it into place; the manifest is saved before and after."""
    full = os.path.join(site, rel)
    state = os.path.join(site, MANIFEST_DIR)
    backup = os.path.join("originals", str(len(manifest["files"])))
    entry = {"path": rel, "backup": backup, "before": file_sha256(full), "after": None, "mode": os.stat(full).st_mode & 0o7777}
    shutil.copy2(full, os.path.join(state, backup))
    manifest["files"].append(entry)
    _save_manifest(state, manifest)
    handle, work = tempfile.mkstemp(prefix=".wheelmeta-", dir=os.path.dirname(full))
    os.close(handle)
    try:
        shutil.copy2(full, work)
        rewrite(work)
        entry["after"] = file_sha256(work)
        _save_manifest(state, manifest)  # after-hash first: a crash between the two steps still undoes cleanly
        os.replace(work, full)
    finally:
        if os.path.exists(work):
            os.unlink(work)


def _records_listing(site: str, paths) -> Dict[str, List[str]]:
    """RECORD file (relative) -> the patched paths it lists."""
    out: Dict[str, List[str]] = {}
    for record in sorted(glob.glob(os.path.join(site, "*.dist-info", "RECORD"))):
        rel = os.path.relpath(record, site).replace(os.sep, "/")
        with open(record, "rb") as handle:
            listed = {row.path for row in parse_record(handle.read(), record)}
        hits = sorted(listed & paths)
        if hits:
            out[rel] = hits
    return out


def _rewrite_record(path: str, site: str, record: str, patched: List[str]) -> None:
    with open(path, "rb") as handle:
        data = handle.read()
    changed = {}
    for rel in patched:
        full = os.path.join(site, rel)
        changed[rel] = (record_hash(bytes.fromhex(file_sha256(full))), os.path.getsize(full))
    with open(path, "wb") as handle:
        handle.write(rewrite_record(data, os.path.join(site, record), changed))


def undo_site(site: str) -> List[str]:
    """Restore every file the last patch changed, byte for byte; return their paths."""
    state = os.path.join(site, MANIFEST_DIR)
    manifest = _load_manifest(state)
    todo = []
    for entry in manifest["files"]:
        full = os.path.join(site, entry["path"])
        current = file_sha256(full) if os.path.exists(full) else None
        if current == entry["before"]:
            continue  # never patched (an interrupted run), or already restored
        if current is None or current != entry.get("after"):
            raise SitePatchError(full, "changed since wheelmeta patched it; nothing was restored")
        if not os.path.isfile(os.path.join(state, entry["backup"])):
            raise SitePatchError(os.path.join(state, entry["backup"]), "the original's copy is missing; nothing was "
                                 "restored")
        todo.append(entry)
    for entry in todo:
        full = os.path.join(site, entry["path"])
        handle, work = tempfile.mkstemp(prefix=".wheelmeta-", dir=os.path.dirname(full))
        os.close(handle)
        shutil.copy2(os.path.join(state, entry["backup"]), work)
        os.chmod(work, entry["mode"] & 0o7777)
        os.replace(work, full)
    shutil.rmtree(state)
    return [entry["path"] for entry in todo]


def _save_manifest(state: str, manifest: dict) -> None:
    partial = os.path.join(state, _MANIFEST + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
    os.replace(partial, os.path.join(state, _MANIFEST))


def _load_manifest(state: str) -> dict:
    path = os.path.join(state, _MANIFEST)
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise SitePatchError(os.path.dirname(state), "nothing to undo: wheelmeta has not patched this environment")
    except (OSError, ValueError) as exc:
        raise SitePatchError(path, f"unreadable manifest: {exc}")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    keys = {"path": str, "backup": str, "before": str, "mode": int}
    if not isinstance(files, list) or not all(
        isinstance(e, dict) and all(isinstance(e.get(k), t) for k, t in keys.items())
        and isinstance(e.get("after"), (str, type(None))) for e in files
    ):
        raise SitePatchError(path, "not a wheelmeta patch manifest")
    for entry in files:  # the manifest names files to overwrite: none may point outside the environment
        for key in ("path", "backup"):
            if os.path.isabs(entry[key]) or ".." in entry[key].split("/"):
                raise SitePatchError(path, f"manifest entry {entry[key]!r} points outside the environment")
    return manifest

