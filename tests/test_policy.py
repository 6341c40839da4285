"""manylinux.policy: the policies are data with their sources, and answer auditwheel's questions."""

from __future__ import annotations

import pytest

from wheelmeta.manylinux.policy import load_policies, policy_data


def test_policy_files_name_their_sources():
    many = " ".join(policy_data("glibc")["sources"]["specifications"])
    musl = " ".join(policy_data("musl")["sources"]["specifications"])
    for pep in ("PEP 513", "PEP 571", "PEP 599", "PEP 600"):
        assert pep in many
    assert "PEP 656" in musl
    assert "auditwheel" in policy_data("glibc")["sources"]["data"]


@pytest.mark.parametrize("minor", [5, 12, 17, 24, 26, 27, 28, 31, 34, 35, 36, 37, 38, 39])
def test_every_glibc_policy_from_2_5_to_2_39_exists_for_x86_64(minor):
    policy = load_policies("x86_64").by_name(f"manylinux_2_{minor}_x86_64")
    # glibc 2.37 added no symbol version on x86_64; every other release did
    assert f"2.{minor}" in policy.symbol_versions["GLIBC"] or minor == 37
    assert {"libc.so.6", "libm.so.6"} <= policy.whitelist


@pytest.mark.parametrize("alias,name", [("manylinux1", "manylinux_2_5"), ("manylinux2010", "manylinux_2_12"),
                                        ("manylinux2014", "manylinux_2_17")])
def test_legacy_aliases_name_the_perennial_policies(alias, name):
    assert load_policies("x86_64").by_name(f"{alias}_x86_64").name == f"{name}_x86_64"


def test_newer_glibc_symbol_lowers_the_symbol_policy():
    policies = load_policies("x86_64")
    assert policies.versioned_symbols_policy({"libc.so.6": {"GLIBC_2.2.5"}}).name == policies.highest.name
    assert policies.versioned_symbols_policy({"libc.so.6": {"GLIBC_2.17"}}).name == "manylinux_2_17_x86_64"
    assert policies.versioned_symbols_policy({"libc.so.6": {"GLIBC_PRIVATE"}}).name == "linux_x86_64"


def test_versions_are_grouped_by_prefix_whatever_the_library():
    # auditwheel groups GLIBCXX_* by prefix, so a version asked of a library in the wheel counts too
    policies = load_policies("x86_64")
    assert policies.versioned_symbols_policy({"libfoo.so": {"GLIBCXX_3.4.21"}}).name == "manylinux_2_24_x86_64"


def test_less_compatible_policies_allow_at_least_the_libraries_of_more_compatible_ones():
    ordered = [p for p in load_policies("x86_64") if not p.is_linux]
    for newer, older in zip(ordered, ordered[1:]):
        assert older.whitelist <= newer.whitelist


def test_architecture_without_old_policies_starts_at_manylinux2014():
    names = [p.name for p in load_policies("aarch64")]
    assert "manylinux_2_17_aarch64" in names and "manylinux_2_5_aarch64" not in names


def test_musllinux_whitelist_names_musls_libc_for_the_architecture():
    policies = load_policies("aarch64", "musl")
    assert [p.name for p in policies] == ["linux_aarch64", "musllinux_1_2_aarch64"]
    assert "libc.musl-aarch64.so.1" in policies.highest.whitelist
