"""The ``buildPythonPackage`` expression for a wheel, in the form nixpkgs uses for binary wheels today.

From facts other layers computed (the METADATA, the ELF audit, the nixpkgs inputs the classification chose), this
module assembles a Nix syntax tree (:mod:`.nixwriter`) and renders it nixfmt-style::

    >>> text = nix_expression("dist/demo-1.0-py3-none-any.whl", audit=audit, metadata=md, inputs=inputs,
    ...                       target=None, url="https://example.org/demo-1.0-py3-none-any.whl")   # doctest: +SKIP

The result is a function for ``python3Packages.callPackage``: ``{ lib, buildPythonPackage, fetchurl, ... }:
buildPythonPackage rec { pname; version; format = "wheel"; src; nativeBuildInputs; buildInputs;
autoPatchelfIgnoreMissingDeps; dependencies; pythonImportsCheck; meta; }``. Inputs are attribute paths
(``stdenv.cc.cc.lib``, ``cudaPackages.cuda_cudart``); their first component becomes a formal. Sonames the map does
not know stay visible as comments in ``buildInputs``: autoPatchelfHook fails on them until someone adds the input.
:func:`package_set_expression` joins several wheels into one file (``wheelmeta nix -o``).
"""

from __future__ import annotations

import base64
import logging
import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Iterable, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename

from ..errors import InvalidWheel, UsageError, WheelmetaError
from ..model import DistMetadata, WheelAudit
from ..sources import file_sha256
from .nixwriter import (
    Apply,
    AttrSet,
    BinOp,
    Binding,
    Blank,
    Comment,
    EnvPath,
    Formal,
    IndentedString,
    Function,
    Let,
    ListExpr,
    Parens,
    Str,
    Var,
    is_identifier,
    path_expression,
    render,
)
from .pynames import PYTHON_SCOPE_SHADOWS, is_cuda_wheel, python_attribute

__all__ = [
    "nix_expression",
    "package_function",
    "package_set_expression",
    "default_target",
    "sri_hash",
    "file_sha256",
    "split_sha256_fragment",
    "import_modules",
    "nix_platforms",
    "python_guard",
    "WheelNotForNixpkgs",
    "DEFAULT_PYTHON",
]

log = logging.getLogger(__name__)

#: The Python of ``python3Packages`` in nixpkgs 25.11: the target for wheels whose tags do not name one version.
DEFAULT_PYTHON = "3.13"

# SPDX identifiers (and the free-text spellings METADATA often holds) -> attribute of nixpkgs' lib.licenses
LICENSES = {
    "mit": "mit",
    "mit license": "mit",
    "apache-2.0": "asl20",
    "apache 2.0": "asl20",
    "apache license 2.0": "asl20",
    "apache license, version 2.0": "asl20",
    "apache software license": "asl20",
    "bsd-2-clause": "bsd2",
    "bsd-3-clause": "bsd3",
    "0bsd": "bsd0",
    "mpl-2.0": "mpl20",
    "isc": "isc",
    "psf-2.0": "psfl",
    "lgpl-2.1-only": "lgpl21Only",
    "lgpl-2.1-or-later": "lgpl21Plus",
    "lgpl-3.0-only": "lgpl3Only",
    "lgpl-3.0-or-later": "lgpl3Plus",
    "gpl-2.0-only": "gpl2Only",
    "gpl-2.0-or-later": "gpl2Plus",
    "gpl-3.0-only": "gpl3Only",
    "gpl-3.0-or-later": "gpl3Plus",
    "agpl-3.0-only": "agpl3Only",
    "agpl-3.0-or-later": "agpl3Plus",
    "unlicense": "unlicense",
    "zlib": "zlib",
    "bsl-1.0": "boost",
    "cc0-1.0": "cc0",
}

# a folder inside site-packages, as written between double quotes in the shell hook: no quoting needed
_SHELL_SAFE_FOLDER = re.compile(r"[A-Za-z0-9._+/-]+\Z")

# top-level names that are never worth an import check (test suites shipped by mistake, private helpers)
_NOT_IMPORT_CHECKED = frozenset({"test", "tests", "testing", "docs", "examples", "benchmarks"})


class WheelNotForNixpkgs(WheelmetaError):
    """A wheel no nixpkgs Python can use: a Windows wheel, or a musllinux wheel (its binaries need musl's libc)."""


