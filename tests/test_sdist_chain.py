"""read_sdist_metadata: the first step of the chain that can answer does, and provenance says which."""

from __future__ import annotations

import os
import sys

import pytest
from builders import make_sdist, metadata_text

from wheelmeta.errors import InterpreterError, InvalidSdist, MetadataError
from wheelmeta.sdist import read_sdist_metadata
from wheelmeta.sdist.sandbox import CONTAINING

PYPROJECT_621 = """
[build-system]
requires = ["hatchling>=1.8"]
build-backend = "hatchling.build"

[project]
name = "demo"
dynamic = ["version"]
requires-python = ">=3.8"
dependencies = ["attrs>=21"]

[project.optional-dependencies]
test = ["pytest"]
"""

PYPROJECT_POETRY = """
[build-system]
requires = ["poetry-core>=1.0.0"]
build-backend = "poetry.core.masonry.api"

[tool.poetry]
name = "demo"
version = "1.0"

[tool.poetry.dependencies]
python = "^3.7"
cleo = "^2.0"
"""

SETUP_CFG = """
[options]
python_requires = >=3.6
install_requires =
    six>=1.12
    importlib-metadata; python_version<"3.8"

[options.extras_require]
docs = sphinx
"""

SETUP_PY = """
import sys
from setuptools import setup

extras = {"socks": ["PySocks>=1.5.6, !=1.5.7"], 'socks:sys_platform == "win32"': ["win_inet_pton"]}
setup(
    name="demo",
    version="1.0",
    install_requires=["chardet>=3.0.2,<3.1.0"] + ["idna"] * (sys.version_info[0] >= 3),
    extras_require=extras,
    setup_requires=["setuptools_scm"],
    tests_require=["pytest>=3"],
    python_requires=">=2.7, !=3.0.*",
)
"""


def _pkg_info(version="2.1", *headers, requires=("attrs>=21",)):
    return metadata_text("demo", "1.0", requires=requires, requires_python=">=3.8", metadata_version=version,
                         extra_headers=headers)


def test_pkg_info_2_2_answers_first_and_build_system_requires_are_kept(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("2.2", requires=["from-pkg-info"]),
                                       "pyproject.toml": PYPROJECT_621})
    md = read_sdist_metadata(path)
    assert md.provenance == "pkg-info-static" and md.static
    assert [str(r) for r in md.requires_dist] == ["from-pkg-info"]
    assert [str(r) for r in md.build_requires] == ["hatchling>=1.8"]


def test_pep621_answers_when_pkg_info_is_older_than_2_2(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("2.1"), "pyproject.toml": PYPROJECT_621}, fmt="zip")
    md = read_sdist_metadata(path)
    assert md.provenance == "pep621"
    assert [str(r) for r in md.requires_dist] == ["attrs>=21", 'pytest; extra == "test"']
    assert (md.name, md.version) == ("demo", "1.0")  # the dynamic version comes from PKG-INFO


def test_poetry_answers_for_a_poetry_project(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("2.1"), "pyproject.toml": PYPROJECT_POETRY},
                      fmt="tar.bz2")
    md = read_sdist_metadata(path)
    assert md.provenance == "poetry" and [str(r) for r in md.requires_dist] == ["cleo<3.0,>=2.0"]
    assert str(md.requires_python) == "<4.0,>=3.7"


def test_setup_cfg_answers_when_setup_py_is_the_shim(tmp_path):
    files = {"PKG-INFO": _pkg_info("1.2"), "setup.cfg": SETUP_CFG,
             "setup.py": "import setuptools\nsetuptools.setup()\n"}
    md = read_sdist_metadata(make_sdist(tmp_path, files=files, fmt="tar.xz"))
    assert md.provenance == "setup-cfg"
    assert [str(r) for r in md.requires_dist] == [
        "six>=1.12", 'importlib-metadata; python_version < "3.8"', 'sphinx; extra == "docs"']
    assert [str(r) for r in md.build_requires] == ["setuptools>=40.8.0", "wheel"]  # pip's legacy build requires


