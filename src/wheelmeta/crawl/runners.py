"""Where the crawler's per-file tasks run: a local thread pool, or a Dask distributed cluster.

Both offer the same three calls (``submit``, ``wait_first``, ``close``) and a ``slots`` count (how many tasks to
keep in flight), so the coordinator does not know which one it drives.
"""

from __future__ import annotations

import concurrent.futures
from typing import Callable, Iterable, Set, Tuple

from ..errors import NetworkError, UsageError

__all__ = ["LocalRunner", "DaskRunner", "runner_for"]


class LocalRunner:
    """Threads of this process (the work waits on the network and on sandboxed subprocesses, not on the GIL)."""

    def __init__(self, jobs: int) -> None:
        self.slots = 2 * jobs
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="wheelmeta-crawl")

    def submit(self, fn: Callable, *args):
        return self._pool.submit(fn, *args)

    @staticmethod
    def wait_first(futures: Iterable) -> Tuple[Set, Set]:
        done, pending = concurrent.futures.wait(list(futures), return_when=concurrent.futures.FIRST_COMPLETED)
        return set(done), set(pending)

    def close(self) -> None:
        # tasks not started are dropped; running ones finish in the background and their results are not kept
        self._pool.shutdown(wait=False, cancel_futures=True)


class DaskRunner:
    """The workers of a Dask distributed scheduler (``tcp://host:8786``). Workers need wheelmeta (and the sandbox
    for sdists); results come back to this process, the one store writer."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--scheduler", "needs dask.distributed: pip install 'wheelmeta[crawl]'") from None
        try:
            self._client = Client(address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise NetworkError(address, f"cannot reach the Dask scheduler: {exc}") from None
        threads = sum(self._client.nthreads().values()) or 1
        self.slots = 2 * threads

    def submit(self, fn: Callable, *args):
        return self._client.submit(fn, *args, pure=False)

    @staticmethod
    def wait_first(futures: Iterable) -> Tuple[Set, Set]:
        from distributed import wait

        result = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(result.done), set(result.not_done)

    def close(self) -> None:
        self._client.close()


def runner_for(jobs: int, scheduler: str = ""):
    """A DaskRunner for a scheduler address, else a LocalRunner of ``jobs`` threads."""
    return DaskRunner(scheduler) if scheduler else LocalRunner(jobs)
