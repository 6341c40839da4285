"""Frozen dataclasses shared by every layer.

Lower layers (``wheels/``, ``sdist/``, ``manylinux/``, ``index/``) produce these; ``patchelf_nix/`` and ``cli.py``
consume them. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, Mapping, NamedTuple, Optional, Sequence, Tuple

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if TYPE_CHECKING:  # pragma: no cover
    from .target import Target

__all__ = [
    "PROVENANCES",
    "STATIC_PROVENANCES",
    "DistMetadata",
    "DistFile",
    "ElfFacts",
    "WheelAudit",
    "Choice",
    "MachOSlice",
    "MachOFacts",
    "PEFacts",
    "LinkedLibrary",
    "BinaryAudit",
]

#: How a DistMetadata was learned. The first seven were read, never executed (``static-partial`` may be incomplete).
PROVENANCES = (
    "wheel-metadata",  # METADATA inside a wheel
    "pep658",  # the index's .metadata file for a wheel (PEP 658/714)
    "pkg-info-static",  # sdist PKG-INFO, Metadata-Version >= 2.2, fields not Dynamic (PEP 643)
    "pep621",  # pyproject.toml [project] with static fields
    "poetry",  # pyproject.toml [tool.poetry], static TOML converted
    "setup-cfg",  # setup.cfg [options] read statically
    "static-partial",  # an sdist whose code was not run (no sandbox contains it): static files only, see problems
    "setup-py-sandboxed",  # setup.py run under a patched setup() in the sandbox
    "pep517-hook",  # prepare_metadata_for_build_wheel in the sandbox
)
STATIC_PROVENANCES = frozenset(PROVENANCES[:7])


@dataclass(frozen=True)
class DistMetadata:
    """Dependency metadata of one distribution file, however it was obtained.

    ``requires_dist`` keeps markers (``extra == "socks"`` included); :meth:`for_target` evaluates them.
    ``problems`` lists what could not be parsed: the result is lenient but never silent.

        >>> md = read_metadata("requests-2.32.3-py3-none-any.whl")      # doctest: +SKIP
        >>> [str(r) for r in md.for_target(Target.from_host(), extras=["socks"])]  # doctest: +SKIP
    """

    name: str
    version: str
    requires_python: Optional[SpecifierSet] = None
    requires_dist: Tuple[Requirement, ...] = ()
    provides_extra: Tuple[str, ...] = ()
    provenance: str = "wheel-metadata"
    problems: Tuple[str, ...] = ()
    source: str = ""  # the path or URL this was read from
    metadata_version: Optional[str] = None
    summary: Optional[str] = None
    license: Optional[str] = None
    home_page: Optional[str] = None
    project_urls: Mapping[str, str] = field(default_factory=dict)
    # sdists only: what Nix needs at build time, kept apart from runtime requirements
    build_requires: Tuple[Requirement, ...] = ()
    test_requires: Tuple[Requirement, ...] = ()
    # sdists run in the sandbox: which isolation ran and which Python evaluated setup.py
    isolation: Optional[str] = None
    python_version: Optional[str] = None

    @property
    def static(self) -> bool:
        """True when the facts were read, not produced by running the project's code."""
        return self.provenance in STATIC_PROVENANCES

    def for_target(self, target: "Target", extras: Sequence[str] = ()) -> Tuple[Requirement, ...]:
        """The requirements that apply on ``target`` with ``extras`` selected, in METADATA order."""
        from .target import evaluate_requirements

        return evaluate_requirements(self.requires_dist, target, extras)

    def to_json(self) -> dict:
        """The JSON object the CLI prints (``requires_dist`` as ``str(Requirement)``)."""
        out = {
            "file": self.source,
            "name": self.name,
            "version": self.version,
            "requires_python": str(self.requires_python) if self.requires_python is not None else None,
            "requires_dist": [str(r) for r in self.requires_dist],
            "provides_extra": list(self.provides_extra),
            "provenance": self.provenance,
            "static": self.static,
            "problems": list(self.problems),
        }
        if self.build_requires or self.test_requires or self.isolation:
            out["build_requires"] = [str(r) for r in self.build_requires]
            out["test_requires"] = [str(r) for r in self.test_requires]
            out["isolation"] = self.isolation
            out["python_version"] = self.python_version
        return out


@dataclass(frozen=True)
class DistFile:
    """One file offered by an index or a find-links folder."""

    filename: str
    url: str
    kind: str  # "wheel" or "sdist"
    name: str  # canonical project name
    version: Version
    hashes: Mapping[str, str] = field(default_factory=dict)  # algorithm -> hex digest
    size: Optional[int] = None
    requires_python: Optional[str] = None
    yanked: Optional[str] = None  # None: not yanked; "" or a reason: yanked
    core_metadata: Optional[Mapping[str, str]] = None  # PEP 658/714: {} when offered without hashes
    index: str = ""  # the index URL or folder it came from
    upload_time: Optional[str] = None  # ISO 8601, when the index says (PEP 700 JSON ``upload-time``)

    @property
    def sha256(self) -> Optional[str]:
        return self.hashes.get("sha256")

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None


