"""wheels.metadata: every Metadata-Version in the wild, lenient but never silent.

Each sample is checked against packaging.metadata.parse_email on the fields both read (name, version,
requires_dist, requires_python), so the expectations are packaging's, not ours.
"""

from __future__ import annotations

import pytest
from packaging.metadata import parse_email
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from wheelmeta.errors import MetadataError, WheelmetaError
from wheelmeta.wheels.metadata import parse_headers, parse_metadata, parse_requirement

# Metadata as each generation of tools wrote it (shapes taken from real files on the index).
SAMPLES = {
    "1.0": (
        "Metadata-Version: 1.0\nName: oldlib\nVersion: 0.9.1\nSummary: An old library\n"
        "Home-page: http://example.invalid/oldlib\nAuthor: Someone\nLicense: BSD\n"
        "Description: A long description\n        |  written in the header\n        |  with continuation lines\n"
        "Platform: UNKNOWN\n"
    ),
    "1.1": (
        "Metadata-Version: 1.1\nName: distutils-era\nVersion: 1.2\nSummary: x\nRequires: re\nRequires: os.path\n"
        "Provides: distutils_era\nClassifier: Programming Language :: Python :: 2\n"
    ),
    "1.2": (
        "Metadata-Version: 1.2\nName: pep345\nVersion: 2.0\nRequires-Python: >=2.6, !=3.0.*\n"
        "Requires-Dist: zope.interface (>=3.6.0)\nRequires-Dist: pywin32 (>1.0); sys_platform == 'win32'\n"
        "Requires-External: libpq\n"
    ),
    "2.0": (
        "Metadata-Version: 2.0\nName: requests\nVersion: 2.18.4\nSummary: Python HTTP for Humans.\n"
        "Requires-Dist: chardet (<3.1.0,>=3.0.2)\nRequires-Dist: idna (<2.7,>=2.5)\n"
        "Provides-Extra: security\nRequires-Dist: cryptography (>=1.3.4); extra == 'security'\n"
        "Provides-Extra: socks\nRequires-Dist: PySocks (>=1.5.6,!=1.5.7); extra == 'socks'\n"
        "Requires-Dist: win-inet-pton; sys_platform == \"win32\" and (python_version == \"2.7\" or "
        "python_version == \"2.6\") and extra == 'socks'\n"
    ),
    "2.1": (
        "Metadata-Version: 2.1\nName: modern\nVersion: 3.1.0\nRequires-Python: >=3.7\n"
        "Description-Content-Type: text/markdown\nProvides-Extra: test\n"
        'Requires-Dist: typing-extensions>=4; python_version < "3.8"\nRequires-Dist: pytest; extra == "test"\n'
        "\n# modern\n\nName: not a header, this is the description\n"
    ),
    "2.2": (
        "Metadata-Version: 2.2\nName: dyn\nVersion: 1.0\nDynamic: Requires-Dist\nRequires-Python: >=3.8\n"
        "Requires-Dist: attrs>=22\n"
    ),
    "2.3": "Metadata-Version: 2.3\nName: hatched\nVersion: 0.1.0\nRequires-Dist: anyio<5,>=3.5.0\n",
    "2.4": (
        "Metadata-Version: 2.4\nName: spdx\nVersion: 2024.1\nLicense-Expression: MIT OR Apache-2.0\n"
        "License-File: LICENSE\nRequires-Python: >=3.9\nProject-URL: Source, https://example.invalid/spdx\n"
        'Provides-Extra: cli\nRequires-Dist: click>=8; extra == "cli"\n'
    ),
}


def packaging_view(text: str):
    raw, _ = parse_email(text)
    requires = [str(Requirement(r)) for r in raw.get("requires_dist", [])]
    specifier = SpecifierSet(raw["requires_python"]) if "requires_python" in raw else None
    return raw["name"], raw["version"], requires, specifier


@pytest.mark.parametrize("version", sorted(SAMPLES))
def test_every_metadata_version_reads_like_packaging(version):
    md = parse_metadata(SAMPLES[version].encode(), source=f"sample-{version}")
    assert md.metadata_version == version
    assert (md.name, md.version, [str(r) for r in md.requires_dist], md.requires_python) == packaging_view(
        SAMPLES[version]
    )


def test_old_bdist_wheel_markers_and_extras_are_kept():
    md = parse_metadata(SAMPLES["2.0"].encode(), source="requests.whl")
    assert md.provides_extra == ("security", "socks")
    socks = [r for r in md.requires_dist if r.name == "win-inet-pton"][0]
    assert socks.marker.evaluate({"extra": "socks", "sys_platform": "win32", "python_version": "2.7"})
    assert not socks.marker.evaluate({"extra": "", "sys_platform": "win32", "python_version": "2.7"})


def test_metadata_1_0_fields_and_folded_description_do_not_leak():
    md = parse_metadata(SAMPLES["1.0"].encode(), source="old.whl")
    assert (md.summary, md.license, md.home_page) == ("An old library", "BSD", "http://example.invalid/oldlib")
    assert md.requires_dist == () and md.problems == ()


