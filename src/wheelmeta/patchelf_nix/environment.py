"""One Nix file for a whole lock: every locked package built from its wheel or its sdist, chosen at evaluation.

The input is a PEP 751 lock as :class:`packaging.pylock.Pylock` (wheelmeta's additions under
``[packages.tool.wheelmeta]``, see docs/lock.md); the output is a function::

    { pkgs ? import <nixpkgs> { }, python ? pkgs.python3, preferWheels ? true, providers ? { } }:

whose value is ``python.withPackages`` of every locked package, with ``env``, ``shell`` (``pkgs.mkShell``),
``packages`` and ``python`` (the interpreter whose package set holds the lock) as attributes::

    >>> text = environment_expression(Pylock.from_dict(tomllib.load(f)))   # doctest: +SKIP
    $ nix-build env.nix --arg preferWheels false --arg providers '{ numpy = "wheel"; }'

The packages are defined in ``python.override { packageOverrides = final: prev: { ... }; self = ...; }``, so a
dependency between locked packages is ``final.<name>`` (the set's own package, whatever kind it was built from)
and a build requirement outside the lock comes from nixpkgs' Python set. Each package is
``pick "<name>" <default kind> { wheel = ...; sdist = ...; nixpkgs = prev.<attr>; }``: ``providers.<name>`` when
given (mach-nix's spelling: ``wheel``, ``sdist``, ``nixpkgs``), else the default (``preferWheels``, or the only
kind the lock has); a kind that is not there throws, naming the package. Only the chosen kind is ever evaluated.
"""

from __future__ import annotations

import base64
import logging
import os
import posixpath
from collections import Counter
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional, Tuple
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..errors import InvalidLock, UsageError
from .classify import NixInputs
from .expression import NativeInputs
from .nixwriter import (
    Apply,
    AttrSet,
    Binding,
    BinOp,
    Blank,
    Comment,
    EnvPath,
    Formal,
    Function,
    If,
    Let,
    ListExpr,
    Str,
    Var,
    attr_name,
    is_identifier,
    path_expression,
    render,
)
from .pynames import python_attribute

__all__ = ["environment_expression", "environment_function", "read_pylock"]

log = logging.getLogger(__name__)

# attributes of nixpkgs' Python set that its own packages rely on: a locked package of that name would replace them
_SET_INTERNALS = frozenset({"python", "pkgs", "lib", "stdenv"})

# build requirements of an sdist whose lock entry names none: what pip assumes without [build-system] (PEP 517)
_LEGACY_BUILD_SYSTEM = ("setuptools", "wheel")

# scopes inside the generated file: native inputs from nixpkgs, Python packages from the overridden set
_PKGS, _FINAL, _PREV = "pkgs.", "final.", "prev."


# ---------------------------------------------------------------------------------------------------------------------
# reading the lock


