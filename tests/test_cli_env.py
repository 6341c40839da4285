"""``wheelmeta env``: a pylock.toml on disk in, one Nix file out (or on stdout), bad locks as one error line."""

from __future__ import annotations

from lockbuild import SEED_NATIVE, SEED_NIXPKGS_PYTHON, lock_dict, seed_packages, toml_text, write_lock
from nixstub import evaluate_environment, nix_parse, require_nix
from wheelmeta.cli import main


def test_env_writes_a_file_that_evaluates_with_both_flag_values(tmp_path):
    require_nix()
    lock = write_lock(tmp_path / "pylock.toml", seed_packages())
    assert main(["-q", "env", str(lock), "-o", str(tmp_path / "env.nix")]) == 0
    for flag, kind in (("true", "wheel"), ("false", "sdist")):
        result = evaluate_environment(tmp_path / "env.nix", tmp_path, SEED_NATIVE, SEED_NIXPKGS_PYTHON,
                                      f"{{ preferWheels = {flag}; }}")
        assert result["env"][2] == f"purelib-1.0-{kind}"


def test_env_without_output_prints_the_same_file(tmp_path, capsys):
    lock = write_lock(tmp_path / "pylock.toml", seed_packages())
    assert main(["-q", "env", str(lock), "-o", str(tmp_path / "env.nix")]) == 0
    assert main(["-q", "env", str(lock)]) == 0
    assert capsys.readouterr().out == (tmp_path / "env.nix").read_text()
    nix_parse(tmp_path / "env.nix")


def test_env_twice_gives_byte_identical_files(tmp_path):
    lock = write_lock(tmp_path / "pylock.toml", seed_packages())
    for name in ("a.nix", "b.nix"):
        assert main(["-q", "env", str(lock), "-o", str(tmp_path / name)]) == 0
    assert (tmp_path / "a.nix").read_bytes() == (tmp_path / "b.nix").read_bytes()
    nix_parse(tmp_path / "a.nix")


def test_env_warns_about_unknown_native_libraries(tmp_path, capsys):
    lock = write_lock(tmp_path / "pylock.toml", seed_packages())
    assert main(["env", str(lock), "-o", str(tmp_path / "env.nix")]) == 0
    assert "wheelmeta: warning: fastmath 2.0: no nixpkgs input known for libmystery.so.3" in capsys.readouterr().err
    nix_parse(tmp_path / "env.nix")


def test_an_invalid_lock_is_one_error_line_naming_the_file(tmp_path, capsys):
    data = lock_dict(seed_packages())
    del data["packages"][2]["wheels"][0]["hashes"]  # PEP 751: every archive has its hashes
    lock = tmp_path / "pylock.toml"
    lock.write_text(toml_text(data))
    assert main(["env", str(lock), "-o", str(tmp_path / "env.nix")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"wheelmeta: error: {lock}: not a valid PEP 751 lock: ") and err.count("\n") == 1
    assert "hashes" in err
    assert not (tmp_path / "env.nix").exists()


def test_a_file_that_is_not_toml_is_one_error_line(tmp_path, capsys):
    lock = tmp_path / "pylock.toml"
    lock.write_bytes(b"lock-version = \xff\n")
    assert main(["env", str(lock)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"wheelmeta: error: {lock}: the lock is not valid TOML") and err.count("\n") == 1


def test_a_lock_entry_env_cannot_build_is_one_error_line_naming_the_package(tmp_path, capsys):
    data = lock_dict(seed_packages())
    del data["packages"][1]["version"]  # PEP 751 allows it; a Nix package needs one
    lock = tmp_path / "pylock.toml"
    lock.write_text(toml_text(data))
    assert main(["env", str(lock), "-o", str(tmp_path / "env.nix")]) == 1
    assert capsys.readouterr().err == f"wheelmeta: error: {lock}: package oldsetup: no version: wheelmeta env " \
        "builds released versions only\n"
    assert not (tmp_path / "env.nix").exists()


def test_a_missing_lock_is_one_error_line(tmp_path, capsys):
    assert main(["env", str(tmp_path / "nowhere.toml")]) == 1
    assert capsys.readouterr().err == f"wheelmeta: error: {tmp_path / 'nowhere.toml'}: cannot read the lock: " \
        "No such file or directory\n"


def test_an_output_in_a_missing_folder_is_a_usage_error(tmp_path, capsys):
    lock = write_lock(tmp_path / "pylock.toml", seed_packages())
    assert main(["-q", "env", str(lock), "-o", str(tmp_path / "no" / "env.nix")]) == 2
    assert "cannot write the environment file" in capsys.readouterr().err
