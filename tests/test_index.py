"""index/config.py and index/simple.py: pip's configuration, both simple API forms, find-links, several indexes."""

from __future__ import annotations

import os
import sys

import pytest
from builders import make_wheel
from indexserver import IndexServer

from wheelmeta.errors import SettingsFileError, UsageError
from wheelmeta.http import HttpClient
from wheelmeta.index.config import IndexConfig, read_pip_settings
from wheelmeta.index.constraints import Constraints
from wheelmeta.index.simple import IndexClient, parse_html_page, parse_json_page
from wheelmeta.target import Target


@pytest.fixture
def pip_env(tmp_path, monkeypatch):
    """An environment where pip reads only the config file the test writes (and no PIP_* variables)."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(tmp_path / "xdg"))
    conf = tmp_path / "pip.conf"
    conf.write_text("")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    return conf


@pytest.fixture
def project_folder(tmp_path):
    folder = tmp_path / "files"
    make_wheel(folder, "demo-pkg", "1.0")
    make_wheel(folder, "demo-pkg", "2.0", tag="cp39-abi3-manylinux_2_17_x86_64")
    (folder / "demo-pkg-2.0.tar.gz").write_bytes(b"not read by the index")
    make_wheel(folder, "other", "1.0")
    return folder


# -- configuration ---------------------------------------------------------------------------------------------------


def test_extra_index_url_with_several_urls_is_split_like_pip(pip_env):
    pip_env.write_text("[global]\nextra-index-url = file:///a/simple file:///b/simple\nfind-links = /w1 /w2\n")
    config = IndexConfig.from_pip()
    assert config.extra_index_urls == ("file:///a/simple", "file:///b/simple")
    assert config.find_links == ("/w1", "/w2")


def test_environment_overrides_config_file(pip_env, monkeypatch):
    pip_env.write_text("[global]\nindex-url = http://file.invalid/simple\n")
    monkeypatch.setenv("PIP_INDEX_URL", "http://env.invalid/simple")
    assert IndexConfig.from_pip().index_url == "http://env.invalid/simple"


def test_install_section_overrides_global(pip_env):
    pip_env.write_text("[global]\nindex-url = http://g.invalid/simple\n[install]\nindex-url = http://i.invalid/simple\n")
    assert IndexConfig.from_pip().index_url == "http://i.invalid/simple"


def test_command_line_overrides_everything(pip_env, monkeypatch):
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://env.invalid/simple")
    config = IndexConfig.from_pip(index_url="http://cli.invalid/simple", extra_index_urls=["http://x.invalid/s"])
    assert config.index_urls() == ["http://cli.invalid/simple", "http://x.invalid/s"]


def test_default_index_is_pips_own(pip_env):
    from pip._internal.models.index import PyPI

    assert IndexConfig.from_pip().index_urls() == [PyPI.simple_url]


def test_cert_and_timeout_are_read_for_the_http_client(pip_env, monkeypatch):
    pip_env.write_text("[global]\ncert = /etc/corp-ca.pem\n")
    monkeypatch.setenv("PIP_DEFAULT_TIMEOUT", "7")
    config = IndexConfig.from_pip()
    assert (config.cert, config.timeout) == ("/etc/corp-ca.pem", 7.0)
    client = config.http_client()
    assert (client.session.verify, client.timeout) == ("/etc/corp-ca.pem", 7.0)


def test_no_index_means_no_index_urls(pip_env, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    assert IndexConfig.from_pip().index_urls() == []


def _pip_not_asked(monkeypatch):
    """From now on, asking pip's configuration code fails the test."""
    import wheelmeta.index.config as config

    def asked(env):
        raise AssertionError("pip's configuration was loaded although its kept answer was current")

    monkeypatch.setattr(config, "_items_from_pip", asked)


def test_pips_answer_is_kept_and_reused_while_nothing_it_depends_on_changed(pip_env, tmp_path, monkeypatch):
    pip_env.write_text("[global]\nindex-url = http://kept.invalid/simple\n")
    first = read_pip_settings(cache_dir=str(tmp_path / "cache"))
    _pip_not_asked(monkeypatch)
    assert read_pip_settings(cache_dir=str(tmp_path / "cache")) == first
    assert first[0]["index-url"] == "http://kept.invalid/simple"