def read_pylock(path) -> "Pylock":  # noqa: F821 (packaging.pylock imported lazily)
    """``pylock.toml`` at ``path`` as a validated :class:`packaging.pylock.Pylock`; :class:`InvalidLock` naming the
    file when it cannot be read, is not TOML, or is not a lock ``packaging.pylock`` accepts."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]

    from packaging.pylock import (
        Pylock,
        PylockUnsupportedVersionError,
        PylockValidationError,
    )

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise InvalidLock(path, f"cannot read the lock: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidLock(path, f"not TOML: {exc}") from None
    try:
        return Pylock.from_dict(data)
    except (PylockValidationError, PylockUnsupportedVersionError) as exc:
        raise InvalidLock(path, f"not a valid PEP 751 lock: {exc}") from None


# ---------------------------------------------------------------------------------------------------------------------
# the file


def environment_expression(lock, *, lock_path: str = "pylock.toml", relative_to: Optional[str] = None) -> str:
    """The text of the environment file for ``lock`` (a :class:`packaging.pylock.Pylock`), final newline
    included; the same lock always gives the same bytes. ``lock_path`` names the lock in errors and locates
    archives given by ``path``; ``relative_to`` is the folder of the Nix file, for such paths."""
    return render(environment_function(lock, lock_path=lock_path, relative_to=relative_to))


def environment_function(lock, *, lock_path: str = "pylock.toml", relative_to: Optional[str] = None) -> Function:
    """The syntax tree behind :func:`environment_expression`."""
    packages = sorted(lock.packages, key=lambda p: (canonicalize_name(p.name), str(p.version or "")))
    names = [canonicalize_name(p.name) for p in packages]
    _check_names(names, lock_path)
    where = _Where(lock_path, relative_to)
    overrides: List = []
    for package in packages:
        overrides += _package_bindings(package, set(names), where) + [Blank()]
    body = Let(_let_bindings(names, overrides[:-1]), _result(names))
    for warning in where.warnings:
        log.warning("%s", warning)
    formals = [
        Formal("pkgs", Apply(Var("import"), EnvPath("nixpkgs"), AttrSet())),
        Formal("python", Var("pkgs.python3")),
        Formal("preferWheels", Var("true")),
        Formal("providers", AttrSet()),
    ]
    return Function(formals, body, blank_line=True)


def _check_names(names: List[str], lock_path: str) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InvalidLock(lock_path, f"wheelmeta env needs one entry per package; several for {', '.join(duplicates)}")
    internal = sorted(set(names) & _SET_INTERNALS)
    if internal:
        raise InvalidLock(lock_path, f"a package named {', '.join(internal)} would replace the attribute of that name "
                          "nixpkgs' Python set uses for itself; wheelmeta env cannot write it")


def _let_bindings(names: List[str], overrides: List) -> List:
    """``pick``, ``preferred``, ``strayProviders``, ``lockedPython`` (the set with the lock) and ``env``."""
    locked_python = Apply(Var("python.override"), AttrSet([
        Binding("self", Var("lockedPython")),
        Binding("packageOverrides", Function(["final", "prev"], AttrSet(overrides))),
    ]))
    env = Apply(Var("lockedPython.withPackages"),
                Function(["ps"], ListExpr([Var(f"ps.{attr_name(n)}") for n in names])))
    return [
        Comment("the kind a package is built from: providers.<name> (wheel, sdist or nixpkgs), else the default"),
        Binding("pick", _pick_function()),
        Blank(),
        Binding("preferred", If(Var("preferWheels"), Str("wheel"), Str("sdist"))),
        Blank(),
        Comment("providers may only name locked packages: a misspelt name would silently change nothing"),
        Binding("strayProviders", Apply(Var("builtins.removeAttrs"), Var("providers"),
                                        ListExpr([Str(n) for n in names]))),
        Blank(),
        Binding("lockedPython", locked_python),
        Blank(),
        Binding("env", env),
    ]


def _result(names: List[str]) -> BinOp:
    """``env // { env; python; packages; shell; }``: nix-build builds the environment, -A picks the rest."""
    return BinOp(Var("env"), "//", AttrSet([
        Binding("env", Var("env")),
        Binding("python", Var("lockedPython")),
        Binding("packages", AttrSet([Binding(n, Var(f"lockedPython.pkgs.{attr_name(n)}")) for n in names])),
        Binding("shell", Apply(Var("pkgs.mkShell"), AttrSet([Binding("packages", ListExpr([Var("env")]))]))),
    ]))


def _pick_function() -> Function:
    """``name: default: builds: ...``: the build of the kind asked for, or a throw that names the package."""
    kinds = Apply(Var("builtins.concatStringsSep"), Str(", "), Apply(Var("builtins.attrNames"), Var("builds")))
    missing = _concat(Str("wheelmeta env: "), Var("name"), Str(" cannot be built from "), Var("kind"),
                      Str("; it can be built from: "), kinds)
    stray = _concat(Str("wheelmeta env: providers names packages the lock does not have: "),
                    Apply(Var("builtins.concatStringsSep"), Str(", "),
                          Apply(Var("builtins.attrNames"), Var("strayProviders"))))
    chosen = If(_has("kind", "builds"), _get("kind", "builds"), Apply(Var("throw"), missing))
    checked = If(BinOp(Var("strayProviders"), "==", AttrSet()), chosen, Apply(Var("throw"), stray))
    kind = If(_has("name", "providers"), _get("name", "providers"), Var("default"))
    return Function(["name", "default", "builds"], Let([Binding("kind", kind)], checked))