# wheel-tag architecture -> the CPU part of a Nix system name
_NIX_CPU = {"x86_64": "x86_64", "i686": "i686", "aarch64": "aarch64", "armv7l": "armv7l", "ppc64le": "powerpc64le",
            "ppc64": "powerpc64", "s390x": "s390x", "riscv64": "riscv64"}
# the last part of a macosx_* tag -> Nix systems (universal2 runs on both)
_DARWIN = {"x86_64": ["x86_64-darwin"], "intel": ["x86_64-darwin"], "universal": ["x86_64-darwin"],
           "arm64": ["aarch64-darwin"], "universal2": ["aarch64-darwin", "x86_64-darwin"]}
_REFUSED = {
    "win": "a Windows wheel: nixpkgs has no Windows Python",
    "musllinux": "a musllinux wheel: its binaries need musl's libc (libc.musl-<arch>.so.1), which nixpkgs' Python, "
                 "built with glibc, cannot load; use the project's manylinux wheel",
}


# ---------------------------------------------------------------------------------------------------------------------
# facts the expression needs that other layers do not compute


def sri_hash(sha256_hex: str) -> str:
    """The SRI form Nix wants for a SHA-256 given as hex: ``sha256-`` + base64 of the digest.

        >>> sri_hash(hashlib.sha256(b"").hexdigest())
        'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
    """
    try:
        digest = bytes.fromhex(sha256_hex)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise UsageError(sha256_hex, "not a SHA-256 hex digest (64 hex digits)")
    return "sha256-" + base64.b64encode(digest).decode()


def split_sha256_fragment(url: str) -> Tuple[str, str]:
    """``https://host/x.whl#sha256=<hex>`` -> (``https://host/x.whl``, hex), as index links carry the hash.

    A remote wheel without it is refused: hashing it would mean downloading all of it, which the audit avoids.
    """
    base, _, fragment = url.partition("#")
    name, _, value = fragment.partition("=")
    if name.lower() != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise UsageError(url, "a remote wheel needs its sha256 for fetchurl: add #sha256=<64 hex digits> to the URL")
    return base, value.lower()


def _file_name(wheel: str) -> str:
    if "://" in wheel:
        return unquote(posixpath.basename(urlsplit(wheel).path))
    return os.path.basename(wheel)


def default_target(wheel_filename: str):
    """The target a wheel's own tags describe: its Python version (``cp37`` -> 3.7, the newest when it names
    several; :data:`DEFAULT_PYTHON` for ``py3`` and ``abi3`` wheels) on its own platform (``manylinux_2_17_x86_64``
    for pure wheels).

    Never the host: the expression is for nixpkgs, whatever machine writes it.
    """
    from ..target import Target

    tags = _wheel_tags(wheel_filename)
    versions = [t.interpreter[2:] for t in tags if re.fullmatch(r"cp3\d{1,2}", t.interpreter) and t.abi != "abi3"]
    newest = max(versions, key=lambda v: int(v[1:]), default=None)
    python = f"{newest[0]}.{newest[1:]}" if newest else DEFAULT_PYTHON
    platforms = sorted({t.platform for t in tags if t.platform != "any"})
    try:
        return Target.from_options(python_version=python, implementation="cp",
                                   platforms=platforms or ["manylinux_2_17_x86_64"])
    except UsageError as exc:  # a tag in the file's name, not an option the user typed: exit 1, naming the file
        raise InvalidWheel(wheel_filename, f"the file name's platform tag cannot be placed: {exc}") from None


def _wheel_tags(wheel_filename: str):
    try:
        return parse_wheel_filename(_file_name(wheel_filename))[3]
    except Exception as exc:  # packaging's InvalidWheelFilename and friends
        raise InvalidWheel(wheel_filename, f"not a wheel file name: {exc}") from None


