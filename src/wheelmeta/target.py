"""The machine a distribution is meant for: Python version, implementation, ABIs and platform tags.

A :class:`Target` answers the two questions a resolver asks about a machine other than the running one:

- which wheel tags it accepts, most preferred first (:meth:`Target.tags`), with ``manylinux_2_X`` expanded down to
  ``manylinux_2_5`` (legacy aliases at their PEP 600 place), ``musllinux_1_X`` down to ``musllinux_1_0``, macOS
  versions and fat/universal architectures, ``abi3`` for every earlier CPython 3 minor, and ``none``/``any``;
- what every environment marker evaluates to there (:meth:`Target.marker_environment`, all 11 PEP 508 keys), so
  evaluating ``sys_platform == "win32"`` for a Windows target never falls back to the host's values.

    >>> t = Target.from_options(python_version="3.7", platforms=["manylinux2010_x86_64"])
    >>> str(t.tags()[0])
    'cp37-cp37m-manylinux_2_12_x86_64'
    >>> t.marker_environment()["sys_platform"], t.glibc
    ('linux', (2, 12))

Options the user did not give come from the running interpreter and host, as with pip's ``--python-version`` and
``--platform``: ``Target.from_options(python_version="3.12")`` is "Python 3.12 on this machine's platform".
"""

from __future__ import annotations

import logging
import os
import re
import sys
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from packaging import tags as _tags
from packaging.markers import UndefinedComparison, default_environment
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag
from packaging.utils import canonicalize_name

from .errors import UsageError

__all__ = ["Target", "evaluate_requirements", "expand_platform", "platform_environment", "marker_extras", "MARKER_KEYS",
           "marker_problem"]

log = logging.getLogger(__name__)

#: The PEP 508 environment marker variables (``extra`` aside), in the order the spec lists them.
MARKER_KEYS = (
    "implementation_name",
    "implementation_version",
    "os_name",
    "platform_machine",
    "platform_python_implementation",
    "platform_release",
    "platform_system",
    "platform_version",
    "python_full_version",
    "python_version",
    "sys_platform",
)

# short implementation tag -> (implementation_name, platform_python_implementation)
_IMPLEMENTATIONS = {
    "cp": ("cpython", "CPython"),
    "pp": ("pypy", "PyPy"),
    "gp": ("graalpy", "GraalVM"),
    "ip": ("ironpython", "IronPython"),
    "jy": ("jython", "Jython"),
}
_IMPLEMENTATION_ALIASES = {name: short for short, (name, _) in _IMPLEMENTATIONS.items()}

# PEP 600: the glibc version each legacy manylinux name stands for
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_LEGACY_BY_GLIBC = {v: k for k, v in _LEGACY_MANYLINUX.items()}

# sys.platform-like names a user may type instead of a tag, and the tags they stand for (documented in docs/cli.md)
_PLATFORM_ALIASES = {
    "linux": ("manylinux_2_17_x86_64",),
    "darwin": ("macosx_11_0_arm64",),
    "macos": ("macosx_11_0_arm64",),
    "windows": ("win_amd64",),
}

_WINDOWS_MACHINES = {"win32": "x86", "win_amd64": "AMD64", "win_arm64": "ARM64", "win_ia64": "ia64"}
# macOS fat formats run on the machine of their first slice; universal2 on today's Apple silicon
_MAC_MACHINES = {"universal2": "arm64", "intel": "x86_64", "fat64": "x86_64", "universal": "x86_64",
                 "fat32": "i386", "fat": "i386", "fat3": "x86_64"}
_ANDROID_MACHINES = {"arm64_v8a": "aarch64", "armeabi_v7a": "armv7l", "x86_64": "x86_64", "x86": "i686"}

_MANYLINUX_RE = re.compile(r"^manylinux_(\d+)_(\d+)_(.+)$")
_LEGACY_RE = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_(.+)$")
_MUSLLINUX_RE = re.compile(r"^musllinux_(\d+)_(\d+)_(.+)$")
_MACOS_RE = re.compile(r"^macosx_(\d+)_(\d+)_(.+)$")
_PYTHON_VERSION_RE = re.compile(r"^(\d)\.?(\d+)(?:\.(\d+))?$")


