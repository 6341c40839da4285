"""Core metadata (``METADATA``, ``PKG-INFO``, PEP 658 files) of every Metadata-Version written in the wild.

1.0, 1.1 (PEP 314), 1.2 (PEP 345), 2.0 (written by old ``bdist_wheel``), 2.1 (PEP 566), 2.2 (PEP 643), 2.3 and
2.4 (PEP 639) share one layout: RFC 822 style headers, then the description. Only the header block is read,
with the same rules as the ``email`` package's ``compat32`` policy that :func:`packaging.metadata.parse_email`
uses (continuation lines, the first line that is not a header ends the block), but without parsing a
200 KB description nobody asked for.

Lenient but never silent: one bad ``Requires-Dist`` line becomes a ``problems`` entry and the others are kept;
bytes that are not UTF-8 are decoded as latin-1 and reported. Only a missing Name or Version is fatal.

    >>> md = parse_metadata(b"Metadata-Version: 2.1\\nName: demo\\nVersion: 1.0\\nRequires-Dist: idna>=2\\n",
    ...                     source="demo.whl")
    >>> md.name, md.version, [str(r) for r in md.requires_dist]
    ('demo', '1.0', ['idna>=2'])
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Dict, List, Optional, Tuple, TypeVar, Union

from packaging.requirements import InvalidRequirement, Requirement
from packaging.markers import Marker
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from ..errors import MetadataError
from ..model import DistMetadata

__all__ = ["KNOWN_METADATA_VERSIONS", "parse_headers", "parse_metadata", "parse_requirement", "check_long_numbers"]

T = TypeVar("T")

KNOWN_METADATA_VERSIONS = ("1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4", "2.5")

_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)
# "name[extras] specifiers" without a URL: the shape of almost every Requires-Dist line
_IDENTIFIER = r"[a-zA-Z0-9](?:[a-zA-Z0-9._-]*[a-zA-Z0-9])?"
_ONE_SPEC = r"(?:===|~=|==|!=|<=|>=|<|>)\s*[^,;\s()]+"
_SPECS = rf"{_ONE_SPEC}(?:\s*,\s*{_ONE_SPEC})*"
_SIMPLE_REQUIREMENT = re.compile(
    rf"\s*(?P<name>{_IDENTIFIER})\s*"
    rf"(?:\[\s*(?P<extras>{_IDENTIFIER}(?:\s*,\s*{_IDENTIFIER})*)?\s*\])?\s*"
    rf"(?:\(\s*(?P<paren>{_SPECS})\s*\)|(?P<specs>{_SPECS}))?\s*"
)
# the fields parse_metadata never looks at that fill most lines (exact spelling; other spellings are just parsed)
_UNUSED_FIELDS = ("Classifier:", "Description:", "Author:", "Author-email:", "Maintainer:", "Maintainer-email:")
# fields allowed once; a repeat is reported (parse_email moves them to "unparsed")
_SINGLE_FIELDS = ("metadata-version", "name", "version", "requires-python", "summary", "license", "home-page")


def parse_headers(text: str, *, skip: Tuple[str, ...] = ()) -> Dict[str, List[str]]:
    """Header fields by lower-case name, each a list of values in file order (continuation lines joined).

    ``skip`` lists line prefixes (``"Classifier:"``) whose fields are not wanted: dropping them before any
    other work matters, as classifiers are most of the lines of a typical METADATA.

        >>> parse_headers("Name: demo\\nProvides-Extra: a\\nProvides-Extra: b\\n\\nbody")
        {'name': ['demo'], 'provides-extra': ['a', 'b']}
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    blank = text.find("\n\n")
    if blank != -1:  # cut at the first blank line with a plain find: a long description is never scanned
        text = text[: blank + 1]
    if "\n " in text or "\n\t" in text:
        lines = _folded_fields(text)
    else:  # the common case: one field per line, split at C speed
        lines = text.split("\n")
    if skip:
        lines = [line for line in lines if not line.startswith(skip)]
    fields: Dict[str, List[str]] = {}
    keys = _FIELD_KEYS
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            break  # not a header line (or the end): email.feedparser ends the headers here
        key = keys.get(name)
        if key is None:
            if " " in name or not (name.isascii() and name.isprintable()):
                break  # not a header name either
            key = name.lower()
            if len(keys) < 1024:  # real files use a few dozen names; a hostile one must not grow the cache
                keys[name] = key
        if key:  # ":value" is skipped as a defect by feedparser too
            fields.setdefault(key, []).append(value.lstrip(" \t"))
    return fields