def nix_platforms(wheel_filename: str, audit: Optional[WheelAudit] = None,
                  architectures: Optional[Sequence[str]] = None) -> List[str]:
    """``meta.platforms``: the Nix systems the wheel's platform tags name (``manylinux2014_aarch64`` ->
    ``aarch64-linux``, ``macosx_11_0_universal2`` -> both darwins). A pure (``any``) wheel runs everywhere ([])
    unless it carries ELF files: then the Linux systems of ``architectures`` (those the expression's inputs serve,
    :func:`~wheelmeta.patchelf_nix.classify.architectures_served`), by default the one its inputs were worked out
    for.

    Raises :class:`WheelNotForNixpkgs` when no tag names a system nixpkgs' Python runs on (Windows, musllinux).
    """
    from ..manylinux.audit import platform_architecture

    platforms = sorted({t.platform for t in _wheel_tags(wheel_filename)})
    if "any" in platforms:
        if audit is None or audit.kind != "elf" or not audit.elf_files:
            return []
        arches = set(architectures or ()) | ({audit.arch} if audit.arch else set(audit.architectures))
        return sorted(f"{_NIX_CPU[a]}-linux" for a in arches if a in _NIX_CPU)
    systems, refused = set(), []
    for platform in platforms:
        arch = platform_architecture(platform)
        if platform.startswith(("manylinux", "linux_")) and arch in _NIX_CPU:
            systems.add(f"{_NIX_CPU[arch]}-linux")
        elif platform.startswith("macosx_") and platform.rsplit("_", 1)[-1] in _DARWIN:
            systems.update(_DARWIN[platform.rsplit("_", 1)[-1]])
        elif platform.startswith("macosx_") and platform.endswith("_universal2"):
            systems.update(_DARWIN["universal2"])
        else:
            refused.append(platform)
    if not systems:
        kind = next((k for p in refused for k in _REFUSED if p.startswith(k)), None)
        reason = _REFUSED[kind] if kind else f"no nixpkgs system runs a {', '.join(refused)} wheel"
        raise WheelNotForNixpkgs(wheel_filename, reason)
    return sorted(systems)


def python_guard(wheel_filename: str):
    """``disabled`` for the Pythons the wheel's tags rule out, as nixpkgs writes it: ``pythonOlder "3.9"`` for a
    ``cp39-abi3`` wheel, ``pythonOlder "3.12" || pythonAtLeast "3.13"`` for ``cp312``, ``pythonAtLeast "3"`` for
    a Python 2 wheel; None when any Python 3 will do (``py3``). Returns (expression, names it uses) or None."""
    tags = list(_wheel_tags(wheel_filename))
    minors = sorted({int(t.interpreter[3:]) for t in tags if re.fullmatch(r"cp3\d{1,2}", t.interpreter)})
    if minors and any(t.abi == "abi3" for t in tags):
        return Apply(Var("pythonOlder"), Str(f"3.{minors[0]}")), ["pythonOlder"]
    if minors:
        guard = BinOp(Apply(Var("pythonOlder"), Str(f"3.{minors[0]}")), "||",
                      Apply(Var("pythonAtLeast"), Str(f"3.{minors[-1] + 1}")))
        names = ["pythonOlder", "pythonAtLeast"]
        for gap in sorted(set(range(minors[0], minors[-1])) - set(minors)):  # cp38.cp310: not 3.9
            guard = BinOp(guard, "||", BinOp(Var("python.pythonVersion"), "==", Str(f"3.{gap}")))
            names.append("python")
        return guard, names
    if tags and all(t.interpreter.startswith(("py2", "cp2")) for t in tags):
        return Apply(Var("pythonAtLeast"), Str("3")), ["pythonAtLeast"]
    return None


def import_modules(wheel_path: Union[str, os.PathLike]) -> List[str]:
    """The top-level modules worth a ``pythonImportsCheck``: public names only, test folders left out."""
    from ..wheels.reader import top_level_modules

    return sorted(name for name in top_level_modules(wheel_path) if _worth_import_check(name))


def _worth_import_check(name: str) -> bool:
    parts = name.split(".")  # top_level.txt may name a namespace package's module: google.protobuf
    return all(is_identifier(p) for p in parts) and not parts[0].startswith("_") and parts[0] not in _NOT_IMPORT_CHECKED


# ---------------------------------------------------------------------------------------------------------------------
# the expression


