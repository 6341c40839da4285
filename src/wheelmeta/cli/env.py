"""``wheelmeta env``: one Nix file for a whole ``pylock.toml``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Optional

from ..errors import UsageError
from .common import add_nixpkgs_option, nixpkgs_check_or_warning, nixpkgs_from_args, require_file


def add_parser(sub) -> None:
    p = sub.add_parser(
        "env",
        help="write one Nix file building every package of a pylock.toml",
        description="Write a Nix file for a PEP 751 lock: a function { pkgs ? import <nixpkgs> { }, python ? "
        "pkgs.python3XY (the lock's Python), preferWheels ? true, providers ? { } }: whose value is the interpreter "
        "with every locked package. Each package is built from its wheel (autoPatchelfHook and the native inputs the lock records) "
        "or its sdist (pyproject = true and its build requirements), chosen when the file is evaluated: "
        "--arg preferWheels false, or --arg providers '{ numpy = \"sdist\"; }' (wheel, sdist or nixpkgs). "
        "Attributes: env, shell (for nix-shell -A shell), packages, python.",
    )
    p.add_argument("lock", metavar="PYLOCK", help="the lock file (pylock.toml, as wheelmeta lock writes it)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout (archives given by "
                   "path in the lock are then written relative to FILE's folder)")
    p.add_argument("--map", metavar="FILE", help="soname map overrides (TOML) for the nixpkgs check")
    add_nixpkgs_option(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..patchelf_nix.environment import read_pylock

    lock = read_pylock(args.lock)
    write_environment(lock, args.output, lock_path=args.lock, args=args)
    return 0


def write_environment(lock, output: Optional[str], *, lock_path: str = "pylock.toml",
                      args: Optional[argparse.Namespace] = None) -> None:
    """Write the environment file for ``lock`` (a parsed :class:`packaging.pylock.Pylock`) to ``output``, or to
    stdout when it is None. The entry point for every command that ends in an environment file; ``args`` carries
    ``--nixpkgs`` / ``--map`` when the command has them (the user's nixpkgs then checks the native inputs)."""
    from ..patchelf_nix.environment import environment_expression

    check, soname_map = _nixpkgs_check(lock, args) if args is not None else (None, None)
    base = os.path.dirname(os.path.abspath(output)) if output else os.getcwd()
    text = environment_expression(lock, lock_path=lock_path, relative_to=base, nixpkgs=check, soname_map=soname_map)
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UsageError(output, f"cannot write the environment file: {exc.strerror or exc}") from None


def _nixpkgs_check(lock, args: argparse.Namespace):
    """(the one check of the lock's native inputs against the user's nixpkgs, the soname map), or (None, None)
    when there is no nixpkgs to check against."""
    from ..patchelf_nix.environment import check_lock
    from ..patchelf_nix.sonames import SonameMap

    nixpkgs = nixpkgs_from_args(args)
    if nixpkgs is None:
        return None, None
    soname_map = SonameMap.load(require_file("--map", args.map) if getattr(args, "map", None) else None)
    check = nixpkgs_check_or_warning(args, lambda: check_lock(lock, soname_map, nixpkgs))
    return (check, soname_map) if check is not None else (None, None)
