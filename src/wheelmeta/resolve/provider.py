"""Resolution with resolvelib over wheelmeta's index client, provider rules and metadata chain.

One candidate is one version of a project on the target: the files at that version that pass
:func:`~wheelmeta.index.provider.evaluate_file` (version, yanked unless pinned ``==``, Requires-Python, tags), and the
file the user's :class:`~wheelmeta.index.provider.Preference` picks among them. Candidates are offered newest first;
with a provider order (``--prefer-wheels``: wheel, sdist) the versions whose chosen file is of the first kind come
first, so a resolution backtracks into older wheels before it builds a newer sdist, as mach-nix did.

Markers are evaluated for the target (never the host), extras are separate identifiers (``requests[socks]``) that
depend on their base at the same version, and a release's own ``Requires-Python`` is a requirement on a virtual
``<python>`` project whose one candidate is the target's Python. When nothing fits, :class:`ResolutionError` reads as
a chain: which requirement, required by which parent (up to the input line), excludes which versions.

    >>> result = resolve(["requests[socks]<2.22"], facts, Preference())                    # doctest: +SKIP
    >>> result.packages["urllib3"].version                                                  # doctest: +SKIP
    <Version('1.24.3')>
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..errors import ResolutionError
from ..index.provider import Preference, _pick, _rank, evaluate_file
from ..model import DistFile, DistMetadata
from .facts import Facts

__all__ = ["Candidate", "PythonRequirement", "Resolution", "LockedPackage", "resolve", "PYTHON"]

logger = logging.getLogger(__name__)

#: The identifier of the virtual project whose only candidate is the target's Python.
PYTHON = "<python>"


@dataclass(frozen=True)
class PythonRequirement:
    """A release's ``Requires-Python``, as a requirement on the target's interpreter."""

    specifier: SpecifierSet

    def __str__(self) -> str:
        return f"Python {self.specifier}"


@dataclass(frozen=True)
class Candidate:
    """One version of a project (with extras, for an extras identifier) and the files it has for the target."""

    name: str  # canonical
    version: Version
    extras: FrozenSet[str]
    file: DistFile  # the file the preference picks at this version: its metadata is the candidate's
    wheel: Optional[DistFile]  # the best wheel for the target at this version, if any
    sdist: Optional[DistFile]  # the release's sdist, if any
    direct: bool = False  # from a "name @ URL" requirement

    @property
    def identifier(self) -> str:
        return _identifier(self.name, self.extras)

    def __str__(self) -> str:
        return f"{self.identifier} {self.version}"


@dataclass(frozen=True)
class _PythonCandidate:
    version: Version
    identifier: str = PYTHON

    def __str__(self) -> str:
        return f"Python {self.version}"


def _identifier(name: str, extras: Iterable[str]) -> str:
    extras = sorted(canonicalize_name(e) for e in extras)
    return f"{name}[{','.join(extras)}]" if extras else name


@dataclass(frozen=True)
class LockedPackage:
    """A project as resolved: its candidate, the extras the resolution activated, and its metadata."""

    candidate: Candidate
    extras: Tuple[str, ...]
    metadata: DistMetadata
    dependencies: Tuple[str, ...]  # canonical names needed on the target (extras and markers evaluated)

    @property
    def name(self) -> str:
        return self.candidate.name

    @property
    def version(self) -> Version:
        return self.candidate.version


@dataclass
class Resolution:
    """The outcome: one LockedPackage per canonical name, and counters for summaries."""

    packages: Dict[str, LockedPackage] = field(default_factory=dict)
    rounds: int = 0


class _Provider:
    """The resolvelib provider (duck-typed to ``resolvelib.AbstractProvider``)."""

    def __init__(self, facts: Facts, preference: Preference, constraints: Mapping[str, SpecifierSet],
                 origins: Mapping[Requirement, str]) -> None:
        self.facts = facts
        self.target = facts.target
        self.preference = preference
        self.constraints = constraints
        self.origins = origins  # input requirement -> "requirements.txt:3"
        self.python = Version(self.target.marker_environment()["python_full_version"])
        self._python_candidate = _PythonCandidate(self.python)
        self.required_by: Dict[str, Tuple[object, Optional[Candidate]]] = {}
        self._candidates: Dict[tuple, Optional[Candidate]] = {}
        self._fitting: Dict[Tuple[str, Version], List[DistFile]] = {}
        self._by_version: Dict[str, Mapping[Version, List[DistFile]]] = {}
        self._versions: Dict[str, Tuple[List[Version], List[Version], List[Version]]] = {}
        self._satisfied: Dict[Tuple[int, int], Tuple[object, object, bool]] = {}
        self._metadata: Dict[Tuple[str, Version], DistMetadata] = {}
        self._python_fit: Dict[int, Tuple[PythonRequirement, bool]] = {}
        self._needs: Dict[Tuple[str, Version, Tuple[str, ...]], Tuple[Requirement, ...]] = {}
        self._prefetched: set = set()  # (identifier, specifier) already handed to the prefetch workers
        self._prefetch_lock = threading.Lock()

    # -- resolvelib's questions ----------------------------------------------------------------------------------

    def identify(self, requirement_or_candidate) -> str:
        if isinstance(requirement_or_candidate, (Candidate, _PythonCandidate)):
            return requirement_or_candidate.identifier
        if isinstance(requirement_or_candidate, PythonRequirement):
            return PYTHON
        return _identifier(canonicalize_name(requirement_or_candidate.name), requirement_or_candidate.extras)

    def get_preference(self, identifier, resolutions, candidates, information, backtrack_causes):
        """Python first, then exact pins and direct URLs, then projects that caused backtracking, then by name."""
        pinned = any(isinstance(info.requirement, Requirement) and (info.requirement.url or any(
            s.operator in ("==", "===") for s in info.requirement.specifier)) for info in information[identifier])
        causes = {self.identify(cause.requirement) for cause in backtrack_causes}
        return (identifier != PYTHON, not pinned, identifier not in causes, identifier)

    def narrow_requirement_selection(self, identifiers, resolutions, candidates, information, backtrack_causes):
        return identifiers

    def find_matches(self, identifier, requirements, incompatibilities):
        reqs = list(requirements[identifier])
        if identifier == PYTHON:
            # every release's Requires-Python joins this one criterion, and all of them are asked again as each
            # joins: memoized per requirement (by identity, as hashing a SpecifierSet costs more than the check)
            fits = all(self._python_fits(r) for r in reqs)
            return [self._python_candidate] if fits else []
        bad = {c.version for c in incompatibilities[identifier]}
        matches = self._matches(identifier, reqs)
        return lambda: (c for c in matches() if c.version not in bad)

    def _python_fits(self, requirement: PythonRequirement) -> bool:
        known = self._python_fit.get(id(requirement))
        if known is None or known[0] is not requirement:  # the object is kept in the value: its id is not reused
            known = self._python_fit[id(requirement)] = (
                requirement, requirement.specifier.contains(self.python, prereleases=True))
        return known[1]

    def is_satisfied_by(self, requirement, candidate) -> bool:
        # resolvelib re-checks every pin against every requirement each round: memoized, that quadratic part is
        # a dictionary lookup. Keyed by identity (candidates are made once per version and kept), which hashes no
        # Version; both objects are kept in the value, so neither id can be reused by another object.
        key = (id(requirement), id(candidate))
        known = self._satisfied.get(key)
        if known is None or known[0] is not requirement or known[1] is not candidate:
            known = self._satisfied[key] = (requirement, candidate, self._satisfies(requirement, candidate))
        return known[2]

    def _satisfies(self, requirement, candidate) -> bool:
        if isinstance(requirement, PythonRequirement):
            return requirement.specifier.contains(candidate.version, prereleases=True)
        if requirement.url:
            return candidate.direct and _same_url(candidate.file.url, requirement.url)
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate) -> List:
        if isinstance(candidate, _PythonCandidate):
            return []
        metadata = self.metadata(candidate)
        deps: List[object] = []
        if candidate.extras:  # an extras identifier is its base at the same version plus the extras' needs
            base = Requirement(f"{candidate.name}=={candidate.version}")
            deps.append(base)
        else:
            if metadata.requires_python is not None:
                deps.append(PythonRequirement(metadata.requires_python))
        deps.extend(r for r in self.needs(candidate, candidate.extras)
                    if canonicalize_name(r.name) != candidate.name or r.extras)
        for dep in deps:
            if isinstance(dep, Requirement):
                self.prefetch(dep)
        return deps

    def needs(self, candidate: Candidate, extras: Iterable[str]) -> Tuple[Requirement, ...]:
        """The candidate's requirements whose markers hold on the target with ``extras`` (memoized: the lock asks
        again for what the resolution evaluated)."""
        key = (candidate.name, candidate.version, tuple(sorted(extras)))
        found = self._needs.get(key)
        if found is None:
            found = self._needs[key] = self.metadata(candidate).for_target(self.target, list(key[2]))
        return found

    def prefetch(self, requirement: Requirement) -> None:
        """Warm, on a worker thread, what resolving ``requirement`` will ask for (once per project and specifier)."""
        if requirement.url:
            return
        key = (self.identify(requirement), str(requirement.specifier))
        with self._prefetch_lock:
            if key in self._prefetched:
                return
            self._prefetched.add(key)
        self.facts.prefetch(lambda: self._warm(requirement))

    def _warm(self, requirement: Requirement) -> None:
        """Fetch, ahead of the resolver, the page of a dependency and the metadata of its likeliest candidate
        (the newest that fits this requirement), then the same for that candidate's dependencies: the pages of
        the whole likely graph are fetched in parallel instead of one level per pin."""
        candidate = next(iter(self._matches(self.identify(requirement), [requirement])()), None)
        if candidate is None:
            return
        for dep in self.needs(candidate, candidate.extras):  # reads the candidate's metadata
            if canonicalize_name(dep.name) != candidate.name:
                self.prefetch(dep)

    # -- candidates -----------------------------------------------------------------------------------------------

    def _matches(self, identifier: str, reqs: List) -> Callable[[], Iterator[Candidate]]:
        """A factory of the candidates, best first (resolvelib iterates it lazily: the files of older versions are
        judged only when the resolution gets there)."""
        name, extras = _split_identifier(identifier)
        url = next((r.url for r in reqs if r.url), None)
        spec = SpecifierSet(",".join(str(r.specifier) for r in reqs if str(r.specifier)))
        if name in self.constraints:
            spec &= self.constraints[name]
        if url:
            direct = self._direct_candidate(name, extras, url)
            return lambda: iter([direct] if spec.contains(direct.version, prereleases=True) else [])
        return lambda: self._index_candidates(name, extras, spec)

    def _index_candidates(self, name: str, extras: FrozenSet[str], spec: SpecifierSet) -> Iterator[Candidate]:
        """Candidates newest first; with a provider order, the versions whose chosen file is of the first kind
        before the others; pre-releases only when the specifier asks or no final release fits (pip's rule).
        Versions are checked against ``spec`` as the iteration reaches them: resolvelib mostly takes the first."""
        every, finals, previews = self._versions_newest_first(name)
        kinds = self.preference.kinds_for(name)
        order = {kind: i for i, kind in enumerate(kinds or ())}
        found = False
        for group in ((every,) if spec.prereleases else (finals, previews)):
            if found:
                break
            deferred = []
            for version in group:
                if not spec.contains(version, prereleases=True):
                    continue
                candidate = self._version_candidate(name, extras, version, spec)
                if candidate is None:
                    continue
                found = True
                if kinds and order.get(candidate.file.kind, 0) > 0:
                    deferred.append(candidate)
                else:
                    yield candidate
            yield from sorted(deferred, key=lambda c: order.get(c.file.kind, 0))  # stable: newest first per kind

    def _versions_newest_first(self, name: str) -> Tuple[List[Version], List[Version], List[Version]]:
        """(every version, the final releases, the pre-releases) of a project, newest first (memoized)."""
        if name not in self._versions:
            every = sorted(self._files_by_version(name), reverse=True)
            self._versions[name] = (every, [v for v in every if not v.is_prerelease],
                                    [v for v in every if v.is_prerelease])
        return self._versions[name]

    def _files_by_version(self, name: str) -> Mapping[Version, List[DistFile]]:
        if name not in self._by_version:
            self._by_version[name] = self.facts.index.files_by_version(name)
        return self._by_version[name]

    def _version_candidate(self, name: str, extras: FrozenSet[str], version: Version,
                           spec: SpecifierSet) -> Optional[Candidate]:
        """The candidate for one version (which ``spec`` admits) under ``spec``, or None when no file of it fits
        (memoized).

        Unless ``spec`` pins a version exactly (``==``, ``===``: a pin may select a yanked file, ``===`` compares
        the spelling), what it decides is the same for every file of the version, so the files are judged once
        per version, not again for each specifier the growing set of requirements forms."""
        exact = any(s.operator in ("==", "===") for s in spec)
        key = (name, extras, version, str(spec) if exact else None)
        if key not in self._candidates:
            if exact:
                combined = Requirement(name)
                combined.specifier = spec
                files = [d for d in self._files_by_version(name)[version]
                         if evaluate_file(d, combined, self.target) is None]
            else:
                files = self._target_files(name, version)
            chosen = _pick(files, self.preference.kinds_for(name), self.target)[0]
            candidate = None
            if chosen is not None:
                wheels = [d for d in files if d.kind == "wheel"]
                wheel = max(wheels, key=lambda d: _rank(d, self.target)) if wheels else None
                candidate = Candidate(name, version, extras, chosen, wheel, _best_sdist(files))
            self._candidates[key] = candidate
        return self._candidates[key]

    def _target_files(self, name: str, version: Version) -> List[DistFile]:
        """The files of a version that fit the target, not yanked (memoized per version)."""
        key = (name, version)
        if key not in self._fitting:
            anyone = Requirement(name)
            self._fitting[key] = [d for d in self._files_by_version(name)[version]
                                  if evaluate_file(d, anyone, self.target) is None]
        return self._fitting[key]

    def _direct_candidate(self, name: str, extras: FrozenSet[str], url: str) -> Candidate:
        from ..extract.remote import split_hash_fragment
        from ..index.simple import _filename_of, dist_file_from_filename

        base, hashes = split_hash_fragment(url)
        dist = dist_file_from_filename(_filename_of(base), base, project=name, hashes=hashes)
        if dist is None:
            raise ResolutionError(url, f"a direct reference of {name} must name a wheel or an sdist of {name}")
        dist = self.facts.keyed(dist)
        wheel = dist if dist.kind == "wheel" else None
        return Candidate(name, dist.version, extras, dist, wheel, None if wheel else dist, direct=True)

    def metadata(self, candidate: Candidate) -> DistMetadata:
        key = (candidate.name, candidate.version)
        if key not in self._metadata:
            md = self.facts.metadata(candidate.file)
            if canonicalize_name(md.name) != candidate.name or _version_or_none(md.version) != candidate.version:
                md = _with_problem(md, f"{candidate.file.filename}: metadata names {md.name} {md.version}")
            self._metadata[key] = md
        return self._metadata[key]

    # -- explaining failure ---------------------------------------------------------------------------------------

    def chain(self, requirement, parent: Optional[Candidate]) -> str:
        """``"c<2 (from b 1.0, from a 1.0, from requirements.txt:2)"``: who asked, up to the input."""
        steps: List[str] = []
        seen = set()
        while parent is not None and parent.identifier not in seen:
            seen.add(parent.identifier)
            steps.append(str(parent))
            asked = self.required_by.get(parent.identifier)
            if not asked:
                break
            requirement_up, parent = asked
            if parent is None:
                steps.append(self.origins.get(requirement_up, "the input"))
        if not steps:
            steps.append(self.origins.get(requirement, "the input"))
        return f"{requirement} (from {', from '.join(steps)})"

    def versions_offered(self, name: str) -> List[Version]:
        """Versions with a file for the target and the preference, whatever the requirements say (newest first)."""
        anything = SpecifierSet()
        return [v for v in self._versions_newest_first(name)[0]
                if self._version_candidate(name, frozenset(), v, anything) is not None]


def _best_sdist(files: Sequence[DistFile]) -> Optional[DistFile]:
    from ..index.simple import SDIST_SUFFIXES

    sdists = [d for d in files if d.kind == "sdist"]
    rank = {s: i for i, s in enumerate(SDIST_SUFFIXES)}
    return min(sdists, key=lambda d: (min((rank[s] for s in rank if d.filename.lower().endswith(s)), default=99),
                                      d.filename), default=None)


def _split_identifier(identifier: str) -> Tuple[str, FrozenSet[str]]:
    name, _, extras = identifier.partition("[")
    return name, frozenset(e for e in extras.rstrip("]").split(",") if e)


def _same_url(a: str, b: str) -> bool:
    from urllib.parse import urldefrag

    return urldefrag(a)[0] == urldefrag(b)[0]


def _version_or_none(text: str) -> Optional[Version]:
    from packaging.version import InvalidVersion

    try:
        return Version(text)
    except InvalidVersion:
        return None


def _extras_of(md: DistMetadata) -> set:
    """The extras a release offers: Provides-Extra, and those its markers name (older metadata omits the former)."""
    from ..target import marker_extras

    return {canonicalize_name(e) for e in md.provides_extra} | set(marker_extras(md.requires_dist))


def _with_problem(md: DistMetadata, problem: str) -> DistMetadata:
    import dataclasses

    return dataclasses.replace(md, problems=tuple(md.problems) + (problem,))


# ---------------------------------------------------------------------------------------------------------------------
# the entry point


def resolve(
    requirements: Sequence[Union[str, Requirement]],
    facts: Facts,
    preference: Optional[Preference] = None,
    *,
    constraints: Mapping[str, SpecifierSet] = None,
    origins: Optional[Mapping[Requirement, str]] = None,
    on_pin: Optional[Callable[[str], None]] = None,
    max_rounds: int = 20000,
) -> Resolution:
    """Resolve ``requirements`` (their markers evaluated for ``facts.target``) into one version per project.

    ``constraints`` (``-c`` files) narrow a project's versions without requiring it; ``origins`` names where each
    input requirement came from, for the conflict chain; ``on_pin(name)`` is called as each project is pinned (a
    progress bar).

    :raises ResolutionError: no solution; the message names the conflicting requirements and their parents.
    """
    import resolvelib

    reqs = [r if isinstance(r, Requirement) else Requirement(r) for r in requirements]
    env = facts.target.marker_environment()
    reqs = [r for r in reqs if r.marker is None or r.marker.evaluate({**env, "extra": ""})]
    provider = _Provider(facts, preference or Preference(), dict(constraints or {}), dict(origins or {}))
    reporter = _Reporter(provider, on_pin)
    resolver = resolvelib.Resolver(provider, reporter)
    for req in reqs:
        provider.prefetch(req)
    try:
        result = resolver.resolve(reqs, max_rounds=max_rounds)
    except resolvelib.ResolutionImpossible as exc:
        raise ResolutionError("requirements", explain_conflict(provider, exc.causes)) from None
    except resolvelib.ResolutionTooDeep:
        raise ResolutionError("requirements", f"no solution found within {max_rounds} rounds of backtracking; "
                                              "narrow the requirements (pin the projects that backtrack)") from None
    return _collect(provider, result, reporter.rounds)


class _Reporter:
    """resolvelib's reporter hooks: count rounds, report pins, remember who required what (for the chain)."""

    def __init__(self, provider: _Provider, on_pin: Optional[Callable[[str], None]]) -> None:
        self.provider = provider
        self.on_pin = on_pin
        self.rounds = 0

    def starting(self) -> None: ...
    def starting_round(self, index: int) -> None:
        self.rounds = index + 1

    def ending_round(self, index, state) -> None: ...
    def ending(self, state) -> None: ...
    def adding_requirement(self, requirement, parent) -> None:
        # the first asker is the one the conflict chain names (an input line, when the input asked)
        self.provider.required_by.setdefault(self.provider.identify(requirement), (requirement, parent))

    def rejecting_candidate(self, criterion, candidate) -> None: ...
    def resolving_conflicts(self, causes) -> None: ...

    def pinning(self, candidate) -> None:
        if self.on_pin is not None and isinstance(candidate, Candidate) and not candidate.extras:
            self.on_pin(candidate.name)


def _collect(provider: _Provider, result, rounds: int) -> Resolution:
    """One LockedPackage per project: extras identifiers folded into their base."""
    extras: Dict[str, set] = {}
    base: Dict[str, Candidate] = {}
    for identifier, candidate in result.mapping.items():
        if isinstance(candidate, _PythonCandidate):
            continue
        extras.setdefault(candidate.name, set()).update(candidate.extras)
        if not candidate.extras or candidate.name not in base:
            base[candidate.name] = candidate
    out = Resolution(rounds=rounds)
    for name in sorted(base):
        candidate = base[name]
        md = provider.metadata(candidate)
        chosen = tuple(sorted(extras[name]))
        unknown = sorted(set(chosen) - _extras_of(md))
        if unknown:  # pip warns and goes on; the lock keeps the warning
            md = _with_problem(md, f"{name} {candidate.version} provides no extra {', '.join(unknown)} (ignored)")
        deps = sorted({canonicalize_name(r.name) for r in provider.needs(candidate, chosen)} - {name})
        out.packages[name] = LockedPackage(candidate, chosen, md, tuple(deps))
    return out


def explain_conflict(provider: _Provider, causes) -> str:
    """One line: for each project in conflict, each requirement with its chain, and the versions it excludes."""
    by_identifier: Dict[str, List] = {}
    for info in causes:
        by_identifier.setdefault(provider.identify(info.requirement), []).append(info)
    parts = []
    for identifier, infos in sorted(by_identifier.items()):
        if identifier == PYTHON:
            asked = "; ".join(provider.chain(i.requirement, i.parent) for i in infos)
            parts.append(f"the target's Python {provider.python} does not fit {asked}")
            continue
        name, _ = _split_identifier(identifier)
        asked = "; ".join(provider.chain(i.requirement, i.parent) for i in infos)
        files = provider.facts.index.files(name)
        if not files:
            parts.append(f"{name} is not on {provider.facts.index.describe()} (asked for by {asked})")
            continue
        offered = provider.versions_offered(name)
        if not offered:
            kinds = provider.preference.kinds_for(name)
            providers = f" with providers {','.join(kinds)}" if kinds else ""
            parts.append(f"none of the {len(files)} files of {name} fits {provider.target.describe()}{providers} "
                         f"(asked for by {asked}; `wheelmeta choose --explain {name}` says why for each)")
            continue
        said = []
        for info in infos:
            excluded = [v for v in offered if not provider._satisfies(info.requirement, _VersionOnly(v))]
            said.append(f"{provider.chain(info.requirement, info.parent)} excludes {_versions(excluded, offered)}")
        parts.append(f"no version of {name} fits (the target has {_versions(offered, ())}): " + "; ".join(said))
    return "cannot resolve: " + " | ".join(parts)


@dataclass(frozen=True)
class _VersionOnly:
    """Just enough of a candidate for is_satisfied_by on a specifier."""

    version: Version
    direct: bool = False


def _versions(versions: Sequence[Version], offered: Sequence[Version]) -> str:
    if not versions:
        return "none"
    if len(versions) == len(offered) and len(offered) > 1:
        return "all of them"
    shown = ", ".join(str(v) for v in versions[:6])
    return shown + (f" and {len(versions) - 6} more" if len(versions) > 6 else "")
