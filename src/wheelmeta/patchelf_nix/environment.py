"""One Nix file for a whole lock: every locked package built from its wheel or its sdist, chosen at evaluation.

The input is a PEP 751 lock as :class:`packaging.pylock.Pylock` (wheelmeta's additions under
``[packages.tool.wheelmeta]``, see docs/lock.md); the output is a function::

    { pkgs ? import <nixpkgs> { }, python ? pkgs.python312, preferWheels ? true, providers ? { } }:

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
from dataclasses import dataclass, replace
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
    Parens,
    Str,
    Var,
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
    from packaging.pylock import (
        Pylock,
        PylockUnsupportedVersionError,
        PylockValidationError,
    )

    from ..tomlfile import parse_toml

    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise InvalidLock(path, f"cannot read the lock: {exc.strerror or exc}") from None
    data = parse_toml(raw, path, InvalidLock, what="the lock")
    try:
        return Pylock.from_dict(data)
    except (PylockValidationError, PylockUnsupportedVersionError) as exc:
        raise InvalidLock(path, f"not a valid PEP 751 lock: {exc}") from None


# ---------------------------------------------------------------------------------------------------------------------
# the file


def environment_expression(lock, *, lock_path: str = "pylock.toml", relative_to: Optional[str] = None,
                           nixpkgs=None, soname_map=None) -> str:
    """The text of the environment file for ``lock`` (a :class:`packaging.pylock.Pylock`), final newline
    included; the same lock always gives the same bytes. ``lock_path`` names the lock in errors and locates
    archives given by ``path``; ``relative_to`` is the folder of the Nix file, for such paths. ``nixpkgs`` (a
    :class:`~.nixpkgs_check.NixpkgsCheck`, see :func:`check_lock`) lets the user's nixpkgs spell each native
    input and move what it cannot provide to the unknown comments."""
    return render(environment_function(lock, lock_path=lock_path, relative_to=relative_to, nixpkgs=nixpkgs,
                                       soname_map=soname_map))


def environment_function(lock, *, lock_path: str = "pylock.toml", relative_to: Optional[str] = None,
                         nixpkgs=None, soname_map=None) -> Function:
    """The syntax tree behind :func:`environment_expression`."""
    packages = sorted(lock.packages, key=lambda p: (canonicalize_name(p.name), str(p.version or "")))
    names = [canonicalize_name(p.name) for p in packages]
    _check_names(names, lock_path)
    version = _locked_python_version(lock)
    tool = _wheelmeta_table(lock)
    bare = _Context(lock_path, relative_to, set(names), set(), _lock_target(tool, version))
    facts = {name: _facts(package, bare) for name, package in zip(names, packages)}
    if nixpkgs is not None:
        facts = {name: _checked_facts(fact, nixpkgs, soname_map) for name, fact in facts.items()}
    edges = {name: [d for d in _all_dependency_names(package, facts[name], bare.target) if d in bare.locked]
             for name, package in zip(names, packages)}
    ctx = _Context(lock_path, relative_to, set(names), _cycle_edges(names, edges), bare.target)
    overrides: List = []
    for package in packages:
        overrides += _package_bindings(package, facts[canonicalize_name(package.name)], ctx) + [Blank()]
    body = Let(_let_bindings(names, overrides[:-1], version), _result(names))
    for warning in ctx.warnings:
        log.warning("%s", warning)
    formals = [
        Formal("pkgs", Apply(Var("import"), EnvPath("nixpkgs"), AttrSet())),
        Formal("python", _default_python(tool, version)),
        Formal("preferWheels", Var("true")),
        Formal("providers", AttrSet()),
    ]
    return Function(formals, body, blank_line=True)


def _locked_python_version(lock) -> Optional[str]:
    """``"3.12"`` for a lock made for one Python minor version (``requires-python = "==3.12.*"``, what ``wheelmeta
    lock`` writes for its target), else None: its wheels are tagged for that version only."""
    specifiers = list(lock.requires_python or ())
    if len(specifiers) == 1 and specifiers[0].operator == "==":
        parts = specifiers[0].version.split(".")
        if len(parts) == 3 and parts[2] == "*" and all(p.isdigit() for p in parts[:2]):
            return f"{parts[0]}.{parts[1]}"
    return None


def _wheelmeta_table(lock) -> Mapping[str, Any]:
    """The lock's top-level ``[tool.wheelmeta]`` (the target ``wheelmeta lock`` made it for), or an empty one."""
    tool = (lock.tool or {}).get("wheelmeta")
    return tool if isinstance(tool, Mapping) else {}


