"""The ``wheelmeta`` command: argparse subcommands, output formats (text, --json, nix), exit codes, progress bars.

Exit codes: 0 success, 1 an error the input caused (one line on stderr naming the file and the problem),
2 usage errors, 130 interrupted. Set ``WHEELMETA_DEBUG=1`` to get tracebacks instead of one-line errors.

Each subcommand has an ``_add_<name>(subparsers)`` that declares its options and a ``_run_<name>(args) -> int``.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
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
    p.add_argument("--python", metavar="PATH", help="interpreter an sdist's setup.py runs under (default: this one)")
    p.add_argument("--allow-build", action="store_true",
                   help="let an sdist without static metadata or setup.py run its PEP 517 hook (installs its build "
                   "requirements from the configured index)")
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
            md = read_metadata(path, target=target, python=args.python, allow_build=args.allow_build)
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
    p.add_argument("--map", metavar="FILE", help="soname map overrides (TOML) for the nixpkgs classification")
    p.add_argument("--members", action="store_true",
                   help="text output: also list every ELF file and what it needs (the JSON always has them)")
    p.set_defaults(run=_run_scan)


def _run_scan(args: argparse.Namespace) -> int:
    from .manylinux.report import audit_to_json
    from .patchelf_nix.classify import nix_inputs
    from .patchelf_nix.sonames import SonameMap

    soname_map = SonameMap.load(args.map)  # before any scan: a bad --map file fails fast
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


def _scan_text(audit, inputs, *, members: bool) -> str:
    """The audit's screenful, each library noted with how Nix provides it, and the inputs as one line."""
    from .manylinux.report import audit_to_text

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
    from .manylinux.audit import audit_source

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
            from .extract import audit_wheel

            return audit_wheel(wheel)
        return audit_source(wheel, progress=progress if show else None)
    finally:
        if bar is not None:
            bar.close()


_SCAN_BAR_BYTES = 20 << 20  # smaller wheels scan in well under a second


# ---------------------------------------------------------------------------------------------------------------------
# wheelmeta nix


def _add_nix(sub) -> None:
    p = sub.add_parser(
        "nix",
        help="write a buildPythonPackage expression for wheels",
        description="Write a nixpkgs buildPythonPackage expression (format = \"wheel\") with the inputs "
        "autoPatchelfHook needs. Several wheels give one expression each on stdout, or with -o one file with a "
        "package set. Without target options, dependencies are evaluated for the Python the wheel's tags name "
        "(cp37 -> 3.7; 3.13 for py3/abi3 wheels) on the wheel's own platform.",
    )
    p.add_argument(
        "wheels",
        nargs="+",
        metavar="WHEEL",
        help="wheel, folder, quoted glob, or http(s) URL ending in #sha256=<hex> (read with range requests)",
    )
    p.add_argument(
        "--url",
        metavar="URL",
        help="src = fetchurl { url; hash; } instead of a path: the wheel's URL (one wheel), or a base URL ending "
        "in / to which each wheel's file name is appended; the hash is the local file's sha256",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE (paths relative to its folder): the expression for one wheel, a package set "
        "{ pkgs ? import <nixpkgs> { } }: { name = ...; } for several",
    )
    p.add_argument("--map", metavar="FILE", help="soname map overrides (TOML), above $WHEELMETA_SONAME_MAP")
    add_target_options(p)
    p.set_defaults(run=_run_nix)


def _run_nix(args: argparse.Namespace) -> int:
    from .patchelf_nix.sonames import SonameMap

    wheels = [_local_if_file_url(w) for w in expand_paths(args.wheels)]
    if args.url and any("://" in w for w in wheels):
        raise UsageError("--url", "a wheel given by its URL already names its src; --url is for local wheels")
    if args.url and not args.url.endswith("/") and len(wheels) > 1:
        raise UsageError("--url", "one URL for several wheels: give a base URL ending in /")
    soname_map = SonameMap.load(args.map)
    if args.output and len(wheels) > 1:
        return _write_nix_package_set(wheels, args, soname_map)
    from .patchelf_nix.nixwriter import render

    base = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
    status = 0
    for i, wheel in enumerate(wheels):
        try:
            function = _nix_function(wheel, args, soname_map, _nix_target(wheel, args), base)
        except WheelmetaError as exc:  # one bad wheel of several: say so, write the others
            if len(wheels) == 1:
                raise
            print(f"wheelmeta: error: {exc}", file=sys.stderr)
            status = exc.exit_code
            continue
        text = render(function)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        else:
            separator = "\n" if i else ""
            header = f"{separator}# {os.path.basename(wheel)}\n" if len(wheels) > 1 else ""
            sys.stdout.write(header + text)
    return status


