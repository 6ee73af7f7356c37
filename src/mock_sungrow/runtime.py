"""The background event loop a server's front ends run on, and the group of front ends on it.

One thread, one loop, per started server (:class:`FrontEndGroup`). Running the simulator on its own
loop means it works the same from synchronous tests, from async tests (whatever their loop scope)
and from the CLI, and that stopping it can account for every task it ever started.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Callable, Collection, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mock_sungrow.frontends.base import FrontEnd

T = TypeVar("T")

#: Seconds front ends get to stop politely (close handshakes, handlers finishing) before
#: they are forced; the whole ``stop()`` stays within about this plus :data:`DRAIN_TIMEOUT_S`.
STOP_BUDGET_S = 1.2
#: Seconds cancelled tasks get to finish when a loop shuts down.
DRAIN_TIMEOUT_S = 0.5

_LIVE: weakref.WeakSet[LoopThread] = weakref.WeakSet()


def live_loops(ignore: Collection[object] = ()) -> list[str]:
    """Names of loop threads started and not yet stopped, with their pending task counts.

    The test suite's leak check asserts this is empty after every test, ``ignore`` being
    the loops that ran before it began (a session-scoped server's: :func:`live_loop_ids`).
    """
    out = []
    for runtime in list(_LIVE):
        if id(runtime) in ignore:
            continue
        loop = runtime.loop
        if loop is not None and not loop.is_closed():
            pending = len(asyncio.all_tasks(loop)) if runtime.running else 0
            out.append(f"{runtime.name} ({pending} pending tasks)")
    return out


def live_loop_ids() -> set[int]:
    """Identities of the loop threads running now (for :func:`live_loops`'s ``ignore``)."""
    return {id(runtime) for runtime in list(_LIVE)
            if runtime.loop is not None and not runtime.loop.is_closed()}


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
                self.run(_drain_tasks(), timeout=DRAIN_TIMEOUT_S + 1)
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


async def stop_all(front_ends: Sequence[FrontEnd], budget: float) -> None:
    """Stop ``front_ends`` together within ``budget`` seconds, forcing the stragglers."""
    tasks = [asyncio.ensure_future(fe.stop()) for fe in reversed(front_ends)]
    done, pending = await asyncio.wait(tasks, timeout=budget)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=DRAIN_TIMEOUT_S)
    for fe in front_ends:  # whatever a cancelled stop left open: sockets, connections
        abort = getattr(fe, "abort", None)
        if abort is not None:
            abort()
    errors = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]  # an exception, not None (filtered above)


async def _drain_tasks() -> None:
    """Cancel and await every task but this one, then shut the loop's helpers down."""
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=DRAIN_TIMEOUT_S)
    loop = asyncio.get_running_loop()
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()


class FrontEndGroup:
    """A started server's front ends and the loop thread they run on.

    :meth:`start` binds them in order and returns once every one accepts connections; a
    failure stops what was started and re-raises an :class:`OSError` that names the front end
    and the address. :meth:`stop` stops them in reverse order, then the thread. The group
    holds no reference to the server, so a finalizer can stop a server that was forgotten.
    """

    def __init__(self, runtime: LoopThread, front_ends: Sequence[FrontEnd]) -> None:
        self.runtime = runtime
        self.front_ends = list(front_ends)

    @classmethod
    def start(cls, name: str, make: Callable[[], list[FrontEnd]], timeout: float) -> FrontEndGroup:
        """Start a loop thread called ``name``, build the front ends with ``make``, bind them.

        A builder that raises (a missing optional package, a bad setting) stops the thread
        too: nothing is left running whichever step fails.
        """
        runtime = LoopThread(name)
        runtime.start()
        started: list[FrontEnd] = []
        try:
            front_ends = make()
            for fe in front_ends:
                runtime.run(fe.start(), timeout)
                started.append(fe)
        except BaseException:
            for fe in reversed(started):
                runtime.run(fe.stop(), timeout)
            runtime.stop()
            raise
        return cls(runtime, front_ends)

    def stop(self, budget: float = STOP_BUDGET_S) -> None:
        """Stop every front end, then the loop thread, in bounded time.

        The front ends stop together; one that has not finished within ``budget`` seconds
        (a client that never answers a close, a broken data-block override) is cancelled and
        its sockets are closed by force (``abort``), and one that fails does not keep the
        others running. The first failure is raised once everything is stopped.
        """
        failure: BaseException | None = None
        try:
            if self.runtime.running:
                self.runtime.run(stop_all(self.front_ends, budget), budget + 5)
        except BaseException as exc:  # noqa: BLE001 - re-raised below, after the thread stops
            failure = exc
        finally:
            self.runtime.stop()
        if failure is not None:
            raise failure

    def find(self, kind: str) -> FrontEnd | None:
        """The front end called ``kind``, if the server serves it."""
        return next((fe for fe in self.front_ends if fe.name == kind), None)

    def each(self, method: str, *args: Any, kind: str | None = None, wait: bool = True) -> None:
        """Run the coroutine ``method(*args)`` of every front end that has it (or of ``kind``).

        On the loop; ``wait=False`` only schedules it: an expiry runs under the plant's lock,
        which the loop may be waiting for, so it must not wait for the loop.
        """
        for fe in self.front_ends:
            call = getattr(fe, method, None) if kind is None or fe.name == kind else None
            if call is None:
                continue
            if wait:
                self.runtime.call(call(*args))
            else:
                self.runtime.post(call(*args))