def _lock_target(tool: Mapping[str, Any], version: Optional[str]):
    """The :class:`~wheelmeta.target.Target` the lock was made for (its Python ``version`` and ``[tool.wheelmeta]``
    platforms, ABIs and implementation, as ``wheelmeta lock`` writes them), or None for a lock that does not say."""
    from ..errors import WheelmetaError
    from ..target import Target

    platforms, abis, implementation = tool.get("platforms"), tool.get("abis"), tool.get("implementation")
    if version is None or not _strings(platforms) or not (abis is None or _strings(abis)):
        return None
    try:
        return Target.from_options(python_version=version, platforms=platforms, abis=abis,
                                   implementation=implementation if isinstance(implementation, str) else None)
    except WheelmetaError:
        return None


def _strings(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _default_python(tool: Mapping[str, Any], version: Optional[str]):
    """``pkgs.python312`` for a CPython 3.12 lock (nixpkgs' attribute of that interpreter), else ``pkgs.python3``;
    a nixpkgs without that attribute (python37 left nixpkgs in 2023) stops with a message saying what to pass."""
    implementation = tool.get("implementation", "cp")
    if version is None or implementation != "cp":
        return Var("pkgs.python3")
    attribute = "python" + version.replace(".", "")
    missing = Str(f"wheelmeta env: this nixpkgs has no {attribute}, and the lock is for Python {version}: pass python")
    return BinOp(Var(f"pkgs.{attribute}"), "or", Parens(Apply(Var("throw"), missing)))


def _cycle_edges(names: List[str], edges: Mapping[str, List[str]]) -> set:
    """The dependency edges to leave out so that no package depends on itself, even through others: the edges a
    depth-first walk in name order finds going back to a package it is still inside (Nix would recurse forever)."""
    cut, state = set(), {}  # state: 1 while inside a package, 2 when done

    def visit(name: str) -> None:
        state[name] = 1
        for dep in sorted(set(edges.get(name, ()))):
            if state.get(dep) == 1:
                cut.add((name, dep))
            elif dep not in state:
                visit(dep)
        state[name] = 2

    for name in names:
        if name not in state:
            visit(name)
    return cut


def _check_names(names: List[str], lock_path: str) -> None:
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise InvalidLock(lock_path, f"wheelmeta env needs one entry per package; several for {', '.join(duplicates)}")
    internal = sorted(set(names) & _SET_INTERNALS)
    if internal:
        raise InvalidLock(lock_path, f"a package named {', '.join(internal)} would replace the attribute of that name "
                          "nixpkgs' Python set uses for itself; wheelmeta env cannot write it")


def _let_bindings(names: List[str], overrides: List, version: Optional[str]) -> List:
    """``pick``, ``preferred``, ``strayProviders``, ``lockedPython`` (the set with the lock) and ``env``."""
    locked_python = Apply(Var("python.override"), AttrSet([
        Binding("self", Var("lockedPython")),
        Binding("packageOverrides", Function(["final", "prev"], AttrSet(overrides))),
    ]))
    if version is not None:  # another minor version would install wheels tagged for this one
        wrong = _concat(Str(f"wheelmeta env: the lock is for Python {version}; python is "), Var("python.pythonVersion"),
                        Str(f" (pass python = pkgs.python{version.replace('.', '')})"))
        locked_python = If(BinOp(Var("python.pythonVersion"), "==", Str(version)), locked_python,
                           Apply(Var("throw"), wrong))
    env = Apply(Var("lockedPython.withPackages"),
                Function(["ps"], ListExpr([Var(f"ps.{n}") for n in names])))
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
        Binding("packages", AttrSet([Binding(n, Var(f"lockedPython.pkgs.{n}")) for n in names])),
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


class _Context:
    """What every package's part of the file needs to know about the whole: where the lock is (errors, archives
    given by path), where the Nix file goes, the locked names, the dependency edges cut to break cycles."""

    def __init__(self, lock_path: str, relative_to: Optional[str], locked: set, cut: set, target=None) -> None:
        self.lock_path = str(lock_path)
        self.target = target  # the lock's target, for the markers of build requirements (None: not said)
        self.relative_to = relative_to
        self.locked = locked
        self.cut = cut
        self.warnings: List[str] = []  # logged once the whole file could be written

    def error(self, package, reason: str) -> InvalidLock:
        version = f" {package.version}" if package.version is not None else ""
        return InvalidLock(self.lock_path, f"package {package.name}{version}: {reason}")


def _package_bindings(package, facts: _Facts, ctx: _Context) -> List:
    """``<name> = pick "<name>" <default> { wheel = ...; sdist = ...; nixpkgs = ...; };`` and its comments."""
    name = canonicalize_name(package.name)
    wheel, sdist = _archives(package, ctx)
    builds: List = []
    if wheel is not None:
        builds.append(Binding("wheel", _wheel_build(package, wheel, facts, ctx)))
    if sdist is not None:
        builds.append(Binding("sdist", _sdist_build(package, sdist, facts, ctx)))
    if not builds:
        raise ctx.error(package, "no wheel, sdist or archive: wheelmeta env cannot build from a directory or VCS")
    nixpkgs = python_attribute(name)
    if nixpkgs is not None:
        missing = Apply(Var("throw"), Str(f"wheelmeta env: {name} cannot be taken from nixpkgs: python.pkgs has no "
                                          f"{nixpkgs}"))
        builds.append(Binding("nixpkgs", If(BinOp(Var("prev"), "?", Var(nixpkgs)),
                                            Var(_PREV + nixpkgs), missing)))
    comments = _package_comments(package, name, wheel, sdist, facts, ctx)
    default = Var("preferred") if wheel is not None and sdist is not None else \
        Str("wheel" if wheel is not None else "sdist")
    return comments + [Binding(name, Apply(Var("pick"), Str(name), default, AttrSet(builds)))]


def _package_comments(package, name: str, wheel, sdist, facts: _Facts, ctx: _Context) -> List[Comment]:
    version = f"{name} {package.version}" if package.version is not None else name
    out = []
    if wheel is None:
        out.append(Comment(f"{version}: the lock has only an sdist, built from it whatever preferWheels says"))
    elif sdist is None:
        out.append(Comment(f"{version}: the lock has only a wheel, used whatever preferWheels says"))
    unknown = sorted(facts.inputs.unknown) if wheel is not None and facts.inputs is not None else []
    if unknown:
        out.append(Comment(f"WARNING: {version}: no nixpkgs input is known for {', '.join(unknown)}; "
                           "autoPatchelfHook fails on its wheel until one is added to buildInputs"))
        ctx.warnings.append(f"{version}: no nixpkgs input known for {', '.join(unknown)} "
                              "(said in a comment of the wheel's buildInputs)")
    for attribute, _ in facts.inputs.python_search_paths if wheel is not None and facts.inputs else ():
        if attribute not in ctx.locked:
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


def _facts(package, ctx: _Context) -> _Facts:
    table = _table((package.tool or {}).get("wheelmeta", {}), "[packages.tool.wheelmeta]", package, ctx)
    nix = _table(table.get("nix"), "[packages.tool.wheelmeta.nix]", package, ctx) if "nix" in table else None
    differ = table.get("sdist-dependencies-differ")
    if differ is not None:
        differ = _table(differ, "sdist-dependencies-differ", package, ctx)
        differ = (_string_list(differ, "sdist", package, ctx), _string_list(differ, "wheel", package, ctx))
    inputs = None
    if nix is not None:
        driver = nix.get("driver-runpath", False)
        if not isinstance(driver, bool):
            raise ctx.error(package, "driver-runpath must be true or false")
        sonames = _table(nix.get("sonames", {}), "sonames", package, ctx)
        if not all(isinstance(v, str) for v in sonames.values()):
            raise ctx.error(package, "sonames must map sonames to attribute paths")
        inputs = NixInputs(
            build_inputs=tuple(_string_list(nix, "build-inputs", package, ctx)),
            ignore_missing_deps=tuple(_string_list(nix, "ignore-missing-deps", package, ctx)),
            driver_runpath=driver,
            unknown=tuple(_string_list(nix, "unknown", package, ctx)),
            python_search_paths=tuple(_search_paths(nix.get("python-search-paths", []), package, ctx)),
            by_soname={soname: {"class": "nixpkgs", "attribute": attribute} for soname, attribute in sonames.items()},
        )
    return _Facts(
        build_requires=_string_list(table, "build-requires", package, ctx) if "build-requires" in table else None,
        inputs=inputs,
        import_modules=_string_list(nix or {}, "import-modules", package, ctx),
        differ=differ,
    )


def lock_sonames(lock) -> List[str]:
    """Every soname the lock's native inputs were chosen for (``[packages.tool.wheelmeta.nix] sonames``)."""
    out = set()
    for package in lock.packages:
        sonames = (((package.tool or {}).get("wheelmeta") or {}).get("nix") or {}).get("sonames")
        if isinstance(sonames, Mapping):
            out.update(s for s in sonames if isinstance(s, str))
    return sorted(out)


def check_lock(lock, soname_map, nixpkgs: str):
    """The one evaluation of the user's nixpkgs for a whole lock: every map entry its sonames rest on."""
    from .nixpkgs_check import check_nixpkgs

    entries = {}
    for soname in lock_sonames(lock):
        entry = soname_map.lookup(soname)
        if entry is not None:
            entries.setdefault(id(entry), entry)
    return check_nixpkgs(entries.values(), nixpkgs)


def _checked_facts(fact: "_Facts", check, soname_map) -> "_Facts":
    """The package's native inputs as the user's nixpkgs spells them; a soname it cannot provide leaves
    buildInputs (unless another soname still needs that attribute) and is said as unknown, with why."""
    inputs = fact.inputs
    if inputs is None or not inputs.by_soname:
        return fact
    by_soname, unknown, problems, spelled = {}, list(inputs.unknown), [], {}
    for soname, entry in inputs.by_soname.items():
        locked = entry["attribute"]
        mapped = soname_map.lookup(soname)
        if mapped is None or locked not in (mapped.attribute, *mapped.spellings()):
            by_soname[soname], spelled[soname] = dict(entry), locked  # the map no longer knows it: kept as locked
            continue
        resolved, problem = check.resolve(soname, mapped)
        if problem:
            by_soname[soname] = {"class": "unknown", "attribute": None, "problem": problem}
            unknown.append(soname)
            problems.append(problem)
        else:
            by_soname[soname], spelled[soname] = {"class": resolved.cls, "attribute": resolved.attribute}, resolved.attribute
    checked_attributes = {entry["attribute"] for entry in inputs.by_soname.values()}
    build_inputs = {a for a in inputs.build_inputs if a not in checked_attributes} | set(spelled.values())
    new = replace(inputs, build_inputs=tuple(sorted(build_inputs)), unknown=tuple(sorted(set(unknown))),
                  by_soname=by_soname, nixpkgs=check.nixpkgs, nixpkgs_problems=tuple(problems))
    return replace(fact, inputs=new)


def _table(value, what: str, package, ctx: _Context) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ctx.error(package, f"{what} must be a table")
    return value


def _string_list(table: Mapping[str, Any], key: str, package, ctx: _Context) -> List[str]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ctx.error(package, f"{key} must be a list of strings")
    return value


def _search_paths(entries, package, ctx: _Context) -> List[Tuple[str, str]]:
    if not isinstance(entries, list) or not all(
        isinstance(e, Mapping) and isinstance(e.get("attribute"), str) and isinstance(e.get("path"), str)
        for e in entries
    ):
        raise ctx.error(package, "python-search-paths must be a list of { attribute, path } tables")
    return [(canonicalize_name(e["attribute"]), e["path"]) for e in entries]


def _archives(package, ctx: _Context):
    """(wheel, sdist) of a locked package, either None: the first wheel listed (the lock lists the one it chose for
    the target), the sdist, or a direct reference's ``[packages.archive]`` as whichever its file name says."""
    wheel = package.wheels[0] if package.wheels else None
    sdist = package.sdist
    archive = package.archive
    if archive is not None and wheel is None and sdist is None:
        if archive.subdirectory:
            raise ctx.error(package, "an archive whose project is in a subdirectory: wheelmeta env cannot build it")
        if posixpath.basename(urlsplit(archive.url or "").path or archive.path or "").endswith(".whl"):
            return archive, None
        return None, archive
    return wheel, sdist


def _common_bindings(package, ctx: _Context) -> List:
    if package.version is None:
        raise ctx.error(package, "no version: wheelmeta env builds released versions only")
    return [Binding("pname", Str(canonicalize_name(package.name))), Binding("version", Str(str(package.version)))]


def _wheel_build(package, wheel, facts: _Facts, ctx: _Context) -> Apply:
    inputs = facts.inputs or NixInputs()
    try:
        native = NativeInputs.of(inputs, patch=facts.inputs is not None, native_scope=_PKGS, python_scope=_FINAL)
    except UsageError as exc:  # a build input that is not an attribute path
        raise ctx.error(package, f"[packages.tool.wheelmeta.nix] {exc}") from None
    bindings = _common_bindings(package, ctx) + [
        Binding("format", Str("wheel")),
        Blank(),
        Binding("src", _src(package, wheel, ctx)),
        Blank(),
    ]
    bindings += native.bindings()
    bindings += _dependency_bindings(package, facts, ctx)
    return Apply(Var(_FINAL + "buildPythonPackage"), AttrSet(bindings))


def _sdist_build(package, sdist, facts: _Facts, ctx: _Context) -> Apply:
    build_system = _build_system(package, facts.build_requires, ctx)
    bindings = _common_bindings(package, ctx) + [
        Binding("pyproject", Var("true")),
        Blank(),
        Binding("src", _src(package, sdist, ctx)),
        Blank(),
        Binding("build-system", build_system),
        Blank(),
    ]
    bindings += _dependency_bindings(package, facts, ctx, sdist=True)
    return Apply(Var(_FINAL + "buildPythonPackage"), AttrSet(bindings))


def _dependency_bindings(package, facts: _Facts, ctx: _Context, *, sdist: bool = False) -> List:
    """``dependencies`` (the lock's, or for an sdist that declares others, the sdist's own) and the import check."""
    name = canonicalize_name(package.name)
    names = _dependency_names(package, facts, sdist=sdist)
    items: List = []
    if sdist and facts.differ is not None:
        items.append(Comment("the sdist's own requirements, which differ from its wheel's"))
    for dep in names:
        if (name, dep) in ctx.cut:
            items.append(Comment(f"{dep}: left out to break a dependency cycle; it is in the environment all the same"))
            continue
        if dep not in ctx.locked:
            items.append(Comment(f"{dep}: not in the lock, taken from python.pkgs"))
        items.append(_python_package(dep, ctx.locked))
    modules = [m for m in facts.import_modules if all(is_identifier(part) for part in m.split("."))]
    out = [Binding("dependencies", ListExpr(items))]
    if any((name, dep) in ctx.cut for dep in names):
        # nixpkgs checks that the Requires-Dist of the wheel are installed with it; the cut one is not, by design
        out += [Blank(), Binding("dontCheckRuntimeDeps", Var("true"))]
    if modules:
        out += [Blank(), Binding("pythonImportsCheck", ListExpr([Str(m) for m in modules]))]
    return out


def _dependency_names(package, facts: _Facts, *, sdist: bool) -> List[str]:
    """The canonical names a build of ``package`` depends on: the lock's ``dependencies``; for the sdist build of a
    package whose sdist declares others, those of the sdist instead of the wheel's."""
    names = {canonicalize_name(str(d.get("name", ""))) for d in package.dependencies or () if d.get("name")}
    if sdist and facts.differ is not None:
        sdist_names, wheel_names = (_requirement_names(side) for side in facts.differ)
        names = (names - wheel_names) | sdist_names
    return sorted(names)


def _all_dependency_names(package, facts: _Facts, target) -> set:
    """Every package either build of ``package`` needs: both kinds' dependencies, and the sdist's build system."""
    names = set(_dependency_names(package, facts, sdist=False)) | set(_dependency_names(package, facts, sdist=True))
    if package.sdist is not None or package.archive is not None:
        names |= set(_build_requirements(facts.build_requires, target)[0])
    return names


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
    return Var(_FINAL + attr)  # Var quotes each part that needs it


def _build_requirements(requires: Optional[List[str]], target) -> Tuple[Mapping[str, Requirement], List[str],
                                                                      List[Requirement]]:
    """canonical name -> requirement for an sdist's build requirements (pip's default when the lock names none)
    whose markers hold on ``target`` (all of them when it is None), the texts that are not requirements, and the
    requirements left out by their markers."""
    from ..target import evaluate_requirements

    names, bad, skipped = {}, [], []
    for text in requires if requires is not None else _LEGACY_BUILD_SYSTEM:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            bad.append(text)
            continue
        if req.marker is not None and target is not None and not evaluate_requirements([req], target):
            skipped.append(req)
            continue
        names.setdefault(canonicalize_name(req.name), req)
    return names, bad, skipped


def _build_system(package, requires: Optional[List[str]], ctx: _Context) -> ListExpr:
    """``build-system``: the sdist's build requirements as packages of the set (locked, else nixpkgs'); one whose
    locked package depends on this one (or is this one) is nixpkgs', which breaks the cycle."""
    own = canonicalize_name(package.name)
    names, bad, skipped = _build_requirements(requires, ctx.target)
    items: List = [Comment(f"not a requirement, add it by hand: {text}") for text in bad]
    items += [Comment(f"left out, its marker does not hold for the lock's target: {req}") for req in skipped]
    if requires is None:
        items.append(Comment("the lock names no build requirements: setuptools and wheel, as pip assumes"))
    for name in sorted(names):
        req = names[name]
        if req.marker is not None and ctx.target is None:
            items.append(Comment(f"{name}: taken whatever its marker says ({req.marker}); the lock names no target"))
        if (own, name) in ctx.cut:
            items.append(Comment(f"{name}: nixpkgs' own, as the locked one needs {own} itself"))
            items.append(Var(_PREV + (python_attribute(name) or name)))
        else:
            items.append(_python_package(name, ctx.locked))
    return ListExpr(items)


def _src(package, archive, ctx: _Context):
    """``pkgs.fetchurl { url; hash; }`` for an archive with a URL, a path (relative to the lock) otherwise."""
    hash_ = _sri(archive.hashes or {})
    if hash_ is None:
        raise ctx.error(package, f"{archive.url or archive.path}: no sha256, sha512 or sha384 digest for fetchurl")
    if archive.url:
        bindings = [Binding("url", Str(archive.url)), Binding("hash", Str(hash_))]
        name = getattr(archive, "name", None)  # [packages.archive] has none: its URL names the file
        if name and unquote(posixpath.basename(urlsplit(archive.url).path)) != name:
            # the store path is named after the URL's last part unless told; the wheel hooks need the file name
            bindings.insert(0, Binding("name", Str(name)))
        return Apply(Var(_PKGS + "fetchurl"), AttrSet(bindings))
    if archive.path:
        path = os.path.join(os.path.dirname(os.path.abspath(ctx.lock_path)), archive.path)
        if ctx.relative_to is not None:
            path = os.path.relpath(path, os.path.abspath(ctx.relative_to))
        return path_expression(path)
    raise ctx.error(package, "an archive with neither a url nor a path")


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


