"""The soname map: the data file's schema, its coverage, pattern rules, and user overrides."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from wheelmeta.errors import WheelmetaError
from wheelmeta.manylinux.policy import policy_data
from wheelmeta.patchelf_nix.sonames import (
    ENV_VAR,
    MAP_CLASSES,
    SonameMap,
    SonameMapError,
    builtin_map_path,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@pytest.fixture(scope="module")
def builtin() -> SonameMap:
    return SonameMap.load(environ={})


def _write(tmp_path: Path, text: str, name: str = "map.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- the data file -----------------------------------------------------------------------------------------


def test_data_file_providers_all_have_sonames_class_evidence_and_verified_flag():
    data = tomllib.loads(builtin_map_path().read_text())
    assert data["schema"] == 1
    for provider in data["provider"]:
        label = provider["sonames"][0]
        assert provider["sonames"] and all(isinstance(s, str) and s for s in provider["sonames"]), label
        assert provider.get("class", "nixpkgs") in MAP_CLASSES, label
        assert isinstance(provider["evidence"], str) and provider["evidence"].strip(), label
        assert isinstance(provider["verified"], bool), label
        if provider.get("class", "nixpkgs") in ("nixpkgs", "python-package"):
            assert provider["attribute"], label
        if provider.get("class") == "python-package":
            assert provider["search_path"], label


#: the evidence rule: "<nixpkgs file>: <what was read> <version> -> <soname>", with the revision read
EVIDENCE = re.compile(r"pkgs/\S+\.(?:nix|json): .+")


@pytest.mark.parametrize("key", ["revision", "version", "provides", "major_tracks_version"])
def test_evidence_fields_have_their_type_in_every_provider(key):
    data = tomllib.loads(builtin_map_path().read_text())
    kinds = {"major_tracks_version": bool}
    for provider in data["provider"]:
        if key in provider:
            assert isinstance(provider[key], kinds.get(key, str)) and provider[key] != "", provider["sonames"][0]


def test_verified_entries_name_file_revision_and_the_version_that_gives_the_soname(builtin):
    verified = [entry for entry in builtin.entries() if entry.verified]
    assert len(verified) > 200
    for entry in verified:
        assert EVIDENCE.fullmatch(entry.evidence), entry.pattern
        assert re.fullmatch(r"[0-9a-f]{40}", entry.revision), entry.pattern
        assert entry.version and f" {entry.version} -> " in entry.evidence, entry.pattern
        if entry.cls in ("nixpkgs", "cc-runtime"):
            assert entry.provides or entry.major_tracks_version, f"{entry.pattern}: no version rule"


def test_the_version_read_satisfies_the_rule_of_every_exact_verified_soname(builtin):
    """An entry whose own evidence contradicts its rule (libjpeg-turbo 3.0.4 for libjpeg.so.8) cannot be verified."""
    for entry in builtin.entries():
        if entry.verified and not entry.is_pattern:
            assert entry.version_problem(entry.pattern, entry.version) is None, entry.pattern


def test_unverified_entries_still_name_their_evidence(builtin):
    for entry in builtin.entries():
        if not entry.verified:
            assert entry.evidence.strip(), entry.pattern


def test_every_recorded_name_starts_with_an_attribute_path(builtin):
    for entry in builtin.entries():
        if entry.names and entry.cls in ("nixpkgs", "cc-runtime"):
            named = {n.split()[0].rstrip(",;") for n in entry.names} - {entry.attribute}
            assert len(entry.spellings()) >= 1 + len(named), entry.pattern


def test_data_file_names_no_soname_twice(builtin):
    """A soname listed by two providers would silently shadow one of them."""
    patterns = [entry.pattern for entry in builtin.entries()]
    duplicates = sorted({p for p in patterns if patterns.count(p) > 1})
    assert duplicates == []


def test_every_entry_has_attribute_when_its_class_adds_an_input(builtin):
    for entry in builtin.entries():
        if entry.cls in ("nixpkgs", "cc-runtime", "python-package", "libpython"):
            assert entry.attribute and " " not in entry.attribute, entry.pattern
        if entry.cls in ("glibc", "driver", "unpackaged"):
            assert entry.attribute is None, entry.pattern


def test_renamed_attributes_record_their_old_names(builtin):
    assert any("xorg.libX11" in n for n in builtin.lookup("libX11.so.6").names)
    assert any("xorg.xcbutilwm" in n for n in builtin.lookup("libxcb-icccm.so.4").names)
    assert any("cusparselt" in n for n in builtin.lookup("libcusparseLt.so.0").names)


@pytest.mark.parametrize("libc", ["glibc", "musl"])
def test_every_soname_a_manylinux_policy_allows_is_mapped(builtin, libc):
    allowed = {s for policy in policy_data(libc)["policies"] for s in policy["lib_whitelist"]}
    assert allowed, "the policy data lists no libraries"
    assert sorted(s for s in allowed if builtin.lookup(s) is None) == []


def test_old_policy_gui_libraries_are_real_nixpkgs_attributes(builtin):
    """manylinux1 allowed X11/GL/glib: a Nix build still has to provide them."""
    for soname in ("libX11.so.6", "libXext.so.6", "libXrender.so.1", "libICE.so.6", "libSM.so.6", "libGL.so.1",
                   "libglib-2.0.so.0", "libgobject-2.0.so.0", "libgthread-2.0.so.0"):
        assert builtin.lookup(soname).cls == "nixpkgs", soname


# --- what the issue names, soname by soname --------------------------------------------------------------

EXPECTED = {
    # glibc family and compiler runtime
    "libc.so.6": ("glibc", None),
    "libpthread.so.0": ("glibc", None),
    "ld-linux-x86-64.so.2": ("glibc", None),
    "libstdc++.so.6": ("cc-runtime", "stdenv.cc.cc.lib"),
    "libgcc_s.so.1": ("cc-runtime", "stdenv.cc.cc.lib"),
    "libgomp.so.1": ("cc-runtime", "stdenv.cc.cc.lib"),
    "libomp.so.5": ("nixpkgs", "llvmPackages.openmp"),
    "libgfortran.so.5": ("nixpkgs", "gfortran.cc.lib"),
    "libquadmath.so.0": ("nixpkgs", "gfortran.cc.lib"),
    "libpython3.11.so.1.0": ("libpython", "python"),
    "libpython3.7m.so.1.0": ("libpython", "python"),
    # CUDA toolkit and driver
    "libcudart.so.12": ("nixpkgs", "cudaPackages.cuda_cudart"),
    "libcublas.so.12": ("nixpkgs", "cudaPackages.libcublas"),
    "libcublasLt.so.12": ("nixpkgs", "cudaPackages.libcublas"),
    "libcufft.so.11": ("nixpkgs", "cudaPackages.libcufft"),
    "libcurand.so.10": ("nixpkgs", "cudaPackages.libcurand"),
    "libcusolver.so.11": ("nixpkgs", "cudaPackages.libcusolver"),
    "libcusparse.so.12": ("nixpkgs", "cudaPackages.libcusparse"),
    "libcudnn.so.9": ("nixpkgs", "cudaPackages.cudnn"),
    "libnccl.so.2": ("nixpkgs", "cudaPackages.nccl"),
    "libnvrtc.so.12": ("nixpkgs", "cudaPackages.cuda_nvrtc"),
    "libnvJitLink.so.12": ("nixpkgs", "cudaPackages.libnvjitlink"),
    "libcupti.so.12": ("nixpkgs", "cudaPackages.cuda_cupti"),
    "libnvToolsExt.so.1": ("nixpkgs", "cudaPackages.cuda_nvtx"),
    "libcufile.so.0": ("nixpkgs", "cudaPackages.libcufile"),
    "libcusparseLt.so.0": ("nixpkgs", "cudaPackages.libcusparse_lt"),
    "libnvshmem_host.so.3": ("nixpkgs", "cudaPackages.libnvshmem"),
    "libcuda.so.1": ("driver", None),
    "libnvidia-ml.so.1": ("driver", None),
    "libnvcuvid.so.1": ("driver", None),
    "libnvidia-encode.so.1": ("driver", None),
    # X11, xcb, GL
    "libX11.so.6": ("nixpkgs", "libx11"),
    "libxcb.so.1": ("nixpkgs", "libxcb"),
    "libxcb-glx.so.0": ("nixpkgs", "libxcb"),
    "libxcb-icccm.so.4": ("nixpkgs", "libxcb-wm"),
    "libxcb-cursor.so.0": ("nixpkgs", "libxcb-cursor"),
    "libxkbcommon.so.0": ("nixpkgs", "libxkbcommon"),
    "libGL.so.1": ("nixpkgs", "libGL"),
    "libEGL.so.1": ("nixpkgs", "libGL"),
    "libGLX.so.0": ("nixpkgs", "libGL"),
    "libOpenGL.so.0": ("nixpkgs", "libGL"),
    # glib, GTK, Qt
    "libgio-2.0.so.0": ("nixpkgs", "glib"),
    "libgtk-3.so.0": ("nixpkgs", "gtk3"),
    "libQt5Core.so.5": ("nixpkgs", "qt5.qtbase"),
    "libQt6Widgets.so.6": ("nixpkgs", "qt6.qtbase"),
    "libQt6Quick.so.6": ("nixpkgs", "qt6.qtdeclarative"),
    # the usual C libraries
    "libssl.so.3": ("nixpkgs", "openssl"),
    "libcrypto.so.3": ("nixpkgs", "openssl"),
    "libssl.so.1.1": ("nixpkgs", "openssl_1_1"),
    "libcrypto.so.1.1": ("nixpkgs", "openssl_1_1"),
    "libffi.so.8": ("nixpkgs", "libffi"),
    "libexpat.so.1": ("nixpkgs", "expat"),
    "libbz2.so.1.0": ("nixpkgs", "bzip2"),
    "liblzma.so.5": ("nixpkgs", "xz"),
    "libz.so.1": ("nixpkgs", "zlib"),
    "libzstd.so.1": ("nixpkgs", "zstd"),
    "libuuid.so.1": ("nixpkgs", "libuuid"),
    "libncursesw.so.6": ("nixpkgs", "ncurses"),
    "libtinfo.so.6": ("nixpkgs", "ncurses"),
    "libreadline.so.8": ("nixpkgs", "readline"),
    "libsqlite3.so.0": ("nixpkgs", "sqlite"),
    "libopenblas.so.0": ("nixpkgs", "openblas"),
    "liblapack.so.3": ("nixpkgs", "lapack"),
    "libgssapi_krb5.so.2": ("nixpkgs", "libkrb5"),
    "libasound.so.2": ("nixpkgs", "alsa-lib"),
    "libpulse.so.0": ("nixpkgs", "libpulseaudio"),
    "libfreetype.so.6": ("nixpkgs", "freetype"),
    "libfontconfig.so.1": ("nixpkgs", "fontconfig"),
    "libdbus-1.so.3": ("nixpkgs", "dbus"),
    "libudev.so.1": ("nixpkgs", "systemd"),
    "libnuma.so.1": ("nixpkgs", "numactl"),
    "libibverbs.so.1": ("nixpkgs", "rdma-core"),
    "librdmacm.so.1": ("nixpkgs", "rdma-core"),
    "libcrypt.so.1": ("nixpkgs", "libxcrypt-legacy"),
    # the soname's major decides the attribute
    "libxml2.so.16": ("nixpkgs", "libxml2"),
    "libxml2.so.2": ("nixpkgs", "libxml2_13"),
    "libjpeg.so.62": ("nixpkgs", "libjpeg"),
    "libjpeg.so.8": ("nixpkgs", "libjpeg8"),
    "libffi.so.7": ("nixpkgs", "libffi_3_3"),
    "libcudart.so.13": ("nixpkgs", "cudaPackages_13.cuda_cudart"),
    "libcufft.so.12": ("nixpkgs", "cudaPackages_13.libcufft"),
    "libtbb.so.12": ("nixpkgs", "tbb_2022"),
    # other Python packages' libraries, and known libraries nixpkgs lacks
    "libtorch_cpu.so": ("python-package", "torch"),
    "libmx.so": ("unpackaged", None),
}


@pytest.mark.parametrize("soname", sorted(EXPECTED))
def test_issue_families_map_to_their_class_and_attribute(builtin, soname):
    entry = builtin.lookup(soname)
    assert entry is not None, soname
    assert (entry.cls, entry.attribute) == EXPECTED[soname]


# --- patterns ----------------------------------------------------------------------------------------------


def test_pattern_matches_any_version_but_not_another_library(builtin):
    assert builtin.lookup("libcudart.so.14").attribute == "cudaPackages.cuda_cudart"
    assert builtin.lookup("libcudart.so.11.0").attribute == "cudaPackages.cuda_cudart"
    assert builtin.lookup("libcudart_static.a") is None


def test_unknown_soname_finds_no_entry(builtin):
    assert builtin.lookup("libsurely-not-a-real-library.so.7") is None


def test_a_major_no_nixpkgs_version_installs_has_no_entry(builtin):
    """xcb-util 0.4 installs libxcb-util.so.1; the 0.3 soname would be a silently wrong input."""
    assert builtin.lookup("libxcb-util.so.0") is None


def test_a_pattern_proves_only_the_majors_its_recorded_version_gives(builtin):
    entry = builtin.lookup("libcudart.so.11.0")
    assert entry.attribute == "cudaPackages.cuda_cudart" and entry.verified
    assert entry.proves("libcudart.so.12") and not entry.proves("libcudart.so.11.0")


@pytest.mark.parametrize("version, expected", [("2.14.6", None), ("2.13.8", "libxml2.so.16 needs a version >=2.14,<3"),
                                               ("unstable", "its version 'unstable' cannot be compared with the rule")])
def test_version_rule_of_an_entry(builtin, version, expected):
    assert builtin.lookup("libxml2.so.16").version_problem("libxml2.so.16", version) == expected


def test_major_rule_compares_the_sonames_first_number_with_the_versions(builtin):
    entry = builtin.lookup("libcublas.so.12")
    assert entry.version_problem("libcublas.so.12", "12.9.1.4") is None
    assert entry.version_problem("libcublas.so.12", "13.4.1.3") == "libcublas.so.12 needs version 12.x"


def test_names_give_the_spellings_to_try_in_order(builtin):
    assert builtin.lookup("libX11.so.6").spellings() == ("libx11", "xorg.libX11")
    assert builtin.lookup("libxml2.so.2").spellings() == ("libxml2_13", "libxml2")


def test_exact_entry_beats_a_pattern_in_the_same_file(tmp_path):
    path = _write(tmp_path, '[sonames]\n"libfoo.so.*" = "foo"\n"libfoo.so.1" = "foo_1"\n')
    m = SonameMap.load(path, environ={})
    assert m.lookup("libfoo.so.1").attribute == "foo_1"
    assert m.lookup("libfoo.so.2").attribute == "foo"


def test_longer_literal_prefix_beats_a_shorter_pattern(tmp_path):
    path = _write(tmp_path, '[sonames]\n"libfoo.so.*" = "foo"\n"libfoo.so.1.*" = "foo_1"\n')
    m = SonameMap.load(path, environ={})
    assert m.lookup("libfoo.so.1.1").attribute == "foo_1"
    assert m.lookup("libfoo.so.3").attribute == "foo"


# --- overrides ---------------------------------------------------------------------------------------------


def test_override_file_replaces_a_builtin_entry(tmp_path):
    path = _write(tmp_path, '[sonames]\n"libX11.so.6" = "xorg.libX11"\n')
    entry = SonameMap.load(path, environ={}).lookup("libX11.so.6")
    assert (entry.cls, entry.attribute) == ("nixpkgs", "xorg.libX11")
    assert entry.origin == str(path)
    assert entry.evidence == f"override {path}"


def test_override_pattern_beats_a_builtin_exact_entry(tmp_path):
    path = _write(tmp_path, '[sonames]\n"libssl.so.*" = { attribute = "libressl" }\n')
    assert SonameMap.load(path, environ={}).lookup("libssl.so.3").attribute == "libressl"


def test_override_can_change_the_class(tmp_path):
    path = _write(tmp_path, '[sonames]\n"libGL.so.1" = { class = "driver" }\n')
    entry = SonameMap.load(path, environ={}).lookup("libGL.so.1")
    assert (entry.cls, entry.attribute) == ("driver", None)


def test_override_provider_tables_use_the_builtin_schema(tmp_path):
    path = _write(
        tmp_path,
        '[[provider]]\nattribute = "mylib"\nsonames = ["libmine.so.1", "libmine_extra.so.*"]\n'
        'evidence = "my overlay"\n',
    )
    m = SonameMap.load(path, environ={})
    assert m.lookup("libmine.so.1").attribute == "mylib"
    assert m.lookup("libmine_extra.so.4").evidence == "my overlay"
    assert m.lookup("libc.so.6").cls == "glibc"  # the built-in map is still underneath


def test_environment_variable_names_an_override_file(tmp_path):
    path = _write(tmp_path, '[sonames]\n"libzmq.so.5" = "zeromq"\n')
    assert SonameMap.load(environ={ENV_VAR: str(path)}).lookup("libzmq.so.5").attribute == "zeromq"
    assert SonameMap.load(environ={}).lookup("libzmq.so.5") is None


def test_map_option_wins_over_the_environment_variable(tmp_path):
    env_file = _write(tmp_path, '[sonames]\n"libzmq.so.5" = "zeromq"\n', "env.toml")
    cli_file = _write(tmp_path, '[sonames]\n"libzmq.so.5" = "zeromq4"\n', "cli.toml")
    m = SonameMap.load(cli_file, environ={ENV_VAR: str(env_file)})
    assert m.lookup("libzmq.so.5").attribute == "zeromq4"


def test_load_reads_the_process_environment_by_default(tmp_path, monkeypatch):
    path = _write(tmp_path, '[sonames]\n"libzmq.so.5" = "zeromq"\n')
    monkeypatch.setenv(ENV_VAR, str(path))
    assert SonameMap.load().lookup("libzmq.so.5").attribute == "zeromq"


BAD_FILES = {
    "invalid toml": ("[sonames\n", "not valid TOML"),
    "unknown class": ('[sonames]\n"libfoo.so.1" = { class = "magic" }\n', "class 'magic' is not one of"),
    "nixpkgs without attribute": ('[sonames]\n"libfoo.so.1" = { class = "nixpkgs" }\n', "needs an 'attribute'"),
    "attribute with spaces": ('[sonames]\n"libfoo.so.1" = "foo bar"\n', "must be a Nix attribute path"),
    "unknown key": ('[sonames]\n"libfoo.so.1" = { attr = "foo" }\n', "unknown key(s) ['attr']"),
    "unknown top-level key": ('[libs]\n"libfoo.so.1" = "foo"\n', "unknown top-level key(s) ['libs']"),
    "provides not a specifier": ('[sonames]\n"libfoo.so.1" = { attribute = "foo", provides = "two" }\n',
                                 "'provides' 'two' is not a version specifier"),
    "provider without sonames": ('[[provider]]\nattribute = "foo"\n', "'sonames' must be a non-empty list"),
    "provider is not an array": ('[provider]\nattribute = "foo"\n', "must be an array of tables"),
    "verified not a boolean": (
        '[[provider]]\nattribute = "foo"\nsonames = ["libfoo.so.1"]\nverified = "yes"\n',
        "'verified' must be true or false",
    ),
    "value neither string nor table": ('[sonames]\n"libfoo.so.1" = 3\n', "must be an attribute string or a table"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_override_file_is_a_one_line_error_naming_file_and_problem(tmp_path, case):
    text, problem = BAD_FILES[case]
    path = _write(tmp_path, text)
    with pytest.raises(SonameMapError) as info:
        SonameMap.load(path, environ={})
    message = str(info.value)
    assert isinstance(info.value, WheelmetaError)
    assert message.startswith(f"{path}: ") and problem in message
    assert "\n" not in message


def test_missing_override_file_is_an_error_naming_it(tmp_path):
    missing = tmp_path / "nope.toml"
    with pytest.raises(SonameMapError, match="nope.toml: soname map file not found"):
        SonameMap.load(environ={ENV_VAR: str(missing)})


def test_override_file_that_is_not_utf8_is_an_error(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'[sonames]\n"lib\xe9.so.1" = "x"\n')
    with pytest.raises(SonameMapError, match="cannot read soname map"):
        SonameMap.load(path, environ={})


def test_map_nested_past_the_recursion_limit_is_a_soname_map_error(tmp_path):
    path = _write(tmp_path, "x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SonameMapError, match="nested too deeply") as info:
        SonameMap.load(path, environ={})
    assert str(path) in str(info.value)


def test_map_integer_too_long_for_int_is_a_soname_map_error(tmp_path):
    with pytest.raises(SonameMapError, match="not valid TOML"):
        SonameMap.load(_write(tmp_path, f"schema = {'1' * 5000}\n"), environ={})
