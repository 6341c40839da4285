"""Check the soname map's choices against the user's own nixpkgs, in one ``nix-instantiate --eval``.

The built-in map names attributes as one nixpkgs revision spells them and proves each soname's major from the
version it read there. The user's nixpkgs decides: :func:`check_nixpkgs` asks it, in a single evaluation for a
whole output, for every attribute spelling the needed entries could use (``libx11``, then the older
``xorg.libX11``) and its ``version``. :meth:`NixpkgsCheck.resolve` then takes the first spelling that exists and
applies the entry's version rule (``provides``, ``major_tracks_version``); a missing attribute or a version that
cannot give the soname moves the soname to ``unknown`` with a message naming the attribute and the nixpkgs.

    >>> where = locate_nixpkgs("/src/nixpkgs")                                # doctest: +SKIP
    >>> check = check_audits([audit_wheel("torch-....whl")], SonameMap.load(), where)   # doctest: +SKIP
    >>> nix_inputs(audit, soname_map, nixpkgs=check).unknown                  # doctest: +SKIP

:func:`check_audits` is the one call ``scan``, ``nix`` (and any later command that writes Nix inputs) make.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field, replace
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

from ..errors import WheelmetaError
from .sonames import SonameEntry, SonameMap

__all__ = [
    "NIXPKGS_FROM_NIX_PATH",
    "NixpkgsCheck",
    "NixpkgsCheckError",
    "AttributeProbe",
    "locate_nixpkgs",
    "check_nixpkgs",
    "check_audits",
    "check_plans",
]

#: What :func:`locate_nixpkgs` returns when ``NIX_PATH`` names nixpkgs in a form only Nix resolves (a URL).
NIXPKGS_FROM_NIX_PATH = "<nixpkgs>"

#: Classes whose attribute is a top-level nixpkgs attribute path the check can look up.
CHECKED_CLASSES = ("nixpkgs", "cc-runtime")

#: Seconds one evaluation of a whole nixpkgs may take before it counts as hung.
EVAL_TIMEOUT = 900

_EXPRESSION = """
{ nixpkgs, probes }:
let
  pkgs = import %s { };
  lookup = path: builtins.foldl'
    (set: name:
      if set != null && builtins.isAttrs set && builtins.hasAttr name set then builtins.getAttr name set else null)
    pkgs path;
  probe = path:
    let
      found = builtins.tryEval (lookup path);
      value = if found.success then found.value else null;
      version = builtins.tryEval (
        if builtins.isAttrs value && value ? version && builtins.isString value.version then value.version else null);
    in {
      exists = value != null;
      version = if version.success then version.value else null;
    };
in
  # a nixpkgs that does not evaluate is an error, not a set of missing attributes
  if builtins.isAttrs pkgs then builtins.mapAttrs (spelling: probe) (builtins.fromJSON probes)
  else throw "it does not evaluate to an attribute set of packages"
"""


class NixpkgsCheckError(WheelmetaError):
    """The user's nixpkgs could not be asked: not found, no Nix, or the evaluation failed."""


@dataclass(frozen=True)
class AttributeProbe:
    """What the user's nixpkgs says about one attribute path: whether it exists and its ``version``."""

    exists: bool
    version: Optional[str] = None


@dataclass(frozen=True)
class NixpkgsCheck:
    """The answers of one evaluation: ``probes`` maps every attribute spelling asked to its :class:`AttributeProbe`.

    ``nixpkgs`` is the path (or ``<nixpkgs>``) that was evaluated, named in every message.
    """

    nixpkgs: str
    probes: Mapping[str, AttributeProbe] = field(default_factory=dict)

    def resolve(self, soname: str, entry: SonameEntry) -> Tuple[Optional[SonameEntry], Optional[str]]:
        """The entry as the user's nixpkgs spells it, and a problem message; ``(None, message)`` when that
        nixpkgs cannot provide ``soname`` through this entry (the caller then classifies it ``unknown``)."""
        if entry.cls not in CHECKED_CLASSES or not entry.attribute:
            return entry, None
        spellings = entry.spellings()
        present = [s for s in spellings if self.probes.get(s, _MISSING).exists]
        if not present:
            names = " or ".join(spellings)
            return None, f"{soname}: attribute {names} is not in the nixpkgs at {self.nixpkgs}"
        for spelling in present:  # the first spelling there whose version gives the soname
            if entry.version_problem(soname, self.probes[spelling].version) is None:
                return (entry if spelling == entry.attribute else replace(entry, attribute=spelling)), None
        first = present[0]
        version = self.probes[first].version
        why = entry.version_problem(soname, version)
        missing = "" if entry.attribute in present else f"; {entry.attribute} is not in it"
        shown = f"{first} {version}" if version else f"{first} (no version)"
        return None, f"{soname}: {shown} in the nixpkgs at {self.nixpkgs} does not provide it ({why}){missing}"


_MISSING = AttributeProbe(exists=False)


