"""``wheelmeta patch WHEEL``: a new wheel whose ELF members find every library they need.

The scan gives each member's needs and RUNPATH; :mod:`.patch` decides where each need will be found;
``patchelf`` rewrites the members that change (extracted one at a time to a temporary folder beside the output);
:func:`wheelmeta.wheels.rewrite.rewrite_wheel` writes the new wheel, copying the other members' compressed bytes
as they are. RECORD gets the new hashes and sizes, and the platform tag becomes ``linux_<arch>``, which honestly
describes a wheel whose RUNPATH names this machine's folders (``--keep-tag`` keeps it).

    >>> result = patch_wheel("dist/demo-1.0-cp311-cp311-manylinux_2_28_x86_64.whl", "patched/",    # doctest: +SKIP
    ...                      LibrarySearch(SonameMap.load(), lib_dirs=("/opt/lib",)))
    >>> result.output                                                                            # doctest: +SKIP
    'patched/demo-1.0-cp311-cp311-linux_x86_64.whl'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from ..errors import InvalidWheel, UsageError, WheelmetaError
from ..manylinux.audit import audit_source
from ..model import WheelAudit
from ..sources import LocalFileSource, file_sha256
from ..wheels.rewrite import rewrite_wheel
from ..wheels.wheelfile import parse_record, record_hash, rewrite_record
from ..wheels.zipdir import ZipDirectory
from .patch import LibrarySearch, MemberPlan, installed_files, installed_path, plan_member
from .patchelf import find_patchelf, run_patchelf

__all__ = ["WheelPatch", "plan_wheel", "patch_wheel"]

_MEMBER_LIMIT = 8 << 30  # the largest ELF member we extract (CUDA libraries reach 1-2 GB)


@dataclass(frozen=True)
class WheelPatch:
    """The plan (and, once written, the output) for one wheel."""

    wheel: str
    members: Tuple[MemberPlan, ...]
    output_name: str
    output: Optional[str] = None
    problems: Tuple[str, ...] = ()

    @property
    def changed(self) -> Tuple[MemberPlan, ...]:
        return tuple(m for m in self.members if m.changed)

    def to_json(self) -> dict:
        return {
            "wheel": self.wheel,
            "output": self.output,
            "output_name": self.output_name,
            "changed_members": len(self.changed),
            "not_found": sorted({s for m in self.members for s in m.not_found}),
            "members": [m.to_json() for m in self.members],
            "problems": list(self.problems),
        }


def read_audit(wheel: str) -> WheelAudit:
    """The scan of a local wheel, refusing wheels that are not for Linux."""
    audit = audit_source(LocalFileSource(wheel), name=wheel)
    if audit.kind == "non-linux":
        raise InvalidWheel(wheel, "not a Linux wheel: patch rewrites ELF files only")
    return audit


def plan_wheel(wheel: str, search: LibrarySearch, *, keep_tag: bool = False, audit: Optional[WheelAudit] = None) -> WheelPatch:
    """Where every need of every ELF member will be found after patching, and the patched wheel's name."""
    audit = audit or read_audit(wheel)
    with LocalFileSource(wheel) as source:
        names = [n for n in ZipDirectory.read(source).names() if not n.endswith("/")]
    paths = {n: installed_path(n) for n in names}
    sonames = {paths[f.path]: f.soname for f in audit.elf_files if f.soname and paths.get(f.path)}
    files = installed_files([p for p in paths.values() if p], sonames, one_package=True)
    plans = tuple(plan_member(f, paths.get(f.path), files, search) for f in audit.elf_files)
    problems = list(audit.problems)
    machines = sorted({f.machine for f in audit.elf_files if f.machine})
    if keep_tag or not any(p.changed for p in plans):
        output_name = os.path.basename(wheel)
    elif len(machines) != 1:
        output_name = os.path.basename(wheel)
        problems.append(f"ELF files for {len(machines)} architectures ({', '.join(machines)}): the tag is kept")
    else:
        output_name = _retagged(os.path.basename(wheel), f"linux_{machines[0]}")
    return WheelPatch(wheel=wheel, members=plans, output_name=output_name, problems=tuple(problems))


def patch_wheel(
    wheel: str,
    out_dir: str,
    search: LibrarySearch,
    *,
    keep_tag: bool = False,
    audit: Optional[WheelAudit] = None,
    progress: Optional[Callable[[int, int], None]] = None,
) -> WheelPatch:
    """Write the patched wheel into ``out_dir`` and return the plan with ``output`` set; ``progress(done,
    total)`` is called as members are patched.

    :raises UsageError: the output would replace the input.
    :raises InvalidWheel: RECORD disagrees with a member being patched, or a member cannot be read.
    :raises PatchelfError: patchelf is missing or fails on a member (the message names the member).
    """
    plan = plan_wheel(wheel, search, keep_tag=keep_tag, audit=audit)
    destination = Path(out_dir) / plan.output_name
    if destination.resolve() == Path(wheel).resolve():
        raise UsageError(out_dir, f"the patched wheel would overwrite its input {wheel}; name another folder")
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError(out_dir, f"cannot create the output folder: {exc.strerror or exc}")
    changed = plan.changed
    if not changed:
        _copy(wheel, destination)
        return _with_output(plan, destination)
    program = find_patchelf()
    try:
        tmp = tempfile.mkdtemp(prefix=".wheelmeta-patch-", dir=out_dir)
    except OSError as exc:
        raise WheelmetaError(out_dir, f"cannot write the patched wheel here: {exc.strerror or exc}")
    try:
        _write_patched(wheel, plan, changed, destination, tmp, program, progress)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _with_output(plan, destination)


