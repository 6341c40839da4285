"""The sdist container (tar.gz, tar.bz2, tar.xz, zip) read member by member with guards; static metadata
(PKG-INFO per PEP 643, pyproject [project] per PEP 621, [tool.poetry], setup.cfg); the sandbox runner and the
shim that patches setuptools.setup() inside it. Entry point: ``read_sdist_metadata(path, ...) -> DistMetadata``.
"""

from .chain import read_sdist_metadata

__all__ = ["read_sdist_metadata"]