def _folded_fields(text: str) -> List[str]:
    """The fields of a header block with continuation lines (a space or a tab first) kept with their field."""
    out = []
    pos, size = 0, len(text)
    while pos < size:
        end = text.find("\n", pos)
        while end != -1 and end + 1 < size and text[end + 1] in " \t":
            end = text.find("\n", end + 1)
        if end == -1:
            end = size
        out.append(text[pos:end])
        pos = end + 1
    return out


# header name as written -> lower-case key, for names already checked (a dict lookup instead of four calls)
_FIELD_KEYS: Dict[str, str] = {}


def parse_metadata(
    data: Union[bytes, str], *, source: str, provenance: str = "wheel-metadata"
) -> DistMetadata:
    """Parse core metadata leniently; what cannot be parsed is listed in ``problems``.

    :raises MetadataError: when Name or Version is missing (nothing useful can be said without them).
    """
    problems: List[str] = []
    text = _decode(data, problems)
    fields = parse_headers(text.lstrip("\ufeff"), skip=_UNUSED_FIELDS)
    for field in _SINGLE_FIELDS:
        if len(fields.get(field, ())) > 1:
            problems.append(f"{_title(field)} appears {len(fields[field])} times; the first is used")
    metadata_version = _first(fields, "metadata-version")
    if metadata_version is None:
        problems.append("no Metadata-Version field")
    elif metadata_version not in KNOWN_METADATA_VERSIONS:
        problems.append(f"unknown Metadata-Version {metadata_version!r}")
    name, version = _name_and_version(fields, source, problems)
    license_text = _first(fields, "license-expression") or _first(fields, "license")
    if "requires" in fields:  # PEP 314 module names, not distributions: pip ignores them too
        problems.append("Requires (Metadata 1.1 module names) ignored: " + ", ".join(fields["requires"]))
    return DistMetadata(
        name=name,
        version=version,
        requires_python=_requires_python(fields, problems),
        requires_dist=_requirements(fields.get("requires-dist", ()), "Requires-Dist", problems),
        provides_extra=tuple(dict.fromkeys(e.strip() for e in fields.get("provides-extra", ()) if e.strip())),
        provenance=provenance,
        problems=tuple(problems),
        source=source,
        metadata_version=metadata_version,
        summary=_first(fields, "summary"),
        license=license_text,
        home_page=_first(fields, "home-page"),
        project_urls=_project_urls(fields.get("project-url", ()), problems),
    )


def _decode(data: Union[bytes, str], problems: List[str]) -> str:
    """The header block as text; the description is never decoded (its encoding matters to no field read)."""
    if isinstance(data, str):
        return data
    ends = [i for i in (data.find(b"\n\n"), data.find(b"\n\r\n")) if i != -1]
    if ends:
        data = data[: min(ends) + 1]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"metadata is not valid UTF-8 (byte {exc.start}); decoded as latin-1")
        return data.decode("latin-1")


def _first(fields: Dict[str, List[str]], name: str) -> Optional[str]:
    values = fields.get(name)
    if not values:
        return None
    return values[0].strip() or None


def _title(field: str) -> str:
    return "-".join(part.capitalize() for part in field.split("-"))


def _name_and_version(fields: Dict[str, List[str]], source: str, problems: List[str]) -> Tuple[str, str]:
    name, version = _first(fields, "name"), _first(fields, "version")
    if name is None or version is None:
        missing = " and ".join(f for f, v in (("Name", name), ("Version", version)) if v is None)
        raise MetadataError(source, f"metadata has no {missing}")
    if not _VALID_NAME.match(name):
        problems.append(f"Name {name!r} is not a valid project name")
    try:
        Version(version)
    except ValueError:  # InvalidVersion, or a release number too long for int()
        problems.append(f"Version {version!r} is not a valid PEP 440 version; kept as written")
    return name, version


