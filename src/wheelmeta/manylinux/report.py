"""A WheelAudit as JSON (``wheelmeta scan --json``) and as a few lines of text for a maintainer's screen.

    >>> audit_to_json(WheelAudit(wheel="x-1.0-py3-none-any.whl", kind="pure"))["kind"]
    'pure'
"""

from __future__ import annotations

from typing import Callable, List, Optional

from ..model import ElfFacts, WheelAudit

__all__ = ["audit_to_json", "elf_to_json", "audit_to_text"]


def elf_to_json(facts: ElfFacts) -> dict:
    """One ELF member: what it needs and declares."""
    return {
        "path": facts.path,
        "needed": list(facts.needed),
        "soname": facts.soname,
        "rpath": list(facts.rpath),
        "runpath": list(facts.runpath),
        "interpreter": facts.interpreter,
        "machine": facts.machine,
        "version_requirements": {lib: list(v) for lib, v in facts.version_requirements.items()},
        "python_init": facts.python_init,
        "isa_extension": facts.isa_extension,
        "dlopen": [
            {"sonames": list(n.sonames), "priority": n.priority, "feature": n.feature, "description": n.description}
            for n in facts.dlopen
        ],
        "problems": list(facts.problems),
    }


def audit_to_json(audit: WheelAudit) -> dict:
    """The JSON object of one wheel; the CLI prints a list of these. A wheel judged per architecture adds
    ``architectures``: architecture -> the same object for its members alone (without ``elf_files``)."""
    out = _verdict_json(audit)
    out["elf_files"] = [elf_to_json(f) for f in audit.elf_files]
    out["problems"] = list(audit.problems)
    if audit.architectures:
        out["architectures"] = {arch: _verdict_json(sub) | {"problems": list(sub.problems)}
                                for arch, sub in audit.architectures.items()}
    return out


def _verdict_json(audit: WheelAudit) -> dict:
    return {
        "wheel": audit.wheel,
        "kind": audit.kind,
        "arch": audit.arch,
        "format": audit.format,
        "claimed_tags": list(audit.claimed_tags),
        "claims_hold": audit.claims_hold,
        "sym_tag": audit.sym_tag,
        "overall_tag": audit.overall_tag,
        "external_libs": {soname: list(members) for soname, members in audit.external_libs.items()},
        "carried_libs": dict(audit.carried_libs),
        "preloaded_libs": dict(audit.preloaded_libs),
        "policy_libs": list(audit.policy_libs),
        "versioned_symbols": {lib: list(v) for lib, v in audit.versioned_symbols.items()},
    }


def audit_to_text(
    audit: WheelAudit,
    *,
    describe: Optional[Callable[[str], Optional[str]]] = None,
    members: bool = False,
    max_members: int = 3,
    max_carried: int = 6,
    max_problems: int = 8,
) -> str:
    """The verdict, what the wheel carries, what the policy allows, the external libraries and who needs each, and
    the problems: a screenful at most. ``members=True`` adds each ELF file with its needs.

    ``describe(soname)`` may add a note to each library (the CLI passes the nixpkgs attribute that provides it);
    this module itself knows nothing of what the note means.
    """
    def note(soname: str) -> str:
        text = describe(soname) if describe else None
        return f" [{text}]" if text else ""

    lines: List[str] = [audit.wheel]
    if audit.kind != "elf":
        what = {"pure": "pure wheel: no ELF files", "non-linux": "not a Linux wheel: nothing to audit"}
        lines.append(f"  {what.get(audit.kind, audit.kind)}")
    else:
        verdict = "holds" if audit.claims_hold else "does NOT hold" if audit.claims_hold is False else "n/a"
        lines.append(f"  claimed:  {', '.join(audit.claimed_tags) or '-'}  ({verdict})")
        if audit.overall_tag is None and audit.architectures:
            lines.append(f"  overall:  - (ELF files for {', '.join(audit.architectures)}: judged per architecture below)")
        else:
            judged = f"  (judged for {audit.arch})" if audit.architectures else ""
            lines.append(f"  overall:  {audit.overall_tag}    symbols allow: {audit.sym_tag}{judged}")
        lines.append(f"  ELF files: {len(audit.elf_files)}, libraries carried in the wheel: {len(audit.carried_libs)}")
        carried = sorted(audit.carried_libs)
        if carried:
            shown = carried[:max_carried]
            if len(carried) > max_carried:
                shown.append(f"(+{len(carried) - max_carried} more, --members lists them)")
            lines.extend(_wrapped("  carried:  ", shown))
        if audit.policy_libs:
            lines.extend(_wrapped("  allowed:  ", [f"{soname}{note(soname)}" for soname in audit.policy_libs]))
        if audit.external_libs:
            lines.append("  external libraries (needed, neither carried nor allowed by the policy):")
            for soname, needers in audit.external_libs.items():
                shown = ", ".join(needers[:max_members])
                more = f" (+{len(needers) - max_members} more)" if len(needers) > max_members else ""
                lines.append(f"    external  {soname:<32} <- {shown}{more}{note(soname)}")
        else:
            lines.append("  external libraries: none")
        lines.extend(_architectures_text(audit, note))
        if members:
            lines.extend(_members_text(audit))
    for problem in audit.problems[:max_problems]:
        lines.append(f"  problem: {problem}")
    if len(audit.problems) > max_problems:
        lines.append(f"  ... {len(audit.problems) - max_problems} more problems (see --json)")
    return "\n".join(lines)