def _has(key: str, attrs: str) -> Apply:
    return Apply(Var("builtins.hasAttr"), Var(key), Var(attrs))


def _get(key: str, attrs: str) -> Apply:
    return Apply(Var("builtins.getAttr"), Var(key), Var(attrs))


def _concat(*parts) -> BinOp:
    out = parts[0]
    for part in parts[1:]:
        out = BinOp(out, "+", part)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# one package


class _Where:
    """Where the lock is and where the Nix file goes: for error messages and for archives given by path."""

    def __init__(self, lock_path: str, relative_to: Optional[str]) -> None:
        self.lock_path = str(lock_path)
        self.relative_to = relative_to
        self.warnings: List[str] = []  # logged once the whole file could be written

    def error(self, package, reason: str) -> InvalidLock:
        version = f" {package.version}" if package.version is not None else ""
        return InvalidLock(self.lock_path, f"package {package.name}{version}: {reason}")


def _package_bindings(package, locked: set, where: _Where) -> List:
    """``<name> = pick "<name>" <default> { wheel = ...; sdist = ...; nixpkgs = ...; };`` and its comments."""
    name = canonicalize_name(package.name)
    facts = _facts(package, where)
    wheel = _wheel(package)
    builds: List = []
    if wheel is not None:
        builds.append(Binding("wheel", _wheel_build(package, wheel, facts, locked, where)))
    if package.sdist is not None:
        builds.append(Binding("sdist", _sdist_build(package, facts, locked, where)))
    if not builds:
        raise where.error(package, "neither a wheel nor an sdist: wheelmeta env builds only from archives of an index")
    nixpkgs = python_attribute(name)
    if nixpkgs is not None:
        missing = Apply(Var("throw"), Str(f"wheelmeta env: {name} cannot be taken from nixpkgs: python.pkgs has no "
                                          f"{nixpkgs}"))
        builds.append(Binding("nixpkgs", If(BinOp(Var("prev"), "?", Var(attr_name(nixpkgs))),
                                            Var(_PREV + attr_name(nixpkgs)), missing)))
    comments = _package_comments(package, name, wheel, facts, locked, where)
    default = Var("preferred") if wheel is not None and package.sdist is not None else \
        Str("wheel" if wheel is not None else "sdist")
    return comments + [Binding(name, Apply(Var("pick"), Str(name), default, AttrSet(builds)))]


def _package_comments(package, name: str, wheel, facts: _Facts, locked: set, where: _Where) -> List[Comment]:
    version = f"{name} {package.version}" if package.version is not None else name
    out = []
    if wheel is None:
        out.append(Comment(f"{version}: the lock has only an sdist, built from it whatever preferWheels says"))
    elif package.sdist is None:
        out.append(Comment(f"{version}: the lock has only a wheel, used whatever preferWheels says"))
    unknown = sorted(facts.inputs.unknown) if wheel is not None and facts.inputs is not None else []
    if unknown:
        out.append(Comment(f"WARNING: {version}: no nixpkgs input is known for {', '.join(unknown)}; "
                           "autoPatchelfHook fails on its wheel until one is added to buildInputs"))
        where.warnings.append(f"{version}: no nixpkgs input known for {', '.join(unknown)} "
                              "(said in a comment of the wheel's buildInputs)")
    for attribute, _ in facts.inputs.python_search_paths if wheel is not None and facts.inputs else ():
        if attribute not in locked:
            out.append(Comment(f"{version}: its wheel needs libraries of {attribute}, which is not in the lock: "
                               f"they come from python.pkgs.{attribute}"))
    if facts.differ is not None:
        sdist, wheel_deps = facts.differ
        out.append(Comment(f"{version}: its sdist declares other dependencies than its wheel "
                           f"(sdist: {', '.join(sdist) or 'none'}; wheel: {', '.join(wheel_deps) or 'none'})"))
    return out