def test_a_changed_config_file_is_read_again(pip_env, tmp_path):
    pip_env.write_text("[global]\nindex-url = http://old.invalid/simple\n")
    read_pip_settings(cache_dir=str(tmp_path / "cache"))
    pip_env.write_text("[global]\nindex-url = http://new.invalid/simple\n")
    stat = pip_env.stat()
    os.utime(pip_env, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # same size: the time tells the change
    assert read_pip_settings(cache_dir=str(tmp_path / "cache"))[0]["index-url"] == "http://new.invalid/simple"


def test_a_config_file_created_where_pip_looks_is_read(pip_env, tmp_path, monkeypatch):
    monkeypatch.delenv("PIP_CONFIG_FILE")
    assert "index-url" not in read_pip_settings(cache_dir=str(tmp_path / "cache"))[0]
    user_file = tmp_path / "home" / ".config" / "pip" / "pip.conf"
    user_file.parent.mkdir(parents=True)
    user_file.write_text("[global]\nindex-url = http://user.invalid/simple\n")
    assert read_pip_settings(cache_dir=str(tmp_path / "cache"))[0]["index-url"] == "http://user.invalid/simple"


def test_a_changed_pip_variable_is_read_again(pip_env, tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://one.invalid/simple")
    read_pip_settings(cache_dir=str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_INDEX_URL", "http://two.invalid/simple")
    assert read_pip_settings(cache_dir=str(tmp_path / "cache"))[0]["index-url"] == "http://two.invalid/simple"


def test_ini_fallback_reads_what_pip_reads(pip_env, monkeypatch):
    pip_env.write_text("[global]\nextra-index-url = file:///a/simple file:///b/simple\n[download]\nfind-links = /w\n")
    monkeypatch.setenv("PIP_INDEX_URL", "http://env.invalid/simple")
    with_pip = read_pip_settings()[0]
    monkeypatch.setitem(sys.modules, "pip._internal.configuration", None)  # import now fails
    without_pip = read_pip_settings()[0]
    assert with_pip == without_pip
    assert without_pip["extra-index-url"] == "file:///a/simple file:///b/simple"


def test_config_file_devnull_reads_only_the_environment_as_pip_does(pip_env, monkeypatch):
    (pip_env.parent / "xdg" / "pip").mkdir(parents=True)
    (pip_env.parent / "xdg" / "pip" / "pip.conf").write_text("[global]\nindex-url = http://file.invalid/simple\n")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://env.invalid/simple")
    from pip._internal.configuration import Configuration

    configuration = Configuration(isolated=False)  # pip itself: no file read, the variable only
    configuration.load()
    assert dict(configuration.items()) == {":env:.config-file": os.devnull,
                                           ":env:.extra-index-url": "http://env.invalid/simple"}
    monkeypatch.setitem(sys.modules, "pip._internal.configuration", None)  # not needed to give the same answer
    assert read_pip_settings()[0] == {"extra-index-url": "http://env.invalid/simple"}


def test_constraint_files_come_from_pips_config_and_the_command_line_adds_to_them(pip_env):
    pip_env.write_text("[global]\nconstraint = /etc/a.txt /etc/b.txt\n")
    config = IndexConfig.from_pip(constraint_files=["mine.txt"])
    assert config.constraint_files == ("/etc/a.txt", "/etc/b.txt", "mine.txt")


def test_pip_constraint_environment_variable_overrides_the_config_file(pip_env, monkeypatch):
    pip_env.write_text("[global]\nconstraint = /etc/a.txt\n")
    monkeypatch.setenv("PIP_CONSTRAINT", "/env/c.txt")
    assert IndexConfig.from_pip().constraint_files == ("/env/c.txt",)


# -- constraints files -----------------------------------------------------------------------------------------------

PY312 = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])


def _constraints(tmp_path, text: str, environ=None) -> Constraints:
    path = tmp_path / "constraints.txt"
    path.write_text(text)
    return Constraints.from_files([str(path)], environ)


def test_constraints_file_is_read_in_pips_requirements_format(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "nested.txt").write_text("other>=2\n")
    constraints = _constraints(tmp_path, "# pinned by CI\ndemo \\\n  <2  # a comment\n-c sub/nested.txt\n"
                               "hashed==1.0 --hash=sha256:00\n${NAME}!=3\n", environ={"NAME": "fromenv"})
    assert [(str(c.requirement), c.origin.rsplit(os.sep, 1)[-1]) for c in constraints.items] == [
        ("demo<2", "constraints.txt:2"), ("other>=2", "nested.txt:1"), ("hashed==1.0", "constraints.txt:5"),
        ("fromenv!=3", "constraints.txt:6")]


def test_constraint_binds_only_its_project_and_only_where_its_marker_holds(tmp_path):
    constraints = _constraints(tmp_path, 'Demo_Pkg<2\ndemo-pkg>1; sys_platform == "win32"\nother<1\n')
    assert [str(c.requirement) for c in constraints.binding("demo.pkg", PY312)] == ["Demo_Pkg<2"]


@pytest.mark.parametrize("line, reason", [("demo[extra]<2", "cannot have extras"), ("demo <<< 2", "not a requirement"),
                                          ("-e ./src", "editable")])
def test_unusable_constraint_line_is_an_error_naming_file_and_line(tmp_path, line, reason):
    with pytest.raises(SettingsFileError, match=rf"constraints.txt:2: .*{reason}"):
        _constraints(tmp_path, f"ok<1\n{line}\n")


def test_constraints_file_that_includes_itself_ends_with_an_error(tmp_path):
    with pytest.raises(SettingsFileError, match="nested more than"):
        _constraints(tmp_path, "-c constraints.txt\n")


def test_missing_constraints_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no such constraints file"):
        Constraints.from_files([str(tmp_path / "nothere.txt")])


# -- page parsing ----------------------------------------------------------------------------------------------------


def test_html_page_attributes_are_read():
    page = (
        '<a href="../../f/demo-1.0-py3-none-any.whl#sha256=AB12" data-requires-python="&gt;=3.8" '
        'data-dist-info-metadata="sha256=cd34">x</a>'
        '<a href="/f/demo-0.9.tar.gz" data-yanked>y</a>'
        '<a href="/f/demo-0.8.zip" data-yanked="broken build" data-core-metadata="true">z</a>'
    )
    files = parse_html_page(page, "http://h.invalid/simple/demo/", project="demo")
    assert [f.filename for f in files] == ["demo-1.0-py3-none-any.whl", "demo-0.9.tar.gz", "demo-0.8.zip"]
    first, second, third = files
    assert first.url == "http://h.invalid/f/demo-1.0-py3-none-any.whl"
    assert first.sha256 == "ab12" and first.requires_python == ">=3.8" and first.core_metadata == {"sha256": "cd34"}
    assert not first.is_yanked
    assert second.yanked == "" and second.kind == "sdist"
    assert third.yanked == "broken build" and third.core_metadata == {}  # offered, without a hash


def test_html_base_href_resolves_links():
    files = parse_html_page('<base href="http://cdn.invalid/x/"><a href="demo-1.0.tar.gz">d</a>', "http://h.invalid/s/")
    assert files[0].url == "http://cdn.invalid/x/demo-1.0.tar.gz"


def test_json_page_fields_are_read():
    text = (
        '{"meta": {"api-version": "1.1"}, "name": "demo", "files": ['
        '{"filename": "demo-1.0-py3-none-any.whl", "url": "../../f/demo-1.0-py3-none-any.whl", '
        '"hashes": {"sha256": "AB"}, "requires-python": ">=3.8", "yanked": "bad", "size": 123, '
        '"core-metadata": {"sha256": "cd"}},'
        '{"filename": "demo-0.9.tar.gz", "url": "/f/demo-0.9.tar.gz", "hashes": {}, "yanked": true, '
        '"dist-info-metadata": true}]}'
    )
    wheel, sdist = parse_json_page(text, "http://h.invalid/simple/demo/", project="demo")
    assert wheel.url == "http://h.invalid/f/demo-1.0-py3-none-any.whl"
    assert (wheel.sha256, wheel.size, wheel.yanked, wheel.core_metadata) == ("ab", 123, "bad", {"sha256": "cd"})
    assert sdist.yanked == "" and sdist.core_metadata == {}


def test_sdist_name_with_dashes_splits_at_the_project_name():
    files = parse_html_page('<a href="/f/foo-bar-2.0-1.tar.gz">x</a>', "http://h.invalid/", project="foo-bar")
    assert [(f.name, str(f.version)) for f in files] == [("foo-bar", "2.0.post1")]


def test_files_of_other_projects_are_ignored():
    page = '<a href="/f/demo-1.0.tar.gz">a</a><a href="/f/demolition-1.0.tar.gz">b</a>'
    assert [f.filename for f in parse_html_page(page, "http://h.invalid/", project="demo")] == ["demo-1.0.tar.gz"]


# -- the client against a real server -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_index_client_lists_files_in_both_forms(project_folder, fmt):
    with IndexServer(project_folder, fmt=fmt, requires_python={"demo-pkg-2.0.tar.gz": ">=3.9"}) as server:
        files = IndexClient([server.index_url], client=HttpClient()).files("Demo_Pkg")
        assert sorted(f.filename for f in files) == [
            "demo-pkg-2.0.tar.gz",
            "demo_pkg-1.0-py3-none-any.whl",
            "demo_pkg-2.0-cp39-abi3-manylinux_2_17_x86_64.whl",
        ]
        sdist = next(f for f in files if f.kind == "sdist")
        assert sdist.sha256 == server.sha256("demo-pkg-2.0.tar.gz")
        assert sdist.requires_python == ">=3.9"
        assert sdist.url == server.file_url("demo-pkg-2.0.tar.gz")


def test_index_client_asks_for_json_first(project_folder):
    with IndexServer(project_folder) as server:
        files = IndexClient([server.index_url], client=HttpClient()).files("demo-pkg")
        assert all(f.size for f in files)  # only the JSON form carries sizes


@pytest.mark.parametrize("fmt", ["html", "json"])
def test_gzip_encoded_pages_are_decoded(project_folder, fmt):
    with IndexServer(project_folder, fmt=fmt, gzip_pages=True) as server:
        files = IndexClient([server.index_url], client=HttpClient()).files("other")
        assert [f.filename for f in files] == ["other-1.0-py3-none-any.whl"]


def test_failing_index_is_an_error_not_a_silently_smaller_answer(project_folder):
    from wheelmeta.errors import NetworkError

    with IndexServer(project_folder) as server:
        server.fail_next = [503] * 5
        with pytest.raises(NetworkError, match="/simple/other/: HTTP 503"):
            IndexClient([server.index_url], client=HttpClient(retries=1, backoff=0.0)).files("other")


def test_unknown_project_is_an_empty_list(project_folder):
    with IndexServer(project_folder) as server:
        assert IndexClient([server.index_url], client=HttpClient()).files("nothing-here") == []


def test_several_indexes_and_find_links_are_merged_first_listing_wins(project_folder, tmp_path):
    extra = tmp_path / "extra"
    make_wheel(extra, "demo-pkg", "3.0")
    make_wheel(extra, "demo-pkg", "1.0")  # same file name as on the first index
    with IndexServer(project_folder) as first, IndexServer(extra, fmt="html") as second:
        links = tmp_path / "links"
        make_wheel(links, "demo-pkg", "4.0")
        client = IndexClient([first.index_url, second.index_url], [str(links)], client=HttpClient())
        by_name = {f.filename: f for f in client.files("demo-pkg")}
        assert by_name["demo_pkg-3.0-py3-none-any.whl"].index == second.index_url
        assert by_name["demo_pkg-1.0-py3-none-any.whl"].index == first.index_url
        assert by_name["demo_pkg-4.0-py3-none-any.whl"].url.startswith("file://")


def test_find_links_html_page_on_a_server(project_folder):
    with IndexServer(project_folder) as server:
        files = IndexClient([], [server.url + "/links/"], client=HttpClient()).files("other")
        assert [f.url for f in files] == [server.file_url("other-1.0-py3-none-any.whl")]


def test_file_url_index_reads_index_html_folders(tmp_path):
    root = tmp_path / "simple" / "demo"
    root.mkdir(parents=True)
    (root / "index.html").write_text('<a href="../../files/demo-1.0.tar.gz#sha256=00ff">demo-1.0.tar.gz</a>')
    files = IndexClient([(tmp_path / "simple").as_uri()]).files("demo")
    assert files[0].url == (tmp_path / "files" / "demo-1.0.tar.gz").as_uri() and files[0].sha256 == "00ff"


def _mutations(text: str, seed: int, count: int):
    """``count`` deterministic mutations of ``text``: characters dropped, inserted (from those the format gives a
    meaning to), or lines repeated."""
    import random

    rng = random.Random(seed)
    specials = "[]=\\\"'#;@<>!~-,\n\x00${}() *."
    for _ in range(count):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(chars) + 1)
            op = rng.random()
            if op < 0.4 and chars:
                del chars[min(pos, len(chars) - 1)]
            elif op < 0.8:
                chars.insert(pos, rng.choice(specials))
            else:
                chars.insert(pos, "".join(chars[pos:pos + rng.randint(1, 30)]))
        yield "".join(chars)


