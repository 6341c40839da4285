"""Helpers shared by the subcommands: path expansion, target options, JSON output, terminals."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Iterable, List, Optional, Sequence

from ..errors import UsageError

WHEEL_SUFFIX = ".whl"
SDIST_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tbz", ".tar.xz", ".txz", ".zip", ".tar")


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
    from ..target import Target

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


def add_index_options(parser: argparse.ArgumentParser) -> None:
    """pip's index options; without them, pip's configuration decides."""
    g = parser.add_argument_group("indexes (default: pip's configuration)")
    g.add_argument("-i", "--index-url", metavar="URL", help="main index (PEP 503/691), replaces pip's configured one")
    g.add_argument("--extra-index-url", metavar="URL", action="append", help="another index; repeatable")
    g.add_argument("-f", "--find-links", metavar="PATH_OR_URL", action="append",
                   help="a folder or HTML page of files; repeatable")
    g.add_argument("--no-index", action="store_true", help="ignore indexes, use --find-links only")


def add_preference_options(parser: argparse.ArgumentParser) -> None:
    """Which kind of file (wheel or sdist) a project is taken from: globally, pip's way, or per package."""
    g = parser.add_argument_group("preference (default: like pip, newest version, wheel over sdist at that version)")
    kinds = g.add_mutually_exclusive_group()
    kinds.add_argument("--prefer-wheels", "--prefer-binary", action="store_true",
                       help="the newest version that has a compatible wheel wins over newer sdist-only versions "
                       "(pip's --prefer-binary)")
    kinds.add_argument("--prefer-sdist", action="store_true", help="the newest version with an sdist wins")
    kinds.add_argument("--only-wheels", action="store_true", help="wheels only")
    kinds.add_argument("--only-sdist", action="store_true", help="sdists only")
    g.add_argument("--only-binary", metavar=":all:|NAMES", action="append", help="pip's spelling: wheels only")
    g.add_argument("--no-binary", metavar=":all:|NAMES", action="append", help="pip's spelling: sdists only")
    g.add_argument("--provider", metavar="NAME=KINDS", action="append",
                   help="per package, mach-nix style: tensorflow=wheel, _default=sdist,wheel; repeatable")
    g.add_argument("--providers", metavar="FILE", help="the same table from a TOML file ([providers] name = kinds)")


def preference_from_args(args: argparse.Namespace):
    """The Preference the options describe: global flag, then pip's format control, then the provider table."""
    from ..index.provider import Preference

    if args.prefer_wheels:
        pref = Preference.prefer_wheels()
    elif args.prefer_sdist:
        pref = Preference.prefer_sdist()
    elif args.only_wheels:
        pref = Preference.only_wheels()
    elif args.only_sdist:
        pref = Preference.only_sdist()
    else:
        pref = Preference.pip()
    pref = pref.with_pip_format_control(args.only_binary or (), args.no_binary or ())
    if args.providers:
        pref = Preference.from_toml(args.providers, base=pref)
    if args.provider:
        pref = Preference.from_specs(args.provider, base=pref)
    return pref


