"""Realise nixpkgs attributes with the user's own Nix, to put their ``lib`` outputs' store paths into RUNPATH.

One ``nix-build`` for every attribute a patch needs, against ``<nixpkgs>`` (``NIX_PATH``) or ``--nixpkgs PATH``.
The attribute's ``lib`` output is taken where it has one (``stdenv.cc.cc.lib`` is one already), else ``out``.

    >>> realise(["zlib", "stdenv.cc.cc.lib"])                 # doctest: +SKIP
    {'zlib': '/nix/store/...-zlib-1.3.1', 'stdenv.cc.cc.lib': '/nix/store/...-gcc-14.3.0-lib'}
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence

from ..errors import WheelmetaError

__all__ = ["NixError", "realise", "attribute_expression", "GLIBC_ATTRIBUTE"]

#: the attribute whose lib folder holds the dynamic loader given to executables
GLIBC_ATTRIBUTE = "glibc"
_TIMEOUT = 3600  # building (or substituting) a library can take long; a hang still ends


class NixError(WheelmetaError):
    """Nix is missing, or could not evaluate or realise an attribute."""


def attribute_expression(attribute: str) -> str:
    """``pkgs."a"."b"`` for the attribute path ``a.b``, quoted so no attribute name can inject Nix code."""
    return "pkgs" + "".join("." + json.dumps(part) for part in attribute.split("."))


def _expression(attributes: Sequence[str]) -> str:
    items = " ".join(f"(get {attribute_expression(a)})" for a in attributes)
    return f"let pkgs = import <nixpkgs> {{ }}; get = p: p.lib or p.out or p; in [ {items} ]"


def realise(attributes: Sequence[str], nixpkgs: Optional[str] = None) -> Dict[str, str]:
    """attribute -> store path of its realised ``lib`` (else ``out``) output, after one ``nix-build`` run."""
    attributes = sorted(set(attributes))
    if not attributes:
        return {}
    nix_build = shutil.which("nix-build")
    nix_instantiate = shutil.which("nix-instantiate")
    if nix_build is None or nix_instantiate is None:
        raise NixError("nix-build", "not found: --nix needs Nix (nix-build and nix-instantiate on PATH)")
    include = ["-I", f"nixpkgs={os.path.abspath(nixpkgs)}"] if nixpkgs else []
    where = nixpkgs or "<nixpkgs>"
    expression = _expression(attributes)
    # evaluate first: which store path each attribute gives, without relying on nix-build's output order
    paths = _run([nix_instantiate, "--eval", "--strict", "--json", *include, "-E", f"map (d: d.outPath) ({expression})"], where)
    try:
        store_paths: List[str] = json.loads(paths)
    except ValueError:
        raise NixError(where, "nix-instantiate did not print a JSON list of store paths")
    if not isinstance(store_paths, list) or len(store_paths) != len(attributes):
        raise NixError(where, "nix-instantiate gave an unexpected answer")
    _run([nix_build, "--no-out-link", *include, "-E", expression], where)
    return dict(zip(attributes, store_paths))


def _run(args: List[str], where: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, timeout=_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NixError(where, f"{os.path.basename(args[0])} did not finish within {_TIMEOUT} s")
    except OSError as exc:
        raise NixError(where, f"cannot run {args[0]}: {exc.strerror or exc}")
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        errors = [ln for ln in lines if "error" in ln] or lines
        raise NixError(where, f"{os.path.basename(args[0])} failed: {errors[-1].strip() if errors else done.returncode}")
    return done.stdout.decode("utf-8", "replace")