# ---------------------------------------------------------------------------------------------------------------------
# platform tags


def _normalize_platform(name: str) -> str:
    # sysconfig spells "macosx-11.0-arm64" and "linux-x86_64"; tags use underscores
    return name.strip().lower().replace("-", "_").replace(".", "_")


def _manylinux_floor(arch: str) -> int:
    # packaging.tags: glibc 2.5 is the oldest for x86 (manylinux1); 2.17 for every other architecture
    return 5 if arch in ("x86_64", "i686") else 17


def expand_platform(platform: str) -> List[str]:
    """Every platform tag a machine described by ``platform`` accepts, most preferred first.

        >>> expand_platform("manylinux2014_aarch64")
        ['manylinux_2_17_aarch64', 'manylinux2014_aarch64']
        >>> expand_platform("musllinux_1_1_x86_64")
        ['musllinux_1_1_x86_64', 'musllinux_1_0_x86_64']

    Linux glibc tags go down to ``manylinux_2_5`` (x86) or ``manylinux_2_17`` (other architectures) with the
    legacy alias right after its ``manylinux_2_X`` twin, as ``packaging.tags`` orders them for a host; ``linux_*``
    and Windows tags stand for themselves (a ``manylinux`` machine does not accept ``linux_x86_64`` wheels, as
    with pip's ``--platform``).
    """
    platform = _normalize_platform(platform)
    m = _MANYLINUX_RE.match(platform) or _LEGACY_RE.match(platform)
    if m:
        if m.lastindex == 2:  # legacy name
            (major, minor), arch = _LEGACY_MANYLINUX[m.group(1)], m.group(2)
        else:
            major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
        return _manylinux_platforms(major, minor, arch)
    m = _MUSLLINUX_RE.match(platform)
    if m:
        major, minor, arch = int(m.group(1)), int(m.group(2)), m.group(3)
        return [f"musllinux_{major}_{v}_{arch}" for v in range(minor, -1, -1)]
    m = _MACOS_RE.match(platform)
    if m:
        version, arch = (int(m.group(1)), int(m.group(2))), m.group(3)
        # mac_platforms drops the minor for macOS 11+ (11_3 -> 11_0): keep the exact tag first
        return _dedupe([platform, *_tags.mac_platforms(version, arch)])
    return [platform]


def _manylinux_platforms(major: int, minor: int, arch: str) -> List[str]:
    if major != 2:  # no glibc 3 exists; take the tag at its word
        return [f"manylinux_{major}_{minor}_{arch}"]
    out = []
    for v in range(minor, min(minor, _manylinux_floor(arch)) - 1, -1):
        out.append(f"manylinux_2_{v}_{arch}")
        legacy = _LEGACY_BY_GLIBC.get((2, v))
        if legacy:
            out.append(f"{legacy}_{arch}")
    return out


def _dedupe(items: Iterable) -> list:
    return list(dict.fromkeys(items))


def _glibc_of(platform: str) -> Optional[Tuple[int, int]]:
    m = _MANYLINUX_RE.match(platform)
    if m:
        return int(m.group(1)), int(m.group(2))
    m = _LEGACY_RE.match(platform)
    return _LEGACY_MANYLINUX[m.group(1)] if m else None


# ---------------------------------------------------------------------------------------------------------------------
# marker environment of a platform


