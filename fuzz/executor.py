"""Where campaign units run: a local process pool or a Dask distributed cluster, behind one interface.

An executor takes `work.Unit`s and hands back (unit, result) pairs, the
result being `work.run_unit`'s plain data, or None when the unit was lost
(its worker died). The local pool also hands back each finding the moment
it is shrunk, as {"done": False, "findings": [record]} before the unit's
result; on Dask the findings come with the unit's result. It never touches a file: the coordinator is the only
writer. Workers ignore SIGINT (a Ctrl-C at the terminal reaches the whole
process group); the coordinator decides whether in-flight units finish or
are abandoned.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from .work import Unit, run_unit


class WorkerError(Exception):
    """A unit raised in its worker (a broken model, or a bug): the message names the unit."""


class Executor(Protocol):
    workers: int  # units it runs at once
    where: str  # for the live view: "local" or the scheduler's address

    def submit(self, unit: Unit) -> None: ...

    def wait(self, timeout: float) -> list[tuple[Unit, dict[str, Any] | None]]: ...

    def abandon(self) -> None: ...

    def close(self) -> None: ...


def _describe(unit: Unit) -> str:
    return f"{unit.ref} {unit.variant} {unit.kind} {unit.seed}"


def _serve(conn: Connection) -> None:
    """A local worker: run each unit received, send back its result (or the error's text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        try:
            unit = conn.recv()
        except EOFError:  # the coordinator is gone
            return
        if unit is None:
            return
        try:
            conn.send(("ok", run_unit(unit, on_finding=lambda record: conn.send(("finding", record)))))
        except Exception:
            conn.send(("error", traceback.format_exc()))


class LocalPool:
    """`workers` processes on this machine, one unit each at a time (forkserver: safe beside threads)."""

    where = "local"

    def __init__(self, workers: int):
        self.workers = workers
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["panicfuzz.work"])
        self._idle: list[tuple[Any, Connection]] = []
        self._busy: dict[Connection, tuple[Any, Unit]] = {}

    def _spawn(self) -> tuple[Any, Connection]:
        mine, theirs = self._ctx.Pipe()
        proc = self._ctx.Process(target=_serve, args=(theirs,), daemon=True)
        proc.start()
        theirs.close()
        return proc, mine

    def warm(self) -> None:
        """Start every worker now (they start on demand otherwise)."""
        while len(self._idle) + len(self._busy) < self.workers:
            self._idle.append(self._spawn())

    def submit(self, unit: Unit) -> None:
        proc, conn = self._idle.pop() if self._idle else self._spawn()
        conn.send(unit)
        self._busy[conn] = (proc, unit)

    def wait(self, timeout: float) -> list[tuple[Unit, dict[str, Any] | None]]:
        out: list[tuple[Unit, dict[str, Any] | None]] = []
        for conn in wait(list(self._busy), timeout):
            proc, unit = self._busy[conn]  # type: ignore[index]
            try:
                status, value = conn.recv()  # type: ignore[union-attr]
            except (EOFError, OSError):  # the worker died: the unit is lost
                del self._busy[conn]  # type: ignore[arg-type]
                proc.join(1)
                out.append((unit, None))
                continue
            if status == "finding":  # shrunk just now; the unit goes on
                out.append((unit, {"done": False, "findings": [value]}))
                continue
            del self._busy[conn]  # type: ignore[arg-type]
            self._idle.append((proc, conn))  # type: ignore[arg-type]
            if status == "error":
                raise WorkerError(f"unit {_describe(unit)} failed in its worker:\n{value}")
            out.append((unit, value))
        return out

    def abandon(self) -> None:
        for proc, _ in self._busy.values():
            proc.kill()
        for proc, _ in self._busy.values():
            proc.join(5)
        self._busy.clear()

    def close(self) -> None:
        self.abandon()
        for proc, conn in self._idle:
            try:
                conn.send(None)
            except OSError:
                pass
        for proc, _ in self._idle:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        self._idle.clear()


class DaskPool:
    """The same units on an existing Dask distributed cluster (`pip install 'panicfuzz[dask]'`).

    Each worker thread runs one unit at a time; start workers with `--nthreads 1`
    (Hypothesis and the tracer are per process), as many as there are cores.
    """

    def __init__(self, address: str, connect_timeout: float = 10.0):
        try:
            from distributed import Client
        except ImportError:
            from .errors import UsageError

            raise UsageError("--scheduler needs Dask distributed: pip install 'panicfuzz[dask]'") from None
        try:
            self._client = Client(address, timeout=connect_timeout)
        except (OSError, TimeoutError) as e:
            from .errors import UsageError

            raise UsageError(f"--scheduler {address}: cannot connect: {e}") from None
        self.where = address
        info = self._client.scheduler_info()["workers"].values()
        self.workers = max(1, sum(w.get("nthreads", 1) for w in info))
        self._futures: dict[Any, Unit] = {}

    def submit(self, unit: Unit) -> None:
        self._futures[self._client.submit(run_unit, unit, pure=False)] = unit

    def wait(self, timeout: float) -> list[tuple[Unit, dict[str, Any] | None]]:
        from distributed import wait as dask_wait
        from distributed.client import FutureCancelledError

        if not self._futures:
            return []
        try:
            done, _ = dask_wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        out: list[tuple[Unit, dict[str, Any] | None]] = []
        for fut in done:
            unit = self._futures.pop(fut)
            try:
                out.append((unit, fut.result()))
            except FutureCancelledError:
                out.append((unit, None))
            except Exception as e:
                if type(e).__name__ == "KilledWorker":  # its workers died: lost, not broken
                    out.append((unit, None))
                else:
                    raise WorkerError(f"unit {_describe(unit)} failed on the cluster: {type(e).__name__}: {e}") from None
        return out

    def abandon(self) -> None:
        if self._futures:
            self._client.cancel(list(self._futures))
        self._futures.clear()

    def close(self) -> None:
        self.abandon()
        self._client.close()
