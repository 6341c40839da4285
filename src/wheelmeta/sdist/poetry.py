"""Poetry's ``[tool.poetry]`` dependencies converted to PEP 440 / PEP 508, as poetry-core writes them into a wheel.

Poetry's constraint language is wider than PEP 440: caret (``^1.2`` = ``>=1.2,<2.0``), tilde (``~1.2`` =
``>=1.2,<1.3``), wildcards, bare versions (``1.2`` = ``==1.2``), space- or comma-separated ranges, and per-dependency
``python``/``platform``/``markers`` that become environment markers. ``optional = true`` dependencies appear only
under the extras of ``[tool.poetry.extras]`` that list them; dev and group dependencies are build-time tooling and
are left out, as poetry-core does::

    >>> md = poetry_metadata({"tool": {"poetry": {"name": "demo", "version": "1.0",
    ...     "dependencies": {"python": "^3.7", "attrs": "^21.3", "six": {"version": "~1.16", "python": "<3.10"}}}}},
    ...     source="demo-1.0.tar.gz")[0]
    >>> str(md.requires_python), [str(r) for r in md.requires_dist]
    ('<4.0,>=3.7', ['attrs<22.0,>=21.3', 'six<1.17,>=1.16; python_version < "3.10"'])
"""

from __future__ import annotations

import re
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from packaging.markers import InvalidMarker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..model import DistMetadata
from .static import StepAnswer

__all__ = ["poetry_constraint", "poetry_requires_python", "poetry_python_marker", "poetry_metadata"]

_OPERATOR = re.compile(r"^(~=|===|==|!=|<=|>=|<|>|=|\^|~)?\s*(.+)$")


class PoetryConstraintError(ValueError):
    """A Poetry constraint that has no PEP 440 form here (for example a ``||`` union outside ``python``)."""


def _bump(version: str, index: int) -> str:
    """The release ``version`` with part ``index`` raised by one and the later parts zeroed, keeping the
    precision written (``^3.7`` -> ``<4.0``, as poetry-core writes it)."""
    release = list(Version(version).release)
    release += [0] * (index + 1 - len(release))
    bumped = release[:index] + [release[index] + 1]
    return ".".join(str(p) for p in bumped + [0] * (len(release) - len(bumped)))


def _release_length(version: str) -> int:
    return len(Version(version).release)


def _caret(version: str) -> List[Tuple[str, str]]:
    release = Version(version).release
    nonzero = next((i for i, part in enumerate(release) if part), len(release) - 1)
    return [(">=", version), ("<", _bump(version, nonzero))]


def _tilde(version: str) -> List[Tuple[str, str]]:
    return [(">=", version), ("<", _bump(version, 0 if _release_length(version) == 1 else 1))]


def _single(term: str) -> List[Tuple[str, str]]:
    """One Poetry term (``^1.2``, ``~1.2``, ``1.2.*``, ``>=1``, ``1.2``) as (operator, version) pairs."""
    term = term.strip()
    if term in ("*", ""):
        return []
    match = _OPERATOR.match(term)
    if not match:  # pragma: no cover - the pattern matches every non-empty string
        raise PoetryConstraintError(term)
    operator, version = match.group(1) or "", match.group(2).strip()
    try:
        if operator == "^":
            return _caret(version)
        if operator == "~":
            return _tilde(version)
        if version.endswith((".*", ".x")):
            return [(operator if operator in ("==", "!=") else "==", version[:-2] + ".*")]
        return [(operator if operator not in ("", "=") else "==", version)]
    except ValueError as exc:  # InvalidVersion, or a release number too long for int()
        raise PoetryConstraintError(f"{term!r}: {exc}") from None