def nix_expression(
    wheel_path: Union[str, os.PathLike],
    *,
    audit: WheelAudit,
    metadata: DistMetadata,
    inputs,
    target=None,
    url: Optional[str] = None,
    sha256: Optional[str] = None,
    modules: Optional[Sequence[str]] = None,
    relative_to: Optional[Union[str, os.PathLike]] = None,
) -> str:
    """The expression text for one wheel (see the module docstring); a final newline included.

    ``inputs`` is a :class:`~wheelmeta.patchelf_nix.classify.NixInputs` (``build_inputs``, ``ignore_missing_deps``,
    ``driver_runpath``, ``unknown``, ``libpython``, ``carried``). ``target`` decides which Requires-Dist apply
    (default: :func:`default_target`). With ``url``, ``src`` is ``fetchurl`` with the SRI form of ``sha256`` (computed
    from the file when not given); without, a path, relative to ``relative_to`` when given, else absolute.
    ``modules`` overrides the import check (default: :func:`import_modules`).
    """
    function = package_function(wheel_path, audit=audit, metadata=metadata, inputs=inputs, target=target, url=url,
                                sha256=sha256, modules=modules, relative_to=relative_to)
    return render(function)


def package_function(
    wheel_path,
    *,
    audit: WheelAudit,
    metadata: DistMetadata,
    inputs,
    target=None,
    url=None,
    sha256=None,
    modules=None,
    relative_to=None,
    shadowed: Iterable[str] = (),
    architectures: Optional[Sequence[str]] = None,
) -> Function:
    """The syntax tree behind :func:`nix_expression`, for callers that embed it (:func:`package_set_expression`).

    ``shadowed`` names Python packages added to the scope besides nixpkgs' (the other wheels of a package set):
    a native input of that name is then taken from ``pkgs`` too. ``architectures``: see :func:`nix_platforms`.
    """
    wheel_path = os.fspath(wheel_path)
    platforms = nix_platforms(wheel_path, audit, architectures)  # refuses Windows and musllinux wheels first
    guard = python_guard(wheel_path)
    target = target or default_target(wheel_path)
    native = NativeInputs.of(inputs, patch=_needs_patching(audit, inputs),
                             shadowed=PYTHON_SCOPE_SHADOWS | set(shadowed))
    deps, dep_comments = _dependencies(metadata, target)
    modules = list(modules) if modules is not None else import_modules(wheel_path)

    bindings: List = [
        Binding("pname", Str(metadata.name)),
        Binding("version", Str(metadata.version)),
        Binding("format", Str("wheel")),
        Blank(),
        Binding("src", _src(wheel_path, url, sha256, relative_to)),
        Blank(),
        *_guard_bindings(guard, audit),
    ]
    bindings += native.bindings()
    bindings += [
        Binding("dependencies", ListExpr(dep_comments + [Var(d) for d in deps])),
        Blank(),
        Binding("pythonImportsCheck", ListExpr([Str(m) for m in modules])),
        Blank(),
        Binding("meta", _meta(metadata, binary=audit.kind == "elf" and bool(audit.elf_files), platforms=platforms)),
    ]
    core = (["python"] if native.search_packages else []) + (guard[1] if guard is not None else [])
    formals = _formals(url is not None, core, native.hooks, native.build_inputs, deps + native.search_packages)
    return Function(formals, Apply(Var("buildPythonPackage"), AttrSet(bindings, rec=True)), blank_line=True)


def _guard_bindings(guard, audit: WheelAudit) -> List:
    """``disabled`` (from :func:`python_guard`) and, for a macOS wheel, a comment on what was not checked."""
    out: List = [Binding("disabled", guard[0]), Blank()] if guard is not None else []
    if audit.kind == "non-linux":
        out += [Comment("a macOS wheel: its Mach-O files are not audited, so any library they load from outside the "
                        "wheel is not provided here"), Blank()]
    return out


def _needs_patching(audit: WheelAudit, inputs) -> bool:
    """autoPatchelfHook has work when an ELF member needs more than glibc, or is a program with an interpreter
    (a member of another architecture than the audit's is skipped by autoPatchelfHook, so it is not counted)."""
    if any(f.interpreter for f in audit.elf_files if not (audit.arch and f.machine and f.machine != audit.arch)):
        return True
    return any(
        getattr(inputs, attr, None)
        for attr in ("build_inputs", "ignore_missing_deps", "unknown", "libpython", "carried", "python_search_paths")
    )


