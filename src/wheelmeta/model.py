"""Frozen dataclasses shared by every layer.

Lower layers (``wheels/``, ``sdist/``, ``manylinux/``, ``index/``) produce these; ``patchelf_nix/`` and ``cli.py``
consume them. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, NamedTuple, Optional, Sequence, Tuple

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