def _write_patched(wheel: str, plan: WheelPatch, changed, destination: Path, tmp: str, program: str, progress) -> None:
    """Extract, check and patch the changed members in ``tmp``, then write the new wheel."""
    with LocalFileSource(wheel) as source:
        directory = ZipDirectory.read(source)
        dist_info = directory.dist_info()
        record = _read_small(directory, f"{dist_info}/RECORD", wheel)
        rows = {row.path: row for row in parse_record(record, wheel)}
        replacements: Dict[str, Union[bytes, Path]] = {}
        for number, member in enumerate(changed):
            extracted = Path(tmp) / str(number)
            _extract_checked(directory, member.path, extracted, rows, wheel)
            run_patchelf(
                str(extracted),
                where=f"{wheel}:{member.path}",
                runpath=member.runpath if member.runpath != member.runpath_before else None,
                interpreter=member.interpreter if member.interpreter != member.interpreter_before else None,
                replace_needed=member.replace_needed,
                program=program,
            )
            replacements[member.path] = extracted
            if progress is not None:
                progress(number + 1, len(changed))
        if plan.output_name != os.path.basename(wheel):
            wheel_file = f"{dist_info}/WHEEL"
            replacements[wheel_file] = _retag_wheel_file(_read_small(directory, wheel_file, wheel), plan.output_name)
        replacements[f"{dist_info}/RECORD"] = _new_record(record, replacements, wheel)
        rewrite_wheel(wheel, destination, replacements)


def _with_output(plan: WheelPatch, destination: Path) -> WheelPatch:
    return WheelPatch(plan.wheel, plan.members, plan.output_name, str(destination), plan.problems)


def _copy(wheel: str, destination: Path) -> None:
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        shutil.copyfile(wheel, partial)
        os.replace(partial, destination)
    except OSError as exc:
        raise WheelmetaError(destination.parent, f"cannot write the wheel here: {exc.strerror or exc}")
    finally:
        if partial.exists():
            partial.unlink()


def _read_small(directory: ZipDirectory, name: str, wheel: str) -> bytes:
    entry = directory.find(name)
    if entry is None:
        raise InvalidWheel(wheel, f"has no {name}")
    return directory.read_member(entry, limit=64 << 20)


def _extract_checked(directory: ZipDirectory, member: str, target: Path, rows, wheel: str) -> None:
    """Write ``member`` to ``target``, checking its bytes against RECORD (a patched wheel must not launder a
    member whose RECORD entry lies)."""
    entry = directory.find(member)
    row = rows.get(member)
    if entry is None:
        raise InvalidWheel(wheel, f"has no member {member}")
    if row is None or not row.hash:
        raise InvalidWheel(wheel, f"RECORD does not list a hash for {member}")
    algorithm = row.hash.partition("=")[0]
    try:
        digest = hashlib.new(algorithm)
    except ValueError:
        raise InvalidWheel(wheel, f"RECORD names the unknown hash {algorithm!r} for {member}")
    with open(target, "wb") as out:
        for chunk in directory.iter_member(entry, limit=_MEMBER_LIMIT):
            digest.update(chunk)
            out.write(chunk)
    if record_hash(digest.digest(), algorithm) != row.hash:
        raise InvalidWheel(wheel, f"RECORD lies about {member}: its {algorithm} is not the one RECORD lists")


def _new_record(record: bytes, replacements: Dict[str, Union[bytes, Path]], wheel: str) -> bytes:
    """RECORD with the new hash and size of every replaced member (RECORD's own row stays without one)."""
    changed = {}
    for path, new in replacements.items():
        if path.endswith("/RECORD"):
            continue
        if isinstance(new, bytes):
            changed[path] = (record_hash(hashlib.sha256(new).digest()), len(new))
        else:
            changed[path] = (record_hash(bytes.fromhex(file_sha256(new))), new.stat().st_size)
    return rewrite_record(record, wheel, changed)


def _retagged(filename: str, platform: str) -> str:
    stem = filename[: -len(".whl")]
    parts = stem.split("-")
    if len(parts) < 5:
        raise InvalidWheel(filename, "not a wheel filename")
    return "-".join(parts[:-1] + [platform]) + ".whl"


def _retag_wheel_file(data: bytes, new_filename: str) -> bytes:
    platform = new_filename[: -len(".whl")].split("-")[-1]
    lines: List[str] = []
    seen = set()
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "tag":
            python, _, rest = value.strip().partition("-")
            abi = rest.partition("-")[0]
            line = f"Tag: {python}-{abi}-{platform}"
            if line in seen:
                continue
            seen.add(line)
        lines.append(line)
    return ("\n".join(lines) + "\n").encode("utf-8")


def wheel_paths(paths: Sequence[str]) -> List[str]:
    """Local wheel files only: patch reads the whole wheel and writes a new one."""
    for path in paths:
        if "://" in path:
            raise UsageError(path, "patch works on local wheels; download it first")
    return list(paths)
