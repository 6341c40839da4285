"""Does an sdist declare the dependencies its wheels declare? ``wheelmeta crawl --compare``, from the store alone.

For every release the store holds metadata of an sdist and at least one wheel for, both Requires-Dist lists are
evaluated over a grid of target environments (:data:`GRID_PYTHONS` x :data:`GRID_SYSTEMS`, CPython; a wheel only
at the points its tags and Requires-Python fit), with no extra and with each extra either side names, and compared
in normal form (:func:`~wheelmeta.target.normalized_requirements`). Each release gets a verdict
(``identical-text``, ``equal``, ``differs``, ``sdist-unreadable``, ``no-common-target``) and each difference a
class by the rules of :data:`RULES`, first match wins (every matching rule is kept in ``reasons``).

    >>> with MetadataStore(path, readonly=True) as store:                  # doctest: +SKIP
    ...     records = compare_store(store, projects=["six"])
    >>> summarize(records)["by_class"]                                       # doctest: +SKIP
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from packaging.utils import canonicalize_name, parse_wheel_filename

from ..errors import WheelmetaError
from ..target import Target, marker_extras, normalized_requirements, requirement_text

if TYPE_CHECKING:  # pragma: no cover
    from ..model import DistMetadata
    from ..store import MetadataStore

__all__ = ["GRID_PYTHONS", "GRID_SYSTEMS", "RULES", "ReleaseComparison", "compare_release", "compare_store",
           "build_backend", "summarize"]

#: The Python versions of the grid: every minor CPython a wheel of 2012..2026 may be tagged for.
GRID_PYTHONS = ("2.7", "3.5", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14")
#: The systems of the grid; markers are evaluated for the first platform tag, a wheel fits any of them.
GRID_SYSTEMS = {"linux": ("manylinux_2_28_x86_64",), "darwin": ("macosx_14_0_arm64", "macosx_14_0_x86_64"),
                "win32": ("win_amd64", "win32")}
#: An sdist and a wheel uploaded further apart than this were not built from one checkout at one time, as far as
#: the upload times can tell.
UPLOAD_GAP_DAYS = 2.0

#: Markers that name the interpreter or the platform: a requirement guarded by one on one side and not the other
#: is a choice setup.py made by ``if`` at build time on the other side.
_PYTHON_MARKERS = re.compile(r"\b(python_version|python_full_version|implementation_name|"
                             r"platform_python_implementation|implementation_version)\b")
_PLATFORM_MARKERS = re.compile(r"\b(sys_platform|platform_system|os_name|platform_machine|platform_release)\b")
#: Backports of standard-library modules: a setup.py that adds one when ``sys.version_info`` is old writes it
#: unconditionally into a wheel built on an old Python (and leaves it out of a run on a new one).
BACKPORTS = frozenset(canonicalize_name(n) for n in (
    "argparse", "asyncio", "backports-abc", "backports-functools-lru-cache", "backports-shutil-get-terminal-size",
    "backports-ssl-match-hostname", "backports-weakref", "backports-zoneinfo", "configparser", "contextlib2",
    "contextvars", "dataclasses", "enum34", "funcsigs", "functools32", "futures", "importlib",
    "importlib-metadata", "importlib-resources", "ipaddress", "mock", "monotonic", "ordereddict", "pathlib",
    "pathlib2", "scandir", "selectors2", "simplejson", "singledispatch", "subprocess32", "typing",
    "typing-extensions", "unittest2", "uuid", "wsgiref", "zipp", "tomli", "exceptiongroup", "cached-property",
    "pyopenssl", "ndg-httpsclient", "pyasn1", "backports-tarfile", "astunparse", "faulthandler"))

#: Projects only ever needed on one platform: a setup.py that adds one by ``sys.platform`` writes it unconditionally
#: into a pure wheel built on that platform.
PLATFORM_PACKAGES = frozenset(canonicalize_name(n) for n in (
    "pywin32", "pypiwin32", "pywin32-ctypes", "wmi", "comtypes", "colorama", "win-inet-pton", "windows-curses",
    "pyreadline", "pyreadline3", "appnope", "pyobjc", "pyobjc-core", "pyobjc-framework-cocoa", "gnureadline",
    "readline", "uvloop", "python-xlib", "pyinotify", "macfsevents"))


@dataclass
class ReleaseComparison:
    """The comparison of one release: its verdict, its class, and where and how the lists differ."""

    project: str
    version: str
    sdist: str
    wheels: List[str]
    backend: str = ""
    sdist_provenance: str = ""
    sdist_python: Optional[str] = None
    sdist_uploaded: Optional[str] = None
    verdict: str = ""  # identical-text, equal, differs, sdist-unreadable, no-common-target
    klass: str = ""  # the first matching rule for "differs"; the verdict otherwise
    reasons: List[str] = field(default_factory=list)
    points: int = 0  # (wheel, grid point, extras) comparisons made
    # for an sdist whose setup.py ran here: whether the lists differ at that Python on Linux (None: not compared)
    differs_where_run: Optional[bool] = None
    differences: List[dict] = field(default_factory=list)
    sdist_problem: str = ""

    def to_json(self) -> dict:
        out = dict(self.__dict__)
        out["class"] = out.pop("klass")
        return out


@dataclass(frozen=True)
class _Point:
    python: str
    system: str

    @property
    def label(self) -> str:
        return f"{self.python}/{self.system}"

    @property
    def target(self) -> Target:
        return _target(self.python, self.system)


@lru_cache(maxsize=None)
def _target(python: str, system: str) -> Target:
    return Target.from_options(python_version=python, implementation="cp", platforms=list(GRID_SYSTEMS[system]))


GRID = tuple(_Point(p, s) for s in GRID_SYSTEMS for p in GRID_PYTHONS)


def build_backend(sdist: "DistMetadata") -> str:
    """The build backend an sdist names, from its ``[build-system] requires`` (the store keeps those, not the
    ``build-backend`` string): ``legacy setup.py`` without a ``[build-system]``; setuptools split by whether its
    dependencies came from running setup.py or from declarations."""
    from ..sdist.chain import LEGACY_BUILD_REQUIRES

    names = {canonicalize_name(r.name) for r in sdist.build_requires}
    if sorted(str(r) for r in sdist.build_requires) == sorted(LEGACY_BUILD_REQUIRES):
        return "legacy setup.py"
    for backend, requires in (("maturin", {"maturin"}), ("scikit-build", {"scikit-build-core", "scikit-build"}),
                              ("meson-python", {"meson-python"}), ("flit", {"flit-core", "flit"}),
                              ("hatchling", {"hatchling"}), ("poetry", {"poetry-core", "poetry"}),
                              ("pdm", {"pdm-backend", "pdm-pep517", "pdm"})):
        if names & requires:
            return backend
    if "setuptools" in names:
        ran = sdist.provenance in ("setup-py-sandboxed", "pep517-hook")
        return "setuptools (setup.py)" if ran else "setuptools (declarative)"
    return "other" if names else "unknown"


def compare_release(project: str, version: str, sdist: Tuple[Mapping, object],
                    wheels: Sequence[Tuple[Mapping, "DistMetadata"]]) -> ReleaseComparison:
    """Compare one release. ``sdist`` is (its files row as a dict, its DistMetadata or the failure reason as a
    str); ``wheels`` are (files row, DistMetadata) of the wheels whose metadata is known."""
    row, sdist_md = sdist
    record = ReleaseComparison(project=project, version=version, sdist=row["filename"],
                               wheels=sorted(w["filename"] for w, _ in wheels), sdist_uploaded=row.get("upload_time"))
    if not hasattr(sdist_md, "requires_dist"):
        record.verdict = record.klass = "sdist-unreadable"
        record.sdist_problem = str(sdist_md)
        return record
    record.backend, record.sdist_provenance = build_backend(sdist_md), sdist_md.provenance
    record.sdist_python = sdist_md.python_version
    if all(_same_text(sdist_md, md) for _, md in wheels):
        record.verdict = record.klass = "identical-text"  # nothing to evaluate: points stays 0
        return record
    for wheel_row, wheel_md in wheels:
        points = _points_of(wheel_row)
        extras = _extras(sdist_md, wheel_md)
        record.points += len(points) * len(extras)
        record.differences.extend(_differences(sdist_md, wheel_row, wheel_md, points, extras))
    if not record.points:
        record.verdict = record.klass = "no-common-target"
        return record
    if not record.differences:
        record.verdict = record.klass = "equal"
        return record
    _classify(record, sdist_md, wheels)
    return record


def _classify(record: ReleaseComparison, sdist_md: "DistMetadata", wheels) -> None:
    """Set the verdict "differs", the matching rules, the class, and group the differences for the report."""
    record.verdict = "differs"
    if sdist_md.python_version:
        here = _Point(".".join(sdist_md.python_version.split(".")[:2]), "linux")
        if any(here in _points_of(row) for row, _ in wheels):
            record.differs_where_run = any(d["point"] == here for d in record.differences)
    record.reasons = [name for name, rule in RULES if rule(record, sdist_md, wheels)]
    record.klass = record.reasons[0] if record.reasons else "other"
    record.differences = _grouped(record.differences)


def _same_text(a: "DistMetadata", b: "DistMetadata") -> bool:
    return ({str(r) for r in a.requires_dist} == {str(r) for r in b.requires_dist}
            and {canonicalize_name(e) for e in a.provides_extra} == {canonicalize_name(e) for e in b.provides_extra})


def _points_of(wheel_row: Mapping) -> List[_Point]:
    """The grid points the wheel installs on: its tags fit and its Requires-Python admits the Python."""
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        tags = parse_wheel_filename(wheel_row["filename"])[3]
    except ValueError:
        return []
    try:
        requires_python = SpecifierSet(wheel_row.get("requires_python") or "")
    except InvalidSpecifier:
        requires_python = SpecifierSet()
    return [p for p in GRID if p.target.supports(tags) and requires_python.contains(f"{p.python}.99", prereleases=True)]


def _extras(sdist_md: "DistMetadata", wheel_md: "DistMetadata") -> List[str]:
    """No extra, then each extra either side provides or mentions in a marker (normalized, sorted)."""
    named = {canonicalize_name(e) for md in (sdist_md, wheel_md) for e in md.provides_extra}
    named |= set(marker_extras(sdist_md.requires_dist)) | set(marker_extras(wheel_md.requires_dist))
    return [""] + sorted(named)


def _differences(sdist_md, wheel_row, wheel_md, points: Sequence[_Point], extras: Sequence[str]) -> Iterable[dict]:
    for point in points:
        for extra in extras:
            chosen = [extra] if extra else []
            a = normalized_requirements(sdist_md.for_target(point.target, chosen))
            b = normalized_requirements(wheel_md.for_target(point.target, chosen))
            if a != b:
                yield {"wheel": wheel_row["filename"], "wheel_uploaded": wheel_row.get("upload_time"),
                       "point": point, "extra": extra,
                       "sdist_only": sorted(requirement_text(n, v) for n, v in a.items() if b.get(n) != v),
                       "wheel_only": sorted(requirement_text(n, v) for n, v in b.items() if a.get(n) != v)}


def _grouped(differences: List[dict]) -> List[dict]:
    """One entry per (extra, sdist_only, wheel_only), with the wheels and grid points it was seen at."""
    groups: Dict[tuple, dict] = {}
    for d in differences:
        key = (d["extra"], tuple(d["sdist_only"]), tuple(d["wheel_only"]))
        group = groups.setdefault(key, {"extra": d["extra"], "sdist_only": d["sdist_only"],
                                        "wheel_only": d["wheel_only"], "points": set(), "wheels": set()})
        group["points"].add(d["point"].label)
        group["wheels"].add(d["wheel"])
    out = [{**g, "points": sorted(g["points"]), "wheels": sorted(g["wheels"])} for g in groups.values()]
    return sorted(out, key=lambda g: (g["extra"], g["sdist_only"], g["wheel_only"]))


# ---------------------------------------------------------------------------------------------------------------------
# classification rules: (name, predicate(record, sdist metadata, wheels)); the raw differences are still ungrouped


def _sdist_incomplete(record, sdist_md, wheels) -> bool:
    """Our chain could not read the sdist completely: ``static-partial``, or every differing requirement is named
    in the problems it reported (a problem about another requirement explains nothing)."""
    if sdist_md.provenance == "static-partial":
        return True
    said = canonicalize_name(" ".join(sdist_md.problems).replace(" ", "@"))
    names = _differing_names(record)
    return bool(sdist_md.problems) and bool(names) and all(
        re.search(rf"(?<![a-z0-9-]){re.escape(name)}(?![a-z0-9-])", said) for name in names)


def _wheel_without_requirements(record, sdist_md, wheels) -> bool:
    """A differing wheel declares no requirement at all where the sdist declares some: the wheel lost them
    (early bdist_wheel versions and hand-made wheels did), or a build backend wrote none."""
    empty = {row["filename"] for row, md in wheels if not md.requires_dist}
    return bool(sdist_md.requires_dist) and any(d["wheel"] in empty for d in record.differences)


def _platform_dependent(record, sdist_md, wheels) -> bool:
    """Two wheels for the same Python and different systems declare different lists; or a differing requirement
    carries a platform marker (on either side); or is a project only one platform needs (PLATFORM_PACKAGES); or at
    one Python some systems differ and others agree."""
    if _wheels_differ(wheels, same=lambda a, b: bool(a[0] & b[0]) and a[1] != b[1]):
        return True
    if _guarded(record, sdist_md, wheels, _PLATFORM_MARKERS):
        return True
    if _differing_names(record) & PLATFORM_PACKAGES:
        return True
    return _partial_along(record, wheels, lambda p: p.python)


def _python_at_build_time(record, sdist_md, wheels) -> bool:
    """Two wheels for the same systems and different Pythons declare different lists; or a differing requirement
    carries a Python marker (on either side), or every differing one is a backport of a standard-library module
    (BACKPORTS); or on one system some Pythons differ and others agree: setup.py chose by ``sys.version_info``,
    once on the machine that built the wheel and once here (``sdist_python``)."""
    if _wheels_differ(wheels, same=lambda a, b: a[1] == b[1] and a[0] != b[0]):
        return True
    if _guarded(record, sdist_md, wheels, _PYTHON_MARKERS):
        return True
    names = _differing_names(record)
    if names and names <= BACKPORTS:
        return True
    return _partial_along(record, wheels, lambda p: p.system)


def _upload_gap(record, sdist_md, wheels) -> bool:
    """A differing wheel was uploaded more than UPLOAD_GAP_DAYS away from the sdist (built from another state)."""
    for d in record.differences:
        gap = _days_between(record.sdist_uploaded, d["wheel_uploaded"])
        if gap is not None and gap > UPLOAD_GAP_DAYS:
            return True
    return False


def _extras_only(record, sdist_md, wheels) -> bool:
    """Without extras both lists agree everywhere; only some extra's requirements differ."""
    return all(d["extra"] for d in record.differences)