def _conjunction(text: str) -> List[Tuple[str, str]]:
    """A Poetry constraint without ``||``: terms separated by commas or spaces (``>=1.2 <2``), all required."""
    text = re.sub(r"(~=|===|==|!=|<=|>=|<|>|\^|~)\s+", r"\1", text.strip())  # ">= 1.2" -> ">=1.2"
    pairs: List[Tuple[str, str]] = []
    for term in re.split(r"[,\s]+", text):
        if term:
            pairs += _single(term)
    return pairs


def poetry_constraint(text: str) -> SpecifierSet:
    """A Poetry version constraint as a PEP 440 SpecifierSet; ``||`` unions raise PoetryConstraintError.

        >>> str(poetry_constraint("^0.2.3")), str(poetry_constraint("~1"))
        ('<0.3.0,>=0.2.3', '<2,>=1')
    """
    if "|" in text:
        raise PoetryConstraintError(f"{text!r} is a union (||), which one PEP 440 specifier set cannot express")
    try:
        return SpecifierSet(",".join(op + v for op, v in _conjunction(text)))
    except InvalidSpecifier as exc:
        raise PoetryConstraintError(f"{text!r}: {exc}") from None


#: the minor versions poetry-core spells out as ``!=X.Y.*`` when a ``python`` union leaves gaps
_PYTHON_MINORS = ["2.7"] + [f"3.{minor}" for minor in range(0, 14)]


def poetry_requires_python(text: str) -> SpecifierSet:
    """A Poetry ``python`` constraint as Requires-Python. A union (``~2.7 || ^3.4``) becomes what poetry-core's
    ``format_python_constraint`` writes: the lowest bound and ``!=X.Y.*`` for each minor no alternative allows.

        >>> str(poetry_requires_python("~2.7 || ^3.4"))
        '!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*,>=2.7'
    """
    if "|" not in text:
        return poetry_constraint(text)
    alternatives = [poetry_constraint(a) for a in re.split(r"\s*\|\|?\s*", text.strip()) if a.strip()]
    lowest = min(
        (Version(s.version) for a in alternatives for s in a if s.operator in (">=", ">")), default=None
    )
    excluded = [
        f"!={minor}.*"
        for minor in _PYTHON_MINORS
        if (lowest is None or Version(minor) >= Version(f"{lowest.major}.{lowest.minor}"))
        and not any(a.contains(f"{minor}.0", prereleases=True) or a.contains(f"{minor}.99") for a in alternatives)
    ]
    return SpecifierSet(",".join(([f">={lowest}"] if lowest is not None else []) + excluded))


def poetry_python_marker(text: str) -> str:
    """A Poetry ``python`` constraint as a marker, unions included, the way poetry-core writes it:
    ``python_version`` for one- or two-part versions, ``python_full_version`` for longer ones.

        >>> poetry_python_marker("^3.6")
        'python_version >= "3.6" and python_version < "4.0"'
    """
    groups = []
    for alternative in re.split(r"\s*\|\|?\s*", text.strip()):
        clauses = []
        for op, version in _conjunction(alternative):
            length = _release_length(version[:-2] if version.endswith(".*") else version)
            variable = "python_version" if length <= 2 else "python_full_version"
            if variable == "python_version" and op == "<" and length == 1:
                version += ".0"
            clauses.append(f'{variable} {op} "{version}"')
        groups.append(" and ".join(clauses))
    groups = [g for g in groups if g]
    if len(groups) > 1:
        return " or ".join(f"({g})" if " and " in g else g for g in groups)
    return groups[0] if groups else ""


def _and(*markers: str) -> str:
    present = [m for m in markers if m]
    if len(present) <= 1:
        return present[0] if present else ""
    return " and ".join(f"({m})" if " or " in m else m for m in present)


