"""The background event loop a server's front ends run on.

One thread, one loop, per started server. Running the simulator on its own loop means it works
the same from synchronous tests, from async tests (whatever their loop scope) and from the
CLI, and that stopping it can account for every task it ever started.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_LIVE: weakref.WeakSet[LoopThread] = weakref.WeakSet()


def live_loops() -> list[str]:
    """Names of loop threads started and not yet stopped, with their pending task counts.

    The test suite's leak check asserts this is empty after every test.
    """
    out = []
    for runtime in list(_LIVE):
        loop = runtime.loop
        if loop is not None and not loop.is_closed():
            pending = len(asyncio.all_tasks(loop)) if runtime.running else 0
            out.append(f"{runtime.name} ({pending} pending tasks)")
    return out


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
        _LIVE.add(self)
        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()

    def in_loop_thread(self) -> bool:
        """Whether the caller runs on this loop's thread (where blocking on it would hang)."""
        return threading.current_thread() is self._thread

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> None:
        """Run ``coro`` on the loop, waiting for it unless called from the loop's own thread.

        From the loop's thread (a control API handler) it is scheduled instead: blocking there
        would hang the loop.
        """
        if self.loop is None or not self.running:
            coro.close()
            return
        if self.in_loop_thread():
            self.loop.create_task(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def post(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Schedule ``coro`` on the loop and return at once, from any thread.

        For work started while a lock is held that the loop may be waiting for (a fault's end
        runs under the plant's lock): waiting for the loop there could deadlock.
        """
        if self.loop is None or not self.running:
            coro.close()
            return
        if self.in_loop_thread():
            self.loop.create_task(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call_soon(self, callback: Callable[[], Any]) -> bool:
        """Run ``callback`` on the loop soon, from any thread; False if the loop is gone."""
        loop = self.loop
        if loop is None or not self.running:
            return False
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # closed between the check and the call
            return False
        return True

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
        leftover = asyncio.all_tasks(loop)
        loop.close()
        self.loop = None
        self._thread = None
        _LIVE.discard(self)
        if leftover:  # _drain_tasks awaited them all: a task here was created after it
            raise RuntimeError(f"{self.name}: tasks still pending at shutdown: {leftover}")


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