def _local_if_file_url(wheel: str) -> str:
    if not wheel.lower().startswith("file://"):
        return wheel
    from .http import url_to_path

    return url_to_path(wheel)


def _write_nix_package_set(wheels: List[str], args: argparse.Namespace, soname_map) -> int:
    """-o FILE with several wheels: one file, written only when every wheel could be read."""
    from .extract import read_metadata
    from .patchelf_nix.expression import package_attribute_names, package_set_expression

    base = os.path.dirname(os.path.abspath(args.output))
    # the set's names first: a native input named like one of them must be taken from pkgs
    names = package_attribute_names([read_metadata(w).name for w in wheels])
    functions, python_versions = [], set()
    for wheel in wheels:
        target = _nix_target(wheel, args)
        functions.append(_nix_function(wheel, args, soname_map, target, base, shadowed=names))
        python_versions.add(target.python_version)
    python_set = "python3Packages"
    if args.python_version and len(python_versions) == 1:
        python_set = f"python{python_versions.pop().replace('.', '')}Packages"
    text = package_set_expression(zip(names, functions), python_set)
    with open(args.output, "w", encoding="utf-8") as f:
        f.write(text)
    return 0


def _nix_target(wheel: str, args: argparse.Namespace):
    """The options' target, on the wheel's own platform unless --platform says otherwise (never the host's)."""
    from .patchelf_nix.expression import default_target
    from .target import Target

    own = default_target(wheel)
    if not any([args.python_version, args.implementation, args.abi, args.platform]):
        return own
    return Target.from_options(python_version=args.python_version or own.python_version,
                               implementation=args.implementation, abis=args.abi,
                               platforms=args.platform or list(own.platforms))


def _nix_function(wheel: str, args: argparse.Namespace, soname_map, target, base: str, shadowed=()):
    """The expression tree for one wheel (a local file or an http(s) URL): audited, classified and read; warns
    about what the expression cannot provide."""
    from urllib.parse import quote

    from .extract import audit_wheel, read_metadata
    from .patchelf_nix.classify import nix_inputs
    from .patchelf_nix.expression import import_modules, package_function, split_sha256_fragment

    url, sha256, modules, source = args.url, None, None, wheel
    if wheel.lower().startswith(("http://", "https://")):
        from .http import RangeSource

        url, sha256 = split_sha256_fragment(wheel)
        source = url
        modules = import_modules(RangeSource(url))
    elif url and url.endswith("/"):
        url += quote(os.path.basename(wheel))
    audit = audit_wheel(source)
    metadata = read_metadata(source)
    inputs = nix_inputs(audit, soname_map)
    if inputs.unknown and not args.quiet:
        print(f"wheelmeta: warning: {wheel}: no nixpkgs input known for {', '.join(inputs.unknown)} "
              "(listed as a comment in buildInputs; add them or map them with --map)", file=sys.stderr)
    return package_function(wheel, audit=audit, metadata=metadata, inputs=inputs, target=target, url=url,
                            sha256=sha256, modules=modules, relative_to=base, shadowed=shadowed)


# ---------------------------------------------------------------------------------------------------------------------
# wheelmeta choose


def _add_choose(sub) -> None:
    p = sub.add_parser(
        "choose",
        help="choose an sdist or a wheel for requirements from the configured indexes",
        description="For each requirement, the file a resolver should use on the target, by preference. Indexes "
        "default to pip's configuration (pip config files, PIP_INDEX_URL, PIP_EXTRA_INDEX_URL, PIP_FIND_LINKS) and "
        "pip's own default index.",
    )
    p.add_argument("requirements", nargs="+", metavar="REQ", help='a requirement, e.g. "tensorflow==2.1.0"')
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.add_argument("--explain", action="store_true", help="also list every rejected file with its reason")
    add_target_options(p)
    g = p.add_argument_group("indexes (default: pip's configuration)")
    g.add_argument("-i", "--index-url", metavar="URL", help="main index (PEP 503/691), replaces pip's configured one")
    g.add_argument("--extra-index-url", metavar="URL", action="append", help="another index; repeatable")
    g.add_argument("-f", "--find-links", metavar="PATH_OR_URL", action="append",
                   help="a folder or HTML page of files; repeatable")
    g.add_argument("--no-index", action="store_true", help="ignore indexes, use --find-links only")
    g = p.add_argument_group("preference (default: like pip, newest version, wheel over sdist at that version)")
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
    p.set_defaults(run=_run_choose)