@dataclass(frozen=True)
class NativeInputs:
    """The native side of a wheel's ``buildPythonPackage`` call, from a :class:`~.classify.NixInputs`.

    Shared by the one-wheel expression (names are formals: ``autoPatchelfHook``, ``zlib``, ``torch``) and the
    environment file (names are selected from a scope: ``pkgs.zlib``, ``final.torch``): ``native_scope`` and
    ``python_scope`` are the prefixes (``""``, ``"pkgs."``, ``"final."``).
    """

    hooks: List[str]                  # nativeBuildInputs, unprefixed
    build_inputs: List[str]           # attribute paths, prefixed where needed
    unknown: List[Comment]            # sonames nobody knows, said in buildInputs
    ignore_missing_deps: List[str]
    search_hook: Optional[IndentedString]
    search_packages: List[str]        # the Python packages the hook names, unprefixed
    native_scope: str = ""
    ignore_items: List = field(default_factory=list)  # ignore_missing_deps grouped under comments saying why

    @classmethod
    def of(cls, inputs, *, patch: bool, shadowed=frozenset(), native_scope: str = "", python_scope: str = ""):
        """``shadowed``: first components to take from ``pkgs.`` (see PYTHON_SCOPE_SHADOWS), when the native
        scope is not already ``pkgs``."""
        hooks = ["autoPatchelfHook"] * patch + ["autoAddDriverRunpath"] * bool(getattr(inputs, "driver_runpath", False))
        build_inputs, unknown = _build_inputs(inputs, shadowed, native_scope, python_scope)
        search_hook, search_packages = _search_path_hook(inputs, python_scope)
        return cls(hooks, build_inputs, unknown, sorted(getattr(inputs, "ignore_missing_deps", ()) or ()),
                   search_hook, search_packages, native_scope, _ignored_missing_deps(inputs))

    def bindings(self) -> List:
        """``nativeBuildInputs``, ``buildInputs``, ``autoPatchelfIgnoreMissingDeps``, ``preFixup``: those that
        have anything, each followed by a blank line."""
        out: List = []
        if self.hooks:
            out += [Binding("nativeBuildInputs", ListExpr([Var(self.native_scope + n) for n in self.hooks])), Blank()]
        if self.build_inputs or self.unknown:
            out += [Binding("buildInputs", ListExpr(self.unknown + [Var(p) for p in self.build_inputs])), Blank()]
        if self.ignore_missing_deps:
            ignore_list = ListExpr(self.ignore_items)
            out += [Binding("autoPatchelfIgnoreMissingDeps", ignore_list), Blank()]
        if self.search_hook is not None:
            out += [Binding("preFixup", self.search_hook), Blank()]
        return out


def _build_inputs(inputs, shadowed, native_scope="", python_scope="") -> Tuple[List[str], List[Comment]]:
    """Attribute paths for ``buildInputs``; ``zstd`` becomes ``pkgs.zstd`` when the Python scope has a package of
    that name (``shadowed``: see PYTHON_SCOPE_SHADOWS), which callPackage would pass instead."""
    paths = [_checked_attribute_path(p) for p in getattr(inputs, "build_inputs", ()) or ()]
    if native_scope:
        paths = [native_scope + p for p in paths]
    else:
        paths = [f"pkgs.{p}" if p.split(".")[0] in shadowed else p for p in paths]
    if getattr(inputs, "libpython", None):
        paths.append(python_scope + "python")  # the interpreter of this package set carries libpython3.X.so
    by_soname = getattr(inputs, "by_soname", {}) or {}
    comments = [Comment(f"not in your nixpkgs, add its input: {_one_line(by_soname[s]['problem'])}"
                        if by_soname.get(s, {}).get("problem") else
                        f"unknown to the soname map, add its input: {_one_line(s)}")
                for s in sorted(getattr(inputs, "unknown", ()) or ())]
    comments += _map_check_comments(inputs, by_soname) if paths else []
    return sorted(dict.fromkeys(paths)), comments


def _map_check_comments(inputs, by_soname) -> List[Comment]:
    """Say which inputs rest on a map entry whose evidence is unverified, and whether a nixpkgs checked them."""
    decided = [s for s in getattr(inputs, "unverified", ()) or ()
               if by_soname.get(s, {}).get("class") in ("nixpkgs", "cc-runtime")]
    out = [Comment(f"{_one_line(s)} -> {by_soname[s]['attribute']}: soname map entry not verified against "
                   "nixpkgs source") for s in decided]
    if getattr(inputs, "nixpkgs", None) is None:
        out.append(Comment("inputs not checked against a nixpkgs (wheelmeta nix --nixpkgs PATH checks them)"))
    return out


