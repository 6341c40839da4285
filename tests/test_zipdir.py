"""wheels.zipdir: the central directory as raw bytes, bounded member streams, and refusal of hostile zips."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zipfile

import pytest
from builders import central_headers, local_offset, make_wheel, patch_central, to_zip64, zip_bytes

from wheelmeta.errors import InvalidWheel, WheelmetaError
from wheelmeta.sources import BytesSource, LocalFileSource
from wheelmeta.wheels.zipdir import ZipDirectory, compressed_range, iter_member, member_head, read_member


class CountingSource(BytesSource):
    """A BytesSource that counts read_at calls: ZipDirectory.read must be frugal for remote sources."""

    reads = 0

    def read_at(self, offset: int, length: int) -> bytes:
        self.reads += 1
        return super().read_at(offset, length)


# -- finding members ---------------------------------------------------------------------------------------------


def test_find_returns_the_entry_with_zipfile_sizes_and_offset(tmp_path):
    path = make_wheel(tmp_path, "demo", "1.0", files={"demo/__init__.py": b"x = 1\n" * 50})
    zd = ZipDirectory.read(LocalFileSource(path))
    entry = zd.find("demo/__init__.py")
    info = zipfile.ZipFile(path).getinfo("demo/__init__.py")
    assert (entry.file_size, entry.compressed_size, entry.header_offset, entry.crc32) == (
        info.file_size,
        info.compress_size,
        info.header_offset,
        info.CRC,
    )


def test_find_returns_none_for_a_missing_name(tmp_path):
    zd = ZipDirectory.read(LocalFileSource(make_wheel(tmp_path)))
    assert zd.find("demo-1.0.dist-info/NOPE") is None


def test_find_does_not_match_a_name_that_only_ends_with_the_wanted_one(tmp_path):
    data = zip_bytes({"vendor/a/METADATA": b"wrong", "a/METADATA": b"right"})
    zd = ZipDirectory.read(BytesSource(data, "x.whl"))
    assert zd.read_member(zd.find("a/METADATA"), limit=100) == b"right"
    assert zd.find("METADATA") is None


def test_find_is_right_when_a_comment_forges_a_header_signature():
    # the signature inside a comment makes bytes.find untrustworthy: the linear scan must take over
    forged = b"PK\x01\x02" + b"\0" * 24 + struct.pack("<H", 10) + b"\0" * 16 + b"a/METADATA"
    data = zip_bytes({"pkg/x.py": b"one", "a/METADATA": b"right"}, comments={"pkg/x.py": forged})
    zd = ZipDirectory.read(BytesSource(data, "x.whl"))
    assert zd.read_member(zd.find("a/METADATA"), limit=100) == b"right"


def test_entries_list_every_member_in_central_directory_order(tmp_path):
    files = {f"pkg/m{i}.py": b"pass\n" for i in range(40)}
    path = make_wheel(tmp_path, "demo", "1.0", files=files)
    zd = ZipDirectory.read(LocalFileSource(path))
    assert [e.name for e in zd.entries()] == zipfile.ZipFile(path).namelist()


def test_utf8_member_names_are_found(tmp_path):
    data = zip_bytes({"pkg/dätä.txt": b"umlaut"})
    zd = ZipDirectory.read(BytesSource(data, "x.whl"))
    assert zd.read_member(zd.find("pkg/dätä.txt"), limit=100) == b"umlaut"


def test_read_needs_one_read_for_a_small_wheel(tmp_path):
    source = CountingSource(make_wheel(tmp_path).read_bytes(), "demo-1.0-py3-none-any.whl")
    zd = ZipDirectory.read(source)
    assert source.reads == 1 and zd.entry_count == 3


def test_read_needs_two_reads_when_the_directory_is_bigger_than_the_tail():
    data = zip_bytes({f"pkg/module_with_a_long_name_{i:05d}.py": b"" for i in range(1500)})  # ~120 KB directory
    source = CountingSource(data, "big.whl")
    zd = ZipDirectory.read(source)
    assert source.reads == 2 and len(zd.central) > 70_000 and zd.entry_count == 1500


def test_zip64_wheel_is_read_through_the_zip64_records(tmp_path):
    plain = make_wheel(tmp_path, "demo", "1.0", files={"demo/__init__.py": b"print('hi')\n"}).read_bytes()
    data = to_zip64(plain)
    assert zipfile.ZipFile(io.BytesIO(data)).read("demo/__init__.py") == b"print('hi')\n"  # a valid zip64 file
    zd = ZipDirectory.read(BytesSource(data, "demo-1.0-py3-none-any.whl"))
    entry = zd.find("demo/__init__.py")
    assert entry.header_offset == local_offset(plain, "demo/__init__.py")
    assert zd.read_member(entry, limit=1000) == b"print('hi')\n"
    assert zd.entry_count == 4


def test_bytes_prepended_to_the_archive_shift_every_offset(tmp_path):
    data = b"#!/bin/sh\nexit 0\n" + make_wheel(tmp_path).read_bytes()
    zd = ZipDirectory.read(BytesSource(data, "demo-1.0-py3-none-any.whl"))
    assert zd.read_member(zd.find("demo-1.0.dist-info/WHEEL"), limit=1000).startswith(b"Wheel-Version: 1.0")


def test_an_archive_comment_holding_an_eocd_signature_does_not_mislead(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", b"hello")
        zf.comment = b"comment with a stray PK\x05\x06 signature in it"
    zd = ZipDirectory.read(BytesSource(buf.getvalue(), "comment.whl"))
    assert zd.read_member(zd.find("a.txt"), limit=100) == b"hello"


# -- .dist-info ----------------------------------------------------------------------------------------------------


def test_dist_info_is_the_one_folder_matching_the_project(tmp_path):
    zd = ZipDirectory.read(LocalFileSource(make_wheel(tmp_path, "Foo.Bar", "2.0")))
    assert zd.dist_info("foo-bar") == "Foo.Bar-2.0.dist-info"


def test_dist_info_missing_is_an_invalid_wheel(tmp_path):
    data = zip_bytes({"pkg/__init__.py": b""})
    with pytest.raises(InvalidWheel, match=r"^nodist.whl: no \.dist-info folder"):
        ZipDirectory.read(BytesSource(data, "nodist.whl")).dist_info()


def test_two_dist_info_folders_are_an_invalid_wheel(tmp_path):
    data = zip_bytes({"a-1.0.dist-info/METADATA": b"", "b-1.0.dist-info/METADATA": b""})
    with pytest.raises(InvalidWheel, match=r"two\.whl: more than one \.dist-info folder: a-1.0.dist-info, b-1.0"):
        ZipDirectory.read(BytesSource(data, "two.whl")).dist_info()


def test_nested_dist_info_folders_do_not_count(tmp_path):
    data = zip_bytes({"a-1.0.dist-info/METADATA": b"", "a/_vendor/b-1.0.dist-info/METADATA": b""})
    assert ZipDirectory.read(BytesSource(data, "a.whl")).dist_info("a") == "a-1.0.dist-info"


def test_dist_info_of_another_project_is_an_invalid_wheel(tmp_path):
    zd = ZipDirectory.read(LocalFileSource(make_wheel(tmp_path, "other", "1.0", filename="demo-1.0-py3-none-any.whl")))
    with pytest.raises(InvalidWheel, match="other-1.0.dist-info does not belong to project 'demo'"):
        zd.dist_info("demo")


# -- refusing bad archives -----------------------------------------------------------------------------------------


def test_a_file_that_is_not_a_zip_is_an_invalid_wheel(tmp_path):
    path = tmp_path / "fake-1.0-py3-none-any.whl"
    path.write_bytes(b"this is not a zip file at all, just some text\n" * 10)
    with pytest.raises(InvalidWheel, match=r"fake-1.0-py3-none-any.whl: not a zip file"):
        ZipDirectory.read(LocalFileSource(path))


def test_an_empty_file_is_an_invalid_wheel(tmp_path):
    path = tmp_path / "empty-1.0-py3-none-any.whl"
    path.write_bytes(b"")
    with pytest.raises(InvalidWheel, match="empty-1.0-py3-none-any.whl: not a zip file"):
        ZipDirectory.read(LocalFileSource(path))


def test_a_truncated_wheel_is_an_invalid_wheel(tmp_path):
    data = make_wheel(tmp_path, files={"demo/big.py": bytes(range(256)) * 400}).read_bytes()
    for cut in (len(data) // 2, len(data) - 30):
        with pytest.raises(InvalidWheel, match="cut.whl: .*(not a zip file|truncated)"):
            ZipDirectory.read(BytesSource(data[:cut], "cut.whl"))


def test_a_central_directory_cut_short_is_an_invalid_wheel(tmp_path):
    data = make_wheel(tmp_path).read_bytes()
    first_header = central_headers(data)[0][0]
    broken = data[: first_header + 10] + data[-22:]  # the EOCD still claims the whole directory
    with pytest.raises(InvalidWheel, match="short.whl: truncated zip file"):
        ZipDirectory.read(BytesSource(broken, "short.whl"))


def test_a_member_inflating_beyond_its_declared_size_stops_with_bounded_memory():
    data = zip_bytes({"pkg/bomb.bin": b"\0" * (64 << 20)})  # 64 MiB of zeros, ~64 KiB deflated
    data = patch_central(data, "pkg/bomb.bin", usize=100)
    zd = ZipDirectory.read(BytesSource(data, "bomb.whl"))
    tracemalloc.start()
    try:
        with pytest.raises(InvalidWheel, match=r"bomb\.whl: pkg/bomb\.bin: inflates beyond its declared size"):
            for _ in zd.iter_member(zd.find("pkg/bomb.bin"), chunk=1 << 16):
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_read_member_stops_a_bomb_after_one_byte_more_than_declared():
    data = patch_central(zip_bytes({"pkg/bomb.bin": b"\0" * (16 << 20)}), "pkg/bomb.bin", usize=100)
    zd = ZipDirectory.read(BytesSource(data, "bomb.whl"))
    tracemalloc.start()
    try:
        with pytest.raises(InvalidWheel, match=r"bomb\.whl: pkg/bomb\.bin: inflates beyond its declared size"):
            zd.read_member(zd.find("pkg/bomb.bin"), limit=1 << 30)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_a_member_over_the_callers_limit_is_refused_before_inflating():
    data = zip_bytes({"pkg/big.bin": b"x" * 5000})
    zd = ZipDirectory.read(BytesSource(data, "big.whl"))
    with pytest.raises(InvalidWheel, match="big.whl: pkg/big.bin: declared size 5000 exceeds the limit 1000"):
        zd.read_member(zd.find("pkg/big.bin"), limit=1000)


def test_chunks_never_exceed_the_requested_size():
    data = zip_bytes({"pkg/z.bin": b"\0" * 300_000})
    zd = ZipDirectory.read(BytesSource(data, "z.whl"))
    sizes = [len(block) for block in zd.iter_member(zd.find("pkg/z.bin"), chunk=4096)]
    assert max(sizes) <= 4096 and sum(sizes) == 300_000


def test_entries_sharing_one_local_header_are_refused_when_a_second_member_is_read():
    data = zip_bytes({"a.txt": b"a" * 100, "b.txt": b"b" * 100}, compression=zipfile.ZIP_STORED)
    # the second entry becomes a duplicate of the first: same name, same local header (the amplifying kind)
    (second, _), = [h for h in central_headers(data) if h[1] == "b.txt"]
    forged = bytearray(patch_central(data, "b.txt", offset=local_offset(data, "a.txt"), crc=zipfile.crc32(b"a" * 100)))
    forged[second + 46 : second + 51] = b"a.txt"
    zd = ZipDirectory.read(BytesSource(bytes(forged), "dup.whl"))
    first, duplicate = list(zd.entries())
    assert zd.read_member(first, limit=1000) == b"a" * 100
    with pytest.raises(InvalidWheel, match=r"dup.whl: a.txt: overlapping entries in the zip file \(shared header\)"):
        zd.read_member(duplicate, limit=1000)


def test_a_duplicate_entry_sharing_the_local_header_of_the_one_read_first_is_refused():
    data = zip_bytes({"a.txt": b"a" * 100, "b.txt": b"b" * 100}, compression=zipfile.ZIP_STORED)
    forged = patch_central(data, "b.txt", offset=local_offset(data, "a.txt"))
    zd = ZipDirectory.read(BytesSource(forged, "overlap.whl"))
    assert zd.read_member(zd.find("a.txt"), limit=1000) == b"a" * 100
    with pytest.raises(InvalidWheel, match="overlap.whl: b.txt: (overlapping entries|local file header does not match)"):
        zd.read_member(zd.find("b.txt"), limit=1000)


def test_an_entry_whose_data_covers_the_next_header_is_refused():
    data = zip_bytes({"a.txt": b"a" * 100, "b.txt": b"b" * 100}, compression=zipfile.ZIP_STORED)
    # a.txt now claims to run 150 bytes: over b.txt's local header
    forged = patch_central(data, "a.txt", csize=150, usize=150)
    zd = ZipDirectory.read(BytesSource(forged, "overlap.whl"))
    with pytest.raises(InvalidWheel, match="overlap.whl: a.txt: overlapping entries"):
        zd.read_member(zd.find("a.txt"), limit=1000)


def test_the_entry_after_an_overlapping_one_is_refused_once_offsets_are_known():
    data = zip_bytes({"a.txt": b"a" * 100, "b.txt": b"b" * 100}, compression=zipfile.ZIP_STORED)
    zd = ZipDirectory.read(BytesSource(patch_central(data, "a.txt", csize=150, usize=150), "overlap.whl"))
    entry = zd.find("b.txt")
    with pytest.raises(InvalidWheel, match="overlap.whl: b.txt: overlapping entries"):
        zd.check_extent(entry, compressed_range(zd.source, entry)[0] + entry.compressed_size)


def test_a_stored_zip_inside_a_wheel_is_not_mistaken_for_overlap():
    inner = zip_bytes({"x.txt": b"inner"})  # its bytes hold local header signatures
    data = zip_bytes({"pkg/fixture.zip": inner, "pkg/after.txt": b"after"}, compression=zipfile.ZIP_STORED)
    zd = ZipDirectory.read(BytesSource(data, "nested.whl"))
    assert zd.read_member(zd.find("pkg/fixture.zip"), limit=1 << 20) == inner
    assert zd.read_member(zd.find("pkg/after.txt"), limit=100) == b"after"


def test_dist_info_members_are_found_after_dist_info(tmp_path):
    zd = ZipDirectory.read(LocalFileSource(make_wheel(tmp_path, "demo", "1.0")))
    folder = zd.dist_info("demo")
    assert zd.find(f"{folder}/WHEEL").name == "demo-1.0.dist-info/WHEEL"
    assert zd.find(f"{folder}/NOPE") is None


def test_member_data_running_into_the_central_directory_is_refused():
    data = zip_bytes({"a.txt": b"a" * 100}, compression=zipfile.ZIP_STORED)
    forged = patch_central(data, "a.txt", csize=120, usize=120)
    zd = ZipDirectory.read(BytesSource(forged, "long.whl"))
    with pytest.raises(InvalidWheel, match="long.whl: a.txt: member data runs into the central directory"):
        zd.read_member(zd.find("a.txt"), limit=1000)


def test_a_local_header_naming_another_file_is_refused():
    data = bytearray(zip_bytes({"a.txt": b"hello"}))
    data[30:35] = b"b.txt"  # the local copy of the name
    zd = ZipDirectory.read(BytesSource(bytes(data), "mismatch.whl"))
    with pytest.raises(InvalidWheel, match="mismatch.whl: a.txt: local file header does not match"):
        read_member(zd.source, zd.find("a.txt"), limit=100)


def test_an_offset_pointing_at_no_local_header_is_refused():
    data = zip_bytes({"a.txt": b"hello", "b.txt": b"world"})
    forged = patch_central(data, "b.txt", offset=3)
    zd = ZipDirectory.read(BytesSource(forged, "bad.whl"))
    with pytest.raises(InvalidWheel, match="bad.whl: b.txt: no local file header at offset 3"):
        read_member(zd.source, zd.find("b.txt"), limit=100)


def test_corrupt_stored_data_fails_the_crc_check():
    data = bytearray(zip_bytes({"a.txt": b"hello world"}, compression=zipfile.ZIP_STORED))
    data[30 + 5] ^= 0xFF
    zd = ZipDirectory.read(BytesSource(bytes(data), "crc.whl"))
    with pytest.raises(InvalidWheel, match="crc.whl: a.txt: CRC-32 mismatch"):
        zd.read_member(zd.find("a.txt"), limit=100)


def test_corrupt_deflate_data_is_an_invalid_wheel():
    data = bytearray(zip_bytes({"a.txt": bytes(range(256)) * 20}))
    data[30 + 5 : 30 + 40] = b"\xff" * 35
    zd = ZipDirectory.read(BytesSource(bytes(data), "junk.whl"))
    with pytest.raises(InvalidWheel, match="junk.whl: a.txt: (corrupt|truncated|inflates|CRC)"):
        zd.read_member(zd.find("a.txt"), limit=1 << 20)


def test_a_declared_size_larger_than_the_data_is_an_invalid_wheel():
    data = zip_bytes({"a.txt": b"hello world" * 10})
    forged = patch_central(data, "a.txt", usize=5000)
    zd = ZipDirectory.read(BytesSource(forged, "short.whl"))
    with pytest.raises(InvalidWheel, match="short.whl: a.txt: truncated or corrupt member"):
        zd.read_member(zd.find("a.txt"), limit=1 << 20)


def test_compressed_range_points_at_the_member_bytes():
    payload = b"stored payload"
    data = zip_bytes({"a.txt": payload}, compression=zipfile.ZIP_STORED)
    zd = ZipDirectory.read(BytesSource(data, "r.whl"))
    offset, length = compressed_range(zd.source, zd.find("a.txt"))
    assert data[offset : offset + length] == payload


def test_a_consumer_may_stop_reading_early():
    data = zip_bytes({"a.bin": bytes(range(256)) * 4096})
    zd = ZipDirectory.read(BytesSource(data, "r.whl"))
    stream = iter_member(zd.source, zd.find("a.bin"), chunk=1024)
    assert next(stream) == bytes(range(256)) * 4
    stream.close()


def test_errors_are_wheelmeta_errors_with_one_line():
    with pytest.raises(WheelmetaError) as info:
        ZipDirectory.read(BytesSource(b"\n\n" * 40, "multi\nline.whl"))
    assert "\n" not in str(info.value).replace("multi\nline", "")


def test_zip64_offset_of_2_to_the_64_minus_1_is_an_invalid_wheel_not_an_overflow(tmp_path):
    plain = make_wheel(tmp_path, "demo", "1.0", files={"demo/__init__.py": b"print('hi')\n"}).read_bytes()
    data = bytearray(to_zip64(plain))
    name = b"demo/__init__.py"
    extra = data.rindex(name) + len(name)  # the central header's zip64 extra field: usize, csize, offset
    assert data[extra : extra + 2] == b"\x01\x00"
    struct.pack_into("<Q", data, extra + 4 + 16, (1 << 64) - 1)
    path = tmp_path / "huge-offset.whl"
    path.write_bytes(bytes(data))
    with LocalFileSource(path) as source:  # pread with an offset past off_t raised OverflowError
        zd = ZipDirectory.read(source)
        entry = zd.find("demo/__init__.py")
        assert entry.header_offset == (1 << 64) - 1
        with pytest.raises(InvalidWheel, match="no local file header"):
            zd.read_member(entry, limit=1000)
        assert source.read_at((1 << 64) - 1, 30) == b""
        assert list(source.stream((1 << 64) - 1, 30)) == []


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_member_head_is_the_first_bytes_of_any_member_read_in_one_bounded_read(method):
    import random

    noise = random.Random(3).randbytes(300_000)  # does not compress: the head lies in the first raw bytes
    members = {"a.so": b"\x7fELF" + noise, "text.txt": b"abc" * 50_000, "short": b"xy", "empty": b""}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)

    class NoStreams(BytesSource):
        def stream(self, offset, length, chunk=1 << 20):
            raise AssertionError("a stream over the member")  # remotely: a request stopped early, its connection lost

    source = NoStreams(buffer.getvalue())
    directory = ZipDirectory.read(source)
    for name, data in members.items():
        assert member_head(source, directory.find(name), 8) == data[:8]