def test_metadata_1_1_requires_are_reported_not_turned_into_requirements():
    md = parse_metadata(SAMPLES["1.1"].encode(), source="old.whl")
    assert md.requires_dist == ()
    assert md.problems == ("Requires (Metadata 1.1 module names) ignored: re, os.path",)


def test_a_body_line_that_looks_like_a_header_is_not_read():
    md = parse_metadata(SAMPLES["2.1"].encode(), source="modern.whl")
    assert md.name == "modern"


def test_license_expression_wins_over_license_and_urls_are_mapped():
    md = parse_metadata(SAMPLES["2.4"].encode(), source="spdx.whl")
    assert md.license == "MIT OR Apache-2.0"
    assert md.project_urls == {"Source": "https://example.invalid/spdx"}


def test_one_bad_requires_dist_line_is_a_problem_and_the_rest_is_kept():
    text = "Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Dist: good>=1\nRequires-Dist: bad; nonsense\n" \
           "Requires-Dist: also-good\n"
    md = parse_metadata(text.encode(), source="x.whl")
    assert [str(r) for r in md.requires_dist] == ["good>=1", "also-good"]
    assert len(md.problems) == 1 and md.problems[0].startswith("Requires-Dist 'bad; nonsense' ignored:")


@pytest.mark.parametrize("line, kept, dropped", [
    ("pytz (>dev)", "pytz", ">dev"),
    ("foo (>=1.0.*)", "foo", ">=1.0.*"),
    ('bar[x]>=1.0.*,<2; python_version < "3"', 'bar[x]<2; python_version < "3"', ">=1.0.*"),
])
def test_legacy_specifier_keeps_the_dependency_and_reports_the_specifier(line, kept, dropped):
    text = f"Metadata-Version: 2.0\nName: x\nVersion: 1\nRequires-Dist: {line}\n"
    md = parse_metadata(text.encode(), source="x.whl")
    assert [str(r) for r in md.requires_dist] == [kept]
    assert len(md.problems) == 1 and f"version specifier {dropped!r} is not valid PEP 440" in md.problems[0]


def test_invalid_requires_python_is_a_problem_and_none():
    md = parse_metadata(b"Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Python: >=3.6.*\n", source="x")
    assert md.requires_python is None
    assert md.problems[0].startswith("Requires-Python '>=3.6.*'") and md.problems[0].endswith("; ignored")


def test_metadata_that_is_not_utf8_is_decoded_and_reported():
    data = "Metadata-Version: 2.1\nName: cafe\nVersion: 1.0\nSummary: Café crème\nRequires-Dist: six\n".encode("latin-1")
    md = parse_metadata(data, source="latin.whl")
    assert (md.name, md.version, [str(r) for r in md.requires_dist]) == ("cafe", "1.0", ["six"])
    assert md.summary == "Café crème"
    first_bad = data.index("é".encode("latin-1"))
    assert md.problems == (f"metadata is not valid UTF-8 (byte {first_bad}); decoded as latin-1",)


def test_a_description_that_is_not_utf8_is_no_problem():
    data = b"Metadata-Version: 2.1\nName: a\nVersion: 1\n\nCaf\xe9 in the description only\n"
    assert parse_metadata(data, source="x").problems == ()


def test_missing_name_is_a_metadata_error_naming_the_source():
    with pytest.raises(MetadataError, match=r"^pkg-1.0.whl: metadata has no Name$"):
        parse_metadata(b"Metadata-Version: 2.1\nVersion: 1.0\n", source="pkg-1.0.whl")


def test_missing_name_and_version_are_both_named():
    with pytest.raises(WheelmetaError, match="metadata has no Name and Version"):
        parse_metadata(b"Summary: nothing else\n", source="x")


def test_a_repeated_single_field_is_reported_and_the_first_used():
    md = parse_metadata(b"Metadata-Version: 2.1\nName: a\nName: b\nVersion: 1\n", source="x")
    assert md.name == "a" and md.problems == ("Name appears 2 times; the first is used",)


def test_an_unknown_metadata_version_is_reported_but_read():
    md = parse_metadata(b"Metadata-Version: 9.9\nName: a\nVersion: 1\n", source="x")
    assert md.name == "a" and md.problems == ("unknown Metadata-Version '9.9'",)


def test_a_legacy_version_is_kept_as_written_with_a_problem():
    md = parse_metadata(b"Metadata-Version: 1.0\nName: a\nVersion: 1.0-beta.custom\n", source="x")
    assert md.version == "1.0-beta.custom" and "not a valid PEP 440 version" in md.problems[0]


def test_crlf_and_continuation_lines_are_read_like_email():
    text = "Metadata-Version: 2.1\r\nName: crlf\r\nVersion: 1\r\nSummary: first\r\n  second\r\n\r\nbody\r\n"
    md = parse_metadata(text.encode(), source="x")
    assert (md.name, md.version, md.summary) == ("crlf", "1", "first\n  second")


