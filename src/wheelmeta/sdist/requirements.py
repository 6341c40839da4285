"""setuptools-style requirement fields (``install_requires``, ``extras_require``, ``python_requires``,
``setup_requires``, ``tests_require``) converted to the DistMetadata fields a wheel's METADATA would hold.

The conversion replays what setuptools and wheel do on the way from ``setup()`` to METADATA, so an sdist's answer
equals its wheel's: setuptools' ``Distribution._finalize_requires`` moves markers into ``"extra:marker"`` sections,
``egg_info`` writes ``requires.txt`` with sorted sections, and wheel's ``pkginfo_to_metadata`` /
``generate_requirements`` turns each section into ``Requires-Dist`` lines with ``(marker) and extra == "x"``::

    >>> reqs, extras, problems = setuptools_requires_dist(
    ...     ["chardet<3.1.0,>=3.0.2"], {"socks": ["PySocks>=1.5.6, !=1.5.7"]})
    >>> [str(r) for r in reqs], extras
    (['chardet<3.1.0,>=3.0.2', 'PySocks!=1.5.7,>=1.5.6; extra == "socks"'], ('socks',))
"""

from __future__ import annotations

import re
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Tuple, Union

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from ..wheels.metadata import requirement_or_salvage, specifier_or_salvage


__all__ = [
    "requirement_lines",
    "parse_requirements",
    "setuptools_requires_dist",
    "parse_requires_python",
]

Lines = Union[str, Iterable[str], None]


def requirement_lines(value: Lines) -> Iterator[str]:
    """The requirement strings in a setuptools value (a string or nested lists of strings), like pkg_resources'
    ``parse_requirements``: blank and ``#`` lines dropped, `` #`` comments cut, ``\\`` continuations joined."""
    if value is None:
        return
    if isinstance(value, str):
        raw = value.splitlines()
    else:
        raw = []
        for item in value:
            raw.extend(requirement_lines(item))
    pending = ""
    for line in raw:
        line = line.partition(" #")[0].strip()
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            yield line
    if pending.strip():
        yield pending.strip()


def parse_requirements(value: Lines, field_name: str, problems: List[str]) -> List[Requirement]:
    """Requirements parsed from a setuptools value; unparsable lines go to ``problems`` naming the field."""
    out: List[Requirement] = []
    for line in requirement_lines(value):
        if _is_marker(line):  # "foo;python_version<'3'" on one setup.cfg line: setuptools splits it at ";"
            problems.append(f"{field_name}: {line!r} is an environment marker cut off the requirement before it "
                            "(setuptools splits a one-line setup.cfg value at ';' and rejects it); that "
                            "requirement applies everywhere here")
            continue
        requirement = requirement_or_salvage(line, f"{field_name}:", problems)
        if requirement is not None:
            out.append(requirement)
    return out


def _is_marker(line: str) -> bool:
    try:
        Marker(line)
    except (InvalidMarker, ValueError, SyntaxError):  # SyntaxError: packaging meets a NUL byte
        return False
    return True


def parse_requires_python(value: object, problems: List[str]) -> Optional[SpecifierSet]:
    """``python_requires`` as a SpecifierSet (None when absent or unparsable, the latter noted in ``problems``)."""
    if value is None or value == "":
        return None
    return specifier_or_salvage(str(value).strip(), "python_requires", problems)


def _safe_extra(extra: str) -> str:
    # wheel's safe_extra: what ends up after "Provides-Extra:" and in the extra == "..." marker
    return re.sub("[^A-Za-z0-9.-]+", "_", extra).lower()


def _safe_name(name: str) -> str:
    return re.sub("[^A-Za-z0-9.]+", "-", name)


def _finalized_sections(
    install_requires: Lines, extras_require: Optional[Mapping[str, Lines]], problems: List[str]
) -> Dict[Optional[str], List[Requirement]]:
    """setuptools' ``_convert_extras_requirements`` + ``_move_install_requirements_markers``: section -> reqs,
    with each requirement's marker moved into its section key (``"extra:marker"`` or ``":marker"``)."""
    sections: Dict[Optional[str], List[Requirement]] = {None: []}
    for key, value in (extras_require or {}).items():
        key = str(key)
        sections.setdefault(key, [])  # empty extras are kept: they still become Provides-Extra
        for req in parse_requirements(value, f"extras_require[{key!r}]", problems):
            section = key + (":" + str(req.marker) if req.marker else "")
            sections.setdefault(section, []).append(req)
    for req in parse_requirements(install_requires, "install_requires", problems):
        if req.marker:
            sections.setdefault(":" + str(req.marker), []).append(req)
        else:
            sections[None].append(req)
    return sections


def _requires_dist_line(req: Requirement) -> str:
    """wheel's ``convert_requirements`` for one requirement: safe name, sorted extras, sorted specifiers."""
    extras = ",".join(sorted(_safe_extra(e) for e in req.extras))
    text = _safe_name(req.name) + (f"[{extras}]" if extras else "")
    if req.url:
        return text + " @ " + req.url
    specs = sorted(s.operator + s.version for s in req.specifier)
    return text + (" " + ",".join(specs) if specs else "")


def setuptools_requires_dist(
    install_requires: Lines, extras_require: Optional[Mapping[str, Lines]]
) -> Tuple[Tuple[Requirement, ...], Tuple[str, ...], Tuple[str, ...]]:
    """(requires_dist, provides_extra, problems) exactly as setuptools + wheel write them into METADATA."""
    problems: List[str] = []
    sections = _finalized_sections(install_requires, extras_require, problems)
    requires: List[Requirement] = []
    seen: set = set()
    provides: List[str] = []
    # egg_info writes requires.txt with install_requires first and extras sorted; wheel sorts the sections again
    for key in sorted(sections, key=lambda k: k or ""):
        extra, _, condition = (key or "").partition(":")
        extra = _safe_extra(extra)
        if extra:
            if extra not in provides:
                provides.append(extra)
            condition = (f"({condition}) and " if condition else "") + f"extra == '{extra}'"
        suffix = f" ; {condition}" if condition else ""
        for req in dict.fromkeys(str(_without_marker(r)) for r in sections[key]):
            line = _requires_dist_line(Requirement(req)) + suffix
            try:
                parsed = Requirement(line)
            except InvalidRequirement as exc:
                problems.append(f"extras_require section {key!r}: cannot combine {req!r} with its marker: {exc}")
                continue
            if str(parsed) not in seen:
                seen.add(str(parsed))
                requires.append(parsed)
    return tuple(requires), tuple(provides), tuple(problems)


def _without_marker(req: Requirement) -> Requirement:
    copy = Requirement(str(req))
    copy.marker = None
    return copy
