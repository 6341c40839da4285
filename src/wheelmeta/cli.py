"""The ``wheelmeta`` command: argparse subcommands, output formats (text, --json, nix), exit codes, progress bars.

Exit codes: 0 success, 1 an error the input caused (one line on stderr naming the file and the problem),
2 usage errors, 130 interrupted. Set ``WHEELMETA_DEBUG=1`` to get tracebacks instead of one-line errors.

Each subcommand has an ``_add_<name>(subparsers)`` that declares its options and a ``_run_<name>(args) -> int``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Iterable, List, Optional, Sequence

from . import __version__
from .errors import UsageError, WheelmetaError

__all__ = ["main", "build_parser"]

WHEEL_SUFFIX = ".whl"
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".zip", ".tar")


# ---------------------------------------------------------------------------------------------------------------------
# shared helpers


def expand_paths(args: Iterable[str], suffixes: Sequence[str] = (WHEEL_SUFFIX,)) -> List[str]:
    """Files as given, folders expanded to the files inside with ``suffixes``, globs expanded even when quoted.

    URLs (``http://``, ``https://``, ``file://``) pass through untouched. A pattern or folder that matches nothing
    is a usage error that names it.
    """
    out: List[str] = []
    for arg in args:
        if "://" in arg:
            out.append(arg)
        elif os.path.isdir(arg):
            found = sorted(
                os.path.join(arg, n)
                for n in os.listdir(arg)
                if n.lower().endswith(tuple(suffixes)) and os.path.isfile(os.path.join(arg, n))
            )
            if not found:
                raise UsageError(arg, f"folder holds no {' or '.join(suffixes)} file")
            out.extend(found)
        elif glob.has_magic(arg) and not os.path.exists(arg):
            found = sorted(glob.glob(arg))
            if not found:
                raise UsageError(arg, "no file matches this pattern")
            out.extend(found)
        else:
            if not os.path.exists(arg):
                raise UsageError(arg, "no such file")
            out.append(arg)
    return out


def add_target_options(parser: argparse.ArgumentParser) -> None:
    """pip-style target options; without any of them the target is the running interpreter and host."""
    g = parser.add_argument_group("target (default: this interpreter on this machine)")
    g.add_argument("--python-version", metavar="X.Y", help="Python version of the target, e.g. 3.7 or 3.12")
    g.add_argument("--implementation", metavar="IMPL", help="cp, pp, ... (default cp)")
    g.add_argument("--abi", metavar="ABI", action="append", help="ABI tag, e.g. cp37m; repeatable")
    g.add_argument(
        "--platform",
        metavar="PLAT",
        action="append",
        help="platform tag or sys.platform-like name, e.g. manylinux2010_x86_64, manylinux_2_28_x86_64, "
        "macosx_11_0_arm64, win_amd64, win32; repeatable",
    )


def target_from_args(args: argparse.Namespace):
    """The Target the options describe, or None when none was given (callers then use the host when needed)."""
    from .target import Target

    if not any([args.python_version, args.implementation, args.abi, args.platform]):
        return None
    return Target.from_options(
        python_version=args.python_version,
        implementation=args.implementation,
        abis=args.abi,
        platforms=args.platform,
    )


def print_json(obj: object) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def split_commas(values: Optional[Sequence[str]]) -> List[str]:
    out: List[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out


# ---------------------------------------------------------------------------------------------------------------------
# wheelmeta metadata


def _add_metadata(sub) -> None:
    p = sub.add_parser(
        "metadata",
        help="dependency metadata of wheels and sdists",
        description="Print name, version, Requires-Python and Requires-Dist of each wheel or sdist. With target "
        "options, also the dependencies that apply on that target.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="wheel, sdist, folder, quoted glob, or URL")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--extras", action="append", metavar="A,B", help="extras to select when evaluating markers")
    add_target_options(p)
    p.set_defaults(run=_run_metadata)


def _run_metadata(args: argparse.Namespace) -> int:
    from .extract import read_metadata
    from .target import Target

    target = target_from_args(args)  # bad options fail here, before any file is read (exit 2)
    extras = split_commas(args.extras)
    if args.extras is not None and target is None:
        target = Target.from_host()  # --extras alone (even ""): evaluate markers for this machine, as pip would
    failed = False
    results = []
    for path in expand_paths(args.paths, (WHEEL_SUFFIX,) + SDIST_SUFFIXES):
        try:
            md = read_metadata(path, target=target)
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

    from .target import marker_extras

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


def _print_metadata_block(md, result: dict, deps, target, extras: Sequence[str]) -> None:
    """One readable block per file: a header line, aligned fields, then the requirements (+ applies, - not)."""
    applies = None if deps is None else {id(r) for r in deps}  # for_target returns the very same objects
    lines = [f"{md.name} {md.version}    {result['file']}"]
    fields = [
        ("requires-python", result["requires_python"] or "(any)"),
        ("provenance", f"{md.provenance} ({'static' if md.static else 'ran project code'})"),
        ("provides-extra", ", ".join(md.provides_extra) or "(none)"),
    ]
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


# ---------------------------------------------------------------------------------------------------------------------
# wheelmeta scan


def _add_scan(sub) -> None:
    p = sub.add_parser(
        "scan",
        help="audit the ELF files of binary wheels: needed libraries, manylinux tag, nixpkgs inputs",
        description="For each wheel: which libraries each ELF member needs, which the wheel carries, which the "
        "manylinux policy allows, which are external, and which manylinux tag the wheel really satisfies.",
    )
    p.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel, folder, quoted glob, or URL")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(run=_run_scan)


def _run_scan(args: argparse.Namespace) -> int:
    raise UsageError("scan", "not built yet")


# ---------------------------------------------------------------------------------------------------------------------
# wheelmeta nix


def _add_nix(sub) -> None:
    p = sub.add_parser(
        "nix",
        help="write a buildPythonPackage expression for wheels",
        description="Write a nixpkgs buildPythonPackage expression (format = \"wheel\") with the inputs "
        "autoPatchelfHook needs.",
    )
    p.add_argument("wheels", nargs="+", metavar="WHEEL", help="wheel, folder or quoted glob")
    p.set_defaults(run=_run_nix)


def _run_nix(args: argparse.Namespace) -> int:
    raise UsageError("nix", "not built yet")


# ---------------------------------------------------------------------------------------------------------------------
# wheelmeta choose


def _add_choose(sub) -> None:
    p = sub.add_parser(
        "choose",
        help="choose an sdist or a wheel for requirements from the configured indexes",
        description="For each requirement, the file a resolver should use on the target, by preference.",
    )
    p.add_argument("requirements", nargs="+", metavar="REQ", help='a requirement, e.g. "tensorflow==2.1.0"')
    p.add_argument("--json", action="store_true", help="print one JSON array")
    add_target_options(p)
    p.set_defaults(run=_run_choose)


def _run_choose(args: argparse.Namespace) -> int:
    raise UsageError("choose", "not built yet")


# ---------------------------------------------------------------------------------------------------------------------
# entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="wheelmeta",
        description="What a Python distribution needs: dependencies of any sdist or wheel, and the native "
        "libraries of binary wheels mapped to nixpkgs.",
    )
    parser.add_argument("--version", action="version", version=f"wheelmeta {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or warnings")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_metadata(sub)
    _add_scan(sub)
    _add_nix(sub)
    _add_choose(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except WheelmetaError as exc:
        if os.environ.get("WHEELMETA_DEBUG"):
            raise
        print(f"wheelmeta: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("wheelmeta: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # output piped into head & co.: not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
