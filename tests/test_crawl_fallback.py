"""``wheelmeta crawl --python PATH ... --allow-build`` against a real index server on 127.0.0.1: the sdist chain's
fallback interpreters and the PEP 517 hook, carried to the workers in :class:`CrawlSettings`.

The index: ``oldstdlib`` (a setup.py that imports ``collections.Mapping``, gone in Python 3.10), ``py2only`` (a
print statement), ``tiny`` (no setup.py, no static dependencies: only its PEP 517 backend ``tinybackend``, a wheel on
the same index, can tell) and ``tinybackend``."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import pytest
from builders import make_sdist, make_wheel
from indexserver import IndexServer
from test_crawl import only_named_indexes  # noqa: F401  (autouse here too: no pip config of this machine)
from test_pep517 import TINY_BACKEND
from test_sdist_fallback import MISSING, OLD_STDLIB_SETUP_PY, PYTHON2_SETUP_PY, needs_new_python, pyenv_python

from wheelmeta.cli import main
from wheelmeta.crawl import CrawlSettings
from wheelmeta.sources import file_sha256
from wheelmeta.store import MetadataStore

TINY_PYPROJECT = """\
[build-system]
requires = ["tinybackend>=1"]
build-backend = "tinybackend"

[project]
name = "tiny"
version = "1.0"
dynamic = ["dependencies"]
"""


@pytest.fixture(scope="module")
def index_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fallbackindex")
    make_sdist(folder, "oldstdlib", "1.0", files={"setup.py": OLD_STDLIB_SETUP_PY})
    make_sdist(folder, "py2only", "1.0", files={"setup.py": PYTHON2_SETUP_PY})
    make_sdist(folder, "tiny", "1.0", files={"pyproject.toml": TINY_PYPROJECT})
    make_wheel(folder, "tinybackend", "1.0", files={"tinybackend.py": TINY_BACKEND.encode()})
    return folder


def crawl_command(tmp_path: Path, server: IndexServer, project: str, *options: str) -> list:
    return ["crawl", project, "-i", server.index_url, "--store", str(tmp_path / "s.sqlite"), "-q", *options]


def stored(tmp_path: Path, sdist: Path):
    """(metadata, failures) the store keeps for ``sdist``."""
    sha = file_sha256(str(sdist))
    with MetadataStore(tmp_path / "s.sqlite") as store:
        failures = [row for row in store.rows("failures") if row[0] == sha]
        return store.metadata(sha), failures


def test_settings_with_interpreters_stay_frozen_and_picklable_for_dask_workers():
    settings = CrawlSettings(pythons=(sys.executable, MISSING), allow_build=True, build_index_urls=("http://x/",))
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert hash(settings) == hash(pickle.loads(pickle.dumps(settings)))


def test_an_sdist_that_fails_under_the_first_python_is_stored_with_the_fallbacks_answer(tmp_path, index_folder):
    needs_new_python()
    python39 = pyenv_python("3.9")
    with IndexServer(index_folder) as server:
        assert main(crawl_command(tmp_path, server, "oldstdlib", "--python", sys.executable,
                                  "--python", python39)) == 0
    md, failures = stored(tmp_path, index_folder / "oldstdlib-1.0.tar.gz")
    assert failures == [] and [str(r) for r in md.requires_dist] == ["six>=1.4"]
    assert md.python_version.startswith("3.9.")
    assert f"under {sys.executable}: raised ImportError" in md.problems[0]
    assert f"answered under the fallback {python39} (Python {md.python_version})" in md.problems[0]


def test_when_no_interpreter_answers_the_failure_names_each(tmp_path, index_folder):
    with IndexServer(index_folder) as server:
        main(crawl_command(tmp_path, server, "py2only", "--python", sys.executable, "--python", MISSING))
    md, failures = stored(tmp_path, index_folder / "py2only-1.0.tar.gz")
    assert md is None and len(failures) == 1
    assert f"under {sys.executable}: raised SyntaxError" in failures[0][2] and f"{MISSING} does not work" in failures[0][2]


def test_allow_build_runs_the_pep517_hook_with_build_requirements_from_the_crawls_index(tmp_path, index_folder):
    with IndexServer(index_folder) as server:
        main(crawl_command(tmp_path, server, "tiny"))
        _, refused = stored(tmp_path, index_folder / "tiny-1.0.tar.gz")
        (tmp_path / "s.sqlite").unlink()
        main(crawl_command(tmp_path, server, "tiny", "--allow-build"))
    md, failures = stored(tmp_path, index_folder / "tiny-1.0.tar.gz")
    assert "pass --allow-build" in refused[0][2]
    assert failures == [] and md.provenance == "pep517-hook"
    assert [str(r) for r in md.requires_dist] == ["built-by-tinybackend"]


def test_compare_refuses_the_crawl_only_options(tmp_path, capsys):
    assert main(["crawl", "--compare", "--store", str(tmp_path / "s.sqlite"), "--python", sys.executable]) == 2
    assert "--python or --allow-build" in capsys.readouterr().err