@dataclass(frozen=True)
class _Facts:
    """What ``[packages.tool.wheelmeta]`` says about one package, checked against the contract (docs/lock.md)."""

    build_requires: Optional[List[str]]   # None: the lock names none
    inputs: Optional[NixInputs]           # None: a pure wheel (no nix table)
    import_modules: List[str]
    differ: Optional[Tuple[List[str], List[str]]]   # (sdist's, wheel's) when they differ


def _facts(package, where: _Where) -> _Facts:
    table = _table((package.tool or {}).get("wheelmeta", {}), "[packages.tool.wheelmeta]", package, where)
    nix = _table(table.get("nix"), "[packages.tool.wheelmeta.nix]", package, where) if "nix" in table else None
    differ = table.get("sdist-dependencies-differ")
    if differ is not None:
        differ = _table(differ, "sdist-dependencies-differ", package, where)
        differ = (_string_list(differ, "sdist", package, where), _string_list(differ, "wheel", package, where))
    inputs = None
    if nix is not None:
        driver = nix.get("driver-runpath", False)
        if not isinstance(driver, bool):
            raise where.error(package, "driver-runpath must be true or false")
        inputs = NixInputs(
            build_inputs=tuple(_string_list(nix, "build-inputs", package, where)),
            ignore_missing_deps=tuple(_string_list(nix, "ignore-missing-deps", package, where)),
            driver_runpath=driver,
            unknown=tuple(_string_list(nix, "unknown", package, where)),
            python_search_paths=tuple(_search_paths(nix.get("python-search-paths", []), package, where)),
        )
    return _Facts(
        build_requires=_string_list(table, "build-requires", package, where) if "build-requires" in table else None,
        inputs=inputs,
        import_modules=_string_list(nix or {}, "import-modules", package, where),
        differ=differ,
    )


def _table(value, what: str, package, where: _Where) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(package, f"{what} must be a table")
    return value


