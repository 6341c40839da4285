"""Choose the file a resolver should use for a requirement on a Target: a wheel or an sdist, by preference.

Every file an index offers is first checked on its own (pip's link evaluation): the version must satisfy the
specifier (pre-releases as pip allows them), a yanked file is refused unless the requirement pins its version with
``==``/``===`` (PEP 592), ``Requires-Python`` must admit the target's Python, and a wheel must carry a tag the
target accepts. Before any index is asked, the requirement's marker is evaluated on the target: a requirement whose
marker is false there is not needed (``Choice.file`` is None). pip's constraints files (its configured ``constraint``
and any given) bind too: a file must satisfy every constraint on its project whose marker holds. Among the files that
pass, the preference decides:

* ``Preference()`` behaves like pip: the newest version wins, and at that version the wheel with the best tag wins
  over the sdist;
* ``Preference(default=("wheel", "sdist"))`` (``--prefer-wheels``, mach-nix's and poetry2nix's meaning): the newest
  version *that has a compatible wheel* wins over newer sdist-only versions; ``("sdist", "wheel")`` is the mirror
  image, ``("wheel",)`` and ``("sdist",)`` allow one kind only;
* per package, mach-nix style: ``Preference.from_specs(["tensorflow=wheel", "_default=sdist,wheel"])`` or the same
  table from a TOML file (:meth:`Preference.from_toml`).

    >>> choice = choose("tensorflow==2.1.0", Target.from_options("3.7", platforms=["manylinux2010_x86_64"]),
    ...                 Preference.prefer_wheels())                                             # doctest: +SKIP
    >>> choice.file.filename                                                                     # doctest: +SKIP
    'tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl'
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from ..errors import NoMatchingDistribution, SettingsFileError, UsageError
from ..model import Choice, DistFile

if TYPE_CHECKING:  # pragma: no cover
    from ..target import Target
    from .constraints import Constraint, Constraints
    from .simple import IndexClient

__all__ = ["Preference", "Reason", "RejectionGroup", "choose", "evaluate_file", "group_rejections", "KINDS"]

logger = logging.getLogger(__name__)

KINDS = ("wheel", "sdist")
DEFAULT_KEY = "_default"


@dataclass(frozen=True)
class Preference:
    """Which kinds of file are allowed, per package, and in which order they are tried.

    ``default`` applies to packages not named in ``packages``. ``None`` means pip's behaviour (newest version
    first, wheel over sdist at equal version); a tuple of kinds means "try the first kind; only when no file of
    that kind fits, the next" (mach-nix's provider order). Package names are canonical.

        >>> Preference.from_specs(["tensorflow=wheel", "_default=sdist,wheel"]).kinds_for("TensorFlow")
        ('wheel',)
    """

    default: Optional[Tuple[str, ...]] = None
    packages: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def pip(cls) -> "Preference":
        """pip's default: newest acceptable version, best wheel over the sdist at that version."""
        return cls()

    @classmethod
    def prefer_wheels(cls) -> "Preference":
        """The newest version with a compatible wheel, over newer sdist-only versions."""
        return cls(default=("wheel", "sdist"))

    @classmethod
    def prefer_sdist(cls) -> "Preference":
        """The newest version with an sdist, over newer wheel-only versions."""
        return cls(default=("sdist", "wheel"))

    @classmethod
    def only_wheels(cls) -> "Preference":
        return cls(default=("wheel",))

    @classmethod
    def only_sdist(cls) -> "Preference":
        return cls(default=("sdist",))

    def kinds_for(self, project: str) -> Optional[Tuple[str, ...]]:
        """The provider order for ``project``, or None for pip's version-first behaviour."""
        return self.packages.get(canonicalize_name(project), self.default)

    def with_packages(self, table: Mapping[str, Union[str, Sequence[str]]]) -> "Preference":
        """This preference with per-package entries (``_default`` sets the default) from a mapping."""
        default = self.default
        packages = dict(self.packages)
        for name, value in table.items():
            kinds = _parse_kinds(name, value)
            if name == DEFAULT_KEY:
                default = kinds
            else:
                packages[canonicalize_name(name)] = kinds
        return Preference(default=default, packages=packages)

    def with_pip_format_control(self, only_binary: Sequence[str] = (), no_binary: Sequence[str] = ()) -> "Preference":
        """Apply pip's ``--only-binary``/``--no-binary`` values (``:all:``, ``:none:`` or comma-separated names).

        As in pip, ``:all:`` in one option clears the names of the other; a name in both ends up in the last one
        applied (``--no-binary`` after ``--only-binary`` here).
        """
        pref = self
        for values, kinds in ((only_binary, ("wheel",)), (no_binary, ("sdist",))):
            for value in values:
                for name in (n.strip() for n in value.split(",") if n.strip()):
                    if name == ":all:":
                        pref = Preference(default=kinds, packages={k: v for k, v in pref.packages.items() if v == kinds})
                    elif name == ":none:":
                        pref = Preference(default=pref.default,
                                          packages={k: v for k, v in pref.packages.items() if v != kinds})
                    else:
                        pref = Preference(default=pref.default, packages={**pref.packages, canonicalize_name(name): kinds})
        return pref

    @classmethod
    def from_specs(cls, specs: Iterable[str], base: Optional["Preference"] = None) -> "Preference":
        """From ``--provider`` values: ``"tensorflow=wheel"``, ``"_default=sdist,wheel"``."""
        table: Dict[str, str] = {}
        for spec in specs:
            name, sep, value = spec.partition("=")
            if not sep or not name.strip():
                raise UsageError(spec, "a provider is NAME=KINDS, e.g. tensorflow=wheel or _default=sdist,wheel")
            table[name.strip()] = value
        return (base or cls()).with_packages(table)

    @classmethod
    def from_toml(cls, path: str, base: Optional["Preference"] = None) -> "Preference":
        """From a TOML file: a ``[providers]`` table (or top-level keys) of ``name = "wheel,sdist"`` or lists.

            [providers]
            _default = "sdist,wheel"
            tensorflow = "wheel"

        A file that does not exist is a :class:`UsageError` (like any path that names nothing); one whose content
        cannot be used is a :class:`SettingsFileError`.
        """
        from ..tomlfile import parse_toml

        try:
            with open(path, "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise UsageError(path, "no such providers file") from None
        except OSError as exc:
            raise SettingsFileError(path, exc.strerror or str(exc)) from None
        data = parse_toml(raw, path, SettingsFileError)
        table = data.get("providers", data)
        if not isinstance(table, dict):
            raise SettingsFileError(path, "[providers] must be a table of name = \"wheel,sdist\"")
        try:
            return (base or cls()).with_packages(table)
        except UsageError as exc:
            raise SettingsFileError(path, exc.reason) from None


def _parse_kinds(name: str, value: Union[str, Sequence[str]]) -> Tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(k, str) for k in items):
        # a TOML table, a number, or a list holding those: the kind of value is named, never its repr (a value
        # nested thousands of levels deep has no printable repr)
        raise UsageError(f"provider {name}", f"must be a string or a list of wheel/sdist, not {_kind_of(value)}")
    kinds = tuple(k.strip().lower() for k in items if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if not kinds or bad:
        raise UsageError(f"provider {name}", f"unknown provider {', '.join(bad) or '(empty)'}; use wheel and/or sdist")
    return tuple(dict.fromkeys(kinds))


def _kind_of(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return "a list holding " + ", ".join(sorted({type(k).__name__ for k in value if not isinstance(k, str)}))
    return f"a {type(value).__name__}"


# ---------------------------------------------------------------------------------------------------------------------
# judging one file


class Reason(str):
    """Why a file was refused: the one-line text, and ``group``, the text shared by every file refused for the same
    cause (what ``--explain`` counts them under, e.g. ``no tag fits the target cp37 (cp37m) on ...``).

        >>> Reason("version 2.2.0 does not match ==2.1.0", group="version does not match ==2.1.0").group
        'version does not match ==2.1.0'
    """

    group: str

    def __new__(cls, text: str, group: Optional[str] = None) -> "Reason":
        reason = super().__new__(cls, text)
        reason.group = group or text
        return reason


def _pinned_versions(specifier: SpecifierSet) -> List[str]:
    """Versions pinned exactly (``==1.0``, ``===1.0``; not ``==1.*``): PEP 592 lets those pick yanked files."""
    return [s.version for s in specifier if s.operator in ("==", "===") and not s.version.endswith(".*")]


def evaluate_file(dist: DistFile, requirement: Requirement, target: "Target") -> Optional[str]:
    """Why ``dist`` cannot serve ``requirement`` on ``target`` on its own merits, or None when it can.

    (Pre-release filtering depends on the other candidates and happens in :func:`choose`.)
    """
    if dist.name != canonicalize_name(requirement.name):
        return Reason(f"belongs to {dist.name}, not {requirement.name}", "belongs to another project")
    if not requirement.specifier.contains(dist.version, prereleases=True):
        return Reason(f"version {dist.version} does not match {requirement.specifier}",
                      f"version does not match {requirement.specifier}")
    if dist.is_yanked and not any(Version(v) == dist.version for v in _pinned_versions(requirement.specifier)
                                  if _is_version(v)):
        return Reason("yanked" + (f": {dist.yanked}" if dist.yanked else "") + " (only an == pin may select it)",
                      "yanked (only an == pin may select it)")
    if dist.requires_python:
        allowed = _python_allowed(dist.requires_python, target.marker_environment()["python_full_version"])
        if allowed is None:
            logger.warning("%s: ignoring invalid Requires-Python %r (as pip does)", dist.url, dist.requires_python)
        elif not allowed:
            return Reason(f"requires Python {dist.requires_python}; the target has {target.python_version}",
                          f"Requires-Python excludes the target's Python {target.python_version}")
    if dist.kind == "wheel":
        tags = _wheel_tags(dist)
        if tags is None:
            return Reason("not a valid wheel file name")
        if target.best_wheel_priority(tags) is None:
            group = f"no tag fits the target {target.describe()}"
            return Reason(f"{group} (wheel tags: {_tag_summary(dist.filename)})", group)
    return None


@functools.lru_cache(maxsize=4096)
def _python_allowed(requires_python: str, python: str) -> Optional[bool]:
    """Whether a Requires-Python admits ``python``; None when it does not parse. Memoized: an index page repeats a
    handful of these strings over thousands of files."""
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:
        return None


def _refused_by_constraint(dist: DistFile, constraints: Sequence["Constraint"]) -> Optional[Reason]:
    """Why a binding constraint (pip's ``-c``/``constraint``) excludes ``dist``, or None."""
    for constraint in constraints:
        wanted = constraint.requirement
        if wanted.url and wanted.url.split("#")[0] != dist.url:
            return Reason(f"not the file constraint {constraint} pins")
        if not wanted.specifier.contains(dist.version, prereleases=True):
            return Reason(f"version {dist.version} excluded by constraint {constraint}",
                          f"excluded by constraint {constraint}")
    return None


def _is_version(text: str) -> bool:
    try:
        Version(text)
        return True
    except ValueError:  # InvalidVersion, or a release number too long for int()
        return False


def _wheel_tags(dist: DistFile):
    from ..errors import InvalidWheel
    from ..wheels.filename import parse_wheel_filename

    try:
        return parse_wheel_filename(dist.filename).tags
    except InvalidWheel:
        return None


def _tag_summary(filename: str) -> str:
    return "-".join(filename[: -len(".whl")].split("-")[-3:])


# ---------------------------------------------------------------------------------------------------------------------
# choosing among the files that pass


def _rank(dist: DistFile, target: "Target") -> Tuple:
    """pip's order among acceptable files of one kind: not yanked, newer version, better tag, higher build."""
    if dist.kind == "wheel":
        from ..wheels.filename import parse_wheel_filename

        parsed = parse_wheel_filename(dist.filename)
        priority = target.best_wheel_priority(parsed.tags)
        build = parsed.build or ()
        return (not dist.is_yanked, dist.version, 1, -(priority or 0), build)
    return (not dist.is_yanked, dist.version, 0, 0, ())


def _allow_prereleases(specifiers: Iterable[SpecifierSet], versions: Iterable[Version]) -> bool:
    """pip's rule: pre-releases count when a specifier (the requirement's or a constraint's) names one, or when
    nothing else matches."""
    if any(spec.prereleases for spec in specifiers):
        return True
    return not any(not v.is_prerelease for v in versions)


def choose(
    requirement: Union[str, Requirement],
    target: "Target",
    preference: Optional[Preference] = None,
    client: Optional[Union["IndexClient", object]] = None,
    constraints: Optional["Constraints"] = None,
) -> Choice:
    """The file to use for ``requirement`` on ``target``, and why every other offered file lost.

    ``client`` is an :class:`~wheelmeta.index.simple.IndexClient` (or an :class:`~wheelmeta.http.HttpClient`, used
    with pip's configured indexes); without one, pip's configuration and the shared HTTP client are used.
    ``constraints`` (:class:`~wheelmeta.index.constraints.Constraints`) bind like pip's ``-c`` files; None means
    pip's configured constraints files (``constraint`` / ``PIP_CONSTRAINT``), ``Constraints()`` none at all.
    A requirement whose marker is false on ``target`` is not needed there: the Choice has ``file=None``.

    :raises NoMatchingDistribution: no file fits; the message names the indexes and the commonest reasons, and
        its ``rejected`` attribute holds every file with its reason.
    """
    req = _as_requirement(requirement)
    if not _marker_holds(req, target):
        return Choice(requirement=req, file=None, reason=f"not needed: marker {req.marker} is false on "
                      f"{target.describe()}")
    binding = _binding_constraints(req, target, constraints)
    index = _as_index_client(client)
    preference = preference or Preference()
    files = index.files(req.name)
    rejected: List[Tuple[DistFile, str]] = []
    accepted: List[DistFile] = []
    for dist in files:
        why = evaluate_file(dist, req, target) or _refused_by_constraint(dist, binding)
        if why:
            rejected.append((dist, why))
        else:
            accepted.append(dist)
    specifiers = [req.specifier, *(c.requirement.specifier for c in binding)]
    if not _allow_prereleases(specifiers, (d.version for d in accepted)):
        for dist in [d for d in accepted if d.version.is_prerelease]:
            accepted.remove(dist)
            rejected.append((dist, Reason(f"pre-release {dist.version} (not asked for; final releases match)",
                                          "pre-release, not asked for (final releases match)")))
    kinds = preference.kinds_for(req.name)
    chosen, reason, lost = _pick(accepted, kinds, target)
    if chosen is None:
        raise NoMatchingDistribution(str(req), _no_match_reason(index, target, kinds, files, rejected + lost),
                                     rejected=rejected + lost)
    if binding:
        reason += f"; constrained by {', '.join(map(str, binding))}"
    return Choice(requirement=req, file=_with_local_facts(chosen), reason=reason, rejected=tuple(rejected + lost))


def _marker_holds(req: Requirement, target: "Target") -> bool:
    """Whether ``req`` applies on ``target`` (no extra selected, as pip judges a requirement it is given)."""
    from .constraints import UNEVALUABLE_MARKER, marker_holds

    try:
        return marker_holds(req, target)
    except UNEVALUABLE_MARKER as exc:
        raise UsageError(str(req), f"cannot evaluate its marker on {target.describe()}: {exc}") from None


def _binding_constraints(req: Requirement, target: "Target", constraints: Optional["Constraints"]):
    from .constraints import Constraints

    if constraints is None:
        constraints = Constraints.from_pip()
    return constraints.binding(req.name, target)


def _with_local_facts(dist: DistFile) -> DistFile:
    """A local file (find-links folder, file:// index) gets its size and sha256: Nix needs the hash, and reading
    one chosen file is cheap next to asking the user to compute it."""
    if not dist.url.startswith("file:") or (dist.sha256 and dist.size is not None):
        return dist
    import dataclasses
    import hashlib

    from ..http import url_to_path

    path = url_to_path(dist.url)
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        size = os.path.getsize(path)
    except OSError as exc:
        logger.warning("%s: cannot read the chosen file to hash it: %s", path, exc)
        return dist
    return dataclasses.replace(dist, hashes={**dist.hashes, "sha256": digest.hexdigest()}, size=size)


def _pick(
    accepted: List[DistFile], kinds: Optional[Tuple[str, ...]], target: "Target"
) -> Tuple[Optional[DistFile], str, List[Tuple[DistFile, str]]]:
    """(chosen file, why, [(loser, why)]) under one provider order (None: pip's version-first order)."""
    lost: List[Tuple[DistFile, str]] = []
    pool = accepted
    if kinds is not None:
        allowed = [d for d in accepted if d.kind in kinds]
        lost += [(d, Reason(f"{d.kind} not allowed (providers: {','.join(kinds)})")) for d in accepted
                 if d.kind not in kinds]
        for kind in kinds:
            pool = [d for d in allowed if d.kind == kind]
            if pool:
                break
        else:
            pool = []
        lost += [(d, Reason(f"provider order {','.join(kinds)}: a {pool[0].kind} fits, so {d.kind}s are not used"))
                 for d in allowed if pool and d.kind != pool[0].kind]
    if not pool:
        return None, "", lost
    best = max(pool, key=lambda d: _rank(d, target))
    for dist in pool:
        if dist is not best:
            lost.append((dist, _why_lost(dist, best)))
    return best, _why_chosen(best, kinds, target), lost


def _why_lost(dist: DistFile, best: DistFile) -> Reason:
    if dist.version != best.version:
        return Reason(f"older version {dist.version} than {best.version}", f"older than the chosen {best.version}")
    if dist.kind != best.kind:
        return Reason(f"{dist.kind} at the same version as the chosen {best.kind}")
    if dist.is_yanked and not best.is_yanked:
        return Reason("yanked, and an unyanked file fits")
    better = _tag_summary(best.filename) if best.kind == "wheel" else best.filename
    return Reason(f"a better tag fits the target ({better})")


def _why_chosen(best: DistFile, kinds: Optional[Tuple[str, ...]], target: "Target") -> str:
    providers = "" if kinds is None else f" (providers: {','.join(kinds)})"
    if best.kind == "wheel":
        tag = _tag_summary(best.filename)
        return f"newest acceptable wheel {best.version}{providers}; tag {tag} fits {target.describe()}"
    return f"newest acceptable sdist {best.version}{providers}"


@dataclass(frozen=True)
class RejectionGroup:
    """The files refused for one cause: ``reason`` (the group text) and ``files``, ``(DistFile, reason)`` pairs
    newest version first."""

    reason: str
    files: Tuple[Tuple[DistFile, str], ...]


def group_rejections(rejected: Iterable[Tuple[DistFile, str]]) -> List[RejectionGroup]:
    """``rejected`` grouped by cause (a :class:`Reason`'s ``group``; the text itself for a plain string), the
    biggest group first, each group's files newest version first (then by file name).

        >>> [(g.reason, len(g.files)) for g in group_rejections(choice.rejected)]     # doctest: +SKIP
        [('no tag fits the target cp37 (cp37m) on manylinux2010_x86_64', 312), ('older than the chosen 2.1.0', 3)]
    """
    groups: Dict[str, List[Tuple[DistFile, str]]] = {}
    for dist, why in rejected:
        groups.setdefault(getattr(why, "group", why), []).append((dist, why))
    # two stable sorts each: the second key decides, the first breaks its ties
    newest_first = [
        RejectionGroup(reason, tuple(sorted(sorted(files, key=lambda item: item[0].filename),
                                            key=lambda item: item[0].version, reverse=True)))
        for reason, files in groups.items()
    ]
    newest_first.sort(key=lambda group: group.files[0][0].version, reverse=True)
    return sorted(newest_first, key=lambda group: len(group.files), reverse=True)


def _no_match_reason(index, target, kinds, files, rejected) -> str:
    if not files:
        return f"no files on {index.describe()}"
    common = ", ".join(f"{len(g.files)} {g.reason}" for g in group_rejections(rejected)[:3])
    wanted = "" if kinds is None else f" with providers {','.join(kinds)}"
    return f"none of {len(files)} files fits {target.describe()}{wanted} ({common})"


def _as_requirement(requirement: Union[str, Requirement]) -> Requirement:
    if isinstance(requirement, Requirement):
        return requirement
    try:
        req = Requirement(requirement)
    except InvalidRequirement as exc:
        raise UsageError(requirement, f"not a valid requirement: {exc}") from None
    if req.url:
        raise UsageError(requirement, "a direct URL requirement names its file already; nothing to choose")
    return req


def _as_index_client(client) -> "IndexClient":
    from ..http import HttpClient
    from .simple import IndexClient

    if isinstance(client, IndexClient):
        return client
    if client is None or isinstance(client, HttpClient):
        return IndexClient(client=client)
    raise TypeError(f"client must be an IndexClient or an HttpClient, not {type(client).__name__}")
