"""PEP 517 metadata through pyproject-hooks with the hook in the sandbox; offline (find-links folders only)."""

from __future__ import annotations

import select
import socket
import textwrap
from pathlib import Path

import pytest

from builders import make_wheel
from wheelmeta.errors import SandboxError
from wheelmeta.sdist.pep517 import prepare_metadata, read_build_system
from wheelmeta.sdist.sandbox import detect_isolation

TINY_BACKEND = '''\
import os

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    folder = os.path.join(metadata_directory, "tiny-1.0.dist-info")
    os.makedirs(folder)
    with open(os.path.join(folder, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: tiny\\nVersion: 1.0\\nRequires-Dist: built-by-tinybackend\\n")
    return "tiny-1.0.dist-info"

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    raise NotImplementedError
'''


def make_tree(tmp_path: Path, pyproject: str, files: dict | None = None) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "pyproject.toml").write_text(textwrap.dedent(pyproject))
    for name, text in (files or {}).items():
        (tree / name).write_text(textwrap.dedent(text))
    return tree


def in_tree_backend(tmp_path: Path, hook_body: str) -> Path:
    """A tree whose backend is ``backend.py`` inside it (backend-path), running ``hook_body`` in the hook."""
    hook = "def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):\n" + textwrap.indent(
        textwrap.dedent(hook_body), "    ")
    return make_tree(tmp_path, """\
        [build-system]
        requires = []
        build-backend = "backend"
        backend-path = ["."]
    """, {"backend.py": hook + "\ndef build_wheel(*a, **k):\n    raise NotImplementedError\n"})


def test_installed_setuptools_backend_gives_metadata(tmp_path):
    tree = make_tree(tmp_path, """\
        [build-system]
        requires = []
        build-backend = "setuptools.build_meta"
    """, {"setup.cfg": """\
        [metadata]
        name = viahook
        version = 1.2
        [options]
        install_requires = six>=1.10
        python_requires = >=3.8
    """})
    metadata, isolation = prepare_metadata(tree, index_urls=[])
    assert b"Name: viahook" in metadata and b"Requires-Dist: six>=1.10" in metadata
    assert b"Requires-Python: >=3.8" in metadata
    assert isolation == detect_isolation()


def test_build_requirements_are_installed_from_find_links_without_an_index(tmp_path):
    links = tmp_path / "links"
    make_wheel(links, "tinybackend", "1.0", files={"tinybackend.py": TINY_BACKEND.encode()})
    tree = make_tree(tmp_path, """\
        [build-system]
        requires = ["tinybackend>=1"]
        build-backend = "tinybackend"
    """)
    metadata, _ = prepare_metadata(tree, index_urls=[], find_links=[str(links)])
    assert b"Requires-Dist: built-by-tinybackend" in metadata
    assert sorted(p.name for p in tree.iterdir()) == ["pyproject.toml"]


def test_build_requirement_that_cannot_be_found_is_reported(tmp_path):
    (tmp_path / "empty").mkdir()
    tree = make_tree(tmp_path, """\
        [build-system]
        requires = ["no-such-backend-xyz"]
        build-backend = "nosuch"
    """)
    with pytest.raises(SandboxError, match="installing build requirements no-such-backend-xyz failed"):
        prepare_metadata(tree, index_urls=[], find_links=[str(tmp_path / "empty")], where="x-1.0.tar.gz")


def test_backend_that_is_not_importable_is_reported(tmp_path):
    tree = make_tree(tmp_path, """\
        [build-system]
        requires = []
        build-backend = "no_such_backend_module"
    """)
    with pytest.raises(SandboxError, match="backend 'no_such_backend_module' is not available"):
        prepare_metadata(tree, index_urls=[])


def test_hook_that_never_returns_is_stopped(tmp_path):
    tree = in_tree_backend(tmp_path, "while True:\n    pass\n")
    with pytest.raises(SandboxError, match="prepare_metadata_for_build_wheel (timed out after 3 s|killed: CPU)"):
        prepare_metadata(tree, index_urls=[], timeout=3.0)


def test_hook_cannot_reach_a_local_listener(tmp_path):
    if detect_isolation() == "rlimits-only":
        pytest.skip("no network isolation on this machine")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    tree = in_tree_backend(tmp_path, f"""\
        import socket
        socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=2).sendall(b"leak")
    """)
    with pytest.raises(SandboxError, match="prepare_metadata_for_build_wheel exited with status 1"):
        prepare_metadata(tree, index_urls=[])
    assert not select.select([server], [], [], 0.5)[0]
    server.close()


def test_returned_name_that_climbs_out_is_refused(tmp_path):
    tree = in_tree_backend(tmp_path, 'return "../../escape.dist-info"\n')
    with pytest.raises(SandboxError, match="not a .dist-info folder name"):
        prepare_metadata(tree, index_urls=[])


def test_metadata_symlinked_to_a_host_file_is_refused(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("Name: stolen\n")
    tree = in_tree_backend(tmp_path, f"""\
        import os
        os.makedirs(os.path.join(metadata_directory, "x-1.dist-info"))
        os.symlink({str(secret)!r}, os.path.join(metadata_directory, "x-1.dist-info", "METADATA"))
        return "x-1.dist-info"
    """)
    with pytest.raises(SandboxError, match="wrote no regular file x-1.dist-info/METADATA"):
        prepare_metadata(tree, index_urls=[])


def test_no_build_system_table_means_setuptools_legacy_backend(tmp_path):
    tree = make_tree(tmp_path, "[tool.black]\nline-length = 100\n")
    build_system = read_build_system(tree)
    assert build_system.backend == "setuptools.build_meta:__legacy__"
    assert build_system.requires == ("setuptools>=40.8.0",)


def test_invalid_pyproject_is_a_clear_error(tmp_path):
    tree = make_tree(tmp_path, "[build-system\n")
    with pytest.raises(SandboxError, match="pyproject.toml is not valid TOML"):
        read_build_system(tree, where="bad-1.0.tar.gz")
