"""The sdist container: every format read member by member, every archive attack refused with a clear error."""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
from builders import make_sdist, metadata_text

from wheelmeta.errors import InvalidSdist, WheelmetaError
from wheelmeta.sdist.archive import ArchiveLimits, extract_tree, open_sdist

PKG_INFO = metadata_text("demo", "1.0")


def _tar(path: Path, members, mode: str = "w:gz") -> Path:
    """A tar file from (TarInfo fields, bytes) pairs, for members no well-behaved tool would write."""
    with tarfile.open(path, mode) as tf:
        for fields, data in members:
            info = tarfile.TarInfo(fields.pop("name"))
            for key, value in fields.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _refused(path: Path, match: str, wanted=lambda name: False, **limits) -> InvalidSdist:
    """The guards run on every member, wanted or not: a static read that wants nothing still refuses."""
    archive = open_sdist(path, ArchiveLimits(**limits) if limits else None)
    with pytest.raises(InvalidSdist, match=match) as info:
        archive.read_files(wanted)
    assert str(path) in str(info.value)
    return info.value


@pytest.mark.parametrize("fmt", ["tar.gz", "tar.bz2", "tar.xz", "tar", "zip"])
def test_every_format_yields_root_and_wanted_files(tmp_path, fmt):
    path = make_sdist(tmp_path, files={"PKG-INFO": PKG_INFO, "setup.py": "x = 1\n", "src/demo.py": ""}, fmt=fmt)
    files = open_sdist(path).read_files(lambda name: name == "PKG-INFO")
    assert files.root == "demo-1.0"
    assert files.data == {"PKG-INFO": PKG_INFO.encode()}
    assert sorted(files.names) == ["PKG-INFO", "setup.py", "src/demo.py"]