def _specifier_only(record, sdist_md, wheels) -> bool:
    """The same project names on both sides at every differing point; only versions or extras of them differ."""
    return all({_name(t) for t in d["sdist_only"]} == {_name(t) for t in d["wheel_only"]}
               for d in record.differences)


RULES = (("sdist-incomplete", _sdist_incomplete), ("wheel-without-requirements", _wheel_without_requirements),
         ("platform-dependent", _platform_dependent),
         ("python-at-build-time", _python_at_build_time), ("upload-gap", _upload_gap),
         ("extras-only", _extras_only), ("specifier-only", _specifier_only))


def _wheels_differ(wheels, same) -> bool:
    """Two wheels whose (Pythons, systems) the grid fits them at satisfy ``same(a, b)`` and whose requirement
    lists (markers kept, spelling normalized) differ."""
    shapes = []
    for row, md in wheels:
        points = _points_of(row)
        where = (frozenset(p.python for p in points), frozenset(p.system for p in points))
        shapes.append((where, frozenset((canonicalize_name(r.name), str(r.specifier), str(r.marker or ""))
                                        for r in md.requires_dist)))
    return any(same(a[0], b[0]) and a[1] != b[1] for i, a in enumerate(shapes) for b in shapes[i + 1:])


def _differing_names(record) -> set:
    return {_name(t) for d in record.differences for t in d["sdist_only"] + d["wheel_only"]}


