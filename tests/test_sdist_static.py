"""Static sdist metadata: PKG-INFO (PEP 643), pyproject [project] (PEP 621), setup.cfg, and setuptools' rules for
turning install_requires/extras_require into Requires-Dist, checked against real setuptools + wheel output."""

from __future__ import annotations

import email.parser
import json
import subprocess
import sys
import zipfile

import pytest
from builders import metadata_text
from packaging.requirements import Requirement

from wheelmeta.errors import MetadataError
from wheelmeta.sdist.requirements import parse_requirements, requirement_lines, setuptools_requires_dist
from wheelmeta.sdist.static import (
    is_trivial_setup_py,
    pkg_info_metadata,
    pyproject_metadata,
    read_setup_cfg,
    setup_cfg_metadata,
)

SOURCE = "demo-1.0.tar.gz"


def _pkg_info(version: str, *headers: str) -> bytes:
    return metadata_text("demo", "1.0", requires=["attrs>=19"], requires_python=">=3.8", metadata_version=version,
                         extra_headers=headers).encode()


# -- PKG-INFO (PEP 643) -----------------------------------------------------------------------------------------------


def test_pkg_info_2_2_without_dynamic_dependencies_is_static_truth():
    md, why = pkg_info_metadata(_pkg_info("2.2", "Dynamic: Summary"), source=SOURCE)
    assert why == "" and md.provenance == "pkg-info-static"
    assert [str(r) for r in md.requires_dist] == ["attrs>=19"] and str(md.requires_python) == ">=3.8"


@pytest.mark.parametrize("field", ["Requires-Dist", "requires-python", "Provides-Extra"])
def test_pkg_info_with_dynamic_dependency_field_is_not_used(field):
    md, why = pkg_info_metadata(_pkg_info("2.3", f"Dynamic: {field}"), source=SOURCE)
    assert md is None and field.lower() in why and "Dynamic" in why


def test_pkg_info_before_2_2_is_not_trusted():
    md, why = pkg_info_metadata(_pkg_info("2.1"), source=SOURCE)
    assert md is None and "2.1" in why


# -- pyproject.toml [project] (PEP 621) -------------------------------------------------------------------------------


def test_pep621_optional_dependencies_become_extra_markers():
    project = {"name": "demo", "version": "1.0", "requires-python": ">=3.9", "dependencies": ["attrs"],
               "optional-dependencies": {"socks": ["PySocks>=1.5", "w; sys_platform == 'win32' or os_name == 'nt'"]}}
    md, _ = pyproject_metadata({"project": project}, source=SOURCE)
    assert [str(r) for r in md.requires_dist] == [
        "attrs",
        'PySocks>=1.5; extra == "socks"',
        'w; (sys_platform == "win32" or os_name == "nt") and extra == "socks"',
    ]
    assert md.provides_extra == ("socks",) and str(md.requires_python) == ">=3.9"


def test_pep621_dynamic_dependencies_are_not_static():
    md, why = pyproject_metadata({"project": {"name": "demo", "dynamic": ["version", "dependencies"]}}, source=SOURCE)
    assert md is None and "dependencies" in why


def test_pep621_absent_dependencies_mean_none_when_not_dynamic():
    md, _ = pyproject_metadata({"project": {"name": "demo", "dynamic": ["version"]}}, source=SOURCE, version="2.0")
    assert md.requires_dist == () and md.version == "2.0"


def test_pep621_unparsable_dependency_is_a_problem_not_a_crash():
    md, _ = pyproject_metadata({"project": {"name": "demo", "dependencies": ["attrs", "not a req !!"]}}, source=SOURCE)
    assert [str(r) for r in md.requires_dist] == ["attrs"] and "not a req" in md.problems[0]


# -- setup.cfg --------------------------------------------------------------------------------------------------------

SETUP_CFG = """
[metadata]
name = demo

[options]
python_requires = >=3.6
install_requires =
    requests>=2
    importlib-metadata; python_version<"3.8"
setup_requires = setuptools_scm>=3.4
tests_require = pytest; mock

[options.extras_require]
Docs = sphinx; jaraco.packaging>=3.2
"""


def test_setup_cfg_fields_are_read_as_setuptools_splits_them():
    fields = read_setup_cfg(SETUP_CFG, source=SOURCE, read_file=lambda rel: None)
    assert fields["install_requires"] == ["requests>=2", 'importlib-metadata; python_version<"3.8"']
    assert fields["extras_require"] == {"Docs": ["sphinx", "jaraco.packaging>=3.2"]}
    assert fields["tests_require"] == ["pytest", "mock"]


def test_setup_cfg_metadata_keeps_build_and_test_requirements_apart():
    fields = read_setup_cfg(SETUP_CFG, source=SOURCE, read_file=lambda rel: None)
    md = setup_cfg_metadata(fields, source=SOURCE, name="demo", version="1.0")
    assert [str(r) for r in md.build_requires] == ["setuptools_scm>=3.4"]
    assert [str(r) for r in md.test_requires] == ["pytest", "mock"]
    assert 'sphinx; extra == "docs"' in [str(r) for r in md.requires_dist] and md.provides_extra == ("docs",)


