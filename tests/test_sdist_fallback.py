"""Fallback interpreters for setup.py: ``read_sdist_metadata(..., fallback_pythons=[...])`` runs setup.py again under
each next interpreter only where it failed in the sandbox under the one before, and says so in ``problems``.

The old interpreters are pyenv's (``~/.pyenv/versions/X.Y*/bin/python`` with setuptools); where one is missing (CI
has only the system Python) the tests that need it skip, naming it. The tests without an old interpreter use a
missing one, which must be skipped and named."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest
from builders import make_sdist

from wheelmeta.cli import main
from wheelmeta.errors import InvalidSdist, MetadataError
from wheelmeta.sdist import read_sdist_metadata

#: works up to Python 3.9: the ABC aliases left ``collections`` in 3.10
OLD_STDLIB_SETUP_PY = """\
from collections import Mapping
from setuptools import setup
setup(name="oldstdlib", version="1.0", install_requires=["six>=1.4"])
"""
#: Python 2 only: a print statement
PYTHON2_SETUP_PY = """\
from setuptools import setup
print "building py2only"
setup(name="py2only", version="1.0", install_requires=["futures"])
"""
MISSING = "/nonexistent/bin/python9.9"


def pyenv_python(version: str) -> str:
    """The pyenv interpreter of ``version`` with setuptools, or skip the test naming what is missing."""
    for path in sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python"))):
        if subprocess.run([path, "-c", "import setuptools"], capture_output=True).returncode == 0:
            return path
    pytest.skip(f"no Python {version} with setuptools (pyenv) on this machine")


def needs_new_python():
    if sys.version_info < (3, 10):
        pytest.skip("the running Python still has collections.Mapping: setup.py would not fail under it")


def sdist(tmp_path, name: str, setup_py: str):
    return make_sdist(tmp_path / "dist", name, "1.0", files={"setup.py": setup_py})


def test_setup_py_that_needs_an_older_stdlib_is_answered_by_the_fallback_and_says_so(tmp_path):
    needs_new_python()
    python39 = pyenv_python("3.9")
    md = read_sdist_metadata(sdist(tmp_path, "oldstdlib", OLD_STDLIB_SETUP_PY), fallback_pythons=[python39])
    assert [str(r) for r in md.requires_dist] == ["six>=1.4"]
    assert md.provenance == "setup-py-sandboxed" and md.python_version.startswith("3.9.")
    assert len(md.problems) == 1
    assert f"under {sys.executable} (the running interpreter): raised ImportError" in md.problems[0]
    assert f"answered under the fallback {python39} (Python {md.python_version})" in md.problems[0]


def test_fallbacks_are_tried_in_order_until_one_answers(tmp_path):
    python39, python27 = pyenv_python("3.9"), pyenv_python("2.7")
    md = read_sdist_metadata(sdist(tmp_path, "py2only", PYTHON2_SETUP_PY), fallback_pythons=[python39, python27])
    assert [str(r) for r in md.requires_dist] == ["futures"] and md.python_version.startswith("2.7.")
    line = md.problems[0]
    assert line.index("(the running interpreter): raised SyntaxError") < line.index(f"under {python39}: raised "
                                                                                     "SyntaxError")
    assert line.endswith(f"answered under the fallback {python27} (Python {md.python_version})")


def test_an_interpreter_that_does_not_run_is_skipped_and_named(tmp_path):
    needs_new_python()
    python39 = pyenv_python("3.9")
    md = read_sdist_metadata(sdist(tmp_path, "oldstdlib", OLD_STDLIB_SETUP_PY), fallback_pythons=[MISSING, python39])
    assert md.python_version.startswith("3.9.")
    assert f"{MISSING} does not work" in md.problems[0] and f"fallback {python39}" in md.problems[0]


def test_no_fallback_runs_when_the_first_interpreter_answers(tmp_path):
    plain = "from setuptools import setup\nsetup(name='plain', version='1.0', install_requires=['six'])\n"
    md = read_sdist_metadata(sdist(tmp_path, "plain", plain), fallback_pythons=[MISSING])
    assert md.problems == () and md.python_version == ".".join(map(str, sys.version_info[:3]))


def test_when_every_interpreter_fails_the_error_names_each_and_why(tmp_path):
    with pytest.raises(MetadataError) as failed:
        read_sdist_metadata(sdist(tmp_path, "py2only", PYTHON2_SETUP_PY), fallback_pythons=[MISSING])
    reason = failed.value.reason
    assert "setup.py failed under every interpreter" in reason
    assert f"under {sys.executable} (the running interpreter): raised SyntaxError" in reason
    assert f"{MISSING} does not work" in reason and "pass --allow-build" in reason


def test_a_setup_py_that_was_not_run_for_want_of_a_sandbox_is_not_retried(tmp_path, no_containing_sandbox):
    md = read_sdist_metadata(sdist(tmp_path, "py2only", PYTHON2_SETUP_PY), fallback_pythons=[MISSING])
    assert md.provenance == "static-partial"
    assert "setup.py not run" in md.problems[0] and not any(MISSING in p for p in md.problems)


def test_a_hostile_archive_is_refused_before_any_interpreter(tmp_path):
    hostile = make_sdist(tmp_path / "dist", "evil", "1.0", root="", files={
        "evil-1.0/setup.py": PYTHON2_SETUP_PY, "../outside.txt": "escaped"})
    with pytest.raises(InvalidSdist) as refused:
        read_sdist_metadata(hostile, fallback_pythons=[MISSING])
    assert MISSING not in str(refused.value)
    assert not (tmp_path / "outside.txt").exists()


def test_metadata_command_takes_python_repeated_as_fallbacks(tmp_path, capsys):
    path = sdist(tmp_path, "py2only", PYTHON2_SETUP_PY)
    assert main(["metadata", str(path), "--python", sys.executable, "--python", MISSING, "--json"]) == 1
    error = json.loads(capsys.readouterr().out)[0]["error"]
    assert f"under {sys.executable}: raised SyntaxError" in error and f"{MISSING} does not work" in error