def _wrapped(head: str, items: List[str], width: int = 110) -> List[str]:
    """``items`` joined by commas after ``head``, never split inside an item, continued under the first one."""
    lines, line = [], head
    for i, item in enumerate(items):
        piece = item + ("," if i < len(items) - 1 else "")
        if line.strip() and len(line) + 1 + len(piece) > width:
            lines.append(line.rstrip())
            line = " " * len(head)
        line += ("" if line.endswith(" ") else " ") + piece
    lines.append(line.rstrip())
    return lines


def _architectures_text(audit: WheelAudit, note: Callable[[str], str]) -> List[str]:
    """One verdict per architecture of a wheel judged per architecture, with what each needs from outside."""
    lines = []
    for arch, sub in audit.architectures.items():
        lines.append(f"  for {arch}: {sub.overall_tag}    ELF files: {len(sub.elf_files)}")
        if sub.policy_libs:
            lines.extend(_wrapped("    allowed:  ", [f"{soname}{note(soname)}" for soname in sub.policy_libs]))
        external = [f"{soname}{note(soname)}" for soname in sub.external_libs]
        lines.extend(_wrapped("    external: ", external) if external else ["    external: none"])
    return lines


def _members_text(audit: WheelAudit) -> List[str]:
    """Each ELF member and its DT_NEEDED, each need marked carried, allowed, external or the system's loader."""
    from .audit import is_program_loader

    allowed = set(audit.policy_libs)
    legend = "c = carried, a = allowed by the policy, x = external, l = the system's program loader"
    lines = [f"  ELF files and what each needs ({legend}):"]
    for elf in audit.elf_files:
        lines.append(f"    {elf.path}" + (f"  (SONAME {elf.soname})" if elf.soname else ""))
        if elf.runpath or elf.rpath:
            lines.append(f"      {'RUNPATH' if elf.runpath else 'RPATH'} {':'.join(elf.runpath or elf.rpath)}")
        for soname in elf.needed:
            if is_program_loader(soname):
                lines.append(f"      l {soname}")
                continue
            mark = "x" if soname in audit.external_libs else "a" if soname in allowed else "c"
            where = f"  -> {audit.carried_libs[soname]}" if soname in audit.carried_libs else ""
            if soname in audit.preloaded_libs:
                where = f"  (carried only as {audit.preloaded_libs[soname]}: met only when that is loaded first)"
            lines.append(f"      {mark} {soname}{where}")
        for note in elf.dlopen:
            feature = f", {note.feature}" if note.feature else ""
            lines.append(f"      dlopen ({note.priority}{feature}): {' or '.join(note.sonames)}")
        if elf.interpreter:
            lines.append(f"      l {elf.interpreter}  (program interpreter)")
    return lines
