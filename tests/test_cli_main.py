"""The shared entry point: library warnings as one line, -q silences them, errors never as tracebacks."""

import os
import subprocess
import sys

from builders import make_wheel


def _run(*args):
    return subprocess.run([sys.executable, "-m", "wheelmeta", *args], capture_output=True, text=True)


def test_library_warning_is_one_prefixed_line(tmp_path):
    wheel = make_wheel(tmp_path, "demo", "1.0", requires=["a; sys_platform == 'win32'"])
    proc = _run("metadata", str(wheel), "--platform", "win32", "--platform", "manylinux_2_17_x86_64")
    assert proc.returncode == 0
    warning_lines = [line for line in proc.stderr.splitlines() if line]
    assert warning_lines and all(line.startswith("wheelmeta: warning: ") for line in warning_lines)
    assert "Traceback" not in proc.stderr


def test_quiet_silences_warnings(tmp_path):
    wheel = make_wheel(tmp_path, "demo", "1.0")
    proc = _run("-q", "metadata", str(wheel), "--platform", "win32", "--platform", "manylinux_2_17_x86_64")
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_quiet_after_the_subcommand_silences_warnings_too(tmp_path):
    wheel = make_wheel(tmp_path, "demo", "1.0")
    proc = _run("metadata", str(wheel), "--platform", "win32", "--platform", "manylinux_2_17_x86_64", "-q")
    assert proc.returncode == 0
    assert proc.stderr == ""


def test_unknown_option_before_the_subcommand_prints_the_top_level_usage():
    proc = _run("--bogus", "scan", "x.whl")
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: wheelmeta [-h]")
    assert proc.stderr.splitlines()[-1] == "wheelmeta: error: unrecognized arguments: --bogus"


def test_missing_file_is_a_usage_error_naming_it(tmp_path):
    missing = tmp_path / "nothere-1.0-py3-none-any.whl"
    proc = _run("scan", str(missing))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"wheelmeta: error: {missing}: no such file"]


def test_a_file_name_with_a_line_break_and_undecodable_bytes_is_named_on_one_printable_line(tmp_path):
    """Found by the fuzz harness: the name was printed raw, so the error split over lines (or, for the lone
    surrogate an undecodable byte becomes, could not be printed at all)."""
    bad = os.path.join(os.fsencode(tmp_path), b"de\nmo\xff-1.0-py3-none-any.whl")
    with open(bad, "wb") as f:
        f.write(b"not a zip")
    proc = subprocess.run([sys.executable, "-m", "wheelmeta", "scan", bad], capture_output=True)
    assert proc.returncode == 1
    lines = proc.stderr.decode("utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("wheelmeta: error: ")
    assert "de\\nmo\\udcff-1.0-py3-none-any.whl: " in lines[0]