def platform_environment(platform: str) -> Dict[str, str]:
    """``os_name``, ``sys_platform``, ``platform_system``, ``platform_machine`` of a machine with ``platform``.

        >>> platform_environment("win_amd64")["platform_machine"]
        'AMD64'

    ``platform_release`` and ``platform_version`` (the kernel's release and build strings) cannot be told from a
    tag: they are ``""`` for every target but the host. Raises :class:`UsageError` for a tag it cannot place.
    """
    platform = _normalize_platform(platform)
    env = {"platform_release": "", "platform_version": ""}
    if platform in _WINDOWS_MACHINES:
        return {**env, "os_name": "nt", "sys_platform": "win32", "platform_system": "Windows",
                "platform_machine": _WINDOWS_MACHINES[platform]}
    linux = _MANYLINUX_RE.match(platform) or _LEGACY_RE.match(platform) or _MUSLLINUX_RE.match(platform)
    if linux or platform.startswith("linux_"):
        arch = linux.group(linux.lastindex) if linux else platform[len("linux_"):]
        return {**env, "os_name": "posix", "sys_platform": "linux", "platform_system": "Linux",
                "platform_machine": arch}
    m = _MACOS_RE.match(platform)
    if m:
        return {**env, "os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin",
                "platform_machine": _MAC_MACHINES.get(m.group(3), m.group(3))}
    return {**env, **_other_platform_environment(platform)}


def _other_platform_environment(platform: str) -> Dict[str, str]:
    # the rarer targets: Android (PEP 738), iOS (PEP 730), Emscripten/Pyodide, FreeBSD
    if platform.startswith("android_"):
        abi = platform.split("_", 2)[2]
        return {"os_name": "posix", "sys_platform": "android", "platform_system": "Android",
                "platform_machine": _ANDROID_MACHINES.get(abi, abi)}
    if platform.startswith("ios_"):
        return {"os_name": "posix", "sys_platform": "ios", "platform_system": "iOS",
                "platform_machine": "arm64" if "arm64" in platform else "x86_64"}
    if platform.startswith(("emscripten_", "pyodide_", "pyemscripten_")):
        return {"os_name": "posix", "sys_platform": "emscripten", "platform_system": "Emscripten",
                "platform_machine": "wasm32"}
    m = re.match(r"^freebsd_(\d+)_.*_([a-z0-9]+)$", platform)
    if m:
        return {"os_name": "posix", "sys_platform": f"freebsd{m.group(1)}", "platform_system": "FreeBSD",
                "platform_machine": m.group(2)}
    raise UsageError(
        platform,
        "unknown platform tag (expected e.g. manylinux_2_28_x86_64, manylinux2014_aarch64, musllinux_1_2_x86_64, "
        "macosx_11_0_arm64, win_amd64, win32, linux_x86_64)",
    )


# ---------------------------------------------------------------------------------------------------------------------
# option parsing


def _parse_python_version(text: str) -> Tuple[Tuple[int, int], str]:
    """``"3.7"``, ``"37"``, ``"3.10"``, ``"310"`` or ``"3.7.4"`` -> ((3, 7), full version for markers)."""
    m = _PYTHON_VERSION_RE.match(text.strip())
    if not m:
        raise UsageError(text, "not a Python version (expected X.Y such as 3.7 or 3.12, or X.Y.Z)")
    major, minor = int(m.group(1)), int(m.group(2))
    # without a patch level, python_full_version is X.Y.0: the oldest release of that minor
    full = f"{major}.{minor}.{m.group(3) or 0}"
    return (major, minor), full


def _parse_implementation(text: str) -> str:
    impl = text.strip().lower()
    impl = _IMPLEMENTATION_ALIASES.get(impl, impl)
    if impl not in _IMPLEMENTATIONS:
        raise UsageError(text, f"unknown implementation (expected one of {', '.join(_IMPLEMENTATIONS)})")
    return impl


def _parse_platforms(values: Iterable[str]) -> Tuple[str, ...]:
    out: List[str] = []
    for value in values:
        for name in value.split(","):
            name = _normalize_platform(name)
            if not name:
                continue
            for plat in _PLATFORM_ALIASES.get(name, (name,)):
                platform_environment(plat)  # refuse tags we cannot describe, now, with the user's spelling
                out.append(plat)
    if not out:
        raise UsageError("--platform", "no platform given")
    return tuple(_dedupe(out))


