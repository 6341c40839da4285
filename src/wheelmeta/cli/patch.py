"""``wheelmeta patch``: make wheels, or an installed environment, find their libraries without a build."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
from typing import List

from ..errors import UsageError
from .common import (
    add_nixpkgs_option,
    check_nixpkgs_for,
    expand_paths,
    nixpkgs_check_or_warning,
    nixpkgs_from_args,
    print_json,
    require_file,
    stderr_is_terminal,
)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "patch",
        help="rewrite RUNPATH (and interpreters) so a wheel's or an environment's binaries find their libraries",
        description="Write a new wheel per input whose ELF files find every library they need: libraries the "
        "wheel carries and libraries of other wheels through $ORIGIN-relative RUNPATH entries, the rest from "
        "--lib-dir folders or, with --nix, from the store paths of the nixpkgs attributes the soname map names. "
        "With --venv/--site-packages, patch an installed environment in place (undo with --undo). With --check, "
        "write nothing and say where each library will be found.",
    )
    p.add_argument("wheels", nargs="*", metavar="WHEEL", help="local wheel, folder or quoted glob")
    p.add_argument("-o", "--output-dir", metavar="DIR", help="folder for the patched wheels (required for wheels)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--venv", metavar="PATH", help="patch the site-packages of this virtual environment in place")
    where.add_argument("--site-packages", metavar="PATH", help="patch this site-packages folder in place")
    where.add_argument("--undo", metavar="PATH", help="restore the files a --venv/--site-packages patch changed")
    p.add_argument(
        "--lib-dir", metavar="DIR", action="append", default=[], help="folder to find libraries in; repeatable, in order"
    )
    p.add_argument(
        "--nix",
        action="store_true",
        help="realise the nixpkgs attributes the soname map names (nix-build, one run) and put their lib outputs "
        "on RUNPATH; executables get that glibc's interpreter",
    )
    add_nixpkgs_option(p)
    p.add_argument("--map", metavar="FILE", help="soname map overrides (TOML), above $WHEELMETA_SONAME_MAP")
    p.add_argument("--keep-tag", action="store_true", help="keep the wheel's platform tag instead of linux_<arch>")
    p.add_argument("--check", action="store_true", help="write nothing: where each needed library will be found")
    p.add_argument("--json", action="store_true", help="print the plan (and outputs) as JSON")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    _terminate_as_interrupt()
    if args.undo:
        return _undo(args)
    site = args.venv or args.site_packages
    if site is None and not args.wheels:
        raise UsageError("patch", "name wheels, or --venv / --site-packages / --undo")
    if site is not None and args.wheels:
        raise UsageError("patch", "wheels and --venv/--site-packages do not go together")
    if site is None and not args.check and not args.output_dir:
        raise UsageError("patch", "-o DIR is required to write patched wheels (or use --check)")
    for lib_dir in args.lib_dir:
        if not os.path.isdir(lib_dir):
            raise UsageError(lib_dir, "--lib-dir names no folder")
    if site is not None:
        return _patch_site(args, site)
    return _patch_wheels(args, [w for w in expand_paths(args.wheels)])


def _terminate_as_interrupt() -> None:
    """SIGTERM ends the run the way Ctrl-C does, so temporary files are removed on the way out."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (a program calling main() from a worker thread)
        pass


def _search(args: argparse.Namespace, nix_attributes=None, check=None):
    """The places to look: --lib-dir folders, and with ``nix_attributes`` (a function of the search) their
    realised store paths, spelled and proved by the user's nixpkgs (``check``)."""
    from ..patchelf_nix.nixlibs import GLIBC_ATTRIBUTE, realise
    from ..patchelf_nix.patch import LibrarySearch

    search = LibrarySearch(_soname_map(args), tuple(args.lib_dir), nixpkgs_check=check)
    if nix_attributes is None:
        return search
    nix_paths = realise(nix_attributes(search), args.nixpkgs if args.nixpkgs not in (None, "none") else None)
    glibc = nix_paths.get(GLIBC_ATTRIBUTE)
    return dataclasses.replace(search, nix_paths=nix_paths, interpreter_dir=glibc and os.path.join(glibc, "lib"))


def _soname_map(args: argparse.Namespace):
    from ..patchelf_nix.sonames import SonameMap

    return SonameMap.load(require_file("--map", args.map) if args.map else None)


def _nixpkgs_check(args: argparse.Namespace, audits):
    """With --nix, the user's nixpkgs (--nixpkgs, else <nixpkgs>) checked once for every attribute asked."""
    nixpkgs = nixpkgs_from_args(args)
    return check_nixpkgs_for(args, nixpkgs, audits, _soname_map(args)) if nixpkgs else None


