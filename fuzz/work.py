"""One unit of campaign work, as plain data in and plain data out.

A unit is (variant, seed, budget): one `search` round with its own seed, or
one bounded `verify` at given bounds. A worker needs only the installed
package and the model reference: it resolves the model, runs the unit and
returns everything as JSON-able data (findings as corpus records), so no
worker ever writes a file and none needs the coordinator's filesystem.

Distinct states: a run's state is the shared state it ended in (every
cell's value, `fingerprint.model_state`) with its outcome kind, kept as a
short digest. Coverage is measured by replaying, under coverage.py, only the
runs that ended in a state new to the campaign (the unit is told the states
already seen): the tracer's 2-5x cost is paid on a few replays, not on the
search.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import sys
import time
from pathlib import Path
from typing import Any, Callable

import attrs

from . import corpus
from .claims import answers
from .machine import NondeterministicModel
from .model import Model
from .bare import execute_bare
from .run import RunResult
from .search import Finding, search, verify
from .strategies import Replay
from .timeline import timeline_of

SEARCH, VERIFY = "search", "verify"


@attrs.frozen
class Unit:
    ref: str  # the model, as `model_ref` wrote it
    key: str  # protocol/variant
    kind: str  # SEARCH | VERIFY
    seed: int  # SEARCH: the round's seed; VERIFY: the bound K (units of one variant never share a seed)
    budget: int  # most schedules
    strategy: str = "hypothesis"
    known: tuple[str, ...] = ()  # signatures masked (already found)
    states: frozenset[str] = frozenset()  # state digests already seen
    bounds: tuple[int, int] = (0, 0)  # VERIFY: (preemptions, injected events)
    coverage: bool = True

    @property
    def variant(self) -> str:
        return self.key.split("/", 1)[1]


def model_ref(model_cls: type[Model]) -> str:
    """How a worker finds `model_cls`: `module:Class` when its package is importable by name, else `file.py:Class`."""
    module = model_cls.__module__
    top = module.split(".")[0]
    if any(getattr(f, "find_spec", None) and f.find_spec(top, None) for f in sys.meta_path):  # not sys.modules
        return f"{module}:{model_cls.__qualname__}"
    return f"{Path(inspect.getfile(model_cls)).resolve()}:{model_cls.__name__}"


@functools.cache
def resolve_ref(ref: str) -> type[Model]:
    module, _, name = ref.rpartition(":")
    if module.endswith(".py"):
        from .loader import resolve

        return resolve(ref)
    return getattr(importlib.import_module(module), name)


def state_digest(result: RunResult) -> str:
    return hashlib.blake2b(repr((result.outcome.kind, result.final)).encode(), digest_size=6).hexdigest()


def run_unit(unit: Unit, on_finding: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run one unit; the result is JSON-able data (see `Unit`).

    `on_finding` gets each finding's corpus record the moment it is shrunk (the
    result lists them again), so that the coordinator can save it before the unit ends.
    """
    model_cls = resolve_ref(unit.ref)
    records: list[dict[str, Any]] = []

    def found(f: Finding) -> None:
        records.append(corpus.record(f, model_cls, timeline_of(model_cls, f.variant, f.result)))
        if on_finding is not None:
            on_finding(records[-1])

    cpu0, t0 = time.process_time(), time.perf_counter()
    out = (_verify if unit.kind == VERIFY else _search)(model_cls, unit, found)
    out["findings"] = records
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["cpu"] = round(time.process_time() - cpu0, 3)
    return out


def _search(model_cls: type[Model], unit: Unit, found: Callable[[Finding], None]) -> dict[str, Any]:
    hits: dict[str, list] = {}
    new_states: dict[str, RunResult] = {}

    def on_run(result: RunResult) -> None:
        sig = result.signature
        if sig is not None:
            hits.setdefault(sig, [result.outcome.kind, 0, list(answers(result.outcome))])[1] += 1
        if result.final is not None:
            digest = state_digest(result)
            if digest not in unit.states and digest not in new_states:
                new_states[digest] = result

    report = search(
        model_cls, unit.variant, strategy=unit.strategy, max_schedules=unit.budget, seed=unit.seed, known=frozenset(unit.known), observe=on_run, on_finding=found
    )
    t0 = time.perf_counter()
    cov = _coverage(model_cls, unit.variant, list(new_states.values())) if unit.coverage else {}
    return {
        "schedules": report.schedules,
        "steps": report.steps,
        "reached": report.reached,
        "accessed": report.accessed,
        "hits": hits,
        "states": sorted(new_states),
        "coverage": cov,
        "coverage_seconds": round(time.perf_counter() - t0, 3),
    }


def _verify(model_cls: type[Model], unit: Unit, found: Callable[[Finding], None]) -> dict[str, Any]:
    p, e = unit.bounds
    v = verify(model_cls, unit.variant, preemptions=p, events=e, max_schedules=unit.budget, on_finding=found)
    hits = {f.signature: [f.result.outcome.kind, 1, list(answers(f.result.outcome))] for f in v.findings}
    return {
        "schedules": v.schedules,
        "steps": 0,
        "reached": 0,  # the verdict's own (v.holds); only search units count toward a variant's vacuity
        "accessed": 0,
        "hits": hits,
        "states": [],
        "coverage": {},
        "coverage_seconds": 0.0,
        "verify": {"bounds": [p, e], "complete": v.complete, "holds": v.holds, "states": v.states},
    }


def _coverage(model_cls: type[Model], variant: str, runs: list[RunResult]) -> dict[str, dict[str, list]]:
    """Lines and arcs of the model's files executed by replaying `runs` (see `modelcov`)."""
    from .modelcov import measure

    def replay() -> None:
        for r in runs:
            try:
                execute_bare(model_cls, variant, Replay(r.trace))
            except NondeterministicModel:  # a run of another scenario (panicfuzz.scenarios): not replayable here
                pass

    return measure(model_cls, replay) if runs else {}
