"""Which indexes to ask: the same answer pip would give, read from pip's own configuration at run time.

Precedence, as pip applies it: command-line options (passed in by the caller) over environment variables
(``PIP_INDEX_URL``, ``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``) over the config files (the
``[download]`` and ``[install]`` sections over ``[global]``), over pip's built-in default index. The files are read
with pip's own ``Configuration`` class when pip is importable, so every location pip knows (``PIP_CONFIG_FILE``,
site, user, XDG and legacy paths) counts; without pip the documented locations are parsed as ini files. With
``PIP_CONFIG_FILE`` set to ``os.devnull`` pip reads no file at all, so only the ``PIP_*`` variables are read, without
loading pip's configuration code.

pip's ``constraint`` option (``PIP_CONSTRAINT``, a list of constraints files) is read the same way; the files
themselves are read by :mod:`wheelmeta.index.constraints`.

The built-in default is never written here: it is taken from pip (``PyPI.simple_url``) when needed.

    >>> config = IndexConfig.from_pip()                                         # doctest: +SKIP
    >>> config.index_urls()                                                     # doctest: +SKIP
    ['https://<pip default>/simple', 'file:///opt/pypi/simple', 'file:///opt/pypi-more/simple']
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import IndexError_

__all__ = ["IndexConfig", "default_index_urls", "pip_default_index_url", "read_pip_settings", "PIP_ANSWER_FILE"]

logger = logging.getLogger(__name__)

#: pip option names we read, and whether pip splits the value on whitespace (its "append" options).
_OPTIONS = {"index-url": False, "extra-index-url": True, "find-links": True, "no-index": False,
            "cert": False, "timeout": False, "default-timeout": False, "constraint": True}
#: Config sections in increasing precedence; wheelmeta acts like `pip download` / `pip install`.
_SECTIONS = ("global", "install", "download", ":env:")
_TRUE = {"1", "true", "yes", "on", "y"}


def pip_default_index_url() -> str:
    """pip's built-in default index, read from the installed pip (never hard-coded here)."""
    try:
        from pip._internal.models.index import PyPI
    except ImportError:
        raise IndexError_(
            "index configuration", "pip is not importable, so its default index is unknown: pass --index-url"
        ) from None
    return PyPI.simple_url


@dataclass(frozen=True)
class IndexConfig:
    """Where to look for files: one main index, extra indexes, find-links locations, or no index at all."""

    index_url: Optional[str] = None  # None: pip's default
    extra_index_urls: Tuple[str, ...] = ()
    find_links: Tuple[str, ...] = ()
    no_index: bool = False
    origin: Mapping[str, str] = field(default_factory=dict)  # option -> where its value came from
    cert: Optional[str] = None  # pip's `cert`: a CA bundle to verify servers with (corporate proxies)
    timeout: Optional[float] = None  # pip's `timeout` / `default-timeout`, seconds
    constraint_files: Tuple[str, ...] = ()  # pip's `constraint` / PIP_CONSTRAINT, then the command line's -c

    def http_client(self):
        """An :class:`~wheelmeta.http.HttpClient` with pip's ``cert`` and ``timeout`` settings, as pip would connect."""
        from ..http import HttpClient

        return HttpClient(timeout=self.timeout or 30.0, verify=self.cert)

    def index_urls(self) -> List[str]:
        """The index URLs in the order they are asked (main index first); [] with ``no_index``."""
        if self.no_index:
            return []
        main = self.index_url or pip_default_index_url()
        return _dedupe([main, *self.extra_index_urls])

    @classmethod
    def from_pip(
        cls,
        *,
        index_url: Optional[str] = None,
        extra_index_urls: Sequence[str] = (),
        find_links: Sequence[str] = (),
        no_index: bool = False,
        constraint_files: Sequence[str] = (),
        environ: Optional[Mapping[str, str]] = None,
        cache_dir: Optional[str] = None,
    ) -> "IndexConfig":
        """pip's configuration with the given command-line values on top (as pip merges them).

        Like pip, an ``--extra-index-url`` or ``--find-links`` given on the command line replaces the configured
        list, and ``--index-url`` replaces the configured main index. Constraints files given on the command line
        are added to the configured ones: every constraint binds (pip's optparse appends them to its defaults).
        ``cache_dir`` keeps pip's answer for the next run (see :func:`read_pip_settings`).
        """
        settings, origin = read_pip_settings(environ, cache_dir)
        if index_url:
            settings["index-url"], origin["index-url"] = index_url, "command line"
        if extra_index_urls:
            settings["extra-index-url"], origin["extra-index-url"] = " ".join(extra_index_urls), "command line"
        if find_links:
            settings["find-links"], origin["find-links"] = " ".join(find_links), "command line"
        if no_index:
            settings["no-index"], origin["no-index"] = "1", "command line"
        return cls(
            index_url=settings.get("index-url") or None,
            extra_index_urls=tuple(settings.get("extra-index-url", "").split()),
            find_links=tuple(settings.get("find-links", "").split()),
            no_index=settings.get("no-index", "").strip().lower() in _TRUE,
            cert=settings.get("cert") or None,
            timeout=_seconds(settings.get("timeout") or settings.get("default-timeout")),
            constraint_files=(*settings.get("constraint", "").split(), *constraint_files),
            origin=origin,
        )