def test_setup_cfg_file_directive_reads_the_named_file():
    cfg = "[options]\ninstall_requires = file: requirements.txt\n"
    fields = read_setup_cfg(cfg, source=SOURCE, read_file=lambda rel: b"click>=7\n# comment\nsix\n")
    assert fields["install_requires"] == ["click>=7", "six"]


def test_setup_cfg_file_directive_naming_a_missing_file_is_an_error():
    cfg = "[options]\ninstall_requires = file: requirements.txt\n"
    with pytest.raises(MetadataError, match="requirements.txt"):
        read_setup_cfg(cfg, source=SOURCE, read_file=lambda rel: None)


def test_broken_setup_cfg_is_an_error_naming_the_sdist():
    with pytest.raises(MetadataError, match=SOURCE):
        read_setup_cfg("[options\ninstall_requires = x", source=SOURCE, read_file=lambda rel: None)


@pytest.mark.parametrize(
    "text",
    [
        "from setuptools import setup\nsetup()\n",
        '"""doc"""\nimport setuptools\nif __name__ == "__main__":\n    setuptools.setup(use_scm_version=True)\n',
    ],
)
def test_setup_shim_is_trivial(text):
    assert is_trivial_setup_py(text.encode())


@pytest.mark.parametrize(
    "text",
    [
        "from setuptools import setup\nsetup(install_requires=['x'])\n",
        "import sys\nfrom setuptools import setup\nsetup()\n",
        "from setuptools import setup\nkw = {}\nsetup(**kw)\n",
        "from setuptools import setup\nsetup(version=open('V').read())\n",
        "this is not python(",
    ],
)
def test_setup_py_that_can_change_requirements_is_not_trivial(text):
    assert not is_trivial_setup_py(text.encode())


# -- setuptools' extras_require rules ---------------------------------------------------------------------------------


def test_requirement_lines_drop_comments_and_join_continuations():
    text = "a>=1  # why\n# whole line\n\nb \\\n  >=2\n"
    assert list(requirement_lines([text, ["c"]])) == ["a>=1", "b >=2", "c"]


def test_extras_require_marker_keys_combine_as_setuptools_writes_them():
    reqs, extras, problems = setuptools_requires_dist(
        ["chardet<3.1.0,>=3.0.2", "enum34; python_version<'3.4'"],
        {"socks": ["PySocks>=1.5.6, !=1.5.7"], 'socks:sys_platform == "win32"': ["win_inet_pton"],
         ':python_version<"3"': ["ipaddress"]},
    )
    assert [str(r) for r in reqs] == [
        "chardet<3.1.0,>=3.0.2",
        'enum34; python_version < "3.4"',
        'ipaddress; python_version < "3"',
        'PySocks!=1.5.7,>=1.5.6; extra == "socks"',
        'win-inet-pton; sys_platform == "win32" and extra == "socks"',
    ]
    assert extras == ("socks",) and problems == ()


def test_empty_extra_is_still_provided():
    _, extras, _ = setuptools_requires_dist([], {"all": []})
    assert extras == ("all",)


def test_unparsable_install_requires_line_is_a_problem():
    reqs, _, problems = setuptools_requires_dist(["good>=1", "bad; nonsense"], None)
    assert [str(r) for r in reqs] == ["good>=1"] and "install_requires" in problems[0]


def test_legacy_specifier_keeps_the_dependency_with_extras_and_marker():
    reqs, provides, problems = setuptools_requires_dist(
        ["pytz>dev", "foo[x] (>=1.0.*); python_version<'3'"], {"tls": ["bar>=1.0.*,<2"]})
    assert [str(r) for r in reqs] == ["pytz", 'foo[x]; python_version < "3"', 'bar<2; extra == "tls"']
    assert len(problems) == 3 and all("is not valid PEP 440" in p for p in problems)


SETUP_CFG_TIGHT_MARKERS = """
[options]
install_requires =
    foo;python_version<"3.8"
[options.extras_require]
tls =
    bar;sys_platform=="win32"
"""


def test_setup_cfg_marker_after_semicolon_without_space_is_kept():
    fields = read_setup_cfg(SETUP_CFG_TIGHT_MARKERS, source=SOURCE, read_file=lambda rel: None)
    md = setup_cfg_metadata(fields, source=SOURCE, name="demo", version="1.0")
    assert [str(r) for r in md.requires_dist] == [
        'foo; python_version < "3.8"', 'bar; sys_platform == "win32" and extra == "tls"'] and not md.problems