def _string_list(table: Mapping[str, Any], key: str, package, where: _Where) -> List[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(package, f"{key} must be a list of strings")
    return value


def _search_paths(entries, package, where: _Where) -> List[Tuple[str, str]]:
    if not isinstance(entries, list) or not all(
        isinstance(e, Mapping) and isinstance(e.get("attribute"), str) and isinstance(e.get("path"), str)
        for e in entries
    ):
        raise where.error(package, "python-search-paths must be a list of { attribute, path } tables")
    return [(canonicalize_name(e["attribute"]), e["path"]) for e in entries]


def _wheel(package):
    """The wheel the lock chose for the target: the first listed (the lock lists the chosen one)."""
    wheels = list(package.wheels or ())
    return wheels[0] if wheels else None


def _common_bindings(package, where: _Where) -> List:
    if package.version is None:
        raise where.error(package, "no version: wheelmeta env builds released versions only")
    return [Binding("pname", Str(canonicalize_name(package.name))), Binding("version", Str(str(package.version)))]


def _wheel_build(package, wheel, facts: _Facts, locked: set, where: _Where) -> Apply:
    inputs = facts.inputs or NixInputs()
    try:
        native = NativeInputs.of(inputs, patch=facts.inputs is not None, native_scope=_PKGS, python_scope=_FINAL)
    except UsageError as exc:  # a build input that is not an attribute path
        raise where.error(package, f"[packages.tool.wheelmeta.nix] {exc}") from None
    bindings = _common_bindings(package, where) + [
        Binding("format", Str("wheel")),
        Blank(),
        Binding("src", _src(package, wheel, where)),
        Blank(),
    ]
    bindings += native.bindings()
    bindings += _dependency_bindings(package, facts, locked)
    return Apply(Var(_FINAL + "buildPythonPackage"), AttrSet(bindings))


def _sdist_build(package, facts: _Facts, locked: set, where: _Where) -> Apply:
    build_system = _build_system(facts.build_requires, locked)
    bindings = _common_bindings(package, where) + [
        Binding("pyproject", Var("true")),
        Blank(),
        Binding("src", _src(package, package.sdist, where)),
        Blank(),
        Binding("build-system", build_system),
        Blank(),
    ]
    bindings += _dependency_bindings(package, facts, locked, sdist=True)
    return Apply(Var(_FINAL + "buildPythonPackage"), AttrSet(bindings))


def _dependency_bindings(package, facts: _Facts, locked: set, *, sdist: bool = False) -> List:
    """``dependencies`` (the lock's, or for an sdist that declares others, the sdist's own) and the import check."""
    names = sorted({canonicalize_name(str(d.get("name", ""))) for d in package.dependencies or () if d.get("name")})
    items: List = []
    if sdist and facts.differ is not None:
        sdist_names, wheel_names = (_requirement_names(side) for side in facts.differ)
        names = sorted((set(names) - wheel_names) | sdist_names)
        items.append(Comment("the sdist's own requirements, which differ from its wheel's"))
    for dep in names:
        if dep not in locked:
            items.append(Comment(f"{dep}: not in the lock, taken from python.pkgs"))
        items.append(_python_package(dep, locked))
    modules = [m for m in facts.import_modules if all(is_identifier(part) for part in m.split("."))]
    out = [Binding("dependencies", ListExpr(items))]
    if modules:
        out += [Blank(), Binding("pythonImportsCheck", ListExpr([Str(m) for m in modules]))]
    return out


def _requirement_names(requirements: List[str]) -> set:
    names = set()
    for text in requirements:
        try:
            names.add(canonicalize_name(Requirement(text).name))
        except InvalidRequirement:
            continue  # the comment above the package shows the text as the lock has it
    return names


def _python_package(name: str, locked: set) -> Var:
    """``final.<name>`` for a locked package, ``final.<nixpkgs attribute>`` for anything else."""
    attr = name if name in locked else (python_attribute(name) or name)
    return Var(_FINAL + attr_name(attr))


def _build_system(requires: Optional[List[str]], locked: set) -> ListExpr:
    """``build-system``: the sdist's build requirements as packages of the set (locked, else nixpkgs')."""
    items: List = []
    if requires is None:
        items.append(Comment("the lock names no build requirements: setuptools and wheel, as pip assumes"))
        requires = list(_LEGACY_BUILD_SYSTEM)
    names = {}
    for text in requires:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            items.append(Comment(f"not a requirement, add it by hand: {text}"))
            continue
        names.setdefault(canonicalize_name(req.name), req)
    for name in sorted(names):
        req = names[name]
        if req.marker is not None:
            items.append(Comment(f"{name}: taken whatever its marker says ({req.marker})"))
        items.append(_python_package(name, locked))
    return ListExpr(items)


def _src(package, archive, where: _Where):
    """``pkgs.fetchurl { url; hash; }`` for an archive with a URL, a path (relative to the lock) otherwise."""
    hash_ = _sri(archive.hashes or {})
    if hash_ is None:
        raise where.error(package, f"{archive.name or archive.url}: no sha256, sha512 or sha384 digest for fetchurl")
    if archive.url:
        bindings = [Binding("url", Str(archive.url)), Binding("hash", Str(hash_))]
        if archive.name and unquote(posixpath.basename(urlsplit(archive.url).path)) != archive.name:
            # the store path is named after the URL's last part unless told; the wheel hooks need the file name
            bindings.insert(0, Binding("name", Str(archive.name)))
        return Apply(Var(_PKGS + "fetchurl"), AttrSet(bindings))
    if archive.path:
        path = os.path.join(os.path.dirname(os.path.abspath(where.lock_path)), archive.path)
        if where.relative_to is not None:
            path = os.path.relpath(path, os.path.abspath(where.relative_to))
        return path_expression(path)
    raise where.error(package, f"{archive.name}: neither a url nor a path")


def _sri(hashes: Mapping[str, str]) -> Optional[str]:
    """The SRI form of the strongest hash fetchurl takes, or None when no usable one is given."""
    for algorithm, size in (("sha256", 32), ("sha512", 64), ("sha384", 48)):
        try:
            digest = bytes.fromhex(str(hashes.get(algorithm, "")))
        except ValueError:
            continue
        if len(digest) == size:
            return f"{algorithm}-{base64.b64encode(digest).decode()}"
    return None