def _search_path_hook(inputs, python_scope="") -> Tuple[Optional[IndentedString], List[str]]:
    """``addAutoPatchelfSearchPath "${torch}/${python.sitePackages}/torch/lib"`` for libraries another Python
    package installs (torchvision needs torch's libtorch.so), and the packages that hook names."""
    lines, packages = [], []
    for attribute, folder in getattr(inputs, "python_search_paths", ()) or ():
        # a formal must be an identifier; a selection from a scope (final."3to2") is quoted by the writer
        if (not python_scope and not is_identifier(attribute)) or not _SHELL_SAFE_FOLDER.match(folder or ""):
            log.warning("search path %r of %r cannot be written safely into a shell hook; left out", folder, attribute)
            continue
        lines.append(["addAutoPatchelfSearchPath \"", Var(python_scope + attribute), "/",
                      Var(python_scope + "python.sitePackages"), f"/{folder.strip('/')}\""])
        packages.append(attribute)
    return (IndentedString(lines) if lines else None), packages


def _checked_attribute_path(path: str) -> str:
    """An attribute path from the soname map (built in, or a user's --map file) that is safe to write as code."""
    if not all(is_identifier(part) for part in str(path).split(".")):
        raise UsageError(f"soname map attribute {path!r}", "not a Nix attribute path (identifiers joined by dots)")
    return path


_IGNORED_WHY = {
    "driver": "provided by the driver at run time, found through the driver runpath",
    "unpackaged": "no nixpkgs package provides these: only what needs them fails to load",
    "preloaded": "carried only under another file name: met at run time only when that library is loaded first",
    "unknown": "optional dlopen() libraries (.note.dlopen) nobody maps: only the feature that loads them is off",
}


def _ignored_missing_deps(inputs) -> List:
    """The sonames autoPatchelfHook must not look for, each group under a comment that says why."""
    ignored = sorted(getattr(inputs, "ignore_missing_deps", ()) or ())
    by_soname = getattr(inputs, "by_soname", {}) or {}
    groups: dict = {}
    for soname in ignored:
        cls = (by_soname.get(soname) or {}).get("class")
        groups.setdefault(cls if cls in _IGNORED_WHY else "driver", []).append(soname)
    items: List = []
    for cls, why in _IGNORED_WHY.items():
        if cls in groups:
            items += [Comment(why)] + [Str(s) for s in groups[cls]]
    return items


def _dependencies(metadata: DistMetadata, target) -> Tuple[List[str], List[Comment]]:
    """Requires-Dist that apply on ``target`` as python3Packages attributes, plus comments for those left out."""
    own = canonicalize_name(metadata.name)
    attrs, comments = [], []
    for req in metadata.for_target(target):
        if canonicalize_name(req.name) == own:
            continue  # an extra that pulls in the project itself
        attr = python_attribute(req.name)
        if attr is None and is_cuda_wheel(req.name):
            comments.append(Comment(f"{req.name}: its libraries come from cudaPackages in buildInputs"))
        elif attr is None or not is_identifier(attr):
            comments.append(Comment(f"{_one_line(req.name)}: no Nix identifier for this name, add it by hand"))
        else:
            attrs.append(attr)
    return sorted(dict.fromkeys(attrs)), comments


def _formals(fetch: bool, core: Sequence[str], native: Sequence[str], build_inputs: Sequence[str], deps: Sequence[str]):
    """``lib, buildPythonPackage, fetchurl`` (and the ``core`` scope names used: ``python``, ``pythonOlder``...)
    then one commented group per kind of input, each name once."""
    seen = set()
    groups = [
        (None, ["lib"] + sorted(set(core)) + ["buildPythonPackage"] + ["fetchurl"] * fetch),
        ("nativeBuildInputs", list(native)),
        ("buildInputs", [p.split(".")[0] for p in build_inputs]),
        ("dependencies", list(deps)),
    ]
    out: List = []
    for title, names in groups:
        fresh = [n for n in dict.fromkeys(names) if n not in seen]
        seen.update(fresh)
        if fresh and title:
            out += [Blank(), Comment(title)]
        out += [Formal(n) for n in fresh]
    return out