@pytest.mark.filterwarnings("ignore:invalid escape sequence:DeprecationWarning")  # packaging reading a marker "\9"
def test_mutated_constraints_files_give_constraints_or_one_error(tmp_path):
    """Fuzz round (fixed seed): whatever the bytes, a list of constraints or a WheelmetaError naming the file."""
    from wheelmeta.errors import WheelmetaError

    seed_text = ('# pinned\ntorch<=2.14.1\nnumpy>=1.20,<2; python_version >= "3.9" \\\n  \n'
                 "-c nested.txt\nhashed==1.0 --hash=sha256:00\ndemo @ https://example.invalid/demo-1.0.tar.gz\n")
    (tmp_path / "nested.txt").write_text("other!=3\n")
    for text in _mutations(seed_text, seed=9, count=400):
        try:
            constraints = _constraints(tmp_path, text)
            for name in ("torch", "numpy", "other", "demo"):
                constraints.binding(name, PY312)
        except WheelmetaError as exc:
            assert "constraints" in exc.where or "nested" in exc.where, (text, exc)


def test_a_page_the_html_parser_chokes_on_is_one_index_error_naming_it():
    from wheelmeta.errors import IndexError_
    from wheelmeta.index.simple import parse_html_page

    with pytest.raises(IndexError_, match=r"http://127\.0\.0\.1:9/simple/a/: malformed HTML"):
        parse_html_page('<html><![TYPE x]><a href="a-1.0.tar.gz">a</a></html>', "http://127.0.0.1:9/simple/a/",
                        project="a")
