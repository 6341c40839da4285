"""wheelmeta.target: tag lists and marker environments for the host and for machines given by pip-style options."""

from __future__ import annotations

import doctest
import functools
import json
import logging
import os
import shutil
import subprocess

import pytest
from packaging import _manylinux
from packaging import tags as ptags
from packaging.markers import default_environment
from packaging.metadata import parse_email
from packaging.requirements import Requirement
from packaging.tags import Tag

from builders import MARKER_DEMO_REQUIRES
from wheelmeta import target as target_module
from wheelmeta.errors import UsageError
from wheelmeta.target import (
    MARKER_KEYS,
    Target,
    evaluate_requirements,
    expand_platform,
    marker_extras,
)



def names(reqs):
    return [r.name for r in reqs]


def target(**kw):
    return Target.from_options(**kw)


# ---------------------------------------------------------------------------------------------------------------------
# host


def test_host_tags_are_packaging_sys_tags():
    assert Target.from_host().tags() == list(ptags.sys_tags())


def test_host_marker_environment_is_packaging_default_environment():
    env = Target.from_host().marker_environment()
    assert env == {k: str(v) for k, v in default_environment().items() if k in MARKER_KEYS}


def test_no_options_means_host():
    assert target().is_host and target() == Target.from_host()


def test_python_version_alone_keeps_host_platform_but_not_host_python():
    host = Target.from_host()
    t = target(python_version="3.7")
    env, host_env = t.marker_environment(), host.marker_environment()
    assert t.platforms == host.platforms and not t.is_host
    assert env["python_version"] == "3.7" and env["python_full_version"] == "3.7.0"
    assert env["sys_platform"] == host_env["sys_platform"]


# ---------------------------------------------------------------------------------------------------------------------
# platform expansion


def test_manylinux_2_28_expands_like_packaging_for_a_glibc_2_28_host(monkeypatch):
    # packaging's own host algorithm, with the glibc probe answering 2.28: the oracle for our order
    if not all(hasattr(_manylinux, n) for n in ("_get_glibc_version", "_have_compatible_abi", "_is_compatible")):
        pytest.skip("this packaging version has other manylinux internals")
    monkeypatch.setattr(_manylinux, "_get_glibc_version", lambda: _manylinux._GLibCVersion(2, 28))
    monkeypatch.setattr(_manylinux, "_have_compatible_abi", lambda *a: True)
    monkeypatch.setattr(_manylinux, "_is_compatible", lambda arch, version: version <= (2, 28))
    for arch in ("x86_64", "aarch64"):
        assert expand_platform(f"manylinux_2_28_{arch}") == list(_manylinux.platform_tags([arch]))


