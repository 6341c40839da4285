"""Python distribution names -> the attribute names nixpkgs gives them in ``python3Packages``.

nixpkgs names a Python package by its normalized distribution name (PEP 503: lowercase, runs of ``-_.`` become
one ``-``), so ``PyYAML`` is ``pyyaml``, ``typing_extensions`` is ``typing-extensions`` and ``zope.interface`` is
``zope-interface``. A few packages are named otherwise; :data:`EXCEPTIONS` lists those we know (``opencv4``,
``pygobject3`` and the ``libusb1`` shadowing were read in ``pkgs/top-level/python-packages.nix``; the rest are
well-known nixpkgs names, not re-checked one by one)::

    >>> python_attribute("PyYAML"), python_attribute("opencv-python-headless")
    ('pyyaml', 'opencv4')

The NVIDIA CUDA library wheels (``nvidia-cublas-cu12``, CUDA 13's unsuffixed ``nvidia-cublas``, the
``cuda-toolkit`` meta wheel) have no Python package in nixpkgs: their libraries come from ``cudaPackages`` as build
inputs (nixpkgs' own torch-bin does this), so :func:`python_attribute` returns None for them.
"""

from __future__ import annotations

import re
from typing import Optional

from packaging.utils import canonicalize_name

__all__ = ["python_attribute", "EXCEPTIONS", "PYTHON_SCOPE_SHADOWS", "is_cuda_wheel"]

#: Distribution names (normalized) whose nixpkgs attribute is not the normalized name itself.
EXCEPTIONS = {
    # one package in nixpkgs builds the Python bindings of the C++ library
    "opencv-python": "opencv4",
    "opencv-python-headless": "opencv4",
    "opencv-contrib-python": "opencv4",
    "opencv-contrib-python-headless": "opencv4",
    "pygobject": "pygobject3",
    # binary re-packagings and hardware variants of one project
    "psycopg2-binary": "psycopg2",
    "tensorflow-cpu": "tensorflow",
    "tensorflow-gpu": "tensorflow",
    "faiss-cpu": "faiss",
    "faiss-gpu": "faiss",
    # deprecated aliases that install the real project
    "sklearn": "scikit-learn",
    "bs4": "beautifulsoup4",
}

#: Native nixpkgs attributes that python3Packages also defines as Python packages. An expression called with
#: ``python3Packages.callPackage`` would receive the Python package for such a formal, so the writer takes the
#: native one as ``pkgs.<name>`` instead (nixpkgs itself passes ``inherit (pkgs) zstd;`` in python-packages.nix).
PYTHON_SCOPE_SHADOWS = frozenset(
    {
        "brotli",
        "capstone",
        "gdal",
        "gpgme",
        "graphviz",
        "libclang",
        "libusb1",
        "libvirt",
        "libxml2",
        "lz4",
        "onnxruntime",
        "opencv4",
        "protobuf",
        "sentencepiece",
        "systemd",
        "tree-sitter",
        "unicorn",
        "xmlsec",
        "xxhash",
        "z3",
        "zstd",
    }
)

# NVIDIA's wheels of CUDA libraries: "-cuXX" suffixed up to CUDA 12 (and for some libraries in 13), unsuffixed
# in CUDA 13 (nvidia-cublas, nvidia-cuda-runtime). Listed by library so nvidia-ml-py & co. stay Python packages.
_CUDA_WHEEL = re.compile(
    r"(nvidia-(cublas|cuda-[a-z]+|cudnn|cufft|cufile|curand|cusolver|cusparse|cusparselt|nccl|nvjitlink|nvtx|"
    r"nvshmem|nvvm|npp|nvjpeg)(-cu\d+)?|cuda-toolkit)\Z"
)


def is_cuda_wheel(name: str) -> bool:
    """True for NVIDIA's CUDA library wheels (``nvidia-cudnn-cu12``, ``nvidia-cublas``, ``cuda-toolkit``), whose
    libraries nixpkgs provides as ``cudaPackages``."""
    return bool(_CUDA_WHEEL.match(canonicalize_name(name)))


def python_attribute(name: str) -> Optional[str]:
    """The ``python3Packages`` attribute for distribution ``name``, or None when nixpkgs has no Python package for
    it by design (the CUDA library wheels)."""
    normalized = canonicalize_name(name)
    if is_cuda_wheel(normalized):
        return None
    return EXCEPTIONS.get(normalized, normalized)
