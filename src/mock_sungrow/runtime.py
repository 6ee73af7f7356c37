"""The background event loop a server's front ends run on.

One thread, one loop, per started server. Running the simulator on its own loop means it works
the same from synchronous tests, from async tests (whatever their loop scope) and from the
CLI, and that stopping it can account for every task it ever started.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """Owns an event loop running on a daemon thread named ``name``."""

    def __init__(self, name: str = "mock-sungrow") -> None:
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread and return once its loop is running."""
        if self.running:
            return
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self.loop = loop
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (re-raising its exception)."""
        if self.loop is None or not self.running:
            coro.close()
            raise RuntimeError("the server's event loop is not running")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("cannot block on the server loop from inside it")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Finish every task, stop the loop, join the thread and close the loop."""
        loop, thread = self.loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive():
            try:
                self.run(_drain_tasks(), timeout=5)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join()
        loop.close()
        self.loop = None
        self._thread = None


async def _drain_tasks() -> None:
    """Cancel and await every task but this one, then shut the loop's helpers down."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()