def locate_nixpkgs(option: Optional[str], environ: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The nixpkgs to check against: ``option`` (``--nixpkgs PATH``) when given, else ``nixpkgs`` on ``NIX_PATH``.

    Returns an absolute path, :data:`NIXPKGS_FROM_NIX_PATH` when ``NIX_PATH`` names nixpkgs by URL, or None when
    there is none to check against (``option`` ``"none"`` asks for that). A given path that holds no nixpkgs is a
    :class:`NixpkgsCheckError` naming it.
    """
    if option == "none":
        return None
    if option:
        path = os.path.abspath(option)
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "default.nix")):
            raise NixpkgsCheckError(option, "no default.nix here: --nixpkgs wants a nixpkgs checkout")
        if not os.path.exists(path):
            raise NixpkgsCheckError(option, "no such nixpkgs checkout (--nixpkgs)")
        return path
    env = os.environ if environ is None else environ
    for item in _nix_path_items(env.get("NIX_PATH", "")):
        prefix, sep, value = item.partition("=")
        if sep and prefix == "nixpkgs":
            if "://" in value or value.startswith(("flake:", "channel:")):
                return NIXPKGS_FROM_NIX_PATH
            if os.path.exists(value):
                return os.path.abspath(value)
        elif not sep and os.path.isdir(os.path.join(item, "nixpkgs")):
            return os.path.abspath(os.path.join(item, "nixpkgs"))
    return None


def _nix_path_items(nix_path: str) -> List[str]:
    """``NIX_PATH`` split on ``:`` the way Nix does: a URL's ``https://`` stays in one piece."""
    items: List[str] = []
    for piece in nix_path.split(":"):
        if piece.startswith("//") and items:
            items[-1] += ":" + piece
        elif piece:
            items.append(piece)
    return items


def check_nixpkgs(entries: Iterable[SonameEntry], nixpkgs: str) -> NixpkgsCheck:
    """Ask the nixpkgs at ``nixpkgs`` about every spelling of every checked entry, in one evaluation."""
    spellings: Dict[str, List[str]] = {}
    for entry in entries:
        if entry.cls in CHECKED_CLASSES and entry.attribute:
            for spelling in entry.spellings():
                spellings.setdefault(spelling, spelling.split("."))
    if not spellings:
        return NixpkgsCheck(nixpkgs)
    return NixpkgsCheck(nixpkgs, probes_from_answer(_evaluate(nixpkgs, spellings), spellings))


def probes_from_answer(answer: object, spellings: Iterable[str]) -> Dict[str, AttributeProbe]:
    """The evaluation's JSON as probes, one per spelling asked; anything of another shape counts as missing."""
    answer = answer if isinstance(answer, dict) else {}
    probes = {}
    for spelling in spellings:
        raw = answer.get(spelling)
        raw = raw if isinstance(raw, dict) else {}
        version = raw.get("version")
        probes[spelling] = AttributeProbe(raw.get("exists") is True, version if isinstance(version, str) else None)
    return probes


def _evaluate(nixpkgs: str, spellings: Mapping[str, List[str]]) -> dict:
    nix = shutil.which("nix-instantiate")
    if nix is None:
        raise NixpkgsCheckError(nixpkgs, "nix-instantiate not found on PATH: checking against a nixpkgs needs Nix")
    source = "<nixpkgs>" if nixpkgs == NIXPKGS_FROM_NIX_PATH else "nixpkgs"
    args = [nix, "--eval", "--strict", "--json", "--expr", _EXPRESSION % source,
            "--argstr", "nixpkgs", nixpkgs, "--argstr", "probes", json.dumps(spellings)]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=EVAL_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise NixpkgsCheckError(nixpkgs, f"evaluating nixpkgs took longer than {EVAL_TIMEOUT} s") from None
    except OSError as exc:
        raise NixpkgsCheckError(nixpkgs, f"cannot run nix-instantiate: {exc}") from None
    if proc.returncode != 0:
        raise NixpkgsCheckError(nixpkgs, f"nix-instantiate failed: {_last_error_line(proc.stderr)}")
    try:
        answer = json.loads(proc.stdout)
    except ValueError:
        raise NixpkgsCheckError(nixpkgs, "nix-instantiate printed something that is not JSON") from None
    if not isinstance(answer, dict):
        raise NixpkgsCheckError(nixpkgs, "nix-instantiate printed JSON that is not an object")
    return answer


def _last_error_line(stderr: str) -> str:
    """Nix's own message, on one line: the ``error:`` line when there is one, else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return " ".join((errors or lines or ["(no message)"])[-1].split())[:300]


def check_audits(audits: Iterable, soname_map: SonameMap, nixpkgs: Optional[str]) -> Optional[NixpkgsCheck]:
    """The one check for a whole output (several wheels): every entry any audit's needed, not carried, soname
    decides, asked in one evaluation. None when ``nixpkgs`` is None (the output is then marked unchecked)."""
    from .classify import carried_in_wheel, needed_sonames

    if nixpkgs is None:
        return None
    entries: Dict[int, SonameEntry] = {}
    for audit in audits:
        if audit is None or getattr(audit, "kind", "elf") != "elf":
            continue
        carried = carried_in_wheel(audit)
        for soname in needed_sonames(audit):
            entry = None if soname in carried else soname_map.lookup(soname)
            if entry is not None:
                entries.setdefault(id(entry), entry)
    return check_nixpkgs(entries.values(), nixpkgs)


def check_plans(members: Iterable, soname_map: SonameMap, nixpkgs: Optional[str]) -> Optional[NixpkgsCheck]:
    """The one check for an installed environment planned without Nix (``patch --venv/--site-packages --nix``):
    the entry of every need nothing installed provides, asked in one evaluation. None when ``nixpkgs`` is None."""
    if nixpkgs is None:
        return None
    entries: Dict[int, SonameEntry] = {}
    for member in members:
        for need in member.needs:
            entry = soname_map.lookup(need.soname) if need.found == "not-found" else None
            if entry is not None:
                entries.setdefault(id(entry), entry)
    return check_nixpkgs(entries.values(), nixpkgs)