def _guarded(record, sdist_md, wheels, markers: "re.Pattern") -> bool:
    names = _differing_names(record)
    sides = [sdist_md.requires_dist] + [md.requires_dist for _, md in wheels]
    guarded = [{canonicalize_name(r.name) for r in reqs if r.marker and markers.search(str(r.marker))}
               for reqs in sides]
    return bool(names & set().union(*guarded))


def _partial_along(record, wheels, same) -> bool:
    """Some points of a group (same Python, or same system) differ while others of it agree."""
    compared = collections.defaultdict(set)
    for row, _ in wheels:
        for point in _points_of(row):
            compared[same(point)].add(point.label)
    differing = collections.defaultdict(set)
    for d in record.differences:
        differing[same(d["point"])].add(d["point"].label)
    return any(0 < len(differing[k]) < len(compared[k]) for k in differing)


def _name(text: str) -> str:
    return canonicalize_name(re.split(r"[\s\[<>=!~;@(]", text, maxsplit=1)[0])


def _days_between(a: Optional[str], b: Optional[str]) -> Optional[float]:
    try:
        first, second = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (a, b))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return None
    first, second = (t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in (first, second))
    return abs((second - first).total_seconds()) / 86400


# ---------------------------------------------------------------------------------------------------------------------
# the store