def _choose_preference(args: argparse.Namespace):
    """The Preference the options describe: global flag, then pip's format control, then the provider table."""
    from .index.provider import Preference

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


def _choose_file_json(dist) -> dict:
    return {
        "filename": dist.filename,
        "url": dist.url,
        "sha256": dist.sha256,
        "size": dist.size,
        "kind": dist.kind,
        "version": str(dist.version),
        "index": dist.index,
    }


def _choose_to_json(choice, explain: bool) -> dict:
    out = {"requirement": str(choice.requirement), **_choose_file_json(choice.file), "reason": choice.reason}
    if explain:
        out["rejected"] = [{**_choose_file_json(d), "reason": why} for d, why in choice.rejected]
    return out


def _choose_print_text(choice, explain: bool) -> None:
    f = choice.file
    print(f"{choice.requirement}: {f.filename}")
    for key, value in (("url", f.url), ("sha256", f.sha256), ("size", f.size), ("kind", f.kind),
                       ("version", f.version), ("reason", choice.reason)):
        print(f"  {key + ':':9}{value if value is not None else '-'}")
    if explain:
        print(f"  rejected ({len(choice.rejected)}):")
        for dist, why in choice.rejected:
            print(f"    {dist.filename}: {why}")


def _run_choose(args: argparse.Namespace) -> int:
    from .index.config import IndexConfig
    from .index.provider import choose
    from .index.simple import IndexClient
    from .target import Target

    target = target_from_args(args) or Target.from_host()
    preference = _choose_preference(args)
    config = IndexConfig.from_pip(index_url=args.index_url, extra_index_urls=args.extra_index_url or (),
                                  find_links=args.find_links or (), no_index=args.no_index)
    index = IndexClient.from_config(config, config.http_client())
    results, status = [], 0
    for requirement in args.requirements:
        try:
            choice = choose(requirement, target, preference, index)
        except WheelmetaError as exc:  # one requirement that cannot be met does not stop the others
            if len(args.requirements) == 1 and not args.json:
                _explain_no_match(exc, args.explain)
                raise
            print(f"wheelmeta: error: {exc}", file=sys.stderr)
            _explain_no_match(exc, args.explain and not args.json)
            results.append({"requirement": requirement, "error": str(exc)})
            status = max(status, exc.exit_code)
            continue
        if args.json:
            results.append(_choose_to_json(choice, args.explain))
        else:
            _choose_print_text(choice, args.explain)
    if args.json:
        print_json(results)
    return status


def _explain_no_match(exc: WheelmetaError, explain: bool) -> None:
    """With --explain, why each offered file lost, under the one-line error."""
    if explain:
        for dist, why in getattr(exc, "rejected", ()):
            print(f"  {dist.filename}: {why}", file=sys.stderr)


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


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"wheelmeta: {record.levelname.lower()}: {' '.join(record.getMessage().split())}"


def _configure_logging(quiet: bool) -> None:
    """Library warnings go through ``logging``; the CLI shows them as one ``wheelmeta: warning:`` line each.

    ``-q`` keeps errors only. The handler sits on the ``wheelmeta`` logger, not the root logger, and records still
    propagate, so a program that calls :func:`main` keeps its own logging."""
    logger = logging.getLogger("wheelmeta")
    for handler in list(logger.handlers):
        if getattr(handler, "_wheelmeta_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLineFormatter())
    handler._wheelmeta_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR if quiet else logging.WARNING)
    logging.captureWarnings(True)
    warnings_logger = logging.getLogger("py.warnings")
    warnings_logger.setLevel(logging.ERROR if quiet else logging.WARNING)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(bool(getattr(args, "quiet", False)))
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
