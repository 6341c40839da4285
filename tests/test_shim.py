"""The shim, run as the sandbox runs it (a script in a child interpreter) but without the sandbox around it.

Each test writes a real setup.py (and setup.cfg, packages...) and runs ``python -E -s -B shim.py FD setup.py``
with a pipe as the result descriptor, against the real setuptools.
"""

from __future__ import annotations

import ast
import glob
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wheelmeta.sdist import shim

SHIM = Path(shim.__file__)


def run_shim(tree: Path, python: str = sys.executable) -> dict:
    """Run the shim on ``tree/setup.py`` from another working directory; return its JSON record."""
    read_end, write_end = os.pipe()
    try:
        done = subprocess.run(
            [python, "-E", "-s", "-B", str(SHIM), str(write_end), str(tree / "setup.py")],
            pass_fds=(write_end,), stdin=subprocess.DEVNULL, capture_output=True, timeout=60, cwd="/",
        )
        os.close(write_end)
        with os.fdopen(read_end, "rb") as result:
            data = result.read()
    finally:
        for fd in (read_end, write_end):
            try:
                os.close(fd)
            except OSError:
                pass
    assert data, done.stderr.decode()
    return json.loads(data)


def make_tree(tmp_path: Path, setup_py: str, files: dict | None = None) -> Path:
    """A fresh tree with this setup.py and ``files`` (relative path -> text)."""
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "setup.py").write_text(textwrap.dedent(setup_py))
    for name, text in (files or {}).items():
        path = tree / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tree


def test_shim_imports_nothing_from_wheelmeta():
    tree = ast.parse(SHIM.read_text())
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not any(name.startswith(("wheelmeta", ".")) or name == "" for name in imported)


def test_setup_inside_main_guard_is_captured(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        if __name__ == "__main__":
            setup(name="guarded", version="2.0", install_requires=["attrs>=19"])
    """)
    record = run_shim(tree)
    assert record["ok"] is True
    assert record["fields"]["install_requires"] == ["attrs>=19"]
    assert (record["fields"]["name"], record["fields"]["version"]) == ("guarded", "2.0")


def test_setup_py_reads_files_relative_to_its_folder(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(name="reader", version=open("VERSION").read().strip(),
              install_requires=open("requirements.txt").read().splitlines())
    """, {"VERSION": "3.1.4\n", "requirements.txt": "click>=7\n# a comment\n\nidna\n"})
    fields = run_shim(tree)["fields"]
    assert fields["version"] == "3.1.4"
    assert fields["install_requires"] == ["click>=7", "idna"]


def test_setup_py_importing_its_own_package_for_the_version(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        from ownpkg import __version__
        setup(name="ownpkg", version=__version__, packages=["ownpkg"])
    """, {"ownpkg/__init__.py": "__version__ = '0.9.1'\n"})
    assert run_shim(tree)["fields"]["version"] == "0.9.1"


def test_distutils_setup_is_captured(tmp_path):
    tree = make_tree(tmp_path, """\
        import warnings
        warnings.simplefilter("ignore")
        from distutils.core import setup
        setup(name="old-style", version="0.1", install_requires=["docutils"], python_requires=">=2.7")
    """)
    record = run_shim(tree)
    assert record["fields"]["install_requires"] == ["docutils"]
    assert record["fields"]["python_requires"] == ">=2.7"


def test_setup_py_that_never_calls_setup_is_reported(tmp_path):
    tree = make_tree(tmp_path, "print('nothing to see')\n")
    record = run_shim(tree)
    assert (record["ok"], record["detail"]) == (False, "did not call setup()")


def test_requirements_as_generator_tuple_and_multiline_string(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(
            name="shapes", version="1",
            install_requires=(r for r in ["a>=1", "b"]),
            tests_require=("pytest", "mock"),
            setup_requires="cython>=0.29  # for the extension\\n\\nwheel\\n",
            extras_require={"x": "c\\nd", "y": ("e",)},
        )
    """)
    fields = run_shim(tree)["fields"]
    assert fields["install_requires"] == ["a>=1", "b"]
    assert fields["tests_require"] == ["pytest", "mock"]
    assert fields["setup_requires"] == ["cython>=0.29", "wheel"]
    assert fields["extras_require"] == {"x": ["c", "d"], "y": ["e"]}


