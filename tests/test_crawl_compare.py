"""``wheelmeta crawl --compare``: each release's sdist against its wheels, over the target grid, classified.

A real index server on 127.0.0.1 serves one project per class: sdists built with real setup.py files (run in the
sandbox by the crawl) or static PKG-INFO, and wheels whose METADATA says what a build on another machine, another
Python or another day would have said. The tests crawl it and assert the class each release gets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from builders import make_sdist, make_wheel, metadata_text
from indexserver import IndexServer

from wheelmeta.cli import main
from wheelmeta.crawl import CrawlSettings, crawl
from wheelmeta.crawl.compare import build_backend, compare_store
from wheelmeta.store import MetadataStore

SETUP_PY = """
import sys
from setuptools import setup

requires = ["six"]
{condition}
setup(name="{name}", version="1.0", install_requires=requires)
"""
#: setup.py choosing by the Python it runs on, as many did before markers were usable
BY_PYTHON = SETUP_PY.format(name="bypython", condition='if sys.version_info < (3, 8):\n    requires.append("oldlib")')
#: setup.py choosing by the platform it runs on
BY_PLATFORM = SETUP_PY.format(name="byplatform", condition='if sys.platform == "win32":\n    requires.append("pywin32")')
HATCHLING = '[build-system]\nrequires = ["hatchling>=1.8"]\nbuild-backend = "hatchling.build"\n'
BROKEN = "raise SystemExit('this setup.py only runs on Python 2')\n"


def _static_sdist(folder, name, requires, extras=(), pyproject=None):
    files = {"PKG-INFO": metadata_text(name, "1.0", requires=requires, extras=extras, metadata_version="2.2")}
    if pyproject:
        files["pyproject.toml"] = pyproject
    make_sdist(folder, name, "1.0", files=files)


def _setup_py_sdist(folder, name, setup_py):
    make_sdist(folder, name, "1.0", files={"PKG-INFO": metadata_text(name, "1.0", metadata_version="1.1"),
                                           "setup.py": setup_py})


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    """One crawl of an index holding a release of every class."""
    folder = tmp_path_factory.mktemp("compareindex")
    _static_sdist(folder, "same", ["six>=1"])
    make_wheel(folder, "same", "1.0", requires=["six>=1"])
    _static_sdist(folder, "spelled", ["Six>=1.0", "foo<2", "foo>=1"], pyproject=HATCHLING)
    make_wheel(folder, "spelled", "1.0", requires=["six>=1", "foo<2,>=1"])
    _setup_py_sdist(folder, "bypython", BY_PYTHON)
    make_wheel(folder, "bypython", "1.0", tag="py2.py3-none-any", requires=["six", 'oldlib; python_version < "3.8"'])
    _setup_py_sdist(folder, "byplatform", BY_PLATFORM)
    make_wheel(folder, "byplatform", "1.0", tag="cp311-cp311-win_amd64", requires=["six", "pywin32"])
    make_wheel(folder, "byplatform", "1.0", tag="cp311-cp311-manylinux_2_17_x86_64", requires=["six"])
    _static_sdist(folder, "stale", ["requests>=2"])
    make_wheel(folder, "stale", "1.0", requires=["requests>=2", "urllib3"])
    _static_sdist(folder, "extraonly", ["six", 'pysocks; extra == "socks"'], extras=["socks"])
    make_wheel(folder, "extraonly", "1.0", requires=["six", 'socksio; extra == "socks"'], extras=["socks"])
    _static_sdist(folder, "specs", ["six>=1.10"])
    make_wheel(folder, "specs", "1.0", requires=["six>=1.12"])
    _static_sdist(folder, "unexplained", ["six"])
    make_wheel(folder, "unexplained", "1.0", requires=["six", "attrs"])
    _static_sdist(folder, "incomplete", ["six", "foo >>= 1"])
    make_wheel(folder, "incomplete", "1.0", requires=["six", "foo>=1"])
    _setup_py_sdist(folder, "unreadable", BROKEN)
    make_wheel(folder, "unreadable", "1.0", requires=["six"])
    _static_sdist(folder, "pertag", ["docutils>=0.10"])
    make_wheel(folder, "pertag", "1.0", tag="py27-none-any", requires=["docutils>=0.7"])
    make_wheel(folder, "pertag", "1.0", tag="py33-none-any", requires=["docutils>=0.10"])
    _static_sdist(folder, "emptywheel", ["six"])
    make_wheel(folder, "emptywheel", "1.0")
    _static_sdist(folder, "onlysdist", ["six"])
    times = {"stale-1.0.tar.gz": "2014-03-01T10:00:00Z", "stale-1.0-py3-none-any.whl": "2014-04-15T10:00:00Z",
             "pertag-1.0.tar.gz": "2013-12-10T09:00:00Z", "pertag-1.0-py27-none-any.whl": "2014-01-10T08:00:00Z",
             "pertag-1.0-py33-none-any.whl": "2014-01-10T08:30:00Z"}
    path = tmp_path_factory.mktemp("comparestore") / "store.sqlite"
    with IndexServer(folder, fmt="json", upload_times=times) as server, MetadataStore(path) as store:
        names = sorted({p.name.split("-")[0] for p in folder.iterdir()})
        report = crawl(store, names, index_urls=[server.index_url], settings=CrawlSettings(retries=1), jobs=2)
    assert report.files_done == 27, report.failures
    return path


@pytest.fixture(scope="module")
def records(store_path):
    with MetadataStore(store_path, readonly=True) as store:
        return {r.project: r for r in compare_store(store)}


def test_releases_without_a_wheel_are_not_compared(records):
    assert "onlysdist" not in records and len(records) == 12


def test_the_same_list_is_identical_text(records):
    assert records["same"].verdict == "identical-text" and not records["same"].differences


def test_other_spellings_of_the_same_requirements_are_equal_on_every_grid_point(records):
    assert records["spelled"].verdict == "equal" and records["spelled"].points > 0


def test_setup_py_choosing_by_python_version_is_python_at_build_time(records):
    record = records["bypython"]
    assert (record.verdict, record.klass) == ("differs", "python-at-build-time")
    assert record.sdist_provenance == "setup-py-sandboxed" and record.backend == "legacy setup.py"
    points = {p for d in record.differences for p in d["points"]}
    assert points and all(p.split("/")[0] in ("2.7", "3.5", "3.6", "3.7") for p in points)
    assert record.differences[0]["wheel_only"] == ["oldlib"]
    assert record.differs_where_run is False  # at the Python that ran setup.py, on Linux, both agree


def test_setup_py_choosing_by_platform_is_platform_dependent(records):
    record = records["byplatform"]
    assert (record.verdict, record.klass) == ("differs", "platform-dependent")
    assert {p for d in record.differences for p in d["points"]} == {"3.11/win32"}


def test_wheels_for_other_pythons_declaring_other_lists_are_python_at_build_time_before_an_upload_gap(records):
    record = records["pertag"]
    assert record.klass == "python-at-build-time" and "upload-gap" in record.reasons
    assert {p.split("/")[0] for d in record.differences for p in d["points"]} == {"2.7"}


def test_a_wheel_declaring_nothing_where_the_sdist_declares_requirements_is_wheel_without_requirements(records):
    assert records["emptywheel"].klass == "wheel-without-requirements"


def test_a_platform_wheel_is_compared_only_where_its_tags_fit(records):
    # two wheels for CPython 3.11, one linux, one windows: one grid point each, no extras
    assert records["byplatform"].points == 2


def test_a_wheel_uploaded_weeks_after_its_sdist_is_an_upload_gap(records):
    assert records["stale"].klass == "upload-gap"


def test_a_difference_in_an_extra_only_is_extras_only(records):
    record = records["extraonly"]
    assert record.klass == "extras-only" and {d["extra"] for d in record.differences} == {"socks"}


def test_other_versions_of_the_same_projects_are_specifier_only(records):
    assert records["specs"].klass == "specifier-only"


def test_an_unexplained_difference_is_other(records):
    assert records["unexplained"].klass == "other" and records["unexplained"].reasons == []


def test_an_sdist_whose_metadata_has_problems_is_incomplete(records):
    assert records["incomplete"].klass == "sdist-incomplete"


def test_an_sdist_that_cannot_be_read_is_data_not_dropped(records):
    record = records["unreadable"]
    assert record.klass == "sdist-unreadable" and "Python 2" in record.sdist_problem


def test_the_backend_is_read_from_build_system_requires(records, store_path):
    assert records["spelled"].backend == "hatchling"
    assert records["bypython"].backend == "legacy setup.py"  # setup.py without a [build-system]
    with MetadataStore(store_path, readonly=True) as store:
        rows = {row[2]: row[0] for row in store.rows("files") if row[4] == "sdist"}
        assert build_backend(store.metadata(rows["same"])) == "unknown"  # no pyproject, no setup.py


def test_cli_compare_prints_one_record_per_release_in_stable_order(store_path, capsys):
    assert main(["crawl", "--compare", "--store", str(store_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    keys = [(r["project"], r["version"]) for r in out["releases"]]
    assert keys == sorted(keys) and len(keys) == 12
    assert out["summary"]["by_class"]["python-at-build-time"] == 2  # bypython, pertag


def test_cli_compare_of_named_projects_prints_a_table(store_path, capsys):
    assert main(["crawl", "--compare", "--store", str(store_path), "byplatform", "same==1.0"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].startswith("release") and len(lines) == 3
    assert "pywin32" in captured.out and "3.11/win32" in captured.out
    assert "platform-dependent: 1 of 2 releases (50.0%)" in captured.err


def test_cli_compare_refuses_to_crawl_at_the_same_time(store_path, capsys):
    assert main(["crawl", "--compare", "--all", "--store", str(store_path)]) == 2
    assert "--compare" in capsys.readouterr().err
