"""One run of a model: the pure function (protocol, variant, config, decisions) -> result.

`execute` is one run on the trio machine; `execute_all` many, in one `trio.run()`
(`panicfuzz.host`: the per-run cost of trio paid once), with the same results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator

import attrs

from .fingerprint import model_state
from .machine import Machine, Outcome
from .model import Model
from .oracles import signature
from .trace import Action, Size, measure


@attrs.frozen
class RunResult:
    outcome: Outcome
    trace: tuple[Action, ...]
    kinds: str
    log: tuple[tuple, ...] = ()
    final: tuple | None = None  # the shared state the run ended in (`final_state=True`), else None
    clock: tuple[int, ...] = ()  # virtual time (ns) of each log entry
    notes: tuple[tuple[int, int, str], ...] = ()  # timeline notes: (log position, cpu, text)
    # For vacuity (a search whose runs never reach the goal, or touch nothing shared, proves nothing):
    reached: bool = False  # the model's goal was reached (`Machine.reached`)
    accesses: int = 0  # reads and writes of shared cells by CPUs

    @property
    def failed(self) -> bool:
        return self.outcome.kind is not None

    @property
    def signature(self) -> str | None:
        if self.outcome.kind is None:
            return None
        return signature(self.outcome.kind, self.outcome.signature_parts)

    @property
    def size(self) -> Size:
        return measure(list(self.trace), self.kinds)

    def log_digest(self) -> str:
        blob = json.dumps(self.log, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()


def execute(
    model_cls: type[Model], variant: str, decisions, *, max_steps: int | None = None, logging: bool = False, final_state: bool = False
) -> RunResult:
    """Build a fresh model and machine, run them to the end, and report."""
    model = model_cls(variant)
    m = Machine(model, decisions, max_steps=max_steps or model_cls.max_steps, logging=logging)
    m.run()
    return result_of(m, final_state)


def execute_all(
    model_cls: type[Model], variant: str, sources: Iterable, *, max_steps: int | None = None, logging: bool = False, final_state: bool = False
) -> list[RunResult]:
    """`execute` of each decision source in turn, all in one `trio.run()`; the results in order.

    `sources` is consumed lazily, so a generator may choose the next source from the
    results so far (the list grows as each run ends).
    """
    from .host import HostedMachine, run_all

    results: list[RunResult] = []

    def machines() -> Iterator[HostedMachine]:
        for decisions in sources:
            yield HostedMachine(model_cls(variant), decisions, max_steps=max_steps or model_cls.max_steps, logging=logging)

    run_all(machines(), lambda m: results.append(result_of(m, final_state)))
    return results


def result_of(m: Machine, final_state: bool = False) -> RunResult:
    """The result of a machine that has run (`final_state`: with the shared state it ended in)."""
    assert m.outcome is not None
    final = model_state(m.model) if final_state else None
    return RunResult(
        m.outcome, tuple(m.trace), "".join(m.kinds), tuple(m.log), final, clock=tuple(m.clock), notes=tuple(m.notes),
        reached=m.reached(), accesses=m.accesses,
    )