def test_setup_cfg_values_are_merged_and_keywords_win(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(install_requires=["from-keyword"])
    """, {"setup.cfg": """\
        [metadata]
        name = cfgonly
        version = 4.2
        [options]
        python_requires = >=3.7
        install_requires = from-cfg
        [options.extras_require]
        fast = ujson
    """})
    fields = run_shim(tree)["fields"]
    assert (fields["name"], fields["version"], fields["python_requires"]) == ("cfgonly", "4.2", ">=3.7")
    assert fields["install_requires"] == ["from-keyword"]
    assert fields["extras_require"] == {"fast": ["ujson"]}


def test_plain_setup_py_is_answered_without_importing_setuptools(tmp_path):
    tree = make_tree(tmp_path, """\
        import sys
        from setuptools import setup, find_packages
        assert "pkg_resources" not in sys.modules
        setup(name="m", version="1", packages=find_packages(exclude=["tests"]),
              install_requires=["enum34; python_version < '3.4'", "six"])
    """, {"m/__init__.py": "", "m/sub/__init__.py": "", "tests/__init__.py": "", "setup.cfg": "[bdist_wheel]\nuniversal = 1\n"})
    record = run_shim(tree)
    assert (record["merged"], record["setuptools_version"]) == (False, None)
    assert record["fields"]["install_requires"] == ["enum34; python_version < '3.4'", "six"]


def test_keyword_no_installed_plugin_declares_keeps_the_stand_in(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(name="scm", use_scm_version=True, setup_requires=["setuptools_scm"], install_requires=["six"])
    """)
    record = run_shim(tree)
    if subprocess.run([sys.executable, "-c", "import setuptools_scm"], capture_output=True).returncode == 0:
        assert record["merged"] is True  # the plugin is installed: only setuptools can run it
    else:
        assert record["merged"] is False
    assert record["fields"]["install_requires"] == ["six"]


def test_keyword_an_installed_plugin_declares_takes_real_setuptools(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(name="plug", version="1", test_runner="x", install_requires=["six"])
    """)
    record = run_shim(tree)
    declared = shim.plugin_keywords()
    assert record["merged"] is (declared is None or "test_runner" in declared)


def test_stand_in_gives_way_to_real_setuptools_for_anything_else(tmp_path):
    tree = make_tree(tmp_path, """\
        import setuptools
        from setuptools.command.build_py import build_py
        from setuptools import setup, Extension
        assert issubclass(build_py, setuptools.Command) and setuptools.__version__
        setup(name="ext", version="1", cmdclass={"build_py": build_py}, install_requires=["six"])
    """)
    record = run_shim(tree)
    assert record["setuptools_version"] is not None
    assert record["fields"]["install_requires"] == ["six"]


def test_find_packages_stand_in_matches_setuptools(tmp_path):
    for folder in ("a", "a/b", "a/b/c", "tests", "x.y", "ns/inner", "a/__pycache__"):
        (tmp_path / folder).mkdir(parents=True)
    for folder in ("a", "a/b", "tests", "x.y", "ns/inner"):
        (tmp_path / folder / "__init__.py").write_text("")
    cases = [{}, {"exclude": ["tests", "a.b"]}, {"include": ["a*"]}]
    # the real setuptools answers in a fresh interpreter: in this process pip's internals may already have
    # imported the stdlib distutils, which setuptools' distutils hack refuses to follow
    real = json.loads(subprocess.run(
        [sys.executable, "-c",
         "import json, sys; from setuptools import find_namespace_packages as n, find_packages as f; "
         "print(json.dumps([[f(sys.argv[1], **k), n(sys.argv[1], **k)] for k in json.loads(sys.argv[2])]))",
         str(tmp_path), json.dumps(cases)],
        capture_output=True, text=True, check=True).stdout)
    for kwargs, (real_find, real_namespace) in zip(cases, real):
        assert shim.find_packages(str(tmp_path), **kwargs) == real_find
        assert shim.find_namespace_packages(str(tmp_path), **kwargs) == real_namespace


def test_markers_move_to_extras_when_setuptools_merges_setup_cfg(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(name="m", version="1", install_requires=["enum34; python_version < '3.4'", "six"])
    """, {"setup.cfg": "[metadata]\nversion = 1\n"})
    record = run_shim(tree)
    assert record["merged"] is True
    assert record["fields"]["install_requires"] == ["six"]
    assert record["fields"]["extras_require"] == {':python_version < "3.4"': ["enum34"]}


