"""``wheelmeta scan``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from ..errors import WheelmetaError
from .common import (
    expand_paths,
    print_json,
    refuse_non_wheel,
    require_file,
    stderr_is_terminal,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "scan",
        help="audit the binaries of wheels: needed libraries, the platform tag, nixpkgs inputs",
        description="For each wheel: which libraries each ELF member needs, which the wheel carries, which the "
        "manylinux policy allows, which are external, and which manylinux tag the wheel really satisfies. macOS "
        "and Windows wheels get the same from their Mach-O and PE members: carried, system, runtime, external "
        "and missing libraries, and whether the macosx or win tag holds.",
    )
    p.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel, folder, quoted glob, or URL")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--map", metavar="FILE", help="soname map overrides (TOML) for the nixpkgs classification")
    p.add_argument("--members", action="store_true",
                   help="text output: also list every binary and what it needs (the JSON always has them)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..manylinux.report import audit_to_json
    from ..patchelf_nix.classify import nix_inputs
    from ..patchelf_nix.sonames import SonameMap

    soname_map = SonameMap.load(require_file("--map", args.map) if args.map else None)  # fails before any scan
    results, status = [], 0
    for wheel in expand_paths(args.wheels):
        try:
            audit = _scan_one(wheel, quiet=args.quiet)
        except WheelmetaError as exc:  # one unreadable wheel does not stop the others
            if os.environ.get("WHEELMETA_DEBUG"):
                raise
            print(f"wheelmeta: error: {exc}", file=sys.stderr)
            results.append({"wheel": wheel, "error": str(exc)})
            status = max(status, exc.exit_code)
            continue
        if audit.format in ("macho", "pe"):  # a macOS or Windows wheel: no Nix inputs to name
            results.append(_binary_report(audit, args))
            continue
        inputs = nix_inputs(audit, soname_map) if audit.kind == "elf" else None
        if not args.json:
            print(_scan_text(audit, inputs, members=args.members), flush=True)
            continue
        obj = audit_to_json(audit)
        # the one place where other layers add keys to a wheel's JSON object (e.g. "nix" from patchelf_nix)
        obj["nix"] = (inputs or nix_inputs(audit, soname_map)).to_json()
        results.append(obj)
    if args.json:
        print_json(results)
    return status


def _binary_report(audit, args: argparse.Namespace) -> dict:
    """Print a macOS or Windows wheel's text now, or return its JSON object for the array."""
    from ..binaries.report import binary_audit_to_json, binary_audit_to_text

    if not args.json:
        print(binary_audit_to_text(audit, members=args.members), flush=True)
    return binary_audit_to_json(audit)


def _scan_text(audit, inputs, *, members: bool) -> str:
    """The audit's screenful, each library noted with how Nix provides it, and the inputs as one line."""
    from ..manylinux.report import audit_to_text

    if inputs is None:
        return audit_to_text(audit)

    def describe(soname: str) -> Optional[str]:
        entry = inputs.by_soname.get(soname) or {}
        cls, attribute = entry.get("class"), entry.get("attribute")
        if cls == "glibc":
            return None  # the overwhelmingly common case: nothing to say
        if cls == "unknown":
            return "UNKNOWN to the soname map: add it with --map"
        return f"{cls}: {attribute}" if attribute else cls

    text = audit_to_text(audit, describe=describe, members=members)
    nix = [f"buildInputs = [ {' '.join(inputs.build_inputs)} ]"] if inputs.build_inputs else ["buildInputs = [ ]"]
    if inputs.ignore_missing_deps:
        nix.append(f"autoPatchelfIgnoreMissingDeps = [ {' '.join(inputs.ignore_missing_deps)} ]")
    if inputs.driver_runpath:
        nix.append("autoAddDriverRunpath")
    if inputs.unknown:
        nix.append(f"UNKNOWN: {' '.join(inputs.unknown)}")
    return f"{text}\n  nix:      {'; '.join(nix)}"


def _scan_one(wheel: str, *, quiet: bool):
    """Audit one wheel, with a progress bar on a terminal when it is large enough to make one wait."""
    from ..manylinux.audit import audit_source

    refuse_non_wheel(wheel)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            tqdm.monitor_interval = 0  # no monitor thread: the audit forks its workers only in a single-thread process
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(wheel), leave=False)
        bar.update(done - bar.n)

    big = "://" not in wheel and os.path.getsize(wheel) >= _SCAN_BAR_BYTES
    show = big and not quiet and stderr_is_terminal()
    try:
        if "://" in wheel:
            from ..extract import audit_wheel

            return audit_wheel(wheel)
        return audit_source(wheel, progress=progress if show else None)
    finally:
        if bar is not None:
            bar.close()


_SCAN_BAR_BYTES = 20 << 20  # smaller wheels scan in well under a second