def _requires_python(fields: Dict[str, List[str]], problems: List[str]) -> Optional[SpecifierSet]:
    value = _first(fields, "requires-python")
    if value is None:
        return None
    return specifier_or_salvage(value, "Requires-Python", problems)


def specifier_or_salvage(value: str, label: str, problems: List[str]) -> Optional[SpecifierSet]:
    """``value`` as a SpecifierSet; clauses packaging refuses (``>=3.4.*``, written when tools accepted them) are
    left out and named in ``problems``, the others kept; None when no clause is left."""
    try:
        return check_long_numbers(SpecifierSet(value), value)
    except InvalidSpecifier as exc:
        kept, dropped = [], []
        for clause in value.split(","):
            try:
                kept.append(str(check_long_numbers(SpecifierSet(clause), clause)))
            except ValueError:  # InvalidSpecifier, or a version too long to print
                dropped.append(clause.strip()[:300])
        problems.append(f"{label} {value[:300]!r}: {', '.join(dropped)} is not valid PEP 440 ({str(exc)[:300]}); "
                        + (f"kept as {','.join(kept)!r}" if kept else "ignored"))
        return SpecifierSet(",".join(kept)) if kept else None
    except ValueError as exc:  # a version too long to compare or print
        problems.append(f"{label} {value[:300]!r} ignored: {str(exc)[:300]}")
        return None


def parse_requirement(value: str) -> Requirement:
    """``Requirement(value)``, several times faster on the common shapes; same result, same errors.

    Real metadata repeats a few hundred markers (``extra == "dev"``) thousands of times, so each distinct marker
    is parsed once by packaging itself and shared (Marker objects are never mutated); the part before ``;`` is
    matched by a regex when it is a plain ``name[extras] specifiers``. Anything else goes to packaging.

        >>> str(parse_requirement('PySocks (>=1.5.6,!=1.5.7); extra == "socks"'))
        'PySocks!=1.5.7,>=1.5.6; extra == "socks"'
    """
    left, sep, marker_text = value.partition(";")
    match = _SIMPLE_REQUIREMENT.fullmatch(left)
    if match is None:
        return Requirement(value)
    try:
        marker = _shared_marker(marker_text.strip()) if sep else None
        specifier = SpecifierSet(match["paren"] or match["specs"] or "")
    except (InvalidRequirement, InvalidSpecifier):
        return Requirement(value)  # raises with packaging's own message
    requirement = Requirement.__new__(Requirement)
    requirement.name = match["name"]
    requirement.url = None
    requirement.extras = set(re.split(r"\s*,\s*", match["extras"])) if match["extras"] else set()
    requirement.specifier = specifier
    requirement.marker = marker
    return requirement


@lru_cache(maxsize=4096)
def _shared_marker(text: str) -> Optional[Marker]:
    # parsed inside a requirement so extra values are normalized exactly as Requirement() does
    return Requirement("x; " + text).marker


# name[extras] (specifiers) ; marker, the specifiers as free text after an operator (what legacy tools accepted);
# greedy, so a long line costs linear time
_LEGACY_REQUIREMENT = re.compile(
    rf"\s*(?P<head>{_IDENTIFIER}\s*(?:\[[^\]]*\])?)\s*(?P<specs>(?:[<>=!~(][^;@\[\]]*)?)(?:;(?P<marker>.*))?",
    re.DOTALL,
)


def salvage_requirement(value: str) -> Optional[Tuple[Requirement, str]]:
    """A requirement packaging refuses only for its version specifier (``foo (>=1.0.*)``, ``pytz>dev``, accepted
    by setuptools and pip of their time), kept with its name, extras, marker and every clause that still parses;
    returns ``(requirement, the clauses left out)``, or None when more than the specifier is wrong.

        >>> requirement, dropped = salvage_requirement('x[a] (>=1.0.*,<2); python_version < "3"')
        >>> str(requirement), dropped
        ('x[a]<2; python_version < "3"', '>=1.0.*')
    """
    match = _LEGACY_REQUIREMENT.fullmatch(value)
    if match is None or not match["specs"].strip("() \t"):
        return None
    kept, dropped = [], []
    for clause in match["specs"].strip("() \t").split(","):
        try:
            SpecifierSet(clause)
            kept.append(clause.strip())
        except InvalidSpecifier:
            dropped.append(clause.strip())
    marker = f"; {match['marker']}" if match["marker"] is not None else ""
    try:
        return Requirement(match["head"] + ",".join(kept) + marker), ",".join(dropped)
    except InvalidRequirement:
        return None