def test_setup_cfg_lists_split_as_real_setuptools_splits_them(tmp_path):
    (tmp_path / "setup.cfg").write_text(SETUP_CFG_TIGHT_MARKERS + "docs = sphinx; furo>=2\n")
    ours = read_setup_cfg((tmp_path / "setup.cfg").read_text(), source=SOURCE, read_file=lambda rel: None)
    done = subprocess.run(  # the real setuptools, in a process of its own (it replaces distutils on import)
        [sys.executable, "-c", "import json, sys; from setuptools.config.setupcfg import read_configuration; "
         "print(json.dumps(read_configuration(sys.argv[1])['options']))", str(tmp_path / "setup.cfg")],
        capture_output=True, text=True, check=True, timeout=120)
    theirs = json.loads(done.stdout)
    assert ours["install_requires"] == theirs["install_requires"]
    assert ours["extras_require"] == theirs["extras_require"]


def test_one_line_setup_cfg_value_split_at_a_marker_is_reported():
    fields = read_setup_cfg('[options]\ninstall_requires = foo;python_version<"3.8"\n', source=SOURCE,
                           read_file=lambda rel: None)
    md = setup_cfg_metadata(fields, source=SOURCE, name="demo", version="1.0")
    assert [str(r) for r in md.requires_dist] == ["foo"]
    assert "environment marker cut off the requirement before it" in md.problems[0]


def _wheel_requires(tmp_path, install_requires, extras_require):
    """Requires-Dist and Provides-Extra of a wheel that the installed setuptools + wheel really build."""
    pytest.importorskip("wheel", reason="wheel not installed")
    (tmp_path / "demo.py").write_text("")
    (tmp_path / "setup.py").write_text(
        "from setuptools import setup\n"
        f"setup(name='demo', version='1.0', py_modules=['demo'], install_requires={install_requires!r}, "
        f"extras_require={extras_require!r})\n"
    )
    subprocess.run([sys.executable, "setup.py", "-q", "bdist_wheel", "-d", "dist"], cwd=tmp_path, check=True,
                   capture_output=True)
    wheel = next((tmp_path / "dist").glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        headers = email.parser.BytesHeaderParser().parsebytes(zf.read("demo-1.0.dist-info/METADATA"))
    return headers.get_all("Requires-Dist") or [], headers.get_all("Provides-Extra") or []


def test_conversion_equals_what_setuptools_and_wheel_write(tmp_path):
    install = ["requests>=2,<3", "six; python_version<'3'", "pywin32>=1.0; sys_platform=='win32'"]
    extras = {"Socks": ["PySocks>=1.5.6,!=1.5.7"], "tls:python_version < '3.7'": ["pyOpenSSL"],
              'tls:sys_platform=="win32" or os_name=="nt"': ["certifi", "idna[x]>=2"], "empty": []}
    wheel_reqs, wheel_extras = _wheel_requires(tmp_path, install, extras)
    reqs, provides, _ = setuptools_requires_dist(install, extras)
    assert [str(r) for r in reqs] == [str(Requirement(r)) for r in wheel_reqs]
    assert list(provides) == wheel_extras


def test_setuptools_dynamic_dependencies_from_files_are_static():
    pyproject = {
        "build-system": {"build-backend": "setuptools.build_meta"},
        "project": {"name": "demo", "version": "1.0", "dynamic": ["dependencies", "optional-dependencies"]},
        "tool": {"setuptools": {"dynamic": {"dependencies": {"file": ["requirements.txt"]},
                                            "optional-dependencies": {"cli": {"file": "cli.txt"}}}}},
    }
    files = {"requirements.txt": b"attrs>=21  # why\n# comment\n", "cli.txt": b"click\n"}
    md, why = pyproject_metadata(pyproject, source=SOURCE, read_file=files.get)
    assert why == "" and md.provenance == "pep621"
    assert [str(r) for r in md.requires_dist] == ["attrs>=21", 'click; extra == "cli"']


def test_setuptools_dynamic_dependencies_without_file_are_not_static():
    pyproject = {
        "build-system": {"build-backend": "setuptools.build_meta"},
        "project": {"name": "demo", "dynamic": ["dependencies"]},
        "tool": {"setuptools": {"dynamic": {"version": {"attr": "demo.__version__"}}}},
    }
    md, why = pyproject_metadata(pyproject, source=SOURCE, read_file=lambda rel: b"")
    assert md is None and "names no file for dependencies" in why


def test_setup_requirement_whose_marker_cannot_be_evaluated_is_kept_with_a_problem():
    problems = []
    reqs = parse_requirements(["odd; 'a' == 'a'", "six"], "install_requires", problems)
    assert [r.name for r in reqs] == ["odd", "six"]
    assert len(problems) == 1 and "install_requires" in problems[0] and "cannot be evaluated" in problems[0]


def test_setup_requirement_with_a_nul_byte_or_a_5000_digit_version_is_a_problem():
    problems = []
    reqs = parse_requirements(['odd; os_name == "a\0b"', "odd>=" + "1" * 5000, "six"], "install_requires", problems)
    assert [str(r) for r in reqs] == ["six"] and len(problems) == 2
