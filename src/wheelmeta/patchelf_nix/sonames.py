"""The soname -> nixpkgs attribute map: data in ``sonames.toml``, user overrides merged over it.

A binary wheel names the shared libraries it needs (``DT_NEEDED``); Nix needs attribute paths. The map says, for
each soname (exact, or an ``fnmatch`` pattern such as ``libssl.so.*``), where a Nix build finds it: the C library
(class ``glibc``), the compiler runtime (``cc-runtime``, ``stdenv.cc.cc.lib``), a nixpkgs attribute (``nixpkgs``),
the GPU driver at run time (``driver``), the interpreter (``libpython``), another Python package's files
(``python-package``), or a known library nixpkgs does not package (``unpackaged``: proprietary plugins' needs).
Each entry carries its evidence: the nixpkgs file, the revision read and the version in it that decides the soname
(``libxml2 2.14.6 -> libxml2.so.16``), and the rule a nixpkgs version must meet to provide the soname (``provides``,
``major_tracks_version``), which :mod:`.nixpkgs_check` applies to the user's own nixpkgs.

    >>> m = SonameMap.load()
    >>> m.lookup("libX11.so.6").attribute
    'libx11'
    >>> m.lookup("libssl.so.3").attribute
    'openssl'

User overrides (``--map FILE`` or the environment variable ``WHEELMETA_SONAME_MAP``) use the same TOML schema,
or the short form ``[sonames] "libfoo.so.1" = "foo"``; they win over the built-in map (see :meth:`SonameMap.lookup`).
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Tuple, Union

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ..errors import WheelmetaError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

__all__ = [
    "MAP_CLASSES",
    "ENV_VAR",
    "SonameEntry",
    "SonameMap",
    "SonameMapError",
    "builtin_map_path",
]

#: Classes an entry of the map can have. "carried" and "unknown" are decided by classification, not by the map.
MAP_CLASSES = ("glibc", "cc-runtime", "nixpkgs", "driver", "libpython", "python-package", "unpackaged")

#: Environment variable naming a TOML file merged over the built-in map.
ENV_VAR = "WHEELMETA_SONAME_MAP"

#: Attribute implied by a class when an entry names none.
_DEFAULT_ATTRIBUTE = {"cc-runtime": "stdenv.cc.cc.lib", "libpython": "python"}
#: Classes whose entries must name an attribute (the others add nothing to buildInputs).
_NEEDS_ATTRIBUTE = ("nixpkgs", "python-package")
_PATTERN_CHARS = frozenset("*?[")


class SonameMapError(WheelmetaError):
    """A soname map file (built-in or override) that cannot be read or breaks the schema."""


@dataclass(frozen=True)
class SonameEntry:
    """One soname (or pattern) and where a Nix build finds it.

    ``names`` records the attribute's names across nixpkgs versions (``"xorg.libX11 (before 25.11)"``: the first
    word is the attribute path, the rest a comment); ``verified`` says whether the evidence meets the rule (file,
    ``revision`` read, ``version`` in it -> soname); ``origin`` is "built-in" or the override file's path.
    ``search_path`` (class ``python-package`` only) is the folder inside that package's site-packages that holds
    the library, e.g. ``"torch/lib"``. ``provides`` is a version specifier (``">=2.14"``) the attribute's version
    must satisfy to install these sonames; ``major_tracks_version`` says the soname's major (the number after
    ``.so.``) equals the version's first component (``libcudart.so.12`` <- ``cuda_cudart`` 12.x).
    """

    pattern: str
    cls: str
    attribute: Optional[str] = None
    evidence: str = ""
    verified: bool = False
    names: Tuple[str, ...] = ()
    note: str = ""
    search_path: Optional[str] = None
    origin: str = "built-in"
    revision: str = ""
    version: str = ""
    provides: str = ""
    major_tracks_version: bool = False

    @property
    def is_pattern(self) -> bool:
        """True when :attr:`pattern` has ``fnmatch`` wildcards."""
        return any(c in _PATTERN_CHARS for c in self.pattern)

    def spellings(self) -> Tuple[str, ...]:
        """The attribute path, then the older spellings ``names`` records, each once (``libx11``,
        ``xorg.libX11``): the nixpkgs check takes the first one the user's nixpkgs has."""
        found = [self.attribute] if self.attribute else []
        for name in self.names:
            match = _NAME_ATTRIBUTE.match(name)
            if match:
                found.append(match.group(0))
        return tuple(dict.fromkeys(found))

    def version_problem(self, soname: str, version: Optional[str]) -> Optional[str]:
        """Why an attribute at ``version`` does not install ``soname`` by this entry's rule, or None when it does
        (or when the entry has no rule). An unreadable version is a problem only when there is a rule."""
        if not self.provides and not self.major_tracks_version:
            return None
        numeric = _numeric_version(version)
        if numeric is None:
            return f"its version {version!r} cannot be compared with the rule" if version else "it has no version"
        if self.provides and not SpecifierSet(self.provides).contains(numeric, prereleases=True):
            return f"{soname} needs a version {self.provides}"
        major = _soname_major(soname)
        if self.major_tracks_version and major is not None and major != numeric.split(".")[0]:
            return f"{soname} needs version {major}.x"
        return None

    def proves(self, soname: str) -> bool:
        """True when the entry is verified and the version its evidence read gives ``soname`` by its own rule
        (``libcudart.so.11.0`` is not proven by ``cuda_cudart`` 12.9.79, whatever the pattern matches)."""
        return self.verified and self.version_problem(soname, self.version or None) is None

    def to_json(self) -> dict:
        """A JSON-ready dict (class under the key ``"class"``)."""
        out = {"class": self.cls, "attribute": self.attribute}
        if self.is_pattern:
            out["pattern"] = self.pattern
        if self.search_path:
            out["search_path"] = self.search_path
        return out


