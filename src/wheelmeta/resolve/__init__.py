"""Resolution and the lock: resolvelib over the index provider and the metadata store, written as PEP 751.

``lock_requirements`` is the whole job in one call (``wheelmeta lock`` does the same with files and options)::

    >>> target = Target.from_options(python_version="3.12", platforms=["manylinux_2_28_x86_64"])   # doctest: +SKIP
    >>> text = lock_requirements(["requests<2.22"], target)                                      # doctest: +SKIP
    >>> Pylock.from_dict(tomllib.loads(text)).packages[0].name                                    # doctest: +SKIP
    'certifi'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from ..index.provider import Preference
    from ..store import MetadataStore
    from ..target import Target

__all__ = ["lock_requirements"]


def lock_requirements(
    requirements: Sequence[str],
    target: "Target",
    *,
    preference: Optional["Preference"] = None,
    index_urls: Optional[Sequence[str]] = None,
    find_links: Sequence[str] = (),
    store: Optional["MetadataStore"] = None,
    offline: bool = False,
    sdists: str = "needed",
) -> str:
    """The pylock.toml text for ``requirements`` on ``target`` (indexes default to pip's configuration; the
    store to the user's cache folder).

    :raises ResolutionError: no solution (the message is the conflict chain).
    :raises StoreError: the store is unusable, or lacks a fact with ``offline``.
    """
    from ..store import MetadataStore
    from .facts import Facts, StoreIndexClient
    from .lockfile import lock_document, render_lock
    from .provider import resolve

    own_store = store is None
    store = store or MetadataStore.open(readonly=offline)
    try:
        index = StoreIndexClient(store, index_urls, find_links, offline=offline)
        facts = Facts(store, index, target, offline=offline)
        try:
            resolution = resolve(list(requirements), facts, preference)
        finally:
            facts.close()
        return render_lock(lock_document(resolution, facts, sdists=sdists))
    finally:
        if own_store:
            store.close()
