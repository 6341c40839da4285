"""``wheelmeta scan``."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from typing import Iterator, Optional

from ..errors import WheelmetaError
from .common import (
    add_nixpkgs_option,
    check_nixpkgs_for,
    expand_paths,
    nixpkgs_from_args,
    print_json,
    refuse_non_wheel,
    require_file,
    stderr_is_terminal,
    write_out,
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
    add_nixpkgs_option(p)
    p.add_argument("--members", action="store_true",
                   help="text output: also list every binary and what it needs (the JSON always has them)")
    p.add_argument("--platform", metavar="PLAT", type=_platform_arch,
                   help="the target's platform tag (manylinux2014_aarch64) or architecture (i686): a pure wheel "
                   "carrying ELF files for several architectures is judged for this one (default: each on its own)")
    p.set_defaults(run=run)


def _platform_arch(platform: str) -> str:
    """--platform's value as an architecture; anything else is a usage error (argparse exits 2 with it)."""
    from ..manylinux.audit import platform_architecture

    arch = platform_architecture(platform)
    if arch is None:
        raise argparse.ArgumentTypeError(f"{platform}: not a Linux platform tag or architecture (e.g. "
                                         "manylinux2014_aarch64, linux_i686, x86_64)")
    return arch


def run(args: argparse.Namespace) -> int:
    from ..manylinux.report import audit_to_json
    from ..patchelf_nix.classify import nix_inputs
    from ..patchelf_nix.sonames import SonameMap

    soname_map = SonameMap.load(require_file("--map", args.map) if args.map else None)  # fails before any scan
    nixpkgs = nixpkgs_from_args(args)
    audits = _audits(expand_paths(args.wheels), quiet=args.quiet, arch=args.platform)
    check = None
    if nixpkgs is not None:  # one evaluation for the whole output: every wheel is audited first
        audits = list(audits)
        readable = [a for _, a in audits if not isinstance(a, WheelmetaError)]
        readable += [sub for a in readable for sub in a.architectures.values()]
        check = check_nixpkgs_for(args, nixpkgs, readable, soname_map)
    results, status = [], 0
    for wheel, audit in audits:
        if isinstance(audit, WheelmetaError):  # one unreadable wheel does not stop the others
            print(f"wheelmeta: error: {audit}", file=sys.stderr)
            results.append({"wheel": wheel, "error": str(audit)})
            status = max(status, audit.exit_code)
            continue
        if audit.format in ("macho", "pe"):  # a macOS or Windows wheel: no Nix inputs to name
            results.append(_binary_report(audit, args))
            continue
        inputs = nix_inputs(audit, soname_map, nixpkgs=check) if audit.kind == "elf" else None
        if not args.json:
            write_out(_scan_text(audit, inputs, members=args.members) + "\n")
            sys.stdout.flush()
            continue
        obj = audit_to_json(audit)
        # the one place where other layers add keys to a wheel's JSON object (e.g. "nix" from patchelf_nix)
        obj["nix"] = (inputs or nix_inputs(audit, soname_map, nixpkgs=check)).to_json()
        for machine, sub in audit.architectures.items():
            obj["architectures"][machine]["nix"] = nix_inputs(sub, soname_map, nixpkgs=check).to_json()
        results.append(obj)
    if args.json:
        print_json(results)
    return status


def _audits(wheels, *, quiet: bool, arch: Optional[str]):
    """(wheel, audit or the WheelmetaError that stopped it) for each wheel, lazily."""
    for wheel in wheels:
        try:
            yield wheel, _scan_one(wheel, quiet=quiet, arch=arch)
        except WheelmetaError as exc:
            if os.environ.get("WHEELMETA_DEBUG"):
                raise
            yield wheel, exc


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
        if entry.get("problem"):
            return f"UNKNOWN: {entry['problem']}"
        if cls == "unknown":
            return "UNKNOWN to the soname map: add it with --map"
        unverified = " (map entry unverified)" if soname in inputs.unverified else ""
        return (f"{cls}: {attribute}" if attribute else cls) + unverified

    text = audit_to_text(audit, describe=describe, members=members)
    nix = [f"buildInputs = [ {' '.join(inputs.build_inputs)} ]"] if inputs.build_inputs else ["buildInputs = [ ]"]
    if inputs.ignore_missing_deps:
        nix.append(f"autoPatchelfIgnoreMissingDeps = [ {' '.join(inputs.ignore_missing_deps)} ]")
    if inputs.driver_runpath:
        nix.append("autoAddDriverRunpath")
    if inputs.unknown:
        nix.append(f"UNKNOWN: {' '.join(inputs.unknown)}")
    checked = f"checked against {inputs.nixpkgs}" if inputs.nixpkgs else "unchecked (give --nixpkgs PATH)"
    return f"{text}\n  nixpkgs:  {checked}\n  nix:      {'; '.join(nix)}"


def _scan_one(wheel: str, *, quiet: bool, arch: Optional[str] = None):
    """Audit one wheel, with a progress bar on a terminal when it is large enough to make one wait; a wheel judged
    per architecture is judged for ``arch`` when given."""
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
        from ..manylinux.audit import select_architecture

        if "://" in wheel:
            from ..extract import audit_wheel

            return select_architecture(audit_wheel(wheel), arch)
        with _sigterm_exits():
            return select_architecture(audit_source(wheel, progress=progress if show else None), arch)
    finally:
        if bar is not None:
            bar.close()


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM becomes SystemExit(143) while a wheel is audited, so the audit's cleanup kills its worker processes
    before the scan exits (the default action would end this process at once, leaving them to their death signal).
    Only the main thread can set a handler; elsewhere nothing changes."""
    def terminate(signum, frame):
        raise SystemExit(128 + signal.SIGTERM)

    try:
        previous = signal.signal(signal.SIGTERM, terminate)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


_SCAN_BAR_BYTES = 20 << 20  # smaller wheels scan in well under a second
