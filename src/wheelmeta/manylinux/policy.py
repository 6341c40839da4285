"""The manylinux and musllinux policies, as data: which sonames a system provides, which symbol versions it has.

The facts live in ``manylinux-policy.json`` and ``musllinux-policy.json`` next to this module (copied from
auditwheel's policy files; their ``sources`` field names the PEPs). This module only loads them for one
architecture and answers auditwheel's questions, with auditwheel's meaning::

    >>> policies = load_policies("x86_64")
    >>> policies.versioned_symbols_policy({"libc.so.6": {"GLIBC_2.17"}}).name
    'manylinux_2_17_x86_64'
    >>> policies.by_name("manylinux2010_x86_64").name
    'manylinux_2_12_x86_64'
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Iterator, List, Mapping, Set, Tuple

__all__ = ["Policy", "PolicySet", "load_policies", "policy_data", "ARCHITECTURES"]

_HERE = Path(__file__).parent
_FILES = {"glibc": "manylinux-policy.json", "musl": "musllinux-policy.json"}

#: wheel-tag architectures the policy files know, and musl's name for each (its libc soname carries it)
ARCHITECTURES = {
    "x86_64": "x86_64",
    "i686": "x86",
    "aarch64": "aarch64",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "armv7l": "armv7",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}


@dataclass(frozen=True)
class Policy:
    """One platform tag for one architecture: ``manylinux_2_17_x86_64`` (alias ``manylinux2014_x86_64``)."""

    name: str
    aliases: Tuple[str, ...]
    priority: int  # higher is more compatible; the generic "linux" policy is 0
    symbol_versions: Mapping[str, FrozenSet[str]]  # "GLIBC" -> {"2.2.5", ...}
    whitelist: FrozenSet[str]  # sonames every such system provides
    blacklist: Mapping[str, FrozenSet[str]]  # soname -> symbols that must not be imported from it

    def __lt__(self, other: "Policy") -> bool:
        return self.priority < other.priority

    @property
    def is_linux(self) -> bool:
        """The catch-all ``linux_<arch>`` policy: no whitelist, anything goes."""
        return self.priority == 0

    def versioned_symbols_fit(self, versioned_symbols: Mapping[str, Iterable[str]]) -> bool:
        """Whether this policy has every version in ``versioned_symbols`` (library -> versions)."""
        required: Dict[str, Set[str]] = {}
        for versions in versioned_symbols.values():
            for version in versions:
                required.setdefault(version.partition("_")[0], set()).add(version)
        return self.allows_versions(required)

    def allows_versions(self, required: Mapping[str, Set[str]]) -> bool:
        """Whether every required ``PREFIX_version`` (grouped by prefix) is one this policy has."""
        for prefix, versions in required.items():
            allowed = self.symbol_versions.get(prefix)
            if allowed is not None and not {v.partition("_")[2] for v in versions} <= allowed:
                return False
        return True


class PolicySet:
    """The policies of one libc and architecture, sorted from ``linux`` (priority 0) to the most compatible."""

    def __init__(self, libc: str, arch: str, policies: List[Policy]) -> None:
        self.libc = libc
        self.arch = arch
        self.policies = tuple(sorted(policies))

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    @property
    def linux(self) -> Policy:
        return self.policies[0]

    @property
    def highest(self) -> Policy:
        return self.policies[-1]

    @property
    def lowest(self) -> Policy:
        """The least compatible policy that is not ``linux``."""
        return self.policies[1]

    def by_name(self, name: str) -> Policy:
        """The policy named ``name`` or having it as an alias; KeyError if none."""
        for p in self.policies:
            if name == p.name or name in p.aliases:
                return p
        raise KeyError(name)

    def versioned_symbols_policy(self, versioned_symbols: Mapping[str, Iterable[str]]) -> Policy:
        """The most compatible policy whose symbol versions cover all of ``versioned_symbols`` (lib -> versions).

        As in auditwheel, versions are grouped by prefix (``GLIBC``, ``GLIBCXX``, ``CXXABI``...) whatever the
        library that asked for them, and prefixes a policy does not list are not constrained.
        """
        for policy in reversed(self.policies):
            if policy.is_linux or policy.versioned_symbols_fit(versioned_symbols):
                return policy
        return self.linux  # pragma: no cover - linux always matches


@functools.lru_cache(maxsize=None)
def policy_data(libc: str = "glibc") -> dict:
    """The parsed policy file of ``libc`` ("glibc" or "musl"): ``{"sources": ..., "policies": [...]}``."""
    return json.loads((_HERE / _FILES[libc]).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def load_policies(arch: str, libc: str = "glibc") -> PolicySet:
    """The policies for ``arch`` (a wheel-tag architecture, e.g. ``x86_64``) and ``libc`` ("glibc" or "musl").

    For musl, as auditwheel does on a machine without musl, only ``linux`` and the newest musllinux policy.
    """
    policies = []
    for raw in policy_data(libc)["policies"]:
        is_linux = raw["name"] == "linux"
        if not is_linux and arch not in raw["symbol_versions"]:
            continue
        whitelist = frozenset(_musl_soname(s, arch) if libc == "musl" else s for s in raw["lib_whitelist"])
        policies.append(
            Policy(
                name=f"{raw['name']}_{arch}",
                aliases=tuple(f"{a}_{arch}" for a in raw["aliases"]),
                priority=raw["priority"],
                symbol_versions={} if is_linux else {k: frozenset(v) for k, v in raw["symbol_versions"][arch].items()},
                whitelist=whitelist,
                blacklist={k: frozenset(v) for k, v in raw["blacklist"].items()},
            )
        )
    policies.sort()
    if libc == "musl":
        policies = policies[:2]
    return PolicySet(libc, arch, policies)


def _musl_soname(soname: str, arch: str) -> str:
    """musl's libc is ``libc.musl-<arch>.so.1``; the policy file writes it as ``libc.so``."""
    return f"libc.musl-{ARCHITECTURES.get(arch, arch)}.so.1" if soname == "libc.so" else soname