#: The attribute path at the start of a ``names`` item: identifiers (with - and ') joined by dots.
_NAME_ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*(?:\.[A-Za-z_][A-Za-z0-9_'-]*)*(?=$|[\s,;(])")


def _numeric_version(version: Optional[str]) -> Optional[str]:
    """The leading dotted numbers of a nixpkgs version (``1.1.1w`` -> ``1.1.1``, ``12.8.90`` stays), or None."""
    match = re.match(r"\d+(?:\.\d+)*", version or "")
    return match.group(0) if match else None


def _soname_major(soname: str) -> Optional[str]:
    """The first number after ``.so.`` (``libcudart.so.12`` -> ``12``), or None for unversioned names."""
    match = re.search(r"\.so\.(\d+)", soname)
    return match.group(1) if match else None


def builtin_map_path() -> Path:
    """The path of the built-in data file ``sonames.toml`` next to this module."""
    return Path(__file__).with_name("sonames.toml")


class _Layer:
    """The entries of one file: exact names in a dict, patterns compiled once and tried most specific first."""

    def __init__(self) -> None:
        self.exact: Dict[str, SonameEntry] = {}
        self._patterns: Dict[str, SonameEntry] = {}
        self._compiled: Optional[List[Tuple["re.Pattern[str]", SonameEntry]]] = None

    @property
    def patterns(self) -> List[SonameEntry]:
        return [entry for _, entry in self._ordered()]

    def add(self, entry: SonameEntry) -> None:
        if entry.is_pattern:
            self._patterns[entry.pattern] = entry
            self._compiled = None
        else:
            self.exact[entry.pattern] = entry

    def lookup(self, soname: str) -> Optional[SonameEntry]:
        entry = self.exact.get(soname)
        if entry is not None:
            return entry
        for regex, pattern in self._ordered():
            if regex.match(soname):
                return pattern
        return None

    def _ordered(self) -> List[Tuple["re.Pattern[str]", SonameEntry]]:
        if self._compiled is None:
            ordered = sorted(self._patterns.values(), key=_specificity, reverse=True)
            self._compiled = [(re.compile(fnmatch.translate(e.pattern)), e) for e in ordered]
        return self._compiled


def _specificity(entry: SonameEntry) -> Tuple[int, int]:
    """Longer literal prefix first, then fewer wildcards: ``libssl.so.1.*`` beats ``libssl.so.*``."""
    pattern = entry.pattern
    prefix = len(pattern)
    for i, c in enumerate(pattern):
        if c in _PATTERN_CHARS:
            prefix = i
            break
    wildcards = sum(c in _PATTERN_CHARS for c in pattern)
    return (prefix, -wildcards)


class SonameMap:
    """The built-in map with zero or more override layers on top.

    Lookup order: each override layer (last loaded first), exact name then patterns, then the built-in map. So
    a user's pattern beats a built-in exact entry: the user asked for it.
    """

    def __init__(self, layers: Iterable[_Layer] = ()) -> None:
        self._layers: List[_Layer] = list(layers)  # lowest precedence first

    @classmethod
    def load(
        cls,
        overrides: Union[str, os.PathLike, None] = None,
        *,
        environ: Optional[Mapping[str, str]] = None,
    ) -> "SonameMap":
        """The built-in map, then ``$WHEELMETA_SONAME_MAP`` over it, then ``overrides`` over both.

            >>> SonameMap.load("my-sonames.toml").lookup("libfoo.so.1")   # doctest: +SKIP

        Raises :class:`SonameMapError` naming the file when an override is missing or malformed.
        """
        env = os.environ if environ is None else environ
        layers = [_builtin_layer()]
        env_path = env.get(ENV_VAR)
        if env_path:
            layers.append(_read_layer(Path(env_path), origin=env_path))
        if overrides is not None:
            layers.append(_read_layer(Path(overrides), origin=os.fspath(overrides)))
        return cls(layers)

    def lookup(self, soname: str) -> Optional[SonameEntry]:
        """The entry for ``soname``, or None when no layer knows it."""
        for layer in reversed(self._layers):
            entry = layer.lookup(soname)
            if entry is not None:
                return entry
        return None

    def entries(self) -> List[SonameEntry]:
        """Every entry of every layer (lowest precedence first), for tests, docs and the coverage benchmark."""
        out: List[SonameEntry] = []
        for layer in self._layers:
            out.extend(layer.exact.values())
            out.extend(layer.patterns)
        return out


# --- reading and validating a TOML file ------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _builtin_layer() -> _Layer:
    """The built-in map, parsed once per process (it ships with the package and never changes under it)."""
    return _read_layer(builtin_map_path(), origin="built-in")


def _read_layer(path: Path, *, origin: str) -> _Layer:
    """Parse one map file into a layer; every problem becomes a SonameMapError naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SonameMapError(path, "soname map file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SonameMapError(path, f"cannot read soname map: {exc}") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer too long for int()
        raise SonameMapError(path, f"not valid TOML: {str(exc)[:300]}") from None
    except RecursionError:  # tomllib recurses once per nesting level
        raise SonameMapError(path, "not readable: TOML nested too deeply") from None
    unknown_keys = set(data) - {"schema", "provider", "sonames"}
    if unknown_keys:
        raise SonameMapError(path, f"unknown top-level key(s) {sorted(unknown_keys)}; expected provider, sonames")
    layer = _Layer()
    providers = data.get("provider", [])
    if not isinstance(providers, list):
        raise SonameMapError(path, "'provider' must be an array of tables ([[provider]])")
    for index, provider in enumerate(providers):
        for entry in _provider_entries(path, index, provider, origin):
            layer.add(entry)
    short = data.get("sonames", {})
    if not isinstance(short, dict):
        raise SonameMapError(path, "'sonames' must be a table of soname = attribute")
    for soname, value in short.items():
        layer.add(_short_entry(path, soname, value, origin))
    return layer


_PROVIDER_KEYS = {
    "attribute", "class", "sonames", "evidence", "verified", "names", "note", "search_path",
    "revision", "version", "provides", "major_tracks_version",
}


def _provider_entries(path: Path, index: int, provider: object, origin: str) -> List[SonameEntry]:
    """The entries of one ``[[provider]]`` table (one per soname it lists)."""
    where = f"provider #{index + 1}"
    if not isinstance(provider, dict):
        raise SonameMapError(path, f"{where}: must be a table")
    extra = set(provider) - _PROVIDER_KEYS
    if extra:
        raise SonameMapError(path, f"{where}: unknown key(s) {sorted(extra)}")
    sonames = provider.get("sonames")
    if not isinstance(sonames, list) or not sonames or not all(isinstance(s, str) and s for s in sonames):
        raise SonameMapError(path, f"{where}: 'sonames' must be a non-empty list of strings")
    where = f"{where} ({sonames[0]})"
    cls = _check_class(path, where, provider.get("class", "nixpkgs"))
    attribute = _check_attribute(path, where, cls, provider.get("attribute"))
    names = provider.get("names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SonameMapError(path, f"{where}: 'names' must be a list of strings")
    evidence = provider.get("evidence", "" if origin == "built-in" else f"override {origin}")
    for key in ("evidence", "note", "search_path", "revision", "version"):
        if not isinstance(provider.get(key, ""), str):
            raise SonameMapError(path, f"{where}: {key!r} must be a string")
    for key in ("verified", "major_tracks_version"):
        if not isinstance(provider.get(key, False), bool):
            raise SonameMapError(path, f"{where}: {key!r} must be true or false")
    provides = _check_provides(path, where, provider.get("provides", ""))
    return [
        SonameEntry(
            pattern=soname,
            cls=cls,
            attribute=attribute,
            evidence=evidence,
            verified=provider.get("verified", False),
            names=tuple(names),
            note=provider.get("note", ""),
            search_path=provider.get("search_path"),
            origin=origin,
            revision=provider.get("revision", ""),
            version=provider.get("version", ""),
            provides=provides,
            major_tracks_version=provider.get("major_tracks_version", False),
        )
        for soname in sonames
    ]


def _short_entry(path: Path, soname: str, value: object, origin: str) -> SonameEntry:
    """``"libfoo.so.1" = "foo"`` or ``"libfoo.so.1" = { class = "driver" }`` from a ``[sonames]`` table."""
    if isinstance(value, str):
        value = {"attribute": value}
    if not isinstance(value, dict):
        raise SonameMapError(path, f"sonames.{soname}: must be an attribute string or a table")
    extra = set(value) - {"attribute", "class", "evidence", "note", "search_path", "provides"}
    if extra:
        raise SonameMapError(path, f"sonames.{soname}: unknown key(s) {sorted(extra)}")
    cls = _check_class(path, f"sonames.{soname}", value.get("class", "nixpkgs"))
    return SonameEntry(
        pattern=soname,
        cls=cls,
        attribute=_check_attribute(path, f"sonames.{soname}", cls, value.get("attribute")),
        evidence=str(value.get("evidence", f"override {origin}")),
        note=str(value.get("note", "")),
        search_path=value.get("search_path"),
        origin=origin,
        provides=_check_provides(path, f"sonames.{soname}", value.get("provides", "")),
    )


def _check_provides(path: Path, where: str, provides: object) -> str:
    """A version specifier such as ``">=2.14,<3"`` (packaging's syntax), or empty for no version rule."""
    if not isinstance(provides, str):
        raise SonameMapError(path, f"{where}: 'provides' must be a version specifier string such as \">=2.14\"")
    try:
        SpecifierSet(provides)
    except InvalidSpecifier:
        problem = f"'provides' {provides!r} is not a version specifier such as \">=2.14\""
        raise SonameMapError(path, f"{where}: {problem}") from None
    return provides


def _check_class(path: Path, where: str, cls: object) -> str:
    if cls not in MAP_CLASSES:
        raise SonameMapError(path, f"{where}: class {cls!r} is not one of {', '.join(MAP_CLASSES)}")
    return str(cls)


def _check_attribute(path: Path, where: str, cls: str, attribute: object) -> Optional[str]:
    """The attribute path, defaulted by class; a nixpkgs entry without one is an error."""
    if attribute is None:
        attribute = _DEFAULT_ATTRIBUTE.get(cls)
    if attribute is None:
        if cls in _NEEDS_ATTRIBUTE:
            raise SonameMapError(path, f"{where}: class {cls!r} needs an 'attribute'")
        return None
    if not isinstance(attribute, str) or not attribute or any(c.isspace() for c in attribute):
        raise SonameMapError(path, f"{where}: 'attribute' must be a Nix attribute path such as \"libx11\"")
    return attribute
