"""Helpers shared by the subcommands: path expansion, target options, JSON output, terminals."""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from typing import Iterable, List, Optional, Sequence, Tuple

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


def require_file(option: str, path: str) -> str:
    """``path`` when it names a file; a usage error naming the file and the option otherwise (exit 2, as for a
    path argument that matches nothing). What is wrong *inside* an existing file is the reader's error (exit 1)."""
    if not os.path.exists(path):
        raise UsageError(path, f"no such file (given to {option})")
    if os.path.isdir(path):
        raise UsageError(path, f"a folder, not a file (given to {option})")
    return path


_NOT_A_WHEEL = {"gz": "a gzip file", "bz2": "a bzip2 file", "xz": "an xz file", "tar": "a tar file",
                "zip": "a zip file"}


def refuse_non_wheel(path: str) -> None:
    """A clear error for a local file that is something other than a wheel: an sdist (by its magic bytes or its
    suffix), an ELF file, an empty file. The wheel reader would only see a zip file without a central directory
    ("truncated?"), which sends the user looking for a download error that did not happen."""
    from ..errors import InvalidSdist, InvalidWheel
    from ..manylinux.elf import ELF_MAGIC
    from ..sdist.archive import _sniff as sniff_archive

    if "://" in path or not os.path.isfile(path):
        return
    if os.path.getsize(path) == 0:
        raise InvalidWheel(path, "an empty file, not a wheel")
    with open(path, "rb") as f:
        if f.read(len(ELF_MAGIC)) == ELF_MAGIC:
            raise InvalidWheel(path, "an ELF file, not a wheel: scan and nix read the ELF files inside wheels")
    try:
        kind = sniff_archive(path)
    except InvalidSdist:
        return  # not an archive of any kind: the wheel reader says what it finds
    is_sdist_name = path.lower().endswith(SDIST_SUFFIXES) and not path.lower().endswith(WHEEL_SUFFIX)
    if is_sdist_name:
        raise InvalidWheel(path, f"an sdist ({_NOT_A_WHEEL[kind]}), not a wheel: for an sdist's dependencies use "
                           "`wheelmeta metadata`")
    if kind != "zip":
        raise InvalidWheel(path, f"{_NOT_A_WHEEL[kind]}, not a wheel (a wheel is a zip file); if it is an sdist, "
                           "`wheelmeta metadata` reads it")


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


def add_python_option(parser: argparse.ArgumentParser) -> None:
    """``--python PATH``, repeatable: the first replaces the running interpreter for an sdist's setup.py, the
    others are tried in order where setup.py fails in the sandbox under it (read with :func:`pythons_from_args`)."""
    parser.add_argument("--python", metavar="PATH", action="append",
                        help="interpreter an sdist's setup.py runs under (default: this one); repeat it to name "
                        "fallbacks, tried in order when setup.py fails under the one before (e.g. an old setup.py "
                        "that needs Python 2); the answer's problems then say which one answered")


def pythons_from_args(args: argparse.Namespace) -> Tuple[Optional[str], Tuple[str, ...]]:
    """(the interpreter for setup.py or None for the default, the fallbacks) from ``--python``."""
    named = tuple(args.python or ())
    return (named[0] if named else None), named[1:]


def add_nixpkgs_option(parser: argparse.ArgumentParser) -> None:
    """``--nixpkgs PATH``: the nixpkgs the soname map's attributes and majors are checked against."""
    parser.add_argument(
        "--nixpkgs",
        metavar="PATH",
        help="check every nixpkgs input against this nixpkgs checkout, in one nix-instantiate evaluation: the "
        "attribute exists, its spelling there, and its version gives the soname's major (default: <nixpkgs> "
        "from NIX_PATH when it names one; 'none': do not check, output marked unchecked)",
    )


def nixpkgs_from_args(args: argparse.Namespace) -> Optional[str]:
    """The nixpkgs to check against (see :func:`~wheelmeta.patchelf_nix.nixpkgs_check.locate_nixpkgs`); one found
    only on NIX_PATH is skipped when Nix itself is not installed (asked for by name, that is an error later)."""
    import shutil

    from ..patchelf_nix.nixpkgs_check import locate_nixpkgs

    where = locate_nixpkgs(getattr(args, "nixpkgs", None))
    if where is not None and not getattr(args, "nixpkgs", None) and shutil.which("nix-instantiate") is None:
        return None
    return where


def check_nixpkgs_for(args: argparse.Namespace, nixpkgs: Optional[str], audits, soname_map):
    """The one nixpkgs check of a command's whole output (None: unchecked), for the wheels ``audits``."""
    from ..patchelf_nix.nixpkgs_check import check_audits

    return nixpkgs_check_or_warning(args, lambda: check_audits(audits, soname_map, nixpkgs))


def nixpkgs_check_or_warning(args: argparse.Namespace, evaluate):
    """``evaluate()`` (one evaluation of the user's nixpkgs). A nixpkgs named with --nixpkgs that cannot be
    evaluated is an error; one only found on NIX_PATH is a warning, and the output stays unchecked (None)."""
    from ..patchelf_nix.nixpkgs_check import NixpkgsCheckError

    try:
        return evaluate()
    except NixpkgsCheckError as exc:
        if getattr(args, "nixpkgs", None):
            raise
        print(f"wheelmeta: warning: {exc} (found on NIX_PATH; the output is unchecked)", file=sys.stderr)
        return None


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


def add_store_options(parser: argparse.ArgumentParser, store_help: str) -> None:
    """``--store FILE`` or ``--cache-dir DIR``: where the metadata store is (``lock`` and ``crawl``)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--store", metavar="FILE", help=store_help)
    where.add_argument("--cache-dir", metavar="DIR",
                       help="folder of the metadata store, store.sqlite in it (default: $WHEELMETA_CACHE_DIR, else "
                       "$XDG_CACHE_HOME/wheelmeta)")


class ProgressBar:
    """A tqdm bar on a terminal (not with -q or --json); a no-op otherwise. ``add_total`` grows the total when the
    work is discovered on the way (a crawl learns its files page by page), keeping the ETA honest."""

    def __init__(self, what: str, args, *, total: Optional[int] = None, unit: str = "pkg", leave: bool = False) -> None:
        self.bar = None
        if stderr_is_terminal() and not args.quiet and not args.json:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, leave=leave, dynamic_ncols=True)

    def add_total(self, count: int) -> None:
        if self.bar is not None and count:
            self.bar.total = (self.bar.total or 0) + count
            self.bar.refresh()

    def step(self, label: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(label, refresh=False)
            self.bar.update(1)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
