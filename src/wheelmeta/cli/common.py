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


def write_out(text: str) -> None:
    """``text`` on stdout. Names read from binaries keep their undecodable bytes as surrogates (the ELF reader
    decodes with ``surrogateescape``); they are written back as those bytes, where a strict UTF-8 stdout raises."""
    try:
        sys.stdout.write(text)
    except UnicodeEncodeError:  # the text wrapper encodes before writing: nothing of ``text`` went out yet
        buffer = getattr(sys.stdout, "buffer", None)
        if buffer is None:
            sys.stdout.write(text.encode("utf-8", "backslashreplace").decode("utf-8"))
            return
        sys.stdout.flush()
        buffer.write(text.encode("utf-8", "surrogateescape"))
        buffer.flush()


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def split_commas(values: Optional[Sequence[str]]) -> List[str]:
    out: List[str] = []
    for v in values or ():
        out.extend(x.strip() for x in v.split(",") if x.strip())
    return out