def requirement_or_salvage(value: str, label: str, problems: List[str]) -> Optional[Requirement]:
    """``value`` parsed; a legacy specifier is dropped, never the dependency (noted in ``problems``); None, also
    noted, only when not even the name, extras and marker can be read. A marker packaging cannot evaluate
    (``'a' == 'a'``) keeps its requirement, with a problem."""
    shown = repr(value[:300])
    try:
        requirement = check_long_numbers(parse_requirement(value), value)
    except InvalidRequirement as exc:
        try:
            salvaged = salvage_requirement(value)
            if salvaged is not None:
                check_long_numbers(salvaged[0], value)
        except (ValueError, SyntaxError):
            salvaged = None
        if salvaged is None:
            problems.append(f"{label} {shown} ignored: {' '.join(str(exc).split())[:300]}")
            return None
        reason = str(exc).strip().splitlines()[0][:300]  # packaging's caret drawing adds nothing to one line
        problems.append(f"{label} {shown}: version specifier {salvaged[1][:300]!r} is not valid PEP 440 ({reason}); "
                        f"kept as {str(salvaged[0])[:300]!r}, which allows more versions than the author meant")
        requirement = salvaged[0]
    except (ValueError, SyntaxError) as exc:  # a version too long to compare; SyntaxError: packaging meets NUL
        problems.append(f"{label} {shown} ignored: {' '.join(str(exc).split())[:300]}")
        return None
    problem = _marker_problem(requirement, value)
    if problem:  # kept, as written: never silently dropped
        problems.append(f"{label} {shown}: {problem}")
    return requirement


def _requirements(values, field: str, problems: List[str]) -> Tuple[Requirement, ...]:
    """One Requirement per line; a line packaging refuses becomes a problem, the others are kept."""
    parsed = (requirement_or_salvage(value, field, problems) for value in values)
    return tuple(r for r in parsed if r is not None)


def _marker_problem(requirement: Requirement, value: str) -> Optional[str]:
    """:func:`wheelmeta.target.marker_problem`, tried once per distinct marker text (metadata repeats a few
    markers thousands of times, and a trial evaluation costs more than parsing the requirement)."""
    if requirement.marker is None:
        return None
    try:
        return _marker_text_problem(value.partition(";")[2].strip())
    except (ValueError, SyntaxError):  # not a marker of its own (a ";" inside a URL): judged with its requirement
        from ..target import marker_problem

        return marker_problem(requirement)


@lru_cache(maxsize=4096)
def _marker_text_problem(text: str) -> Optional[str]:
    from ..target import marker_problem  # lazily: reading a wheel's metadata needs no tag machinery

    return marker_problem(Requirement("x; " + text))


def check_long_numbers(parsed: T, text: str) -> T:
    """``parsed`` (a Requirement or SpecifierSet of ``text``) once its versions are known to be usable: packaging
    parses a version of 5,000 digits, but comparing or printing it later raises ValueError (int()'s digit limit),
    far from the file. Only long texts can hold such a number, so short ones cost nothing."""
    if len(text) > 4000:
        str(parsed)
        for spec in getattr(parsed, "specifier", parsed):
            if spec.operator != "===":
                Version(spec.version[:-2] if spec.version.endswith(".*") else spec.version)
    return parsed


def _project_urls(values, problems: List[str]) -> Dict[str, str]:
    urls: Dict[str, str] = {}
    for value in values:
        label, sep, url = value.partition(",")
        if not sep:
            problems.append(f"Project-URL {value!r} has no 'label, url' form")
            continue
        urls[label.strip()] = url.strip()
    return urls