class DlopenNote(NamedTuple):
    """Libraries an ELF file loads with dlopen(), from its FDO ``.note.dlopen`` note: any one of ``sonames``
    serves; ``priority`` is ``required``, ``recommended`` or ``suggested``; ``feature`` says what needs it."""

    sonames: Tuple[str, ...]
    priority: str
    feature: str = ""
    description: str = ""

    @property
    def required(self) -> bool:
        return self.priority == "required"


@dataclass(frozen=True)
class ElfFacts:
    """What one ELF member of a wheel declares, read from its headers and dynamic segment."""

    path: str  # member path inside the wheel
    elf_class: int = 0  # 32 or 64
    endian: str = ""  # "little" or "big"
    machine: str = ""  # e.g. "x86_64", "aarch64", "i686", "ppc64le", "s390x", "armv7l"
    osabi: str = ""
    interpreter: Optional[str] = None  # PT_INTERP
    needed: Tuple[str, ...] = ()  # DT_NEEDED in file order
    soname: Optional[str] = None
    rpath: Tuple[str, ...] = ()
    runpath: Tuple[str, ...] = ()
    # library file name -> version names required from it (.gnu.version_r), e.g. {"libc.so.6": ("GLIBC_2.17",)}
    version_requirements: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)
    problems: Tuple[str, ...] = ()
    # what auditwheel's policies also look at, read from the same bytes (manylinux/elf.py):
    python_init: Optional[str] = None  # the module init function it defines (PyInit_x, initx): a Python extension
    isa_extension: Optional[str] = None  # x86-64 ISA level the GNU property note requires, e.g. "x86_64_v3"
    watched_symbols: Tuple[str, ...] = ()  # undefined symbols the caller asked about (policy blacklists, PyFPE_*)
    dlopen: Tuple[DlopenNote, ...] = ()  # libraries loaded with dlopen(), from .note.dlopen


@dataclass(frozen=True)
class WheelAudit:
    """The audit of one wheel: auditwheel's facts, computed from the wheel's bytes alone."""

    wheel: str  # path or URL
    claimed_tags: Tuple[str, ...] = ()  # platform tags in the filename
    kind: str = "elf"  # "elf", "pure" (no platform tag, no ELF), "non-linux" (macOS/Windows wheel)
    arch: Optional[str] = None  # the architecture judged; None for a wheel judged per architecture (below)
    elf_files: Tuple[ElfFacts, ...] = ()
    carried_libs: Mapping[str, str] = field(default_factory=dict)  # soname -> member path inside the wheel
    # needed name -> member carrying it under another file name (SONAME match only): met only when loaded first
    preloaded_libs: Mapping[str, str] = field(default_factory=dict)
    policy_libs: Tuple[str, ...] = ()  # needed sonames the overall policy allows (glibc family, libstdc++...)
    external_libs: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)  # soname -> members needing it
    versioned_symbols: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)  # lib -> versions
    sym_tag: Optional[str] = None
    overall_tag: Optional[str] = None
    claims_hold: Optional[bool] = None  # do the filename's platform tags hold? None for pure/non-linux
    problems: Tuple[str, ...] = ()
    # a pure wheel with ELF files for several architectures: architecture -> the audit of its members alone
    architectures: Mapping[str, "WheelAudit"] = field(default_factory=dict)

    @property
    def format(self) -> Optional[str]:
        """The binary format read: "elf", or None for a pure wheel and an unread non-Linux one (BinaryAudit has
        "macho" and "pe")."""
        return "elf" if self.kind == "elf" else None


@dataclass(frozen=True)
class Choice:
    """The file chosen for a requirement, and why each other candidate lost.

    ``file`` is None when the requirement is not needed on the target (its marker is false there); ``reason`` then
    says which marker, and nothing was asked of the indexes."""

    requirement: Requirement
    file: Optional[DistFile]
    reason: str
    rejected: Tuple[Tuple[DistFile, str], ...] = ()

    @property
    def needed(self) -> bool:
        """Whether the requirement applies on the target (False: its marker is false there)."""
        return self.file is not None


@dataclass(frozen=True)
class MachOSlice:
    """One architecture of a Mach-O file (a thin file has one), read from its header and load commands."""

    arch: str  # "arm64", "x86_64", "i386", "arm64e", "x86_64h", "ppc", "ppc64", "arm"
    bits: int = 64  # 32 or 64
    filetype: str = ""  # macholib's short name: "dylib", "bundle", "execute", "object"...
    install_name: Optional[str] = None  # LC_ID_DYLIB
    # (install name, command) in file order; command is "load", "weak", "reexport", "upward" or "lazy"
    dylibs: Tuple[Tuple[str, str], ...] = ()
    rpaths: Tuple[str, ...] = ()  # LC_RPATH entries as written
    platform: Optional[str] = None  # "macOS", "iOS"... from LC_BUILD_VERSION / LC_VERSION_MIN_*
    min_os: Optional[str] = None  # "11.0": LC_BUILD_VERSION's minos or LC_VERSION_MIN_MACOSX's version
    sdk: Optional[str] = None