def test_manylinux_x86_goes_down_to_manylinux1_with_aliases_after_their_twins():
    plats = expand_platform("manylinux_2_28_x86_64")
    assert plats[0] == "manylinux_2_28_x86_64" and plats[-2:] == ["manylinux_2_5_x86_64", "manylinux1_x86_64"]
    for legacy, twin in [("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5)]:
        assert plats.index(f"{legacy}_x86_64") == plats.index(f"manylinux_2_{twin}_x86_64") + 1


def test_manylinux_other_arches_stop_at_2_17():
    plats = expand_platform("manylinux_2_28_aarch64")
    assert plats[-2:] == ["manylinux_2_17_aarch64", "manylinux2014_aarch64"]
    assert "manylinux_2_16_aarch64" not in plats


@pytest.mark.parametrize("legacy,twin", [("manylinux1", "2_5"), ("manylinux2010", "2_12"), ("manylinux2014", "2_17")])
def test_legacy_manylinux_names_expand_like_their_glibc_twin(legacy, twin):
    assert expand_platform(f"{legacy}_x86_64") == expand_platform(f"manylinux_{twin}_x86_64")


def test_musllinux_expands_down_to_1_0():
    assert expand_platform("musllinux_1_2_aarch64") == [f"musllinux_1_{v}_aarch64" for v in (2, 1, 0)]


def test_macos_arm64_accepts_universal2_down_to_10_4():
    plats = expand_platform("macosx_14_0_arm64")
    assert plats[:2] == ["macosx_14_0_arm64", "macosx_14_0_universal2"]
    assert "macosx_11_0_arm64" in plats and "macosx_10_4_universal2" in plats
    assert "macosx_10_15_arm64" not in plats and not any("x86_64" in p for p in plats)


def test_macos_x86_64_accepts_fat_formats_and_older_versions():
    plats = expand_platform("macosx_10_9_x86_64")
    assert plats == list(ptags.mac_platforms((10, 9), "x86_64"))
    assert {"macosx_10_9_intel", "macosx_10_9_fat64", "macosx_10_9_universal", "macosx_10_4_x86_64"} <= set(plats)


def test_macos_minor_release_tag_comes_first():
    assert expand_platform("macosx_11_3_arm64")[:2] == ["macosx_11_3_arm64", "macosx_11_0_arm64"]


def test_sysconfig_spelling_is_normalized():
    assert expand_platform("macosx-11.0-arm64") == expand_platform("macosx_11_0_arm64")


def test_windows_and_plain_linux_tags_stand_for_themselves():
    assert expand_platform("win_amd64") == ["win_amd64"]
    assert expand_platform("linux_x86_64") == ["linux_x86_64"]


# ---------------------------------------------------------------------------------------------------------------------
# tags


def test_win_amd64_tags_match_pip_get_supported():
    from pip._internal.utils.compatibility_tags import get_supported

    pip_tags = [str(t) for t in get_supported(version="312", platforms=["win_amd64"], impl="cp", abis=["cp312"])]
    assert [str(t) for t in target(python_version="3.12", platforms=["win_amd64"]).tags()] == pip_tags


def test_pip_manylinux2014_tags_are_an_ordered_subsequence_of_ours():
    from pip._internal.utils.compatibility_tags import get_supported

    pip_tags = [str(t) for t in get_supported(version="39", platforms=["manylinux2014_x86_64"], impl="cp",
                                              abis=["cp39"])]
    ours = iter(str(t) for t in target(python_version="3.9", platforms=["manylinux2014_x86_64"]).tags())
    assert all(tag in ours for tag in pip_tags)  # consumes `ours`: order is checked too


def test_abi3_for_every_earlier_cpython3_minor_down_to_cp32():
    tags = set(map(str, target(python_version="3.12", platforms=["win_amd64"]).tags()))
    assert {f"cp3{m}-abi3-win_amd64" for m in range(2, 13)} <= tags
    assert "cp31-abi3-win_amd64" not in tags and "cp313-abi3-win_amd64" not in tags


def test_first_tag_is_the_exact_abi_and_newest_glibc():
    t = target(python_version="3.12", platforms=["manylinux_2_28_x86_64"])
    assert t.tags()[0] == Tag("cp312", "cp312", "manylinux_2_28_x86_64")


@pytest.mark.parametrize("version,abis", [("3.7", ("cp37m",)), ("3.8", ("cp38",)), ("3.13", ("cp313",))])
def test_default_cpython_abi_has_pymalloc_m_only_before_38(version, abis):
    assert target(python_version=version, platforms=["win_amd64"]).abis == abis


def test_python27_on_linux_accepts_both_unicode_abis_and_no_abi3():
    t = target(python_version="2.7", platforms=["manylinux1_x86_64"])
    tags = set(map(str, t.tags()))
    assert {"cp27-cp27mu-manylinux1_x86_64", "cp27-cp27m-manylinux1_x86_64", "py2-none-any"} <= tags
    assert not any("abi3" in s for s in tags) and "py3-none-any" not in tags


def test_none_any_tags_come_last():
    tags = [str(t) for t in target(python_version="3.11", platforms=["win32"]).tags()]
    any_tags = ["cp311-none-any", "py311-none-any", "py3-none-any"] + [f"py3{m}-none-any" for m in range(10, -1, -1)]
    assert tags[-len(any_tags):] == any_tags
    assert all(t.endswith("-win32") for t in tags[: -len(any_tags)])


def test_explicit_abi_and_several_platforms():
    t = target(python_version="3.7", implementation="cp", abis=["cp37m"],
               platforms=["manylinux2010_x86_64", "musllinux_1_1_x86_64"])
    tags = [str(x) for x in t.tags()]
    assert tags[0] == "cp37-cp37m-manylinux_2_12_x86_64"
    assert tags.index("cp37-cp37m-manylinux1_x86_64") < tags.index("cp37-cp37m-musllinux_1_1_x86_64")
    assert "cp37-cp37m-musllinux_1_0_x86_64" in tags


def test_pypy_target_uses_generic_tags():
    t = target(python_version="3.10", implementation="pp", abis=["pypy310_pp73"], platforms=["manylinux2014_x86_64"])
    assert t.tags()[0] == Tag("pp310", "pypy310_pp73", "manylinux_2_17_x86_64")
    assert not any(x.abi == "abi3" for x in t.tags())
    assert t.marker_environment()["implementation_name"] == "pypy"


def test_tag_priority_ranks_and_rejects():
    t = target(python_version="3.12", platforms=["manylinux_2_28_x86_64"])
    assert t.tag_priority(t.tags()[0]) == 0
    assert t.tag_priority(Tag("cp312", "cp312", "win_amd64")) is None
    better = t.tag_priority(Tag("cp312", "cp312", "manylinux_2_17_x86_64"))
    worse = t.tag_priority(Tag("py3", "none", "any"))
    assert better < worse


def test_best_wheel_priority_takes_the_best_tag_of_a_compressed_tag_set():
    t = target(python_version="3.12", platforms=["manylinux_2_28_x86_64"])
    wheel = ptags.parse_tag("cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64")
    assert t.best_wheel_priority(wheel) == min(t.tag_priority(x) for x in wheel)
    assert t.best_wheel_priority(ptags.parse_tag("cp312-cp312-win_amd64")) is None
    assert not t.supports(ptags.parse_tag("cp311-cp311-manylinux_2_17_x86_64"))


# ---------------------------------------------------------------------------------------------------------------------
# marker environment


def test_marker_environment_has_all_11_keys_for_every_kind_of_target():
    for plats in (["win32"], ["manylinux_2_28_x86_64"], ["macosx_11_0_arm64"], ["musllinux_1_2_aarch64"]):
        env = target(python_version="3.9", platforms=plats).marker_environment()
        assert set(env) == set(MARKER_KEYS) == set(default_environment()) and len(env) == 11


@pytest.mark.parametrize(
    "plat,expected",
    [
        ("win32", ("nt", "win32", "Windows", "x86")),
        ("win_amd64", ("nt", "win32", "Windows", "AMD64")),
        ("win_arm64", ("nt", "win32", "Windows", "ARM64")),
        ("manylinux_2_28_x86_64", ("posix", "linux", "Linux", "x86_64")),
        ("manylinux2014_aarch64", ("posix", "linux", "Linux", "aarch64")),
        ("musllinux_1_2_armv7l", ("posix", "linux", "Linux", "armv7l")),
        ("linux_i686", ("posix", "linux", "Linux", "i686")),
        ("macosx_11_0_arm64", ("posix", "darwin", "Darwin", "arm64")),
        ("macosx_10_9_x86_64", ("posix", "darwin", "Darwin", "x86_64")),
        ("macosx_10_9_universal2", ("posix", "darwin", "Darwin", "arm64")),
    ],
)
def test_marker_environment_is_derived_from_the_platform(plat, expected):
    env = target(python_version="3.9", platforms=[plat]).marker_environment()
    assert (env["os_name"], env["sys_platform"], env["platform_system"], env["platform_machine"]) == expected


def test_non_host_target_never_carries_host_kernel_or_python_values():
    host = default_environment()
    env = target(python_version="3.8.10", platforms=["win_amd64"]).marker_environment()
    assert env["platform_release"] == "" and env["platform_version"] == ""
    assert env["python_full_version"] == "3.8.10" and env["implementation_version"] == "3.8.10"
    assert env["python_version"] == "3.8" and env["platform_machine"] != host["platform_machine"]


def test_python_version_spellings_are_accepted():
    assert {target(python_version=v, platforms=["win32"]).python_version for v in ("3.10", "310", "3.10.2")} == {
        "3.10"
    }


def test_sys_platform_like_names_map_to_documented_tags():
    assert target(python_version="3.11", platforms=["linux"]).platforms == ("manylinux_2_17_x86_64",)
    assert target(python_version="3.11", platforms=["darwin"]).marker_environment()["sys_platform"] == "darwin"
    assert target(python_version="3.11", platforms=["windows"]).platforms == ("win_amd64",)


def test_glibc_comes_from_the_manylinux_tag():
    assert target(python_version="3.7", platforms=["manylinux2010_x86_64"]).glibc == (2, 12)
    assert target(python_version="3.12", platforms=["manylinux_2_28_aarch64"]).glibc == (2, 28)
    assert target(python_version="3.12", platforms=["win_amd64"]).glibc is None


@pytest.mark.parametrize(
    "kw",
    [
        {"python_version": "three"},
        {"python_version": "3"},
        {"implementation": "cobol"},
        {"python_version": "3.12", "platforms": ["solaris_sparc"]},
        {"python_version": "3.12", "platforms": [","]},
    ],
)
def test_bad_options_are_usage_errors_naming_the_value(kw):
    with pytest.raises(UsageError) as info:
        target(**kw)
    assert "\n" not in str(info.value) and str(info.value).split(":")[0]


def test_mixed_operating_systems_warn_and_use_the_first(caplog):
    with caplog.at_level(logging.WARNING, logger="wheelmeta.target"):
        t = target(python_version="3.12", platforms=["win_amd64", "manylinux_2_28_x86_64"])
    assert t.marker_environment()["sys_platform"] == "win32" and "markers are evaluated for win_amd64" in caplog.text


# ---------------------------------------------------------------------------------------------------------------------
# other real interpreters on this machine as the oracle for "Python X.Y on this platform"

# PEP 508's reference definitions, without packaging (Python 2.7 has none), plus the interpreter's own tags via pip
PROBE = r"""
import json, os, platform, sys
def fmt(i):
    return "%d.%d.%d" % tuple(i[:3]) + ("" if i[3] == "final" else i[3][0] + str(i[4]))
impl = getattr(sys, "implementation", None)
env = dict(implementation_name=impl.name if impl else "", implementation_version=fmt(impl.version) if impl else "0",
           os_name=os.name, platform_machine=platform.machine(), platform_release=platform.release(),
           platform_system=platform.system(), platform_version=platform.version(),
           python_full_version=platform.python_version(),
           platform_python_implementation=platform.python_implementation(),
           python_version=".".join(platform.python_version_tuple()[:2]), sys_platform=sys.platform)
try:
    from pip._vendor.packaging import tags
    found = [str(t) for t in tags.sys_tags()]
except Exception:
    found = None
print(json.dumps({"env": env, "tags": found}))
"""
OTHER_PYTHONS = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.12", "3.13"]


@functools.lru_cache(maxsize=None)
def _probe_env_items():
    return tuple(_probe_env().items())


def _probe_env():
    # pyenv shims refuse versions that are not activated: activate every installed one for the child
    env = dict(os.environ)
    if shutil.which("pyenv"):
        bare = subprocess.run(["pyenv", "versions", "--bare"], capture_output=True, text=True).stdout.split()
        env["PYENV_VERSION"] = ":".join(bare)
    return env


@functools.lru_cache(maxsize=None)
def probe_python(version):
    exe = shutil.which(f"python{version}")
    if exe is None:
        pytest.skip(f"python{version} not installed")
    proc = subprocess.run([exe, "-c", PROBE], capture_output=True, text=True, timeout=60, env=dict(_probe_env_items()))
    if proc.returncode != 0:
        pytest.skip(f"python{version} not runnable: {proc.stderr.strip()[:80]}")
    return json.loads(proc.stdout)


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_marker_environment_of_another_python_here_equals_what_it_reports(version):
    theirs = probe_python(version)["env"]
    if not theirs["python_full_version"].replace(".", "").isdigit():
        pytest.skip(f"pre-release {theirs['python_full_version']}")
    assert target(python_version=theirs["python_full_version"]).marker_environment() == theirs


@pytest.mark.parametrize("version", OTHER_PYTHONS)
def test_tags_of_another_python_here_equal_its_own_sys_tags(version):
    theirs = probe_python(version)["tags"]
    if not theirs:
        pytest.skip(f"python{version} has no pip with packaging.tags")
    ours = [str(t) for t in target(python_version=version).tags()]
    interpreter_any = f"cp{version.replace('.', '')}-none-any"
    if interpreter_any not in theirs:  # packaging before 20.5 did not offer cpXY-none-any
        ours.remove(interpreter_any)
    assert set(ours) == set(theirs)
    # where linux_<arch> (a local build) ranks changed in packaging 26.4 (first; before, last), and the two
    # interpreters' packaging versions differ: compare the order of everything else
    assert [t for t in ours if "-linux_" not in t] == [t for t in theirs if "-linux_" not in t]


# ---------------------------------------------------------------------------------------------------------------------
# evaluate_requirements


def demo_reqs():
    return [Requirement(r) for r in MARKER_DEMO_REQUIRES]


def test_py27_win32_and_py312_manylinux_socks_get_different_dependencies():
    old = evaluate_requirements(demo_reqs(), target(python_version="2.7", platforms=["win32"]))
    new = evaluate_requirements(demo_reqs(), target(python_version="3.12", platforms=["manylinux_2_28_x86_64"]),
                                extras=["socks"])
    assert names(old) == ["requests", "futures", "pywin32", "tomli", "colorama"]
    assert names(new) == ["requests", "uvloop", "PySocks"]


def test_py27_win32_with_socks_adds_both_socks_requirements_in_metadata_order():
    reqs = evaluate_requirements(demo_reqs(), target(python_version="2.7", platforms=["win32"]), extras=["socks"])
    assert names(reqs)[-2:] == ["PySocks", "win-inet-pton"]


def test_host_evaluation_matches_pip(tmp_path):
    # pip's own code path: the Distribution its resolver builds from METADATA, and its iter_dependencies()
    from pip._internal.metadata import get_metadata_distribution
    from pip._internal.utils.temp_dir import global_tempdir_manager

    from builders import metadata_text

    text = metadata_text("demo", "1.0", requires=MARKER_DEMO_REQUIRES, extras=["socks", "use-chardet-on-py3"])
    reqs = [Requirement(r) for r in parse_email(text)[0]["requires_dist"]]
    host = Target.from_host()
    with global_tempdir_manager():
        dist = get_metadata_distribution(text.encode(), "demo-1.0-py3-none-any.whl", "demo")
        for extras in ((), ("socks",), ("use-chardet-on-py3",)):
            pip_reqs = [str(Requirement(str(r))) for r in dist.iter_dependencies(extras)]
            assert [str(r) for r in evaluate_requirements(reqs, host, extras)] == pip_reqs


def test_extra_names_are_compared_normalized():
    t = target(python_version="3.12", platforms=["win_amd64"])
    assert "chardet" in names(evaluate_requirements(demo_reqs(), t, extras=["Use_Chardet.On-Py3"]))


def test_unknown_extra_selects_nothing_more_and_does_not_fail():
    t = target(python_version="3.12", platforms=["win_amd64"])
    assert evaluate_requirements(demo_reqs(), t, extras=["nope"]) == evaluate_requirements(demo_reqs(), t)


def test_marker_extras_lists_normalized_extra_names():
    reqs = demo_reqs() + [Requirement('x; "Dev_Tools" == extra')]
    assert marker_extras(reqs) == ["socks", "use-chardet-on-py3", "dev-tools"]


def test_docstring_examples_hold():
    result = doctest.testmod(target_module)
    assert result.attempted > 0 and result.failed == 0


def test_normalized_requirements_compare_names_extras_and_specifiers_semantically():
    from wheelmeta.target import normalized_requirements

    two_lines = normalized_requirements([Requirement("Foo[B,a]>=1.0"), Requirement("foo<2")])
    assert two_lines == normalized_requirements([Requirement("foo[a,b]<2,>=1")])
    assert two_lines != normalized_requirements([Requirement("foo[a,b]<3,>=1")])
    assert normalized_requirements([Requirement("bar~=1.0")]) != normalized_requirements([Requirement("bar~=1.0.0")])


def test_a_target_given_python_and_platform_does_not_probe_the_host(monkeypatch):
    import wheelmeta.target as target_module

    target_module._host_target.cache_clear()
    monkeypatch.setattr(target_module.Target, "_probe_host", classmethod(lambda cls: pytest.fail("host probed")))
    try:
        target = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])
    finally:
        target_module._host_target.cache_clear()
    assert (target.python_version, target.abis, target.platforms) == ("3.12", ("cp312",), ("manylinux_2_28_x86_64",))
