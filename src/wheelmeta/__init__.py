"""wheelmeta: what a Python distribution needs.

The public library API. Names are re-exported lazily (PEP 562), so ``import wheelmeta`` stays cheap and a local scan
never imports the HTTP stack::

    >>> import wheelmeta
    >>> md = wheelmeta.read_metadata("dist/requests-2.32.3-py3-none-any.whl")          # doctest: +SKIP
    >>> audit = wheelmeta.audit_wheel("tensorflow-2.1.0-cp37-cp37m-manylinux2010_x86_64.whl")  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    # errors
    "WheelmetaError": "errors",
    "UsageError": "errors",
    "InvalidArchive": "errors",
    "InvalidWheel": "errors",
    "InvalidSdist": "errors",
    "StoreError": "errors",
    "ResolutionError": "errors",
    "MetadataError": "errors",
    "SandboxError": "errors",
    "NetworkError": "errors",
    "NoMatchingDistribution": "errors",
    "SettingsFileError": "errors",
    "InvalidLock": "errors",
    # model
    "DistMetadata": "model",
    "DistFile": "model",
    "ElfFacts": "model",
    "WheelAudit": "model",
    "BinaryAudit": "model",
    "MachOFacts": "model",
    "PEFacts": "model",
    "Choice": "model",
    # targets
    "Target": "target",
    # metadata
    "read_metadata": "extract",
    "audit_wheel": "extract",
    "nix_inputs": "patchelf_nix.classify",
    "NixInputs": "patchelf_nix.classify",
    "SonameMap": "patchelf_nix.sonames",
    "check_audits": "patchelf_nix.nixpkgs_check",
    "locate_nixpkgs": "patchelf_nix.nixpkgs_check",
    "nix_expression": "patchelf_nix.expression",
    "environment_expression": "patchelf_nix.environment",
    "read_pylock": "patchelf_nix.environment",
    # indexes and the provider
    "choose": "index.provider",
    "Preference": "index.provider",
    "IndexClient": "index.simple",
    "IndexConfig": "index.config",
    "HttpClient": "http",
    "read_remote_metadata": "extract.remote",
    # locking
    "lock_requirements": "resolve",
    "MetadataStore": "store",
    # sources
    "ByteSource": "sources",
    "LocalFileSource": "sources",
    "BytesSource": "sources",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'wheelmeta' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return __all__