@dataclass(frozen=True)
class MachOFacts:
    """What one Mach-O member of a wheel declares: its slices (one per architecture) and what could not be read."""

    path: str  # member path inside the wheel
    fat: bool = False
    slices: Tuple[MachOSlice, ...] = ()
    problems: Tuple[str, ...] = ()

    @property
    def needed(self) -> Tuple[str, ...]:
        """Every install name some slice loads, first occurrence order."""
        return tuple(dict.fromkeys(name for s in self.slices for name, _ in s.dylibs))


@dataclass(frozen=True)
class PEFacts:
    """What one PE member (DLL, .pyd, .exe) of a wheel declares: its machine and imported DLLs."""

    path: str  # member path inside the wheel
    machine: str = ""  # pefile's machine name without IMAGE_FILE_MACHINE_, lower case: "amd64", "i386", "arm64"
    bits: int = 0  # 32 (PE32) or 64 (PE32+)
    dll: bool = False
    imports: Tuple[str, ...] = ()  # DLL names of the import directory, as written
    delay_imports: Tuple[str, ...] = ()  # DLL names of the delay-load import directory
    problems: Tuple[str, ...] = ()

    @property
    def needed(self) -> Tuple[str, ...]:
        """Imported and delay-loaded DLL names, first occurrence order."""
        return tuple(dict.fromkeys(self.imports + self.delay_imports))


@dataclass(frozen=True)
class LinkedLibrary:
    """One library a binary of a macOS or Windows wheel loads, and where it comes from."""

    name: str  # install name (Mach-O) or DLL name (PE) as written
    kind: str  # Mach-O: "load", "weak", "reexport", "upward", "lazy"; PE: "import" or "delay"
    cls: str  # "carried", "system", "msvc-runtime", "python", "external" or "missing"
    member: Optional[str] = None  # the wheel member that provides it (carried)


@dataclass(frozen=True)
class BinaryAudit:
    """The audit of a macOS (Mach-O) or Windows (PE) wheel: ELF's report shape where the meaning is the same.

    ``carried_libs`` and ``external_libs`` mean what they mean for ELF; ``system_libs`` are provided by the
    operating system (``/usr/lib``, ``/System/Library``; Windows' own DLLs and API sets), ``runtime_libs`` by the
    MSVC runtime or the Python interpreter, and ``missing_libs`` are names that point into the wheel but are not
    there. ``min_os`` is the newest minimum macOS any binary asks for; ``overall_tag`` the tag the binaries allow.
    """

    wheel: str
    format: str  # "macho" or "pe"
    kind: str = "non-linux"  # as WheelAudit's: not a Linux wheel (``format`` says it was read)
    claimed_tags: Tuple[str, ...] = ()
    binaries: Tuple[object, ...] = ()  # MachOFacts or PEFacts
    libraries: Mapping[str, Tuple[LinkedLibrary, ...]] = field(default_factory=dict)  # member -> what it loads
    carried_libs: Mapping[str, str] = field(default_factory=dict)  # name -> member providing it
    system_libs: Tuple[str, ...] = ()
    runtime_libs: Tuple[str, ...] = ()
    external_libs: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)  # name -> members needing it
    missing_libs: Mapping[str, Tuple[str, ...]] = field(default_factory=dict)  # name -> members needing it
    archs: Tuple[str, ...] = ()  # Mach-O architectures or PE machines found, sorted
    min_os: Optional[str] = None  # Mach-O: the newest minimum macOS of any slice
    overall_tag: Optional[str] = None  # the platform tag the binaries honestly allow
    claims_hold: Optional[bool] = None
    problems: Tuple[str, ...] = ()

    # What code written for WheelAudit reads (nix_inputs, the Nix expression, patch): a macOS or Windows wheel has
    # no ELF facts, so to that code it is the non-Linux wheel it already handles. Class constants, not fields.
    elf_files: ClassVar[Tuple[ElfFacts, ...]] = ()
    policy_libs: ClassVar[Tuple[str, ...]] = ()
    versioned_symbols: ClassVar[Mapping[str, Tuple[str, ...]]] = MappingProxyType({})
    preloaded_libs: ClassVar[Mapping[str, str]] = MappingProxyType({})
    architectures: ClassVar[Mapping[str, "WheelAudit"]] = MappingProxyType({})
    sym_tag: ClassVar[Optional[str]] = None
    arch: ClassVar[Optional[str]] = None
