"""wheels.wheelfile: WHEEL and RECORD."""

from __future__ import annotations

import pytest

from wheelmeta.errors import InvalidWheel
from wheelmeta.wheels.wheelfile import RecordRow, parse_record, parse_wheel_info


def test_wheel_file_fields_and_compressed_tags():
    text = b"Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: false\n" \
           b"Tag: cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64\nTag: cp311-cp311-musllinux_1_1_x86_64\n"
    info = parse_wheel_info(text, "x.whl")
    assert info.wheel_version == (1, 0) and info.root_is_purelib is False
    assert info.generator == "bdist_wheel (0.41.2)"
    assert [str(t) for t in info.tags] == [
        "cp311-cp311-manylinux_2_17_x86_64",
        "cp311-cp311-manylinux2014_x86_64",
        "cp311-cp311-musllinux_1_1_x86_64",
    ]


def test_root_is_purelib_true_in_any_case():
    assert parse_wheel_info("Wheel-Version: 1.0\nRoot-Is-Purelib: True\n", "x").root_is_purelib


def test_wheel_file_without_version_is_an_invalid_wheel():
    with pytest.raises(InvalidWheel, match=r"^x.whl: WHEEL has no valid Wheel-Version \(''\)$"):
        parse_wheel_info(b"Root-Is-Purelib: true\n", "x.whl")


def test_wheel_file_with_a_broken_tag_is_an_invalid_wheel():
    with pytest.raises(InvalidWheel, match="WHEEL has an invalid Tag 'py3-none'"):
        parse_wheel_info(b"Wheel-Version: 1.0\nTag: py3-none\n", "x.whl")


def test_record_rows_with_and_without_hash_and_size():
    text = 'demo/__init__.py,sha256=abc,12\n"demo/a,b.py",sha256=def,3\ndemo-1.0.dist-info/RECORD,,\n\n'
    assert parse_record(text, "x.whl") == [
        RecordRow("demo/__init__.py", "sha256=abc", 12),
        RecordRow("demo/a,b.py", "sha256=def", 3),
        RecordRow("demo-1.0.dist-info/RECORD", None, None),
    ]


def test_record_size_that_is_not_a_number_is_an_invalid_wheel():
    with pytest.raises(InvalidWheel, match="x.whl: RECORD line 1: size 'big' is not a number"):
        parse_record(b"a.py,sha256=x,big\n", "x.whl")


def test_record_row_with_too_many_fields_is_an_invalid_wheel():
    with pytest.raises(InvalidWheel, match="RECORD line 2 has 4 fields"):
        parse_record(b"a.py,,\nb.py,sha256=x,1,extra\n", "x.whl")


def test_record_field_longer_than_the_csv_limit_is_an_invalid_wheel():
    with pytest.raises(InvalidWheel, match="RECORD cannot be read as CSV"):
        parse_record('"' + "x" * 200_000 + '",,\n', "demo.whl")