def test_headers_end_at_the_first_line_that_is_not_a_header():
    text = "Name: a\nVersion: 1\nthis line is not a header\nRequires-Dist: hidden\n"
    assert parse_headers(text) == {"name": ["a"], "version": ["1"]}
    assert parse_email(text)[0].get("requires_dist") is None  # the email package agrees


def test_headers_keep_every_value_of_a_repeated_field_in_order():
    assert parse_headers("Provides-Extra: b\nProvides-Extra: a\n")["provides-extra"] == ["b", "a"]


def test_skipped_fields_take_their_continuation_lines_with_them():
    text = "Description: long\n  Name: not-this\nName: this\n"
    assert parse_headers(text, skip=("Description:",)) == {"name": ["this"]}


REQUIREMENTS = [
    "requests",
    "requests>=2.0",
    "requests >= 2.0 , < 3",
    "Requests[Security,socks]>=2.8.1,==2.8.*",
    "PySocks (>=1.5.6,!=1.5.7); extra == 'socks'",
    'pywin32>=1.0; sys_platform == "win32" and python_version < "3.8"',
    "foo[]",
    "foo ; extra == 'Dev_Tools'",
    "foo===1.0.custom",
    "foo~=1.4.2",
    "pip @ https://example.invalid/pip-1.0.zip",
    'pip @ https://example.invalid/pip.zip ; python_version >= "3"',
    "name (==1.0) ; os_name == 'posix'",
    "zope.interface",
    "a-b_c.d>=0",
]


@pytest.mark.parametrize("text", REQUIREMENTS)
def test_parse_requirement_equals_packaging(text):
    ours, theirs = parse_requirement(text), Requirement(text)
    assert (str(ours), ours.name, ours.extras, ours.url) == (str(theirs), theirs.name, theirs.extras, theirs.url)
    assert ours == theirs


@pytest.mark.parametrize("text", ["", "foo>=", "foo; ", "foo>=1,,<2", "foo; bogus == 'x'", "foo (>=1", "-foo"])
def test_parse_requirement_refuses_what_packaging_refuses(text):
    with pytest.raises(InvalidRequirement):
        Requirement(text)
    with pytest.raises(InvalidRequirement):
        parse_requirement(text)


def test_legacy_requires_python_clause_is_left_out_and_the_rest_kept():
    text = "Metadata-Version: 2.0\nName: x\nVersion: 1\nRequires-Python: >=2.7, !=3.0.*, >=3.4.*\n"
    md = parse_metadata(text.encode(), source="x.whl")
    assert str(md.requires_python) == "!=3.0.*,>=2.7"
    assert md.problems == ("Requires-Python '>=2.7, !=3.0.*, >=3.4.*': >=3.4.* is not valid PEP 440 (Invalid "
                           "specifier: '>=3.4.*'); kept as '>=2.7,!=3.0.*'",)


def test_legacy_specifier_salvage_of_a_very_long_line_is_bounded():
    text = "Metadata-Version: 2.0\nName: x\nVersion: 1\nRequires-Dist: a>" + " " * 200_000 + "x\n"
    md = parse_metadata(text.encode(), source="x.whl")  # a lazy pattern took quadratic time here
    assert [str(r) for r in md.requires_dist] == ["a"] and len(md.problems) == 1


@pytest.mark.parametrize("marker", ["'a' == 'a'", "python_version >= '" + "1" * 5000 + "'"],
                         ids=["two-literals", "5000-digit-version"])
def test_marker_packaging_cannot_evaluate_is_a_problem_on_that_requirement(marker):
    from wheelmeta.target import Target

    text = f"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: odd; {marker}\nRequires-Dist: six\n\n"
    md = parse_metadata(text, source="demo.whl")
    assert [r.name for r in md.requires_dist] == ["odd", "six"]  # kept as written, never dropped
    (problem,) = md.problems
    assert problem.startswith("Requires-Dist ") and "odd;" in problem and "cannot be evaluated" in problem
    target = Target.from_options(python_version="3.11", platforms=["manylinux_2_17_x86_64"])
    assert [r.name for r in md.for_target(target)] == ["six"]


def test_version_of_5000_digits_is_a_problem_not_an_exception():
    md = parse_metadata(f"Metadata-Version: 2.1\nName: demo\nVersion: {'9' * 5000}\n\n", source="demo.whl")
    assert md.version == "9" * 5000 and any("not a valid PEP 440 version" in p for p in md.problems)


@pytest.mark.parametrize("line", ['odd; os_name == "a\0b"', "odd>=" + "1" * 5000], ids=["nul-byte", "5000-digits"])
def test_requirement_packaging_cannot_parse_or_print_is_a_problem(line):
    text = f"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: {line}\nRequires-Dist: six\n\n"
    md = parse_metadata(text, source="demo.whl")
    assert [str(r) for r in md.requires_dist] == ["six"]
    assert len(md.problems) == 1 and "ignored" in md.problems[0]
    md.to_json()


def test_requires_python_of_5000_digits_is_a_problem():
    md = parse_metadata(f"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Python: >={'1' * 5000}\n\n",
                        source="demo.whl")
    assert md.requires_python is None and "Requires-Python" in md.problems[0]