def _default_abis(implementation: str, version: Tuple[int, int], platforms: Sequence[str]) -> Tuple[str, ...]:
    """What pip would assume for a CPython it cannot inspect: cp37m before 3.8, cp38 from 3.8 on.

    Python 2 on Linux was mostly built with UCS-4 (``cp27mu``); Windows builds were ``cp27m``. Other
    implementations have no guessable ABI: only ``none`` (and the ``--abi`` the user gives) applies.
    """
    if implementation != "cp":
        return ()
    nodot = f"{version[0]}{version[1]}"
    if version >= (3, 8):
        return (f"cp{nodot}",)
    if version >= (3, 3):
        return (f"cp{nodot}m",)
    linux = any(platform_environment(p)["sys_platform"] == "linux" for p in platforms)
    return (f"cp{nodot}m", f"cp{nodot}mu") if linux else (f"cp{nodot}m",)


def _python_environment(
    python_version: Optional[str], impl: str, host: "Target"
) -> Tuple[Tuple[int, int], Dict[str, str]]:
    """The target's (major, minor) and the five marker keys that describe its Python, not its machine. The host
    is asked only for what the options leave open."""
    if python_version is not None:
        version, full = _parse_python_version(python_version)
    else:
        version, full = (sys.version_info[0], sys.version_info[1]), host.marker_environment()["python_full_version"]
    if impl in _IMPLEMENTATIONS:
        impl_name, impl_platform = _IMPLEMENTATIONS[impl]
    else:  # a host implementation we have no name for
        host_env = host.marker_environment()
        impl_name, impl_platform = host_env["implementation_name"], host_env["platform_python_implementation"]
    if python_version is None and impl == host.implementation:
        impl_version = host.marker_environment()["implementation_version"]
    else:
        # the implementation's own version (PyPy 7.3...): only CPython's is the Python version
        impl_version = full if impl == "cp" else ""
    return version, {
        "python_version": f"{version[0]}.{version[1]}",
        "python_full_version": full,
        "implementation_name": impl_name,
        "platform_python_implementation": impl_platform,
        "implementation_version": impl_version,
    }


def _python2_quirks(env: Dict[str, str], version: Tuple[int, int]) -> None:
    """What Pythons before 3.3 really report: old METADATA has markers written against these values.

    ``sys.implementation`` came with 3.3, so PEP 508 gives ``implementation_name`` ``""`` and
    ``implementation_version`` ``"0"`` there; ``sys.platform`` on Linux was ``linux2`` until 3.3.
    """
    if version >= (3, 3):
        return
    env.update(implementation_name="", implementation_version="0")
    if env["sys_platform"] == "linux":
        env["sys_platform"] = "linux2"