def test_setup_cfg_file_directive_is_read_from_the_archive(tmp_path):
    files = {"PKG-INFO": _pkg_info("1.2"), "setup.cfg": "[options]\ninstall_requires = file: req/base.txt\n",
             "req/base.txt": "click>=7\n"}
    md = read_sdist_metadata(make_sdist(tmp_path, files=files))
    assert md.provenance == "setup-cfg" and [str(r) for r in md.requires_dist] == ["click>=7"]


def test_setup_cfg_of_a_non_setuptools_backend_is_ignored(tmp_path):
    files = {"PKG-INFO": _pkg_info("2.1"), "setup.cfg": SETUP_CFG,
             "pyproject.toml": '[build-system]\nrequires = ["flit_core"]\nbuild-backend = "flit_core.buildapi"\n'}
    with pytest.raises(MetadataError, match="flit_core.buildapi"):
        read_sdist_metadata(make_sdist(tmp_path, files=files))


def test_setup_py_runs_in_the_sandbox_and_extras_follow_setuptools_rules(tmp_path):
    files = {"PKG-INFO": _pkg_info("1.2"), "setup.cfg": SETUP_CFG, "setup.py": SETUP_PY}
    md = read_sdist_metadata(make_sdist(tmp_path, files=files), timeout=60)
    assert md.provenance == "setup-py-sandboxed" and not md.static
    assert [str(r) for r in md.requires_dist] == [
        "chardet<3.1.0,>=3.0.2",
        "idna",
        'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
        'win-inet-pton; sys_platform == "win32" and extra == "socks"',
    ]
    assert str(md.requires_python) == "!=3.0.*,>=2.7"
    assert [str(r) for r in md.test_requires] == ["pytest>=3"]
    assert "setuptools_scm" in [str(r) for r in md.build_requires]
    assert md.isolation in CONTAINING  # by default only a level that contains the filesystem runs code
    assert md.python_version == "%d.%d.%d" % sys.version_info[:3]


def test_failing_setup_py_reports_every_step_and_the_way_out(tmp_path):
    files = {"PKG-INFO": _pkg_info("1.2"), "setup.py": "raise RuntimeError('needs numpy to build')\n"}
    path = make_sdist(tmp_path, files=files)
    with pytest.raises(MetadataError) as info:
        read_sdist_metadata(path, timeout=60)
    message = str(info.value)
    assert message.startswith(str(path))
    assert "Metadata-Version 1.2" in message and "setup.py in the sandbox failed" in message
    assert "--allow-build" in message


def test_setup_py_failing_as_a_wheel_build_answers_as_for_egg_info_with_a_warning(tmp_path):
    setup_py = ("import sys\nfrom setuptools import setup\n"
                "if 'egg_info' not in sys.argv: raise RuntimeError('needs numpy to build')\n"
                "setup(name='demo', version='1.0', install_requires=['six'])\n")
    md = read_sdist_metadata(make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("1.2"), "setup.py": setup_py}))
    assert [str(r) for r in md.requires_dist] == ["six"]
    assert any("failed as a wheel build (raised RuntimeError: needs numpy to build)" in p for p in md.problems)


def test_dynamic_dependencies_without_setup_py_need_allow_build(tmp_path):
    pyproject = PYPROJECT_621.replace('dynamic = ["version"]', 'dynamic = ["version", "dependencies"]')
    files = {"PKG-INFO": _pkg_info("2.1"), "pyproject.toml": pyproject}
    with pytest.raises(MetadataError, match="dependencies as dynamic.*no setup.py.*--allow-build"):
        read_sdist_metadata(make_sdist(tmp_path, files=files))


def test_hostile_archive_is_refused_before_any_step(tmp_path):
    import io
    import tarfile

    path = tmp_path / "evil-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("evil-1.0/../../PKG-INFO")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(InvalidSdist, match="climbs out"):
        read_sdist_metadata(path)


def test_invalid_pyproject_is_an_error_naming_the_sdist(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("2.1"), "pyproject.toml": "[project\nname = 1"})
    with pytest.raises(MetadataError, match="pyproject.toml is not valid TOML.*no readable pyproject.toml") as info:
        read_sdist_metadata(path)
    assert str(path) in str(info.value)


