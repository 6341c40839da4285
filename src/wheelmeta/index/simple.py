"""The simple repository API, both forms, and find-links locations: every file offered for a project.

* PEP 691 JSON (asked for first through the Accept header) and PEP 503 HTML, with PEP 592 ``data-yanked``,
  PEP 345/503 ``data-requires-python``, PEP 658/714 ``data-core-metadata`` and its older spelling
  ``data-dist-info-metadata``, and hashes in the URL fragment (HTML) or the ``hashes`` object (JSON);
* several indexes (``--index-url`` then each ``--extra-index-url``), ``file://`` indexes included;
* find-links locations: a local folder, a ``file://`` folder, or an HTML page (local or remote) of links.

    >>> client = IndexClient(["http://127.0.0.1:8080/simple"])                   # doctest: +SKIP
    >>> [f.filename for f in client.files("demo")]                               # doctest: +SKIP
    ['demo-1.0-py3-none-any.whl', 'demo-1.0.tar.gz']
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..errors import IndexError_, InvalidWheel
from ..model import DistFile

__all__ = ["IndexClient", "project_page_url", "parse_html_page", "parse_json_page", "parse_project_list",
           "dist_file_from_filename", "SDIST_SUFFIXES"]

logger = logging.getLogger(__name__)

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
#: JSON first; HTML from servers that only speak PEP 503 (what pip sends, minus the legacy q-values detail).
ACCEPT = f"{JSON_TYPE}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
#: sdist suffixes pip accepts, longest first so ".tar.gz" wins over ".gz"-like prefixes.
SDIST_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar", ".tgz", ".tbz", ".txz", ".zip")


def _split_sdist(stem: str, project: Optional[str]) -> Optional[Tuple[str, str]]:
    """``"foo-bar-1.0"`` -> ``("foo-bar", "1.0")``; with a project name, the split whose name part matches it."""
    if project is not None:
        want = canonicalize_name(project)
        for i, char in enumerate(stem):
            if char == "-" and canonicalize_name(stem[:i]) == want:
                return stem[:i], stem[i + 1 :]
        return None
    name, sep, version = stem.rpartition("-")
    return (name, version) if sep and name else None


def dist_file_from_filename(filename: str, url: str, *, project: Optional[str] = None, **fields) -> Optional[DistFile]:
    """A DistFile for a file name (wheel or sdist), or None for other files and unparsable names.

    ``fields`` are the remaining DistFile fields (hashes, requires_python, yanked, core_metadata, size, index).
    """
    if filename.endswith(".whl"):
        from ..wheels.filename import parse_wheel_filename

        try:
            parsed = parse_wheel_filename(filename)
            name, version = parsed.name, Version(parsed.version)
        except (InvalidWheel, InvalidVersion, ValueError):
            logger.debug("%s: not a valid wheel file name, ignored", url)
            return None
        kind = "wheel"
    else:
        suffix = next((s for s in SDIST_SUFFIXES if filename.lower().endswith(s)), None)
        split = _split_sdist(filename[: -len(suffix)], project) if suffix else None
        if split is None:
            return None
        try:
            name, version = split[0], Version(split[1])
        except ValueError:  # InvalidVersion, or a release number too long for int()
            logger.debug("%s: version %r is not PEP 440, ignored", url, split[1])
            return None
        kind = "sdist"
    if project is not None and canonicalize_name(name) != canonicalize_name(project):
        return None
    return DistFile(filename=filename, url=url, kind=kind, name=canonicalize_name(name), version=version, **fields)


def _hashes_from_fragment(url: str) -> Tuple[str, Dict[str, str]]:
    base, fragment = urllib.parse.urldefrag(url)
    name, sep, value = fragment.partition("=")
    return base, ({name.lower(): value.lower()} if sep and name and value else {})


def _filename_of(url: str) -> str:
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))


def _core_metadata_from_attr(value: Optional[str]) -> Optional[Dict[str, str]]:
    """PEP 658/714 attribute: ``"true"`` -> {} (offered, no hash), ``"sha256=ab"`` -> {"sha256": "ab"}."""
    if value is None or value.strip().lower() in ("", "false"):
        return None
    name, sep, digest = value.strip().partition("=")
    return {name.lower(): digest.lower()} if sep else {}


class _LinkParser(HTMLParser):
    """Collects ``<a>`` attributes and the first ``<base href>`` of a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: Optional[str] = None
        self.anchors: List[Dict[str, Optional[str]]] = []

    def handle_starttag(self, tag: str, attrs: List[Tuple[str, Optional[str]]]) -> None:
        values = dict(attrs)
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag == "a" and values.get("href"):
            self.anchors.append(values)


