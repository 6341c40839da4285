"""``wheelmeta nix``."""

from __future__ import annotations

import argparse
import os
import sys
from typing import List

from ..errors import UsageError, WheelmetaError
from .common import (
    add_target_options,
    expand_paths,
    refuse_non_wheel,
    require_file,
)


def add_parser(sub) -> None:
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
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..patchelf_nix.sonames import SonameMap

    wheels = [_local_if_file_url(w) for w in expand_paths(args.wheels)]
    if args.url and any("://" in w for w in wheels):
        raise UsageError("--url", "a wheel given by its URL already names its src; --url is for local wheels")
    if args.url and not args.url.endswith("/") and len(wheels) > 1:
        raise UsageError("--url", "one URL for several wheels: give a base URL ending in /")
    soname_map = SonameMap.load(require_file("--map", args.map) if args.map else None)
    if args.output and len(wheels) > 1:
        return _write_nix_package_set(wheels, args, soname_map)
    from ..patchelf_nix.nixwriter import render

    base = os.path.dirname(os.path.abspath(args.output)) if args.output else os.getcwd()
    status = 0
    for i, wheel in enumerate(wheels):
        try:
            refuse_non_wheel(wheel)
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
    from ..http import url_to_path

    return url_to_path(wheel)


def _write_nix_package_set(wheels: List[str], args: argparse.Namespace, soname_map) -> int:
    """-o FILE with several wheels: one file, written only when every wheel could be read."""
    from ..extract import read_metadata
    from ..patchelf_nix.expression import package_attribute_names, package_set_expression

    base = os.path.dirname(os.path.abspath(args.output))
    for wheel in wheels:  # before reading any metadata: an sdist among them must not be built
        refuse_non_wheel(wheel)
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
    from ..patchelf_nix.expression import default_target
    from ..target import Target

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

    from ..extract import audit_wheel, read_metadata
    from ..patchelf_nix.classify import nix_inputs
    from ..patchelf_nix.expression import import_modules, package_function, split_sha256_fragment

    url, sha256, modules, source = args.url, None, None, wheel
    if wheel.lower().startswith(("http://", "https://")):
        from ..http import RangeSource

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