def test_pbr_project_without_pbr_installed_reads_requirements_files(tmp_path):
    if subprocess.run([sys.executable, "-c", "import pbr"], capture_output=True).returncode == 0:
        pytest.skip("pbr is installed here")
    tree = make_tree(tmp_path, """\
        import setuptools
        setuptools.setup(setup_requires=["pbr>=2.0"], pbr=True)
    """, {"setup.cfg": "[metadata]\nname = pbrish\nversion = 1.0\n",
          "requirements.txt": "six>=1.10 # Apache-2.0\n-e git+https://example.invalid/x#egg=x\nstevedore\n",
          "test-requirements.txt": "fixtures\n"})
    record = run_shim(tree)
    assert record["fields"]["install_requires"] == ["six>=1.10", "stevedore"]
    assert record["fields"]["tests_require"] == ["fixtures"]
    assert record["fields"]["name"] == "pbrish"
    assert any("pbr is not installed" in w for w in record["warnings"])


def test_first_setup_call_wins(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(name="first", version="1")
        setup(name="second", version="2")
    """)
    assert run_shim(tree)["fields"]["name"] == "first"


def test_prints_on_stdout_do_not_corrupt_the_result(tmp_path):
    tree = make_tree(tmp_path, """\
        import sys
        print('{"ok": true, "fields": {"name": "forged"}}')
        from setuptools import setup
        setup(name="honest", version="1")
    """)
    assert run_shim(tree)["fields"]["name"] == "honest"


def test_exception_reports_its_last_line(tmp_path):
    tree = make_tree(tmp_path, "import numpy_that_is_not_installed\n")
    record = run_shim(tree)
    assert record["error"] == "exception"
    assert record["detail"] == "ModuleNotFoundError: No module named 'numpy_that_is_not_installed'"


def test_exit_before_setup_reports_the_status(tmp_path):
    tree = make_tree(tmp_path, "import sys\nsys.exit('Python 2 only')\n")
    record = run_shim(tree)
    assert (record["error"], record["detail"]) == ("exit", "exited with status Python 2 only before calling setup()")


def test_only_the_started_process_reports(tmp_path):
    tree = make_tree(tmp_path, """\
        import os
        from setuptools import setup
        if os.fork() == 0:
            setup(name="child", version="1")
        os.wait()
        setup(name="parent", version="1")
    """)
    assert run_shim(tree)["fields"]["name"] == "parent"


def test_rejected_values_fall_back_to_keywords_with_a_warning(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(name="bad", version="1", install_requires=["not a valid requirement !!"])
    """, {"setup.cfg": "[metadata]\nversion = 1\n"})
    record = run_shim(tree)
    assert record["fields"]["install_requires"] == ["not a valid requirement !!"]
    assert "keywords used as given" in record["warnings"][0]


def old_pythons():
    """Python 2.7 and 3.6 interpreters with setuptools, where installed (pyenv's layout)."""
    found = []
    for version in ("2.7", "3.6"):
        paths = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}*/bin/python")))
        if paths and subprocess.run([paths[0], "-c", "import setuptools"], capture_output=True).returncode == 0:
            found.append(pytest.param(paths[0], id=version))
        else:
            found.append(pytest.param(None, id=version, marks=pytest.mark.skip(f"no Python {version} with setuptools")))
    return found