def _html_links(text: str, page_url: str) -> List[Tuple[str, str, Dict[str, object]]]:
    """``(filename, url, DistFile fields)`` for each link of a PEP 503 or find-links page."""
    parser = _LinkParser()
    try:
        parser.feed(text)
        parser.close()
    except AssertionError as exc:  # the stdlib's _markupbase asserts on some malformed declarations (<![TYPE ...)
        raise IndexError_(page_url, f"malformed HTML: {exc}") from None
    base = urllib.parse.urljoin(page_url, parser.base) if parser.base else page_url
    out = []
    for anchor in parser.anchors:
        url, hashes = _hashes_from_fragment(urllib.parse.urljoin(base, anchor["href"] or ""))
        if "data-core-metadata" in anchor:
            core = anchor["data-core-metadata"]
        else:
            core = anchor.get("data-dist-info-metadata")
        fields: Dict[str, object] = dict(
            hashes=hashes,
            requires_python=anchor.get("data-requires-python") or None,
            # a bare data-yanked attribute (value None) means yanked without a reason
            yanked=None if "data-yanked" not in anchor else (anchor["data-yanked"] or ""),
            core_metadata=_core_metadata_from_attr(core),
        )
        out.append((_filename_of(url), url, fields))
    return out


def parse_html_page(text: str, page_url: str, *, project: Optional[str] = None, index: str = "") -> List[DistFile]:
    """The files a PEP 503 page (or a find-links page) links to, for ``project`` when given."""
    out = []
    for filename, url, fields in _html_links(text, page_url):
        found = dist_file_from_filename(filename, url, project=project, index=index, **fields)  # type: ignore[arg-type]
        if found is not None:
            out.append(found)
    return out


def _core_metadata_from_json(value: object) -> Optional[Dict[str, str]]:
    if value is True:
        return {}
    if isinstance(value, dict):
        return {str(k).lower(): str(v).lower() for k, v in value.items()}
    return None


