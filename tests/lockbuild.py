"""PEP 751 locks for tests: built as dicts, validated by ``packaging.pylock``, written as TOML.

The standard library reads TOML but does not write it, and the project has no TOML writer; :func:`toml_text`
writes the subset a lock needs (strings, integers, booleans, arrays, tables) as inline tables, which is valid TOML
1.0 that ``tomllib`` reads back to the same dict (checked on every write).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from packaging.pylock import Pylock

INDEX = "http://127.0.0.1:9/simple/"
TARGET_MARKER = "python_full_version == '3.12.*' and sys_platform == 'linux' and platform_machine == 'x86_64'"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string for the text tests use
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_value(v)}" for k, v in value.items()) + " }"
    return "[ " + ", ".join(_value(v) for v in value) + " ]"


def toml_text(data: Mapping[str, Any]) -> str:
    """``data`` as TOML, one top-level key per line; asserts it reads back equal."""
    text = "".join(f"{json.dumps(k)} = {_value(v)}\n" for k, v in data.items())
    assert tomllib.loads(text) == data
    return text


def sha256_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def archive(filename: str) -> Dict[str, Any]:
    """A PEP 751 wheel or sdist entry on the test index, with a hash derived from its name."""
    return {"name": filename, "url": f"http://127.0.0.1:9/files/{filename}", "size": 1000,
            "hashes": {"sha256": sha256_of(filename)}}


def package(name: str, version: str, *, wheel: Optional[str] = None, sdist: bool = False,
            dependencies: List[str] = (), wheelmeta: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """One ``[[packages]]`` entry in the contract's key order (LOCKSCHEMA / docs/lock.md)."""
    entry: Dict[str, Any] = {"name": name, "version": version, "index": INDEX}
    if dependencies:
        entry["dependencies"] = [{"name": d} for d in sorted(dependencies)]
    if sdist:
        entry["sdist"] = archive(f"{name.replace('-', '_')}-{version}.tar.gz")
    if wheel:
        entry["wheels"] = [archive(f"{name.replace('-', '_')}-{version}-{wheel}.whl")]
    entry["tool"] = {"wheelmeta": {"provenance": "pep658", **(wheelmeta or {})}}
    return entry


def lock_dict(packages: List[Dict[str, Any]]) -> Dict[str, Any]:
    return {
        "lock-version": "1.0",
        "environments": [TARGET_MARKER],
        "requires-python": "==3.12.*",
        "extras": [],
        "dependency-groups": [],
        "default-groups": [],
        "created-by": "wheelmeta",
        "packages": sorted(packages, key=lambda p: p["name"]),
        "tool": {"wheelmeta": {"platforms": ["manylinux_2_28_x86_64"], "abis": ["cp312"], "implementation": "cp"}},
    }


def write_lock(path: Path, packages: List[Dict[str, Any]]) -> Path:
    """Write a lock that ``packaging.pylock`` accepts (validated before it is written)."""
    data = lock_dict(packages)
    Pylock.from_dict(data)
    path.write_text(toml_text(data))
    return path


def seed_packages() -> List[Dict[str, Any]]:
    """The lock the environment tests share, one package per case the writer distinguishes:

    ``fastmath``    a wheel with native inputs (C++ runtime, zlib, a driver library, an unknown library, a library
                    from another locked wheel) and an sdist with build requirements; depends on ``purelib`` and
                    ``tensorflow``
    ``purelib``     a pure wheel and an sdist
    ``oldsetup``    only an sdist, with no build requirements recorded
    ``tensorflow``  only a wheel (as 2.1.0 on manylinux2010), the C++ runtime its only native input; it carries
                    the library ``fastmath`` finds through a search path
    """
    return [
        package("fastmath", "2.0", wheel="cp312-cp312-manylinux_2_28_x86_64", sdist=True,
                dependencies=["purelib", "tensorflow"],
                wheelmeta={"build-requires": ["Cython>=3", "setuptools>=61", "wheel; python_version < '3.8'"],
                           "build-backend": "setuptools.build_meta",
                           "nix": {"build-inputs": ["stdenv.cc.cc.lib", "zlib"],
                                   "ignore-missing-deps": ["libcuda.so.1"],
                                   "driver-runpath": True,
                                   "python-search-paths": [{"attribute": "tensorflow", "path": "tensorflow_core"}],
                                   "unknown": ["libmystery.so.3"],
                                   "import-modules": ["fastmath"]}}),
        package("oldsetup", "0.9", sdist=True),
        package("purelib", "1.0", wheel="py3-none-any", sdist=True,
                wheelmeta={"build-requires": ["flit-core>=3.2"], "build-backend": "flit_core.buildapi"}),
        package("tensorflow", "2.1.0", wheel="cp37-cp37m-manylinux2010_x86_64",
                wheelmeta={"nix": {"build-inputs": ["stdenv.cc.cc.lib"], "import-modules": ["tensorflow"]}}),
    ]


#: what the environment stub must provide for :func:`seed_packages`
SEED_NATIVE = ["stdenv.cc.cc.lib", "zlib"]
SEED_NIXPKGS_PYTHON = ["cython", "flit-core", "setuptools", "wheel", "fastmath", "purelib", "oldsetup", "tensorflow"]