@pytest.mark.parametrize("python", old_pythons())
def test_old_interpreter_and_setuptools_never_fetch_setup_requires(tmp_path, python):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        setup(name="legacy", version="1", setup_requires=["no-such-build-tool-xyz"], install_requires=["six"],
              extras_require={"py2": ["futures; python_version < '3'"]})
    """)
    record = run_shim(tree, python=python)
    assert record["python_version"].startswith(("2.7", "3.6"))
    assert record["fields"]["setup_requires"] == ["no-such-build-tool-xyz"]
    assert record["fields"]["install_requires"] == ["six"]
    assert record["warnings"] == []


def python_without_setuptools():
    for path in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[2-9]*/bin/python"))):
        if subprocess.run([path, "-c", "import setuptools"], capture_output=True).returncode != 0:
            return path
    return None


def test_interpreter_without_setuptools_still_answers_a_plain_setup_py(tmp_path):
    python = python_without_setuptools()
    if python is None:
        pytest.skip("no Python 3.12+ without setuptools installed")
    tree = make_tree(tmp_path, """\
        from setuptools import setup, find_packages
        setup(name="bare", version="1", packages=find_packages(), install_requires=["six"])
    """)
    record = run_shim(tree, python=python)
    assert record["fields"]["install_requires"] == ["six"]
    assert "setuptools is not installed" in record["warnings"][0]


def test_interpreter_without_setuptools_reports_what_it_lacks(tmp_path):
    python = python_without_setuptools()
    if python is None:
        pytest.skip("no Python 3.12+ without setuptools installed")
    tree = make_tree(tmp_path, "from setuptools import Extension\n")
    record = run_shim(tree, python=python)
    assert record["error"] == "exception" and "setuptools is not installed" in record["detail"]


@pytest.mark.parametrize("value, lines", [
    ("a\n  b  # why\n# only a comment\n\n", ["a", "b"]),
    (["a", ("b", ["c"])], ["a", "b", "c"]),
    ((x for x in ["g"]), ["g"]),
    (None, None),
])
def test_requirement_lines_flattens_what_setuptools_accepts(value, lines):
    assert shim.requirement_lines(value) == lines


ARGV_BRANCHING_SETUP_PY = """
    import sys
    from setuptools import setup

    wheel_build = "bdist_wheel" in sys.argv
    setup(name="demo", version="1.0", py_modules=["demo"],
          install_requires=["wheel-only>=1"] if wheel_build else ["other-command>=1"])
"""


def _built_wheel_requires(tree: Path, out: Path) -> list:
    """Requires-Dist of the wheel setuptools' PEP 517 backend really builds from ``tree``."""
    import email.parser
    import zipfile

    pytest.importorskip("wheel", reason="wheel not installed")
    subprocess.run([sys.executable, "-c", "import sys, setuptools.build_meta as b; b.build_wheel(sys.argv[1])",
                    str(out)], cwd=tree, check=True, capture_output=True, timeout=120)
    with zipfile.ZipFile(next(out.glob("*.whl"))) as zf:
        return email.parser.BytesHeaderParser().parsebytes(zf.read("demo-1.0.dist-info/METADATA")).get_all(
            "Requires-Dist")


def test_setup_py_sees_the_command_line_of_a_wheel_build(tmp_path):
    tree = make_tree(tmp_path, ARGV_BRANCHING_SETUP_PY, {"demo.py": ""})
    record = run_shim(tree)
    assert record["fields"]["install_requires"] == _built_wheel_requires(tree, tmp_path / "dist") == [
        "wheel-only>=1"]


def test_command_classes_and_stdlib_distutils_need_no_real_setuptools(tmp_path):
    tree = make_tree(tmp_path, """\
        import setuptools.command.test
        from setuptools import setup, Command
        from setuptools.command.test import test as TestCommand
        from distutils.sysconfig import get_python_lib

        class PyTest(TestCommand):
            user_options = [("pytest-args=", "a", "arguments for pytest")]

        assert issubclass(PyTest, Command) and get_python_lib()
        setup(name="demo", version="1", cmdclass={"test": PyTest, "t2": setuptools.command.test.test},
              install_requires=["six"])
    """)
    record = run_shim(tree)
    assert record["setuptools_version"] is None and record["fields"]["install_requires"] == ["six"]


def test_stand_in_command_class_reads_what_it_lacks_from_the_real_one(tmp_path):
    tree = make_tree(tmp_path, """\
        from setuptools import setup
        from setuptools.command.test import test as TestCommand

        class PyTest(TestCommand):
            user_options = TestCommand.user_options + [("pytest-args=", "a", "arguments for pytest")]

        setup(name="demo", version="1", cmdclass={"test": PyTest}, install_requires=[str(len(PyTest.user_options))])
    """)
    record = run_shim(tree)
    assert record["setuptools_version"] is not None and int(record["fields"]["install_requires"][0]) > 1