_FILE_COLUMNS = ("sha256", "filename", "project", "version", "kind", "size", "requires_python", "upload_time",
                 "yanked", "url", "index_url")


def compare_store(store: "MetadataStore", projects: Iterable[str] = ()) -> List[ReleaseComparison]:
    """Compare every release of ``projects`` (all when empty) whose sdist and at least one wheel the store has
    metadata (or, for the sdist, a failure) for; sorted by project, then version."""
    wanted = {canonicalize_name(p) for p in projects}
    releases: Dict[Tuple[str, str], List[dict]] = collections.defaultdict(list)
    for values in store.rows("files"):
        row = dict(zip(_FILE_COLUMNS, values))
        if not wanted or row["project"] in wanted:
            releases[(row["project"], row["version"])].append(row)
    failures = _sdist_failures(store)
    out = []
    for project, version in sorted(releases, key=lambda k: (k[0], _version_key(k[1]))):
        record = _compare_files(store, project, version, releases[(project, version)], failures)
        if record is not None:
            out.append(record)
    return out


def _version_key(text: str):
    from packaging.version import InvalidVersion, Version

    try:
        return (0, Version(text), "")
    except InvalidVersion:
        return (1, None, text)


def _compare_files(store, project, version, rows, failures) -> Optional[ReleaseComparison]:
    sdists = sorted((r for r in rows if r["kind"] == "sdist"), key=lambda r: r["filename"])
    wheels = []
    for row in sorted((r for r in rows if r["kind"] == "wheel"), key=lambda r: r["filename"]):
        md = _metadata(store, row["sha256"])
        if md is not None:
            wheels.append((row, md))
    if not sdists or not wheels:
        return None
    sdist = sdists[0]  # one sdist per release, the rule since PEP 625; older releases with .zip and .tar.gz agree
    md = _metadata(store, sdist["sha256"])
    if md is None:
        md = failures.get(sdist["sha256"])
        if md is None:
            return None  # not crawled yet
    return compare_release(project, version, (sdist, md), wheels)


def _metadata(store, sha256):
    try:
        return store.metadata(sha256)
    except WheelmetaError:
        return None


def _sdist_failures(store) -> Dict[str, str]:
    """sha256 -> reason of every file whose metadata step failed for good (network failures are retried later)."""
    return {sha: reason for sha, step, reason, *_ in store.rows("failures") if step == "metadata"}


# ---------------------------------------------------------------------------------------------------------------------
# figures


def summarize(records: Sequence[ReleaseComparison], group=None) -> dict:
    """Counts per verdict and per class, and the same per ``group(record)`` (a year bucket, a backend...)."""
    def counts(items) -> dict:
        by_verdict = collections.Counter(r.verdict for r in items)
        by_class = collections.Counter(r.klass for r in items)
        return {"releases": len(items), "by_verdict": dict(sorted(by_verdict.items())),
                "by_class": dict(sorted(by_class.items()))}

    out = counts(records)
    if group is not None:
        groups = collections.defaultdict(list)
        for r in records:
            groups[group(r)].append(r)
        out["groups"] = {k: counts(v) for k, v in sorted(groups.items())}
    return out