def parse_json_page(text: str, page_url: str, *, project: Optional[str] = None, index: str = "") -> List[DistFile]:
    """The files of a PEP 691 JSON project page, for ``project`` when given."""
    try:
        page = json.loads(text)
        files = page["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise IndexError_(page_url, f"not a PEP 691 project page: {exc}") from None
    out = []
    for entry in files if isinstance(files, list) else ():
        if not isinstance(entry, dict) or not entry.get("url") or not entry.get("filename"):
            continue
        yanked = entry.get("yanked", False)
        core = entry.get("core-metadata", entry.get("dist-info-metadata"))
        size = entry.get("size")
        found = dist_file_from_filename(
            str(entry["filename"]),
            urllib.parse.urljoin(page_url, str(entry["url"])),
            project=project,
            hashes={str(k).lower(): str(v).lower() for k, v in (entry.get("hashes") or {}).items()},
            requires_python=entry.get("requires-python") or None,
            yanked=None if yanked is False or yanked is None else ("" if yanked is True else str(yanked)),
            core_metadata=_core_metadata_from_json(core),
            size=size if isinstance(size, int) else None,
            index=index,
            upload_time=str(entry["upload-time"]) if entry.get("upload-time") else None,
        )
        if found is not None:
            out.append(found)
    return out


def parse_project_list(text: str, content_type: str, page_url: str) -> List[str]:
    """The project names an index's root page lists: PEP 691 JSON ``projects[].name``, or the last path segment of
    each PEP 503 link (the project URL), canonical and sorted."""
    if "json" in content_type.lower():
        try:
            projects = json.loads(text)["projects"]
            names = [str(p["name"]) for p in projects]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise IndexError_(page_url, f"not a PEP 691 project list: {exc}") from None
    else:
        names = [posixpath.basename(urllib.parse.urlsplit(href).path.rstrip("/")) for _, href, _ in
                 _html_links(text, page_url)]
    return sorted({canonicalize_name(n) for n in names if n.strip()})


class IndexClient:
    """Every file offered for a project by the configured indexes and find-links locations.

    Without arguments the configuration is pip's (see :mod:`wheelmeta.index.config`). Files are listed in the
    order: main index, extra indexes, find-links; a file name seen twice keeps its first listing.
    ``client`` is the :class:`~wheelmeta.http.HttpClient` used (one session for all indexes).
    """

    def __init__(
        self,
        index_urls: Optional[Sequence[str]] = None,
        find_links: Sequence[str] = (),
        client=None,
    ) -> None:
        from ..http import default_client

        if index_urls is None:
            from .config import IndexConfig

            config = IndexConfig.from_pip()
            index_urls = config.index_urls()
            find_links = tuple(find_links) or config.find_links
        self.index_urls: Tuple[str, ...] = tuple(index_urls)
        self.find_links: Tuple[str, ...] = tuple(find_links)
        self.http = client or default_client()
        self._cache: Dict[str, List[DistFile]] = {}
        self._link_pages: Dict[str, List[Tuple[str, str, Dict[str, object]]]] = {}

    @classmethod
    def from_config(cls, config, client=None) -> "IndexClient":
        """An IndexClient for an :class:`~wheelmeta.index.config.IndexConfig`."""
        return cls(config.index_urls(), config.find_links, client)

    def describe(self) -> str:
        """The indexes and find-links locations, for error messages."""
        parts = list(self.index_urls) + [f"find-links {x}" for x in self.find_links]
        return ", ".join(parts) or "no index"

    def files(self, project: str) -> List[DistFile]:
        """Every wheel and sdist of ``project`` (any name spelling) offered by the indexes and find-links."""
        key = canonicalize_name(project)
        if key not in self._cache:
            found: List[DistFile] = []
            for index_url in self.index_urls:
                found.extend(self._index_files(index_url, key))
            for location in self.find_links:
                found.extend(self._find_links_files(location, key))
            self._cache[key] = _first_by_filename(found)
        return list(self._cache[key])

    def files_by_version(self, project: str) -> Mapping[Version, List[DistFile]]:
        """The files of :meth:`files` grouped by version (in their order within each version)."""
        grouped: Dict[Version, List[DistFile]] = {}
        for dist in self.files(project):
            grouped.setdefault(dist.version, []).append(dist)
        return grouped

    def projects(self) -> List[str]:
        """Every project name the indexes list on their root pages (find-links locations list files, not
        projects, and are not asked)."""
        names = set()
        for index_url in self.index_urls:
            root = index_url.rstrip("/") + "/"
            page = self.http.get_page(root, accept=ACCEPT)
            if page is None:
                raise IndexError_(root, "the index has no project list (its root page answered 404)")
            names.update(parse_project_list(page.text, page.content_type, page.url))
        return sorted(names)

    def _index_files(self, index_url: str, project: str) -> List[DistFile]:
        page = self._project_page(index_url, project)
        if page is None:
            return []
        return self._parse_project_page(page, index_url, project)

    def _project_page(self, index_url: str, project: str):
        """The project's page on one index (an :class:`~wheelmeta.http.Page`), None when the index has no such
        project. A subclass may answer from elsewhere (the metadata store does, for ``--offline``)."""
        return self.http.get_page(project_page_url(index_url, project), accept=ACCEPT)

    @staticmethod
    def _parse_project_page(page, index_url: str, project: str) -> List[DistFile]:
        if "json" in page.content_type.lower():
            return parse_json_page(page.text, page.url, project=project, index=index_url)
        return parse_html_page(page.text, page.url, project=project, index=index_url)

    def _find_links_files(self, location: str, project: str) -> List[DistFile]:
        if location not in self._link_pages:
            self._link_pages[location] = self._read_find_links(location)
        out = []
        for filename, url, fields in self._link_pages[location]:
            found = dist_file_from_filename(filename, url, project=project, index=location, **fields)  # type: ignore[arg-type]
            if found is not None:
                out.append(found)
        return out

    def _read_find_links(self, location: str) -> List[Tuple[str, str, Dict[str, object]]]:
        """``(filename, url, fields)`` of every file at a find-links location: a folder or a page of links."""
        from ..http import url_to_path

        if "://" in location and not location.startswith("file:"):
            page = self.http.get_page(location, accept="text/html")
            if page is None:
                raise IndexError_(location, "find-links page not found")
            return _html_links(page.text, page.url)
        path = url_to_path(location) if location.startswith("file:") else location
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if os.path.isfile(os.path.join(path, n)))
            return [(n, Path(path, n).resolve().as_uri(), {}) for n in names]
        if not os.path.isfile(path):
            logger.warning("find-links location %s does not exist, ignored", location)
            return []
        with open(path, encoding="utf-8", errors="replace") as f:
            return _html_links(f.read(), Path(path).resolve().as_uri())


def project_page_url(index_url: str, project: str) -> str:
    """The PEP 503 URL of a project on an index: ``<index>/<canonical name>/``."""
    return f"{index_url.rstrip('/')}/{canonicalize_name(project)}/"


def _first_by_filename(files: Iterable[DistFile]) -> List[DistFile]:
    seen, out = set(), []
    for dist in files:
        if dist.filename not in seen:
            seen.add(dist.filename)
            out.append(dist)
    return out