def _requirement(name: str, spec: Mapping, extras_of: Sequence[str], problems: List[str]) -> Optional[Requirement]:
    """One entry of [tool.poetry.dependencies] (table form) as a PEP 508 requirement, or None with a problem."""
    extras = spec.get("extras") or []
    head = name + (f"[{','.join(extras)}]" if extras else "")
    try:
        if "git" in spec:
            ref = spec.get("rev") or spec.get("tag") or spec.get("branch")
            head += f" @ git+{spec['git']}" + (f"@{ref}" if ref else "")
        elif "url" in spec:
            head += f" @ {spec['url']}"
        elif "path" in spec:
            problems.append(f"[tool.poetry.dependencies] {name}: a local path dependency has no index requirement")
            return None
        else:
            head += _constraint_or_none(name, str(spec.get("version", "*")), problems)
        marker = _and(
            poetry_python_marker(str(spec["python"])) if "python" in spec else "",
            f'sys_platform == "{spec["platform"]}"' if "platform" in spec else "",
            str(spec.get("markers") or ""),
        )
        if extras_of:
            marker = _and(marker, " or ".join(f'extra == "{e}"' for e in extras_of))
        return Requirement(head + (f"; {marker}" if marker else ""))
    except (PoetryConstraintError, InvalidRequirement, InvalidMarker, KeyError, SyntaxError) as exc:
        problems.append(f"[tool.poetry.dependencies] {name}: cannot convert {dict(spec)!r}: {exc}")
        return None


def _constraint_or_none(name: str, constraint: str, problems: List[str]) -> str:
    """The PEP 440 form of a version constraint; one that has none (``^1 || ^2``) is left out, not the dependency,
    and named in ``problems``."""
    try:
        return str(poetry_constraint(constraint))
    except PoetryConstraintError as exc:
        problems.append(f"[tool.poetry.dependencies] {name}: version constraint {constraint!r} left out, so any "
                        f"version is allowed: {exc}")
        return ""


def _extras_by_dependency(poetry: Mapping) -> Dict[str, List[str]]:
    """canonical dependency name -> the extras of [tool.poetry.extras] that list it."""
    out: Dict[str, List[str]] = {}
    for extra, names in (poetry.get("extras") or {}).items():
        for dependency in names or ():
            key = canonicalize_name(re.split(r"[\[\s<>=!~;]", str(dependency), maxsplit=1)[0])
            out.setdefault(key, []).append(str(extra))
    return out


def poetry_metadata(pyproject: Mapping, *, source: str, name: str = "", version: str = "") -> StepAnswer:
    """``[tool.poetry]`` read statically: Requires-Python from ``python``, Requires-Dist from the main
    dependencies, extras from ``[tool.poetry.extras]``; ``(None, reason)`` when there is no such table."""
    poetry = (pyproject.get("tool") or {}).get("poetry")
    if not isinstance(poetry, dict) or "dependencies" not in poetry:
        return None, "pyproject.toml has no [tool.poetry.dependencies]"
    problems: List[str] = []
    extras_of = _extras_by_dependency(poetry)
    requires: List[Requirement] = []
    requires_python: Optional[SpecifierSet] = None
    for dep_name, value in (poetry.get("dependencies") or {}).items():
        if dep_name.lower() == "python":
            try:
                requires_python = poetry_requires_python(str(value))
            except PoetryConstraintError as exc:
                problems.append(f"[tool.poetry.dependencies] python: {exc}")
            continue
        for spec in value if isinstance(value, list) else [value]:
            spec = spec if isinstance(spec, dict) else {"version": str(spec)}
            in_extras = extras_of.get(canonicalize_name(dep_name), [])
            if spec.get("optional") and not in_extras:
                continue  # poetry-core leaves out an optional dependency no extra asks for
            req = _requirement(dep_name, spec, in_extras if spec.get("optional") else [], problems)
            if req is not None:
                requires.append(req)
    return (
        DistMetadata(
            name=str(poetry.get("name") or name),
            version=str(poetry.get("version") or version),
            requires_python=requires_python,
            requires_dist=tuple(requires),
            provides_extra=tuple(str(e) for e in poetry.get("extras") or {}),
            provenance="poetry",
            problems=tuple(problems),
            source=source,
            summary=poetry.get("description"),
        ),
        "",
    )