def _nixpkgs_check_plans(args: argparse.Namespace, members):
    """With --nix on an installed environment, the same check for the needs its plan leaves to Nix."""
    from ..patchelf_nix.nixpkgs_check import check_plans

    nixpkgs = nixpkgs_from_args(args)
    soname_map = _soname_map(args)
    return nixpkgs_check_or_warning(args, lambda: check_plans(members, soname_map, nixpkgs)) if nixpkgs else None


def _patch_wheels(args: argparse.Namespace, wheels: List[str]) -> int:
    from ..patchelf_nix.patch import nix_attributes
    from ..patchelf_nix.wheelpatch import patch_wheel, plan_wheel, read_audit, wheel_paths

    wheels = wheel_paths(wheels)
    audits = {w: read_audit(w) for w in wheels}
    search = _search(args)
    if args.nix:  # realise what neither the wheels nor --lib-dir provide
        members = [m for w in wheels for m in plan_wheel(w, search, audit=audits[w]).members]
        search = _search(args, lambda search: nix_attributes(members, search), _nixpkgs_check(args, audits.values()))
    results = []
    for wheel in wheels:
        if args.check:
            results.append(plan_wheel(wheel, search, keep_tag=args.keep_tag, audit=audits[wheel]))
        else:
            with _bar(wheel, args) as progress:
                results.append(
                    patch_wheel(
                        wheel, args.output_dir, search, keep_tag=args.keep_tag, audit=audits[wheel], progress=progress
                    )
                )
    if args.json:
        print_json({"wheels": [r.to_json() for r in results]})
    else:
        for result in results:
            _print_plan(result.wheel, result.members, result.problems, result.output)
    return 0


@contextlib.contextmanager
def _bar(wheel: str, args: argparse.Namespace):
    """A progress bar over the members being patched, on a terminal."""
    if args.quiet or not stderr_is_terminal():
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=os.path.basename(wheel), unit="member", leave=False)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield progress
    finally:
        bar.close()


def _patch_site(args: argparse.Namespace, path: str) -> int:
    from ..patchelf_nix.patch import nix_attributes
    from ..patchelf_nix.sitepatch import patch_site, plan_site, site_packages_of

    site = site_packages_of(path) if args.venv else path
    if not os.path.isdir(site):
        raise UsageError(site, "no such folder")
    search = _search(args)
    if args.nix:  # realise what neither the environment nor --lib-dir provides
        members = plan_site(site, search).members
        search = _search(args, lambda search: nix_attributes(members, search), _nixpkgs_check_plans(args, members))
    result = plan_site(site, search) if args.check else patch_site(site, search)
    if args.json:
        print_json(result.to_json())
    else:
        _print_plan(site, result.members, (), None if args.check else site)
    return 0


def _undo(args: argparse.Namespace) -> int:
    from ..patchelf_nix.sitepatch import MANIFEST_DIR, site_packages_of, undo_site

    site = args.undo
    if not os.path.isdir(os.path.join(site, MANIFEST_DIR)):
        site = site_packages_of(site)
    restored = undo_site(site)
    if args.json:
        print_json({"site_packages": site, "restored": restored})
    else:
        print(f"{site}: restored {len(restored)} file(s)")
    return 0


def _print_plan(where: str, members, problems, output) -> None:
    changed = [m for m in members if m.changed]
    print(f"{where}: {len(members)} ELF file(s), {len(changed)} to patch")
    for member in members:
        print(f"  {member.path}")
        width = max((len(n.soname) for n in member.needs), default=0)
        for need in member.needs:
            found = "NOT FOUND" if need.found == "not-found" else need.found
            place = need.directory or ""
            detail = f"  ({need.detail})" if need.detail and need.detail != place else ""
            renamed = f"  [needed as {need.replace_with}]" if need.replace_with else ""
            renamed += f"  [dlopen, {need.dlopen}]" if need.dlopen else ""
            print(f"    {need.soname:<{width}}  {found:<11} {place}{detail}{renamed}".rstrip())
        if member.changed:
            before = ":".join(member.runpath_before) or "(none)"
            print(f"    RUNPATH {before} -> {':'.join(member.runpath) or '(none)'}")
            if member.interpreter and member.interpreter != member.interpreter_before:
                print(f"    interpreter {member.interpreter_before} -> {member.interpreter}")
        for problem in member.problems:
            print(f"    problem: {problem}")
    for problem in problems:
        print(f"  problem: {problem}")
    missing = sorted({s for m in members for s in m.not_found})
    if missing:
        print(f"  will not be found: {', '.join(missing)}", file=sys.stderr if output else sys.stdout)
    if output:
        print(f"  wrote {output}")
