"""A BinaryAudit (macOS or Windows wheel) as JSON and as a screenful of text, in the ELF report's shape.

    >>> binary_audit_to_json(BinaryAudit(wheel="x-1.0-cp311-cp311-win_amd64.whl", format="pe"))["format"]
    'pe'
"""

from __future__ import annotations

from dataclasses import asdict
from typing import List

from ..model import BinaryAudit, MachOFacts, PEFacts

__all__ = ["binary_audit_to_json", "binary_to_json", "binary_audit_to_text"]


def binary_to_json(facts, libraries=()) -> dict:
    """One Mach-O or PE member: what it needs (``needed``, every slice's for Mach-O) and each library's class."""
    out = {"path": facts.path, "needed": list(facts.needed)}
    if isinstance(facts, MachOFacts):
        out["fat"] = facts.fat
        out["slices"] = [
            asdict(s) | {"dylibs": [{"name": n, "command": c} for n, c in s.dylibs], "rpaths": list(s.rpaths)}
            for s in facts.slices
        ]
    elif isinstance(facts, PEFacts):
        out.update(machine=facts.machine, bits=facts.bits, dll=facts.dll, imports=list(facts.imports),
                   delay_imports=list(facts.delay_imports))
    out["libraries"] = [{"name": l.name, "kind": l.kind, "class": l.cls, "member": l.member} for l in libraries]
    out["problems"] = list(facts.problems)
    return out


def binary_audit_to_json(audit: BinaryAudit) -> dict:
    """The JSON object of one macOS or Windows wheel; the keys shared with ELF mean the same."""
    return {
        "wheel": audit.wheel,
        "kind": audit.kind,
        "format": audit.format,
        "claimed_tags": list(audit.claimed_tags),
        "claims_hold": audit.claims_hold,
        "overall_tag": audit.overall_tag,
        "archs": list(audit.archs),
        "min_os": audit.min_os,
        "carried_libs": dict(audit.carried_libs),
        "system_libs": list(audit.system_libs),
        "runtime_libs": list(audit.runtime_libs),
        "external_libs": {name: list(members) for name, members in audit.external_libs.items()},
        "missing_libs": {name: list(members) for name, members in audit.missing_libs.items()},
        "binaries": [binary_to_json(f, audit.libraries.get(f.path, ())) for f in audit.binaries],
        "problems": list(audit.problems),
    }


def binary_audit_to_text(audit: BinaryAudit, *, members: bool = False, max_members: int = 3, max_problems: int = 8) -> str:
    """The verdict, what is carried, provided by the system or runtime, external or missing, and the problems."""
    what = "Mach-O" if audit.format == "macho" else "PE"
    lines: List[str] = [audit.wheel]
    if not audit.binaries:
        lines.append(f"  no {what} files")
    else:
        verdict = "holds" if audit.claims_hold else "does NOT hold" if audit.claims_hold is False else "n/a"
        lines.append(f"  claimed:  {', '.join(audit.claimed_tags) or '-'}  ({verdict})")
        extra = f"    newest minimum macOS: {audit.min_os}" if audit.min_os else ""
        lines.append(f"  overall:  {audit.overall_tag or '-'}    {'architectures' if audit.format == 'macho' else 'machines'}: "
                     f"{', '.join(audit.archs) or '-'}{extra}")
        lines.append(f"  {what} files: {len(audit.binaries)}, libraries carried in the wheel: {len(audit.carried_libs)}")
        for label, names in (("system:   ", _api_sets_counted(audit.system_libs)), ("runtime:  ", audit.runtime_libs)):
            if names:
                shown = list(names[:8]) + ([f"(+{len(names) - 8} more)"] if len(names) > 8 else [])
                lines.append(f"  {label}{', '.join(shown)}")
        for label, libs in (("external", audit.external_libs), ("missing", audit.missing_libs)):
            for name, needers in libs.items():
                more = f" (+{len(needers) - max_members} more)" if len(needers) > max_members else ""
                lines.append(f"    {label:<9} {name:<32} <- {', '.join(needers[:max_members])}{more}")
        if not audit.external_libs and not audit.missing_libs:
            lines.append("  external or missing libraries: none")
        if members:
            lines.extend(_members_text(audit))
    lines.extend(f"  problem: {p}" for p in audit.problems[:max_problems])
    if len(audit.problems) > max_problems:
        lines.append(f"  ... {len(audit.problems) - max_problems} more problems (see --json)")
    return "\n".join(lines)


def _api_sets_counted(names) -> List[str]:
    """System DLL names with the API sets (dozens of api-ms-win-crt-*) counted instead of listed."""
    api_sets = [n for n in names if n.lower().startswith(("api-ms-win-", "ext-ms-"))]
    return [n for n in names if n not in api_sets] + ([f"{len(api_sets)} API sets (api-ms-win-*)"] if api_sets else [])


_MARKS = {"carried": "c", "system": "s", "msvc-runtime": "r", "python": "p", "external": "x", "missing": "m"}


def _members_text(audit: BinaryAudit) -> List[str]:
    lines = ["  binaries and what each loads (c = carried, s = system, r = MSVC runtime, p = Python, x = external, "
             "m = missing):"]
    for facts in audit.binaries:
        if isinstance(facts, MachOFacts):
            detail = ", ".join(f"{s.arch} macOS {s.min_os or '?'}" for s in facts.slices)
        else:
            detail = facts.machine
        lines.append(f"    {facts.path}  ({detail})")
        for lib in audit.libraries.get(facts.path, ()):
            where = f"  -> {lib.member}" if lib.member else ""
            kind = "" if lib.kind in ("load", "import") else f" ({lib.kind})"
            lines.append(f"      {_MARKS.get(lib.cls, '?')} {lib.name}{kind}{where}")
    return lines