def test_invalid_pyproject_is_a_problem_when_pkg_info_answers(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("2.2"), "pyproject.toml": "[project\nname = 1"})
    md = read_sdist_metadata(path)
    assert md.provenance == "pkg-info-static" and "pyproject.toml is not valid TOML" in md.problems[0]


def test_cli_metadata_reads_an_sdist_with_python_and_allow_build_passed_through(tmp_path, capsys):
    import json

    from wheelmeta.cli import main

    files = {"PKG-INFO": _pkg_info("1.2"), "setup.py": SETUP_PY}
    path = make_sdist(tmp_path, files=files)
    assert main(["metadata", "--json", "--python", sys.executable, "--allow-build", str(path)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["provenance"] == "setup-py-sandboxed"
    assert result["python_version"] == "%d.%d.%d" % sys.version_info[:3]
    assert "chardet<3.1.0,>=3.0.2" in result["requires_dist"]


def _broken_python(folder, name="python3.7"):
    """An executable that fails like a pyenv shim of a Python version that is not active."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text(f"#!/bin/sh\necho 'pyenv: {name}: command not found' >&2\nexit 127\n")
    script.chmod(0o755)
    return script


def test_broken_interpreter_chosen_for_the_target_is_named_with_its_error(tmp_path, monkeypatch, capsys):
    from wheelmeta.cli import main

    broken = _broken_python(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{broken.parent}:{os.environ['PATH']}")
    path = make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("1.2"), "setup.py": SETUP_PY})
    assert main(["metadata", "--python-version", "3.7", str(path)]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"wheelmeta: error: {path}: the interpreter {broken} (python3.7 on PATH, chosen for "
                           "the target's Python 3.7) does not work: exited with status 127: pyenv: python3.7: "
                           "command not found")
    assert "--allow-build" not in line


def test_broken_interpreter_given_is_named_and_no_other_route_is_suggested(tmp_path):
    broken = _broken_python(tmp_path / "bin")
    path = make_sdist(tmp_path, files={"PKG-INFO": _pkg_info("1.2"), "setup.py": SETUP_PY})
    with pytest.raises(InterpreterError) as info:
        read_sdist_metadata(path, python=str(broken), allow_build=True)
    assert info.value.interpreter == str(broken) and "exited with status 127" in info.value.detail
    assert str(info.value).startswith(f"{path}: the interpreter {broken} does not work")


IN_TREE_BACKEND = '''
import os

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    folder = os.path.join(metadata_directory, "demo-1.0.dist-info")
    os.makedirs(folder)
    with open(os.path.join(folder, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\\nName: demo\\nVersion: 1.0\\nRequires-Dist: from-the-hook>=2\\n")
    return "demo-1.0.dist-info"
'''


def _hook_only_sdist(tmp_path):
    """Dynamic dependencies, no setup.py: only the backend knows (an in-tree backend, so no index is needed)."""
    pyproject = ('[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
                 '[project]\nname = "demo"\nversion = "1.0"\ndynamic = ["dependencies"]\n')
    files = {"PKG-INFO": _pkg_info("2.1"), "pyproject.toml": pyproject, "backend.py": IN_TREE_BACKEND}
    return make_sdist(tmp_path, files=files)


def test_pep517_hook_answers_only_with_allow_build(tmp_path):
    pytest.importorskip("pyproject_hooks", reason="pyproject-hooks not installed")
    path = _hook_only_sdist(tmp_path)
    with pytest.raises(MetadataError, match="--allow-build"):
        read_sdist_metadata(path)
    md = read_sdist_metadata(path, allow_build=True, timeout=60)
    assert md.provenance == "pep517-hook" and [str(r) for r in md.requires_dist] == ["from-the-hook>=2"]
    assert md.isolation in CONTAINING  # by default only a level that contains the filesystem runs code
    assert md.python_version == "%d.%d.%d" % sys.version_info[:3]  # the interpreter the hook ran under


def test_failing_pep517_hook_is_reported_with_every_step(tmp_path):
    pytest.importorskip("pyproject_hooks", reason="pyproject-hooks not installed")
    pyproject = ('[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n\n'
                 '[project]\nname = "demo"\nversion = "1.0"\ndynamic = ["dependencies"]\n')
    files = {"PKG-INFO": _pkg_info("2.1"), "pyproject.toml": pyproject,
             "backend.py": "def prepare_metadata_for_build_wheel(d, c=None):\n    raise RuntimeError('no')\n"}
    with pytest.raises(MetadataError, match="every step failed.*no setup.py.*PEP 517 hook failed"):
        read_sdist_metadata(make_sdist(tmp_path, files=files), allow_build=True, timeout=60)


def test_setuptools_dynamic_dependency_file_is_read_from_the_archive(tmp_path):
    pyproject = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
                 '[project]\nname = "demo"\nversion = "1.0"\ndynamic = ["dependencies"]\n\n'
                 '[tool.setuptools.dynamic]\ndependencies = {file = ["requirements/base.txt"]}\n')
    files = {"PKG-INFO": _pkg_info("2.1"), "pyproject.toml": pyproject, "requirements/base.txt": "attrs>=21\n",
             "setup.py": "raise SystemExit('must not run: the answer is static')\n"}
    md = read_sdist_metadata(make_sdist(tmp_path, files=files))
    assert md.provenance == "pep621" and [str(r) for r in md.requires_dist] == ["attrs>=21"]


def test_name_and_version_come_from_the_file_name_without_pkg_info(tmp_path):
    files = {"pyproject.toml": '[project]\nname = "demo"\ndynamic = ["version"]\ndependencies = []\n'}
    md = read_sdist_metadata(make_sdist(tmp_path, "demo", "2.0.1", files=files, fmt="zip"))
    assert (md.name, md.version, md.provenance) == ("demo", "2.0.1", "pep621")


def test_sdists_are_unpacked_in_a_temporary_folder_that_is_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))  # an explicit TMPDIR wins over /dev/shm
    (tmp_path / "tmp").mkdir()
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    files = {"PKG-INFO": _pkg_info("1.2"), "setup.py": SETUP_PY}
    md = read_sdist_metadata(make_sdist(tmp_path / "in", files=files), timeout=60)
    assert md.provenance == "setup-py-sandboxed"
    assert list((tmp_path / "tmp").iterdir()) == []


def test_sdist_refused_while_unpacking_leaves_no_temporary_folder(tmp_path, monkeypatch):
    import io
    import tarfile
    import tempfile

    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    path = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:  # setup.py first, then a member only the unpacking step refuses
        for name, data in [("demo-1.0/PKG-INFO", _pkg_info("1.2").encode()), ("demo-1.0/setup.py", SETUP_PY.encode()),
                           ("demo-1.0/a", b"file"), ("demo-1.0/a/b", b"below a file")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    with pytest.raises(InvalidSdist, match="cannot unpack member"):
        read_sdist_metadata(path)
    assert list((tmp_path / "tmp").iterdir()) == []


LEGACY_SETUP_PY = """
import sys
from setuptools import setup
setup(name='demo', version='1.0', install_requires=['six>=1.9'] + (['futures'] if sys.version_info < (3,) else []),
      extras_require={'socks': ['PySocks']})
"""


def test_setup_cfg_requires_dist_that_old_wheel_wrote_into_wheels_answers_when_it_agrees_with_setup_py(tmp_path):
    setup_cfg = ("[metadata]\nprovides-extra = socks\nrequires-dist =\n    futures; python_version<'3'\n"
                 "    six>=1.9\n    PySocks; extra == 'socks'\n")
    files = {"PKG-INFO": _pkg_info("1.2"), "setup.py": LEGACY_SETUP_PY, "setup.cfg": setup_cfg}
    md = read_sdist_metadata(make_sdist(tmp_path, files=files))
    assert [str(r) for r in md.requires_dist] == ['futures; python_version < "3"', "six>=1.9",
                                                  'PySocks; extra == "socks"']
    assert md.provides_extra == ("socks",) and not md.problems


def test_setup_cfg_requires_dist_that_disagrees_with_setup_py_is_a_problem_not_the_answer(tmp_path):
    setup_cfg = "[metadata]\nrequires-dist =\n    six>=1.9\n"  # no PySocks for the extra: a later wheel's rule
    files = {"PKG-INFO": _pkg_info("1.2"), "setup.py": LEGACY_SETUP_PY, "setup.cfg": setup_cfg}
    md = read_sdist_metadata(make_sdist(tmp_path, files=files))
    assert [str(r) for r in md.requires_dist] == ["six>=1.9", 'PySocks; extra == "socks"']
    assert any("setup.cfg [metadata] requires-dist, which wheel < 0.31" in p and "differs" in p for p in md.problems)


# -- values of the wrong type and TOML nested too deeply: a step without an answer, never a traceback ---------------


@pytest.mark.parametrize("pyproject", [
    "build-system = 5\n[project]\nname = 'demo'\nversion = '1.0'\ndependencies = ['six']\n",
    "[build-system]\nrequires = 5\n[project]\nname = 'demo'\nversion = '1.0'\ndependencies = ['six']\n",
    "[project]\nname = 'demo'\nversion = '1.0'\ndependencies = 5\n",
    "[project]\nname = 'demo'\nversion = '1.0'\ndynamic = 5\ndependencies = ['six']\n",
    "[project]\nname = 'demo'\nversion = '1.0'\ndependencies = ['six']\noptional-dependencies = { a = 5 }\n",
    "tool = { poetry = { dependencies = { python = 5, six = { version = 5 } } } }\n",
], ids=["build-system-number", "requires-number", "dependencies-number", "dynamic-number", "extra-number",
        "poetry-numbers"])
def test_pyproject_value_of_the_wrong_type_is_no_traceback(tmp_path, pyproject):
    path = make_sdist(tmp_path, files={"PKG-INFO": metadata_text("demo", "1.0"), "pyproject.toml": pyproject,
                                       "setup.cfg": "[options]\ninstall_requires = six\n"})
    try:
        md = read_sdist_metadata(path)
    except MetadataError as exc:  # no step could answer: a clear error naming the file
        assert str(path) in str(exc)
    else:  # another step answered, or this one did and says what it could not read
        assert [r.name for r in md.requires_dist] == ["six"] or any("not a list" in p for p in md.problems)


@pytest.mark.parametrize("nesting", ["x = " + "[" * 5000 + "]" * 5000, "x = " + "{ a = " * 5000 + "1" + " }" * 5000],
                         ids=["arrays", "inline-tables"])
def test_pyproject_nested_past_the_recursion_limit_is_a_problem_and_pkg_info_still_answers(tmp_path, nesting):
    pkg_info = metadata_text("demo", "1.0", requires=["six"], metadata_version="2.2")
    path = make_sdist(tmp_path, files={"PKG-INFO": pkg_info, "pyproject.toml": nesting + "\n"})
    md = read_sdist_metadata(path)
    assert [r.name for r in md.requires_dist] == ["six"]
    assert any("nested too deeply" in p for p in md.problems)


def test_pkg_info_header_with_undecodable_bytes_is_no_traceback(tmp_path):
    pkg_info = b"Metadata-Version: 2.2\xff\nName: demo\xfe\nVersion: 1.0\xff\nRequires-Dist: six\n\n"
    path = make_sdist(tmp_path, files={"PKG-INFO": pkg_info})
    try:
        md = read_sdist_metadata(path)
    except MetadataError as exc:
        assert str(path) in str(exc)
    else:
        assert md.name.startswith("demo")


def test_pyproject_integer_too_long_for_int_is_a_problem(tmp_path):
    pkg_info = metadata_text("demo", "1.0", requires=["six"], metadata_version="2.2")
    path = make_sdist(tmp_path, files={"PKG-INFO": pkg_info, "pyproject.toml": f"x = {'1' * 5000}\n"})
    md = read_sdist_metadata(path)
    assert [r.name for r in md.requires_dist] == ["six"] and any("not valid TOML" in p for p in md.problems)
