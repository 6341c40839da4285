"""Package index client (PEP 503 HTML, PEP 691 JSON, find-links folders) and the provider that chooses an sdist or a
wheel for a Target by the user's preference.

    >>> from wheelmeta.index import IndexClient, Preference, choose
"""

from __future__ import annotations

from .config import IndexConfig, default_index_urls
from .constraints import Constraints
from .provider import Preference, choose, evaluate_file, group_rejections
from .simple import IndexClient

__all__ = ["Constraints", "IndexClient", "IndexConfig", "Preference", "choose", "default_index_urls", "evaluate_file",
           "group_rejections"]
