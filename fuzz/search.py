"""Search a protocol variant for failures, shrink each one, and report.

One search runs rounds: a strategy looks for a failure whose signature is not
yet known; the failure is shrunk (the strategy's own shrinking, then the trace
passes in `shrinkers/`) and replayed with the event log on for its timeline;
its signature is masked and the next round looks for another bug, until the
schedule budget is spent (or after the first, with `first_only`).
"""

from __future__ import annotations

import time
from typing import Callable

import attrs

from shrinkers import shrink

from .model import Model
from .run import RunResult, execute
from .strategies import RandomSource, Replay
from .strategies.hypothesis import hypothesis_search
from .trace import Size

STRATEGIES = ("hypothesis", "random")


@attrs.frozen
class Finding:
    protocol: str
    variant: str
    result: RunResult  # the shrunk run, replayed with its event log
    first: Size  # the failing run as first found, before any shrinking
    strategy: str
    seed: int
    schedules: int  # schedules run until this failure was first hit
    seconds: float  # wall time until then (a statistic, never an input)
    shrink_seconds: float

    @property
    def signature(self) -> str:
        sig = self.result.signature
        assert sig is not None
        return sig


@attrs.frozen
class SearchReport:
    protocol: str
    variant: str
    strategy: str
    seed: int
    schedules: int
    seconds: float
    steps: int
    findings: tuple[Finding, ...]


def search(
    model_cls: type[Model],
    variant: str,
    *,
    strategy: str = "hypothesis",
    max_schedules: int = 1000,
    seed: int = 0,
    known: frozenset[str] = frozenset(),
    first_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SearchReport:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    masked = set(known)
    findings: list[Finding] = []
    counts = {"schedules": 0, "steps": 0}
    start = time.perf_counter()

    def run(decisions) -> RunResult:
        return execute(model_cls, variant, decisions)

    round_no = 0
    while counts["schedules"] < max_schedules:
        first: list[RunResult] = []

        def on_run(result: RunResult) -> None:
            counts["schedules"] += 1
            counts["steps"] += result.size.steps
            sig = result.signature
            if sig is not None and sig not in masked and not first:
                first.append(result)
                hit_at.append((counts["schedules"], time.perf_counter() - start))
            if progress is not None:
                progress(counts["schedules"], max_schedules)

        hit_at: list[tuple[int, float]] = []
        budget = max_schedules - counts["schedules"]
        if strategy == "hypothesis":
            found = hypothesis_search(
                run,
                max_gap=model_cls.max_steps,
                max_examples=budget,
                seed=seed * 1000 + round_no,
                masked=masked,
                on_run=on_run,
            )
        else:
            found = _random_search(run, budget, seed, counts["schedules"], masked, on_run)
        if found is None:
            break
        t0 = time.perf_counter()
        shrunk, _ = shrink(run, found)
        replayed = execute(model_cls, variant, Replay(shrunk.trace), logging=True)
        assert replayed.signature == shrunk.signature, "replay of a shrunk trace diverged"
        findings.append(
            Finding(
                protocol=model_cls.name,
                variant=variant,
                result=replayed,
                first=first[0].size,
                strategy=strategy,
                seed=seed,
                schedules=hit_at[0][0],
                seconds=round(hit_at[0][1], 3),
                shrink_seconds=round(time.perf_counter() - t0, 3),
            )
        )
        masked.add(replayed.signature)
        round_no += 1
        if first_only:
            break
    return SearchReport(
        protocol=model_cls.name,
        variant=variant,
        strategy=strategy,
        seed=seed,
        schedules=counts["schedules"],
        seconds=round(time.perf_counter() - start, 3),
        steps=counts["steps"],
        findings=tuple(findings),
    )


def _random_search(run, budget: int, seed: int, offset: int, masked: set[str], on_run) -> RunResult | None:
    for i in range(offset, offset + budget):
        result = run(RandomSource(seed, i))
        on_run(result)
        if result.signature is not None and result.signature not in masked:
            return result
    return None


__all__ = ["Finding", "STRATEGIES", "SearchReport", "search"]
