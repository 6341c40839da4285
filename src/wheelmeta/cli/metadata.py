"""``wheelmeta metadata``."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from ..errors import WheelmetaError
from .common import (
    SDIST_SUFFIXES,
    WHEEL_SUFFIX,
    add_python_option,
    add_target_options,
    expand_paths,
    print_json,
    pythons_from_args,
    split_commas,
    target_from_args,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "metadata",
        help="dependency metadata of wheels and sdists",
        description="Print name, version, Requires-Python and Requires-Dist of each wheel or sdist. With target "
        "options, also the dependencies that apply on that target.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="wheel, sdist, folder, quoted glob, or URL")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--extras", action="append", metavar="A,B", help="extras to select when evaluating markers")
    add_python_option(p)
    p.add_argument("--allow-build", action="store_true",
                   help="let an sdist without static metadata or setup.py run its PEP 517 hook (installs its build "
                   "requirements from the configured index)")
    p.add_argument("--allow-uncontained", action="store_true",
                   help="run an sdist's setup.py (or PEP 517 hook) even where no sandbox level contains the "
                   "filesystem (no working bwrap, not root); without it such an sdist gets only its static metadata "
                   "and a problem saying so. Same as WHEELMETA_SANDBOX=rlimits-only, but keeps the strongest "
                   "level left (netns when it works)")
    add_target_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..extract import read_metadata
    from ..target import Target

    target = target_from_args(args)  # bad options fail here, before any file is read (exit 2)
    extras = split_commas(args.extras)
    if args.extras is not None and target is None:
        target = Target.from_host()  # --extras alone (even ""): evaluate markers for this machine, as pip would
    python, fallback_pythons = pythons_from_args(args)
    failed = False
    results = []
    for path in expand_paths(args.paths, (WHEEL_SUFFIX,) + SDIST_SUFFIXES):
        try:
            md = read_metadata(path, target=target, python=python, allow_build=args.allow_build,
                               allow_uncontained=args.allow_uncontained, fallback_pythons=fallback_pythons)
        except (WheelmetaError, OSError) as exc:
            # one bad file among many: say so on one line and go on with the others
            failed = True
            message = str(exc) if isinstance(exc, WheelmetaError) else f"{path}: {exc.strerror or exc}"
            print(f"wheelmeta: error: {message}", file=sys.stderr)
            results.append({"file": path, "error": message})
            continue
        deps = md.for_target(target, extras) if target is not None else None
        result = _metadata_result(md, path, deps, extras)
        if not args.quiet:
            for extra in result.get("unknown_extras", ()):
                print(f"wheelmeta: warning: {md.name} {md.version} does not provide the extra {extra!r}",
                      file=sys.stderr)
        results.append(result)
        if not args.json:
            _print_metadata_block(md, result, deps, target, extras)
    if args.json:
        print_json(results)
    return 1 if failed else 0


def _metadata_result(md, path: str, deps, extras: Sequence[str]) -> dict:
    """``md.to_json()`` plus, with a target or extras, the concrete ``dependencies`` (markers evaluated away)."""
    from packaging.utils import canonicalize_name

    from ..target import marker_extras

    out = md.to_json()
    out["file"] = out.get("file") or path
    if deps is None:
        return out
    out["dependencies"] = [_without_marker(r) for r in deps]
    known = {canonicalize_name(e) for e in md.provides_extra} | set(marker_extras(md.requires_dist))
    unknown = [e for e in extras if canonicalize_name(e) not in known]
    if unknown:
        out["unknown_extras"] = unknown
    return out


def _without_marker(req) -> str:
    """``PySocks>=1.5.6; extra == "socks"`` -> ``PySocks>=1.5.6``: on a known target the marker has been decided."""
    from packaging.requirements import Requirement

    bare = Requirement(str(req))
    bare.marker = None
    return str(bare)


def _how_learned(md) -> str:
    if md.provenance == "static-partial":
        return "static, possibly incomplete: the sdist's code was not run"
    return "static" if md.static else "ran project code"


def _isolation_text(md) -> str:
    """The sandbox the sdist's code ran in and what that contained (or that it did not run)."""
    from ..sdist.sandbox import ISOLATION_SUMMARIES

    if md.provenance == "static-partial":
        return "none: the sdist's code was not run (see the problem below)"
    return f"{md.isolation} ({ISOLATION_SUMMARIES.get(md.isolation, 'unknown level')})"


def _print_metadata_block(md, result: dict, deps, target, extras: Sequence[str]) -> None:
    """One readable block per file: a header line, aligned fields, then the requirements (+ applies, - not)."""
    applies = None if deps is None else {id(r) for r in deps}  # for_target returns the very same objects
    lines = [f"{md.name} {md.version}    {result['file']}"]
    fields = [
        ("requires-python", result["requires_python"] or "(any)"),
        ("provenance", f"{md.provenance} ({_how_learned(md)})"),
        ("provides-extra", ", ".join(md.provides_extra) or "(none)"),
    ]
    if md.isolation or md.provenance == "static-partial":
        fields.insert(2, ("isolation", _isolation_text(md)))
    if target is not None:
        chosen = f", extras {', '.join(extras)}" if extras else ""
        fields.append(("target", target.describe() + chosen))
    lines += [f"  {key:<16} {value}" for key, value in fields]
    if applies is None:
        lines.append(f"  requires-dist    {len(md.requires_dist)}")
        lines += [f"    {r}" for r in md.requires_dist]
    else:
        lines.append(f"  requires-dist    {len(md.requires_dist)}, {len(applies)} apply (+) on the target")
        lines += [f"    {'+' if id(r) in applies else '-'} {r}" for r in md.requires_dist]
    for problem in md.problems:
        lines.append(f"  ! problem: {' '.join(problem.split())}")  # one line each, however packaging wrapped it
    print("\n".join(lines) + "\n")
