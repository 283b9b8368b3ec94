"""The watchdog: model code that never reaches a schedule point becomes a model error, not a hang.

Between two schedule points a CPU runs plain Python: the model's local code.
If that code never awaits a primitive (`while True: pass`), no oracle and no
step budget can see it, and the tool would hang silently. While a machine
runs, one daemon thread per process polls its step counter; when the counter
has not moved for `budget()` seconds of wall clock (default 10, or
$PANICFUZZ_STEP_BUDGET), it raises `Stuck` inside the running thread, at the
line it is executing. The machine reports that as a model error naming the
function and line ("stuck at hpet.py:42 in read_hpet()").

Wall clock is used only here, and only to turn a hang into an error: a run
that reaches its schedule points within the budget behaves exactly as
without the watchdog, so a verdict never depends on the speed of the
machine. The budget is per step (thousands of times what any step of the
shipped models takes); raise it for a model whose steps are slow by design.
Code blocked inside a C call (`time.sleep`) is stopped when it returns to
Python.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import threading
import time
from typing import Any, Iterator

from .errors import UsageError

ENV = "PANICFUZZ_STEP_BUDGET"
DEFAULT = 10.0


class Stuck(Exception):
    """Raised by the watchdog inside model code that ran `budget()` seconds without a schedule point."""

    def __init__(self) -> None:
        super().__init__(f"no schedule point for {budget():g} s (Python code that never awaits a primitive; ${ENV} sets the budget)")


def parse_budget(text: str, what: str = ENV) -> float:
    """Seconds, a finite number > 0; raises `UsageError`."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{what} must be a number of seconds > 0, not {text!r}")
    return value


_budget: float | None = None


def budget() -> float:
    """The per-step wall-clock budget in seconds."""
    global _budget
    if _budget is None:
        _budget = parse_budget(os.environ[ENV]) if os.environ.get(ENV) else DEFAULT
    return _budget


@contextlib.contextmanager
def step_budget(seconds: float) -> Iterator[None]:
    """Run with another budget (tests, or a model whose steps are slow by design)."""
    global _budget
    saved, _budget = _budget, seconds
    try:
        yield
    finally:
        _budget = saved


def is_stuck(outcome: Any) -> bool:
    """Whether a run's outcome is the watchdog's model error."""
    return outcome.signature_parts[:2] == ("model-error", "stuck")


# thread id -> the machine it runs; the poller keeps [machine, steps, since] per thread.
_running: dict[int, Any] = {}
_lock = threading.Lock()
_poller: threading.Thread | None = None


@contextlib.contextmanager
def watching(machine: Any) -> Iterator[None]:
    """Watch `machine.steps` while the block runs in this thread."""
    global _poller
    tid = threading.get_ident()
    _running[tid] = machine
    if _poller is None:
        budget()  # a bad $PANICFUZZ_STEP_BUDGET is a UsageError here, not in the poller
        with _lock:
            if _poller is None:
                _poller = threading.Thread(target=_poll, name="panicfuzz-watchdog", daemon=True)
                _poller.start()
    try:
        yield
    finally:
        _running.pop(tid, None)


def _poll() -> None:
    seen: dict[int, list] = {}
    while True:
        limit = budget()
        time.sleep(min(max(limit / 4, 0.01), 1.0))
        now = time.monotonic()
        for tid, machine in list(_running.items()):
            last = seen.get(tid)
            if last is None or last[0] is not machine or last[1] != machine.steps:
                seen[tid] = [machine, machine.steps, now]
            elif now - last[2] >= limit and _running.get(tid) is machine:
                # The GIL is held here: the thread is still where it was stuck.
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(tid), ctypes.py_object(Stuck))
                last[2] = now  # again after another budget, if the model swallowed it
        for tid in set(seen) - set(_running):
            del seen[tid]