def _host_glibc() -> Optional[Tuple[int, int]]:
    try:
        text = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"
    except (AttributeError, ValueError, OSError):
        return None
    m = re.match(r"glibc (\d+)\.(\d+)", text or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


# ---------------------------------------------------------------------------------------------------------------------
# Target


@dataclass(frozen=True)
class Target:
    """One machine: Python version, implementation, ABIs, platform tags, and its marker environment.

    Build it with :meth:`from_host` or :meth:`from_options`, not by hand. ``platforms`` holds the tags as given
    (``manylinux2010_x86_64``); :meth:`tags` expands them.

        >>> t = Target.from_options(python_version="2.7", platforms=["win32"])
        >>> t.marker_environment()["os_name"], t.abis
        ('nt', ('cp27m',))
    """

    python_version: str  # "3.7"
    implementation: str  # "cp", "pp", ...
    abis: Tuple[str, ...]
    platforms: Tuple[str, ...]
    environment: Tuple[Tuple[str, str], ...] = field(repr=False)  # the 11 marker keys, in MARKER_KEYS order
    glibc: Optional[Tuple[int, int]] = None  # (2, 28) for manylinux_2_28; the host's glibc for the host
    is_host: bool = False

    # -----------------------------------------------------------------------------------------------------------------
    # constructors

    @classmethod
    def from_host(cls) -> "Target":
        """The running interpreter on this machine: the tags pip would accept, ``default_environment()``."""
        return _host_target(cls)

    @classmethod
    def _probe_host(cls) -> "Target":
        host_tags = list(_tags.sys_tags())
        impl = _tags.interpreter_name()
        interpreter = f"{impl}{_tags.interpreter_version()}"
        abis = _dedupe(t.abi for t in host_tags if t.interpreter == interpreter and t.abi not in ("abi3", "none"))
        env = default_environment()
        return cls(
            python_version=f"{sys.version_info[0]}.{sys.version_info[1]}",
            implementation=impl,
            abis=tuple(abis),
            platforms=tuple(_dedupe(_tags.platform_tags())),
            environment=tuple((k, str(env[k])) for k in MARKER_KEYS),
            glibc=_host_glibc(),
            is_host=True,
        )

    @classmethod
    def from_options(
        cls,
        python_version: Optional[str] = None,
        implementation: Optional[str] = None,
        abis: Optional[Iterable[str]] = None,
        platforms: Optional[Iterable[str]] = None,
    ) -> "Target":
        """A target from pip-style options; what is not given comes from the host (as with pip).

            >>> Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"]).abis
            ('cp312',)

        ``platforms`` are tags (``manylinux2014_x86_64``, ``musllinux_1_2_aarch64``, ``macosx_11_0_arm64``,
        ``win_amd64``, ``win32``, ``linux_x86_64``...) or the names ``linux`` (= ``manylinux_2_17_x86_64``),
        ``darwin``/``macos`` (= ``macosx_11_0_arm64``), ``windows`` (= ``win_amd64``). Values may be
        comma-separated. Bad values raise :class:`~wheelmeta.errors.UsageError`.
        """
        abis = [a.strip().lower() for v in (abis or ()) for a in v.split(",") if a.strip()]
        if python_version is None and implementation is None and not abis and platforms is None:
            return cls.from_host()
        host = _HostOnDemand(cls)
        impl = _parse_implementation(implementation) if implementation is not None else _tags.interpreter_name()
        version, env = _python_environment(python_version, impl, host)
        if platforms is not None:
            plats = _parse_platforms(platforms)
            env.update(platform_environment(plats[0]))
            glibc = next((g for g in map(_glibc_of, plats) if g), None)
        else:
            plats, glibc = host.platforms, host.glibc
            env.update({k: v for k, v in host.environment if k not in env})
        _warn_mixed_systems(plats)
        _python2_quirks(env, version)
        if not abis:
            same_python = python_version is None and impl == host.implementation
            abis = list(host.abis) if same_python else list(_default_abis(impl, version, plats))
        return cls(
            python_version=f"{version[0]}.{version[1]}",
            implementation=impl,
            abis=tuple(_dedupe(abis)),
            platforms=plats,
            environment=tuple((k, env[k]) for k in MARKER_KEYS),
            glibc=glibc,
        )

    # -----------------------------------------------------------------------------------------------------------------
    # tags

    def tags(self) -> List[Tag]:
        """Every tag this target accepts, most preferred first (the order pip ranks wheels by).

        For the host this is exactly ``list(packaging.tags.sys_tags())``.
        """
        return list(self._tags)

    @cached_property
    def _tags(self) -> Tuple[Tag, ...]:
        if self.is_host:
            return tuple(_tags.sys_tags())
        version = tuple(int(x) for x in self.python_version.split("."))
        platforms = _dedupe(p for plat in self.platforms for p in expand_platform(plat))
        interpreter = f"{self.implementation}{version[0]}{version[1]}"
        if self.implementation == "cp":
            first = _tags.cpython_tags(version, self.abis, platforms)
        else:
            first = _tags.generic_tags(interpreter, self.abis, platforms)
        return tuple(_dedupe([*first, *_tags.compatible_tags(version, interpreter, platforms)]))

    @cached_property
    def _priorities(self) -> Mapping[Tag, int]:
        ranks: Dict[Tag, int] = {}
        for rank, tag in enumerate(self._tags):
            ranks.setdefault(tag, rank)
        return ranks

    def tag_priority(self, tag: Tag) -> Optional[int]:
        """0 for the most preferred tag, larger for worse ones, ``None`` when the target cannot use ``tag``."""
        return self._priorities.get(tag)

    def best_wheel_priority(self, tags: Iterable[Tag]) -> Optional[int]:
        """The priority of a wheel with ``tags`` (its best tag), ``None`` when no tag fits.

            >>> from packaging.tags import parse_tag
            >>> Target.from_options(python_version="3.12", platforms=["win_amd64"]).best_wheel_priority(
            ...     parse_tag("py2.py3-none-any")) is not None
            True
        """
        found = [p for p in map(self._priorities.get, tags) if p is not None]
        return min(found) if found else None

    def supports(self, tags: Iterable[Tag]) -> bool:
        """True when a wheel with ``tags`` installs on this target."""
        return self.best_wheel_priority(tags) is not None

    # -----------------------------------------------------------------------------------------------------------------
    # markers

    def marker_environment(self) -> Dict[str, str]:
        """The 11 PEP 508 marker variables on this target (a new dict each call; add ``extra`` freely).

        For a target other than the host, ``platform_release`` and ``platform_version`` are ``""`` (a tag says
        nothing about the kernel), and ``python_full_version`` is ``X.Y.0`` unless a patch level was given.
        """
        return dict(self.environment)

    def describe(self) -> str:
        """One line for humans, e.g. ``cp312 (cp312) on manylinux_2_28_x86_64``."""
        where = "this host" if self.is_host else ", ".join(self.platforms)
        nodot = self.python_version.replace(".", "")
        return f"{self.implementation}{nodot} ({', '.join(self.abis) or 'none'}) on {where}"

    def to_json(self) -> dict:
        """The target as the CLI prints it with ``--json``."""
        return {
            "python_version": self.python_version,
            "implementation": self.implementation,
            "abis": list(self.abis),
            "platforms": list(self.platforms),
            "glibc": ".".join(map(str, self.glibc)) if self.glibc else None,
            "is_host": self.is_host,
            "marker_environment": self.marker_environment(),
        }


class _HostOnDemand:
    """The host's Target, probed when first asked: options that name the Python, the ABIs and the platforms never
    probe it (sys_tags and the interpreter's ELF header: a few milliseconds of every lock)."""

    def __init__(self, cls) -> None:
        self._cls = cls

    def __getattr__(self, name: str):
        return getattr(self._cls.from_host(), name)


@lru_cache(maxsize=None)
def _host_target(cls) -> Target:
    # probing the host (glibc, the interpreter's ELF header, sysconfig) costs milliseconds; it cannot change
    return cls._probe_host()


def _warn_mixed_systems(platforms: Sequence[str]) -> None:
    systems = _dedupe(platform_environment(p)["sys_platform"] for p in platforms)
    if len(systems) > 1:
        # tags may mix systems, but markers describe one machine: the first platform's
        log.warning("platforms %s span %s; markers are evaluated for %s", ", ".join(platforms),
                    " and ".join(systems), platforms[0])


# ---------------------------------------------------------------------------------------------------------------------
# requirements


def evaluate_requirements(
    reqs: Iterable[Requirement], target: Target, extras: Iterable[str] = ()
) -> Tuple[Requirement, ...]:
    """The requirements whose markers hold on ``target`` with ``extras`` selected, in METADATA order.

        >>> reqs = [Requirement('pywin32; sys_platform == "win32"'), Requirement('PySocks; extra == "socks"')]
        >>> win = Target.from_options(python_version="3.12", platforms=["win_amd64"])
        >>> [r.name for r in evaluate_requirements(reqs, win, extras=["Socks"])]
        ['pywin32', 'PySocks']

    A marker holds when it holds with ``extra`` set to ``""`` or to any selected extra; extra names are compared
    normalized (PEP 685, as pip does with packaging >= 22). A marker that cannot be evaluated (an undefined
    comparison) is logged and the requirement left out.
    """
    env = target.marker_environment()
    selected = [""] + _dedupe(canonicalize_name(e) for e in extras if e.strip())
    out = []
    for req in reqs:
        if req.marker is None or any(_holds(req, {**env, "extra": e}) for e in selected):
            out.append(req)
    return tuple(out)


def normalized_requirements(reqs: Iterable[Requirement]) -> Dict[str, Tuple[frozenset, SpecifierSet, str]]:
    """Requirements that already apply (markers evaluated), in a form whose equality is semantic: canonical name
    -> (canonical extras, the intersection of every specifier given for it, direct URL). ``foo>=1`` and ``Foo<2``
    as two lines equal ``foo<2,>=1``; ``==1.0`` equals ``==1`` (packaging's specifier equality).

        >>> a = normalized_requirements([Requirement("Foo>=1"), Requirement("foo<2")])
        >>> a == normalized_requirements([Requirement("foo<2.0,>=1.0")])
        True
    """
    out: Dict[str, Tuple[frozenset, SpecifierSet, str]] = {}
    for req in reqs:
        name = canonicalize_name(req.name)
        extras, spec, url = out.get(name, (frozenset(), SpecifierSet(), ""))
        out[name] = (extras | {canonicalize_name(e) for e in req.extras}, spec & req.specifier, url or req.url or "")
    return out


def requirement_text(name: str, normalized: Tuple[frozenset, SpecifierSet, str]) -> str:
    """One entry of :func:`normalized_requirements` as a PEP 508 string, for reports."""
    extras, spec, url = normalized
    text = name + (f"[{','.join(sorted(extras))}]" if extras else "")
    return f"{text} @ {url}" if url else text + str(spec)


# What packaging raises for markers it parses but cannot evaluate: an undefined comparison, a quoted string where
# a variable belongs ('a' == 'a': KeyError), a version too long for int() (ValueError)
_UNEVALUABLE = (UndefinedComparison, KeyError, ValueError, TypeError)


def _holds(req: Requirement, env: Mapping[str, str]) -> bool:
    try:
        return req.marker.evaluate(env)  # type: ignore[union-attr]
    except _UNEVALUABLE as exc:
        log.warning("cannot evaluate marker of %r: %s", str(req)[:200], str(exc)[:200])
        return False


def marker_problem(req: Requirement) -> Optional[str]:
    """Why ``req``'s marker cannot be evaluated on any machine, or None: a parser keeps the requirement and
    reports this as a problem on it (evaluation then leaves the requirement out, with a warning).

        >>> print(marker_problem(Requirement("x; 'a' == 'a'")))
        marker "a" == "a" cannot be evaluated: KeyError 'a'
    """
    if req.marker is None:
        return None
    try:
        req.marker.evaluate(_trial_environment())
    except _UNEVALUABLE as exc:
        return f"marker {str(req.marker)[:200]} cannot be evaluated: {type(exc).__name__} {str(exc)[:200]}"
    return None


@lru_cache(maxsize=1)
def _trial_environment() -> Dict[str, str]:
    return {**default_environment(), "extra": ""}


def marker_extras(reqs: Iterable[Requirement]) -> List[str]:
    """The extra names (normalized) the markers of ``reqs`` mention, in first-seen order.

    With ``Provides-Extra`` it tells whether a requested extra exists at all (pip warns when it does not).
    """
    found: List[str] = []
    for req in reqs:
        if req.marker is not None:
            found.extend(_extras_in(req.marker._markers))
    return _dedupe(found)


def _extras_in(markers) -> Iterator[str]:
    # packaging keeps a marker as nested lists of (Variable, Op, Value) tuples and "and"/"or" strings
    for item in markers:
        if isinstance(item, list):
            yield from _extras_in(item)
        elif isinstance(item, tuple) and len(item) == 3:
            lhs, _, rhs = item
            if type(lhs).__name__ == "Variable" and lhs.value == "extra":
                yield canonicalize_name(str(rhs.value))
            elif type(rhs).__name__ == "Variable" and rhs.value == "extra":
                yield canonicalize_name(str(lhs.value))
