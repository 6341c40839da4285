"""resolve/inputs.py: what a lock starts from, and the one-line errors for bad input."""

from __future__ import annotations

import pytest

from wheelmeta.errors import UsageError
from wheelmeta.resolve.inputs import LockInputs


def _names(inputs: LockInputs):
    return [str(r) for r in inputs.requirements]


def test_requirement_file_with_include_constraint_and_index_options(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("idna<3  # pinned for the old requests\n")
    (tmp_path / "constraints.txt").write_text("urllib3<1.25\n")
    main = tmp_path / "requirements.txt"
    main.write_text("--index-url http://127.0.0.1:9/simple\n--extra-index-url http://127.0.0.1:9/extra\n"
                    "-f ./wheels\n-r sub/more.txt\n-c constraints.txt\n\nrequests[socks] \\\n  <2.22\n")
    inputs = LockInputs.from_arguments([], [str(main)])
    assert _names(inputs) == ["idna<3", "requests[socks]<2.22"]
    assert [str(c) for c in inputs.constraints] == ["urllib3<1.25"]
    assert inputs.index_url == "http://127.0.0.1:9/simple"
    assert inputs.extra_index_urls == ["http://127.0.0.1:9/extra"]
    assert inputs.origins[inputs.requirements[1]] == f"{main}:7"


def test_an_include_loop_is_an_error_naming_the_line(tmp_path):
    (tmp_path / "a.txt").write_text("x\n-r b.txt\n")
    (tmp_path / "b.txt").write_text("-r a.txt\n")
    with pytest.raises(UsageError, match=r"b\.txt:1: include loop: .*a\.txt -> .*b\.txt -> .*a\.txt"):
        LockInputs.from_arguments([], [str(tmp_path / "a.txt")])


def test_a_missing_include_names_the_including_line(tmp_path):
    (tmp_path / "a.txt").write_text("x\n-r nowhere.txt\n")
    with pytest.raises(UsageError, match=r"a\.txt:2: .*nowhere\.txt: no such file"):
        LockInputs.from_arguments([], [str(tmp_path / "a.txt")])


def test_a_line_pip_would_reject_is_an_error_naming_file_and_line(tmp_path):
    (tmp_path / "r.txt").write_text("good\nbad ==!= 1\n")
    with pytest.raises(UsageError, match=r"r\.txt:2: not a valid requirement 'bad ==!= 1'"):
        LockInputs.from_arguments([str(tmp_path / "r.txt")])


def test_an_editable_line_cannot_be_locked(tmp_path):
    (tmp_path / "r.txt").write_text("-e .\n")
    with pytest.raises(UsageError, match=r"r\.txt:1: an editable requirement cannot be locked"):
        LockInputs.from_arguments([], [str(tmp_path / "r.txt")])


def test_a_malformed_hash_is_an_error(tmp_path):
    (tmp_path / "r.txt").write_text("x==1 --hash=md5:abc\n")
    with pytest.raises(UsageError, match=r"r\.txt:1: --hash 'md5:abc': expected sha256"):
        LockInputs.from_arguments([], [str(tmp_path / "r.txt")])


def test_pyproject_dependencies_and_selected_extras(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "app"\nversion = "1"\nrequires-python = ">=3.10"\n'
                         'dependencies = ["numpy>=1.17"]\n[project.optional-dependencies]\nPlot = ["pillow"]\n'
                         'web = ["requests"]\n')
    inputs = LockInputs.from_arguments([str(pyproject)], extras=["plot"])
    assert _names(inputs) == ["numpy>=1.17", "pillow"]
    assert inputs.requires_python == ">=3.10"


def test_pyproject_unknown_extra_names_the_ones_it_has(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "app"\ndependencies = []\n[project.optional-dependencies]\nweb = []\n')
    with pytest.raises(UsageError, match="no optional-dependencies extra 'gui' \\(it has: web\\)"):
        LockInputs.from_arguments([str(pyproject)], extras=["gui"])


def test_pyproject_with_dynamic_dependencies_is_refused(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "app"\ndynamic = ["dependencies"]\n')
    with pytest.raises(UsageError, match="dependencies are dynamic"):
        LockInputs.from_arguments([str(pyproject)])


def test_pep_723_script_metadata(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text('#!/usr/bin/env python\n# /// script\n# requires-python = ">=3.11"\n# dependencies = [\n'
                      '#   "requests<3",\n#   "rich",\n# ]\n# ///\nprint("hi")\n')
    inputs = LockInputs.from_arguments([str(script)])
    assert _names(inputs) == ["requests<3", "rich"]
    assert inputs.requires_python == ">=3.11"


def test_a_script_without_a_block_is_an_error(tmp_path):
    script = tmp_path / "tool.py"
    script.write_text("print('hi')\n")
    with pytest.raises(UsageError, match="tool.py: no PEP 723"):
        LockInputs.from_arguments([str(script)])


def test_a_missing_file_argument_is_an_error(tmp_path):
    with pytest.raises(UsageError, match="no such file"):
        LockInputs.from_arguments([str(tmp_path / "requirements.txt")])


def test_an_include_naming_a_file_with_a_nul_byte_is_one_error_naming_the_line(tmp_path):
    from wheelmeta.errors import UsageError
    from wheelmeta.resolve.inputs import LockInputs

    requirements = tmp_path / "requirements.txt"
    requirements.write_bytes(b"-r more\x00.txt\n")  # found by the fuzz harness: os.path raised ValueError
    with pytest.raises(UsageError, match="NUL byte"):
        LockInputs.from_arguments([], [str(requirements)])


@pytest.mark.parametrize("line", ["six; os_name == 'a\x00b'", "six>=" + "1" * 5000], ids=["nul-byte", "5000-digits"])
def test_a_requirement_packaging_cannot_parse_or_print_is_one_error_naming_the_line(tmp_path, line):
    from wheelmeta.errors import UsageError
    from wheelmeta.resolve.inputs import LockInputs

    requirements = tmp_path / "requirements.txt"
    requirements.write_text(line + "\n")  # found by the fuzz harness: a SyntaxError escaped packaging
    with pytest.raises(UsageError, match="not a valid requirement") as info:
        LockInputs.from_arguments([], [str(requirements)])
    assert "requirements.txt" in str(info.value)