def test_container_kind_comes_from_magic_bytes_not_suffix(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": PKG_INFO}, fmt="zip")
    disguised = path.rename(tmp_path / "demo-1.0.tar.gz")
    assert open_sdist(disguised).kind == "zip"
    assert open_sdist(disguised).read_files(lambda n: True).data["PKG-INFO"] == PKG_INFO.encode()


def test_members_at_top_level_have_no_root(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": PKG_INFO, "setup.py": ""}, root="")
    files = open_sdist(path).read_files(lambda n: n == "PKG-INFO")
    assert files.root == "" and "PKG-INFO" in files.data


def test_file_that_is_no_archive_is_refused_by_name(tmp_path):
    path = tmp_path / "demo-1.0.tar.gz"
    path.write_bytes(b"this is not an archive at all")
    with pytest.raises(InvalidSdist, match="not a tar.gz, tar.bz2, tar.xz, tar or zip") as info:
        open_sdist(path)
    assert str(path) in str(info.value)


def test_truncated_tar_gz_is_corrupt_not_a_traceback(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": PKG_INFO, "big.txt": os.urandom(200_000)})
    path.write_bytes(path.read_bytes()[:5000])
    _refused(path, "corrupt or truncated")


def test_tar_member_climbing_out_with_dotdot_is_refused(tmp_path):
    path = _tar(tmp_path / "evil-1.0.tar.gz", [({"name": "evil-1.0/../../etc/cron.d/x"}, b"boom")])
    _refused(path, "climbs out of the archive")


def test_tar_member_with_absolute_path_is_refused(tmp_path):
    path = _tar(tmp_path / "evil-1.0.tar.gz", [({"name": "/etc/passwd"}, b"root::0:0")])
    _refused(path, "absolute path")


def test_zip_member_climbing_out_with_dotdot_is_refused(tmp_path):
    path = tmp_path / "evil-1.0.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("evil-1.0/..\\..\\outside.txt", b"boom")  # backslashes count as separators too
    _refused(path, "climbs out of the archive")


def test_tar_symlink_pointing_outside_is_refused(tmp_path):
    link = {"name": "evil-1.0/passwd", "type": tarfile.SYMTYPE, "linkname": "../../../etc/passwd"}
    path = _tar(tmp_path / "evil-1.0.tar.gz", [({"name": "evil-1.0/PKG-INFO"}, b""), (link, None)])
    _refused(path, "points outside the archive")


def test_tar_symlink_with_absolute_target_is_refused(tmp_path):
    link = {"name": "evil-1.0/home", "type": tarfile.SYMTYPE, "linkname": "/root"}
    _refused(_tar(tmp_path / "evil-1.0.tar.gz", [(link, None)]), "absolute path")


def test_tar_hard_link_pointing_outside_is_refused(tmp_path):
    link = {"name": "evil-1.0/shadow", "type": tarfile.LNKTYPE, "linkname": "../etc/shadow"}
    _refused(_tar(tmp_path / "evil-1.0.tar.gz", [(link, None)]), "points outside the archive")


def test_zip_symlink_pointing_outside_is_refused(tmp_path):
    path = tmp_path / "evil-1.0.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("evil-1.0/escape")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "../../outside")
    _refused(path, "points outside the archive")


def test_tar_device_file_is_refused(tmp_path):
    dev = {"name": "evil-1.0/sda", "type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}
    _refused(_tar(tmp_path / "evil-1.0.tar.gz", [(dev, None)]), "device file")


def test_tar_fifo_is_refused(tmp_path):
    fifo = {"name": "evil-1.0/pipe", "type": tarfile.FIFOTYPE}
    _refused(_tar(tmp_path / "evil-1.0.tar.gz", [(fifo, None)]), "fifo")


def test_member_count_above_cap_is_refused(tmp_path):
    path = make_sdist(tmp_path, files={f"m{i}.py": "" for i in range(11)})
    _refused(path, "more than 10 members", max_members=10)


def test_zip_member_count_above_cap_is_refused(tmp_path):
    path = make_sdist(tmp_path, files={f"m{i}.py": "" for i in range(11)}, fmt="zip")
    _refused(path, "more than 10 members", max_members=10)


def test_tar_gz_bomb_is_refused_by_compression_ratio(tmp_path):
    # 48 MiB of zeros gzip to ~50 KiB: a ratio near 1000, refused once 32 MiB have been inflated (default caps)
    zeros = b"\0" * (48 << 20)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        info = tarfile.TarInfo("bomb-1.0/zeros")
        info.size = len(zeros)
        tf.addfile(info, io.BytesIO(zeros))
    path = tmp_path / "bomb-1.0.tar.gz"
    path.write_bytes(gzip.compress(raw.getvalue(), compresslevel=1))
    _refused(path, "compression ratio above 200")


def test_total_inflated_size_above_cap_is_refused(tmp_path):
    path = make_sdist(tmp_path, files={"data.bin": os.urandom(300_000)})
    _refused(path, "inflates to more than 100000 bytes", max_total_size=100_000)


def test_zip_bomb_is_refused_from_declared_sizes_before_inflating(tmp_path):
    path = tmp_path / "bomb-1.0.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("bomb-1.0/zeros", b"\0" * (40 << 20))
    _refused(path, "compression ratio above 200")


def test_wanted_member_above_read_cap_is_refused(tmp_path):
    path = make_sdist(tmp_path, files={"PKG-INFO": "x" * 5000})
    _refused(path, "larger than 1000 bytes", wanted=lambda name: name == "PKG-INFO", max_read_size=1000)


def test_extract_tree_writes_below_a_fresh_folder_in_dest(tmp_path):
    path = make_sdist(tmp_path / "in", files={"setup.py": "print(1)\n", "pkg/__init__.py": "x = 1\n"})
    dest = tmp_path / "dest"
    dest.mkdir()
    tree = extract_tree(path, dest)
    assert tree.name == "demo-1.0" and tree.parent.parent == dest.resolve()
    assert (tree / "pkg" / "__init__.py").read_text() == "x = 1\n"
    assert [p.name for p in dest.iterdir()] == [tree.parent.name]


def test_extract_tree_keeps_symlinks_that_stay_inside(tmp_path):
    link = {"name": "demo-1.0/README", "type": tarfile.SYMTYPE, "linkname": "docs/README.md"}
    path = _tar(tmp_path / "demo-1.0.tar.gz", [({"name": "demo-1.0/docs/README.md"}, b"hello"), (link, None)])
    tree = extract_tree(path, tmp_path)
    assert (tree / "README").is_symlink() and (tree / "README").read_text() == "hello"


def test_extract_tree_refuses_a_link_that_escapes_through_an_earlier_link(tmp_path):
    # each link looks harmless on its own ("a" -> "." and "a/b" -> "../../x" stay inside lexically), but "a" is
    # the project folder itself, so "a/b" would point above the fresh folder: only the real-path check sees it
    members = [
        ({"name": "demo-1.0/a", "type": tarfile.SYMTYPE, "linkname": "."}, None),
        ({"name": "demo-1.0/a/b", "type": tarfile.SYMTYPE, "linkname": "../../x"}, None),
    ]
    path = _tar(tmp_path / "demo-1.0.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InvalidSdist, match="points outside the tree"):
        extract_tree(path, dest)
    assert not os.path.lexists(dest / "x")


def test_extract_tree_refuses_hostile_archive_before_writing_it(tmp_path):
    path = _tar(tmp_path / "evil-1.0.tar.gz", [({"name": "evil-1.0/../../escaped"}, b"boom")])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(WheelmetaError):
        extract_tree(path, dest)
    assert not (tmp_path / "escaped").exists()


def test_extract_tree_member_below_a_file_is_a_clear_error(tmp_path):
    path = _tar(tmp_path / "demo-1.0.tar.gz", [({"name": "demo-1.0/a"}, b"file"), ({"name": "demo-1.0/a/b"}, b"x")])
    with pytest.raises(InvalidSdist, match="cannot unpack member 'demo-1.0/a/b'"):
        extract_tree(path, tmp_path)


# -- damaged member data: met while reading or unpacking a member, after the listing guard ----------------------------

_FILES = {"PKG-INFO": PKG_INFO, "pyproject.toml": "[project]\nname = 'demo'\n"}


def _zip_with_edit(tmp_path: Path, edit) -> Path:
    """A real zip sdist with the bytes of its PKG-INFO member (local header and data) edited by ``edit``."""
    path = make_sdist(tmp_path, files=_FILES, fmt="zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("demo-1.0/PKG-INFO")
    edit(data, info)
    path.write_bytes(bytes(data))
    return path


def _data_start(data: bytearray, info: zipfile.ZipInfo) -> int:
    name_len, extra_len = struct.unpack_from("<HH", data, info.header_offset + 26)
    return info.header_offset + 30 + name_len + extra_len


def _flip_data_byte(data: bytearray, info: zipfile.ZipInfo) -> None:
    data[_data_start(data, info) + 3] ^= 0x55


def _wrong_crc(data: bytearray, info: zipfile.ZipInfo) -> None:
    central = data.rfind(b"demo-1.0/PKG-INFO") - 46  # the central header's copy of the name is the last one
    struct.pack_into("<I", data, central + 16, info.CRC ^ 1)


def _local_name_differs(data: bytearray, info: zipfile.ZipInfo) -> None:
    data[info.header_offset + 30 + len("demo-1.0/")] = ord("X")


def _encrypted_flag(data: bytearray, info: zipfile.ZipInfo) -> None:
    for at in (info.header_offset + 6, data.rfind(b"demo-1.0/PKG-INFO") - 46 + 8):
        data[at] |= 1


@pytest.mark.parametrize("edit", [_flip_data_byte, _wrong_crc, _local_name_differs, _encrypted_flag],
                         ids=["inflate-error", "bad-crc", "names-differ", "encrypted"])
@pytest.mark.parametrize("unpack", [False, True], ids=["read", "unpack"])
def test_zip_member_with_damaged_data_is_invalid_sdist_naming_the_file(tmp_path, edit, unpack):
    path = _zip_with_edit(tmp_path, edit)
    with pytest.raises(InvalidSdist) as info:
        if unpack:
            extract_tree(path, tmp_path)
        else:
            open_sdist(path).read_files(lambda name: name == "PKG-INFO")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def _gz_sdist_with_damaged_stream(tmp_path: Path, damage: str) -> Path:
    """A tar.gz whose deflate stream is cut in half, or whose second stored block has lengths that disagree (an
    inflate error, deterministic: stored blocks put their header at a known place)."""
    path = make_sdist(tmp_path, files={**_FILES, "big.txt": "0123456789abcdef" * 25_000}, fmt="tar")
    data = bytearray(gzip.compress(path.read_bytes(), compresslevel=0, mtime=0))
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        first_len = struct.unpack_from("<H", data, 11)[0]  # gzip header: 10 bytes; block header: 1 + LEN + NLEN
        second = 10 + 5 + first_len
        data[second + 3] ^= 0xFF  # NLEN no longer the complement of LEN
    gz = tmp_path / "demo-1.0.tar.gz"
    gz.write_bytes(bytes(data))
    return gz


@pytest.mark.parametrize("damage", ["truncated", "inflate-error"])
@pytest.mark.parametrize("unpack", [False, True], ids=["read", "unpack"])
def test_tar_gz_with_damaged_stream_is_invalid_sdist_never_a_gzip_or_isal_error(tmp_path, damage, unpack):
    path = _gz_sdist_with_damaged_stream(tmp_path, damage)
    with pytest.raises(InvalidSdist, match="corrupt or truncated") as info:
        if unpack:
            extract_tree(path, tmp_path)
        else:
            open_sdist(path).read_files(lambda name: name == "big.txt")
    assert str(path) in str(info.value)


def test_tar_member_thousands_of_folders_deep_is_refused_before_unpacking(tmp_path):
    deep = "demo-1.0/" + "d/" * 3000 + "f.py"
    path = _tar(tmp_path / "deep.tar.gz", [({"name": deep, "mode": 0o644}, b"x")])
    with pytest.raises(InvalidSdist, match="3002 folders deep"):
        extract_tree(path, tmp_path)


def test_zip_member_thousands_of_folders_deep_is_refused(tmp_path):
    path = make_sdist(tmp_path, files={"d/" * 3000 + "f.py": "x"}, fmt="zip")
    _refused(path, "folders deep")


def test_tar_member_with_a_nul_byte_in_its_path_is_refused(tmp_path):
    path = tmp_path / "nul.tar"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:  # a long name goes to a pax header, NUL and all
        info = tarfile.TarInfo("demo-1.0/" + "a" * 120 + "\0b.py")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    _refused(path, "NUL byte")
    with pytest.raises(InvalidSdist, match="NUL byte"):
        extract_tree(path, tmp_path)


def _base256_size(header: bytearray, size: int) -> None:
    header[124:136] = b"\x80" + size.to_bytes(11, "big")
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)


@pytest.mark.parametrize("compress, match", [(False, "declares 10{26} bytes, more than the file holds"),
                                             (True, "inflates to more than")], ids=["tar", "tar.gz"])
def test_tar_member_declaring_a_base256_size_of_1e26_bytes_is_refused_not_skipped_forever(tmp_path, compress, match):
    plain = _tar(tmp_path / "demo.tar", [({"name": "demo-1.0/PKG-INFO"}, PKG_INFO.encode()),
                                         ({"name": "demo-1.0/x.py"}, b"x = 1\n")], mode="w")
    data = bytearray(plain.read_bytes())
    header = data[1024:1536]  # the second member's header (PKG-INFO takes one header and one data block)
    assert header[:13] == b"demo-1.0/x.py"
    _base256_size(header, 10**26)
    data[1024:1536] = header
    path = tmp_path / ("demo-1.0.tar.gz" if compress else "demo-1.0.tar")
    path.write_bytes(gzip.compress(bytes(data)) if compress else bytes(data))
    _refused(path, match)
