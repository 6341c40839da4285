"""[tool.poetry] converted to PEP 440/508 the way poetry-core writes a wheel's METADATA."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet

from wheelmeta.sdist.poetry import (
    PoetryConstraintError,
    poetry_constraint,
    poetry_metadata,
    poetry_python_marker,
    poetry_requires_python,
)


@pytest.mark.parametrize(
    "constraint, pep440",
    [
        ("^1.2.3", ">=1.2.3,<2.0.0"),
        ("^1.2", ">=1.2,<2.0"),
        ("^0.2.3", ">=0.2.3,<0.3.0"),
        ("^0.0.3", ">=0.0.3,<0.0.4"),
        ("^0", ">=0,<1"),
    ],
)
def test_caret_allows_changes_that_keep_the_leftmost_nonzero_part(constraint, pep440):
    assert poetry_constraint(constraint) == SpecifierSet(pep440)


@pytest.mark.parametrize("constraint, pep440", [("~1.2.3", ">=1.2.3,<1.3.0"), ("~1.2", ">=1.2,<1.3"), ("~1", ">=1,<2")])
def test_tilde_allows_patch_changes_or_minor_for_a_bare_major(constraint, pep440):
    assert poetry_constraint(constraint) == SpecifierSet(pep440)


@pytest.mark.parametrize(
    "constraint, pep440",
    [("*", ""), ("1.2.*", "==1.2.*"), ("1.2.3", "==1.2.3"), (">= 1.2, < 1.5", ">=1.2,<1.5"), (">=1.2 <2", ">=1.2,<2"),
     ("~=1.4", "~=1.4"), ("!=1.5", "!=1.5")],
)
def test_wildcards_bare_versions_and_ranges_convert(constraint, pep440):
    assert poetry_constraint(constraint) == SpecifierSet(pep440)


def test_union_outside_python_has_no_pep440_form():
    with pytest.raises(PoetryConstraintError, match="union"):
        poetry_constraint("^1.0 || ^2.0")


def test_python_union_becomes_lowest_bound_and_excluded_minors():
    assert poetry_requires_python("~2.7 || ^3.4") == SpecifierSet(">=2.7,!=3.0.*,!=3.1.*,!=3.2.*,!=3.3.*")


@pytest.mark.parametrize(
    "constraint, marker",
    [
        ("^3.6", 'python_version >= "3.6" and python_version < "4.0"'),
        (">=3.6.1", 'python_full_version >= "3.6.1"'),
        ("~2.7 || ~3.4", '(python_version >= "2.7" and python_version < "2.8") or '
                         '(python_version >= "3.4" and python_version < "3.5")'),
    ],
)
def test_python_constraint_becomes_marker(constraint, marker):
    assert poetry_python_marker(constraint) == marker


PYPROJECT = {
    "tool": {
        "poetry": {
            "name": "demo",
            "version": "1.0",
            "dependencies": {
                "python": "^3.7",
                "requests": {"version": "^2.22", "extras": ["socks"]},
                "pywin32": {"version": ">=300", "platform": "win32"},
                "typing-extensions": {"version": "^4.0", "python": "<3.8"},
                "PyYAML": {"version": "^6.0", "optional": True},
                "colorama": {"version": "*", "optional": True},
                "numpy": [{"version": "^1.21", "python": "<3.11"}, {"version": "^1.23", "python": ">=3.11"}],
                "attrs": {"version": "^22", "markers": "implementation_name == 'cpython'"},
                "unused-optional": {"version": "*", "optional": True},
            },
            "extras": {"yaml": ["PyYAML"], "all": ["pyyaml", "colorama"]},
            "dev-dependencies": {"pytest": "^7"},
            "group": {"docs": {"dependencies": {"sphinx": "^5"}}},
        }
    }
}


def _requires(pyproject=PYPROJECT):
    md, why = poetry_metadata(pyproject, source="demo-1.0.tar.gz")
    assert why == "" and md.provenance == "poetry"
    return md, [str(r) for r in md.requires_dist]


def test_python_dependency_is_requires_python():
    md, _ = _requires()
    assert md.requires_python == SpecifierSet(">=3.7,<4.0")


def test_dict_form_keeps_extras_platform_python_and_markers():
    _, reqs = _requires()
    assert "requests[socks]<3.0,>=2.22" in reqs
    assert 'pywin32>=300; sys_platform == "win32"' in reqs
    assert 'typing-extensions<5.0,>=4.0; python_version < "3.8"' in reqs
    assert 'attrs<23,>=22; implementation_name == "cpython"' in reqs


def test_multiple_constraints_form_gives_one_requirement_each():
    _, reqs = _requires()
    assert [r for r in reqs if r.startswith("numpy")] == [
        'numpy<2.0,>=1.21; python_version < "3.11"', 'numpy<2.0,>=1.23; python_version >= "3.11"']


def test_optional_dependencies_appear_only_under_their_extras():
    md, reqs = _requires()
    assert 'PyYAML<7.0,>=6.0; extra == "yaml" or extra == "all"' in reqs
    assert 'colorama; extra == "all"' in reqs
    assert not [r for r in reqs if r.startswith("unused-optional")]
    assert md.provides_extra == ("yaml", "all")


def test_dev_and_group_dependencies_are_left_out():
    _, reqs = _requires()
    assert not [r for r in reqs if r.startswith(("pytest", "sphinx"))]


def test_git_dependency_becomes_a_direct_reference():
    pyproject = {"tool": {"poetry": {"name": "d", "version": "1", "dependencies": {
        "lib": {"git": "https://example.invalid/lib.git", "tag": "v1.0"}}}}}
    _, reqs = _requires(pyproject)
    assert reqs == ["lib @ git+https://example.invalid/lib.git@v1.0"]


def test_unconvertible_constraint_is_left_out_and_reported_but_the_dependency_kept():
    pyproject = {"tool": {"poetry": {"name": "d", "version": "1", "dependencies": {"a": "^1 || ^2", "b": "^1"}}}}
    md, reqs = _requires(pyproject)
    assert reqs == ["a", "b<2,>=1"] and "'^1 || ^2' left out" in md.problems[0] and "union" in md.problems[0]


def test_pyproject_without_poetry_dependencies_is_not_an_answer():
    md, why = poetry_metadata({"tool": {"black": {}}}, source="demo-1.0.tar.gz")
    assert md is None and "tool.poetry" in why