def _seconds(value: Optional[str]) -> Optional[float]:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def default_index_urls(environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """The index URLs pip would use here: configured index (or pip's default) then the extra indexes."""
    return IndexConfig.from_pip(environ=environ).index_urls()


def read_pip_settings(environ: Optional[Mapping[str, str]] = None,
                      cache_dir: Optional[str] = None) -> Tuple[Dict[str, str], Dict[str, str]]:
    """``({option: raw value}, {option: origin})`` for the index options, from pip's config and environment.

    With ``cache_dir``, pip's answer is kept there (:data:`PIP_ANSWER_FILE`) and reused while nothing it depends on
    has changed: pip's own files, the config files pip looks for (each one's presence, size and modification time)
    and the environment variables and interpreter paths that decide where pip looks. Loading pip's configuration
    code costs a tenth of a second, most of a warm lock's start-up."""
    env = os.environ if environ is None else environ
    if env.get("PIP_CONFIG_FILE") == os.devnull:
        # pip's documented switch for "load no configuration file": only PIP_* variables are left, read here
        # without loading pip's configuration machinery
        items = _items_from_ini(env)
    else:
        items = _cached_pip_items(cache_dir, env) if cache_dir else None
        if items is None:
            try:
                items, looked_at = _items_from_pip(env)
            except ImportError:
                items = _items_from_ini(env)
            else:
                if cache_dir:
                    _save_pip_items(cache_dir, env, looked_at, items)
    settings: Dict[str, str] = {}
    origin: Dict[str, str] = {}
    ranked = sorted(items, key=lambda item: _SECTIONS.index(item[0]))  # stable: file order kept within a section
    for section, key, value, where in ranked:
        if key in _OPTIONS and value.strip():
            settings[key] = value
            origin[key] = where if section != ":env:" else f"environment PIP_{key.upper().replace('-', '_')}"
    return settings, origin


def _items_from_pip(env: Mapping[str, str]) -> Tuple[List[Tuple[str, str, str, str]], List[str]]:
    """(section, key, value, file) from pip's own Configuration, and every config file pip looked for (raises
    ImportError without pip)."""
    from pip._internal.configuration import Configuration

    with _patched_environ(env):
        configuration = Configuration(isolated=False)
        configuration.load()
        out = []
        for dotted, value in configuration.items():
            section, _, key = dotted.partition(".")
            if section in _SECTIONS:
                out.append((section, key, str(value), "pip configuration"))
        looked_at = [path for _, paths in configuration.iter_config_files() for path in paths]
        return out, looked_at


#: The file under the cache folder that keeps pip's last answer (see :func:`read_pip_settings`).
PIP_ANSWER_FILE = "pip-configuration.json"
#: Environment variables, besides every ``PIP_*`` one, that decide which config files pip reads (the user and
#: site folders of platformdirs on each system).
_LOCATION_VARIABLES = ("HOME", "XDG_CONFIG_HOME", "XDG_CONFIG_DIRS", "APPDATA", "LOCALAPPDATA", "PROGRAMDATA",
                       "ALLUSERSPROFILE", "USERPROFILE")


def _pip_answer_key(env: Mapping[str, str]) -> Optional[dict]:
    """What pip's answer depends on besides its config files; None when pip is not installed."""
    import importlib.util

    spec = importlib.util.find_spec("pip")  # found, not imported
    if spec is None or not spec.origin:
        return None
    pip_files = os.path.dirname(spec.origin)
    return {
        "pip": [pip_files, *_stamp(os.path.join(pip_files, "_internal", "configuration.py")), *_stamp(spec.origin)],
        "interpreter": [sys.executable, sys.prefix, sys.platform],
        "environment": sorted([k, v] for k, v in env.items() if k.startswith("PIP_") or k in _LOCATION_VARIABLES),
    }  # lists, not tuples: the key is compared with its JSON copy


def _stamp(path: str) -> list:
    """A file's (size, modification time in ns), or [None, None] when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return [None, None]
    return [st.st_size, st.st_mtime_ns]


def _cached_pip_items(cache_dir: str, env: Mapping[str, str]) -> Optional[List[Tuple[str, str, str, str]]]:
    try:
        with open(os.path.join(cache_dir, PIP_ANSWER_FILE), encoding="utf-8") as f:
            saved = json.load(f)
        key = _pip_answer_key(env)
        if key is None or saved["key"] != key:
            return None
        if any(_stamp(path) != stamp for path, stamp in saved["files"]):
            return None
        return [tuple(item) for item in saved["items"]]  # type: ignore[misc]
    except (OSError, ValueError, KeyError, TypeError):  # none kept yet, or unreadable: ask pip
        return None


def _save_pip_items(cache_dir: str, env: Mapping[str, str], looked_at: Sequence[str],
                    items: Sequence[Tuple[str, str, str, str]]) -> None:
    """Keep pip's answer; written to a temporary file and renamed, so a concurrent reader sees all or nothing."""
    import tempfile

    key = _pip_answer_key(env)
    if key is None:
        return
    text = json.dumps({"key": key, "files": [[path, _stamp(path)] for path in looked_at],
                       "items": [list(item) for item in items]})
    try:
        os.makedirs(cache_dir, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".pip-configuration-", dir=cache_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, os.path.join(cache_dir, PIP_ANSWER_FILE))
    except OSError as exc:  # a cache: a folder we cannot write to only costs the next run the same time
        logger.debug("pip's configuration not kept in %s: %s", cache_dir, exc)


class _patched_environ:
    """Let pip's Configuration read a given environment (tests pass their own) and restore the real one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._saved: Optional[Dict[str, str]] = None

    def __enter__(self) -> None:
        if self._env is not os.environ:
            self._saved = dict(os.environ)
            os.environ.clear()
            os.environ.update(self._env)

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            os.environ.clear()
            os.environ.update(self._saved)


def _items_from_ini(env: Mapping[str, str]) -> List[Tuple[str, str, str, str]]:
    """The documented pip config locations parsed as ini files, then ``PIP_*`` variables (pip's order)."""
    out: List[Tuple[str, str, str, str]] = []
    explicit = env.get("PIP_CONFIG_FILE")
    if explicit != os.devnull:
        for path in [*_config_files(env), *([explicit] if explicit else [])]:
            out.extend(_ini_items(path))
    for key in _OPTIONS:
        value = env.get("PIP_" + key.upper().replace("-", "_"))
        if value is not None:
            out.append((":env:", key, value, "environment"))
    return out


def _config_files(env: Mapping[str, str]) -> List[str]:
    """Global (XDG_CONFIG_DIRS, /etc), user (legacy ~/.pip, XDG_CONFIG_HOME) and site files, lowest first."""
    home = env.get("HOME") or os.path.expanduser("~")
    xdg_dirs = [d for d in env.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep) if d]
    xdg_home = env.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = [os.path.join(d, "pip", "pip.conf") for d in xdg_dirs] + ["/etc/pip.conf"]
    files += [os.path.join(home, ".pip", "pip.conf"), os.path.join(xdg_home, "pip", "pip.conf")]
    files.append(os.path.join(sys.prefix, "pip.conf"))
    return files


def _ini_items(path: str) -> Iterable[Tuple[str, str, str, str]]:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise IndexError_(path, f"unreadable pip configuration file: {exc}") from None
    for section in parser.sections():
        for key, value in parser.items(section):
            yield section, key.replace("_", "-"), value, path


def _dedupe(items: Iterable[str]) -> List[str]:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