def _src(wheel_path: str, url: Optional[str], sha256: Optional[str], relative_to) -> object:
    if url is None:
        path = os.path.abspath(wheel_path)
        if relative_to is not None:
            path = os.path.relpath(path, os.path.abspath(relative_to))
        return path_expression(path)
    digest = sha256 or file_sha256(wheel_path)
    return Apply(Var("fetchurl"), AttrSet([Binding("url", Str(url)), Binding("hash", Str(sri_hash(digest)))]))


def _meta(metadata: DistMetadata, binary: bool, platforms: Sequence[str] = ()) -> AttrSet:
    bindings: List = []
    if metadata.summary and metadata.summary.strip():
        bindings.append(Binding("description", Str(_description(metadata.summary))))
    homepage = _homepage(metadata)
    if homepage:
        bindings.append(Binding("homepage", Str(homepage)))
    licenses = _licenses(metadata)
    if licenses:
        values = [Var(f"lib.licenses.{attr}") for attr in licenses]
        bindings.append(Binding("license", values[0] if len(values) == 1 else ListExpr(values)))
    if binary:
        bindings.append(Binding("sourceProvenance", ListExpr([Var("lib.sourceTypes.binaryNativeCode")])))
    if platforms:
        bindings.append(Binding("platforms", ListExpr([Str(p) for p in platforms])))
    return AttrSet(bindings)


def _description(summary: str) -> str:
    """The Summary on one line, without the final period the nixpkgs manual asks descriptions to leave out."""
    text = _one_line(summary)
    return text[:-1] if text.endswith(".") and not text.endswith("..") else text


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _homepage(metadata: DistMetadata) -> Optional[str]:
    candidates = [metadata.home_page or ""]
    urls: Mapping[str, str] = metadata.project_urls or {}
    for key in ("homepage", "home", "home-page", "documentation", "source", "source code", "repository"):
        candidates += [u for k, u in urls.items() if k.strip().lower() == key]
    return next((c.strip() for c in candidates if re.match(r"https?://\S+\Z", c.strip())), None)


def _licenses(metadata: DistMetadata) -> List[str]:
    """``lib.licenses`` attributes for METADATA's License-Expression or License: one SPDX id or common spelling, or
    an ``AND``/``OR`` expression whose every id is known (nixpkgs lists them all). Anything else: none."""
    text = _one_line(metadata.license or "").replace("(", " ").replace(")", " ")
    if not text or len(text) > 200 or " WITH " in f" {text} ":
        return []
    single = LICENSES.get(_one_line(text).lower())
    if single:
        return [single]
    found = [LICENSES.get(part.lower()) for part in re.split(r"\s+(?:AND|OR)\s+", _one_line(text))]
    return list(dict.fromkeys(found)) if all(found) else []  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------------------------
# several wheels in one file


def package_set_expression(packages: Iterable[Tuple[str, Function]], python_set: str = "python3Packages") -> str:
    """One file for several wheels: ``{ pkgs ? import <nixpkgs> { } }:`` and a set of the packages.

    Each wheel's function is called with ``final.callPackage`` inside ``pkgs.<python_set>.overrideScope``, so a
    wheel that depends on another wheel of the set gets that one, and everything else comes from nixpkgs::

        nix-build wheels.nix -A tensorflow
    """
    packages = list(packages)
    names = [name for name, _ in packages]
    overrides = AttrSet(
        [Binding(name, Apply(Var("final.callPackage"), Parens(fn), AttrSet())) for name, fn in packages]
    )
    scope = Apply(Var(f"pkgs.{python_set}.overrideScope"), Parens(Function(["final", "prev"], overrides)))
    body = Let([Binding("pythonPackages", scope)],
               AttrSet([Binding(name, Var(f"pythonPackages.{name}")) for name in names]))
    default = Apply(Var("import"), EnvPath("nixpkgs"), AttrSet())
    return render(Function([Formal("pkgs", default)], body, blank_line=True))


def package_attribute_names(project_names: Sequence[str]) -> List[str]:
    """Unique attribute names for the wheels of a set: the python3Packages name, ``-2``, ``-3``... on repeats."""
    out: List[str] = []
    for name in project_names:
        base = python_attribute(name) or canonicalize_name(name)
        candidate, n = base, 1
        while candidate in out:
            n += 1
            candidate = f"{base}-{n}"
        out.append(candidate)
    return out
