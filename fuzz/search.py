"""Search a protocol variant for failures, shrink each one, and report.

One search runs rounds: a strategy looks for a failure whose signature is not
yet known; the failure is shrunk by the trace passes in `shrinkers/` (the
same for every strategy) and replayed with the event log on for its timeline;
its signature is masked and the next round looks for another bug, until the
schedule budget is spent (or after the first, with `first_only`).

`verify` is the other question: not "find a bug" but "is there none within
K preemptions and E injected events?", answered by the exhaustive DFS.
"""

from __future__ import annotations

import itertools
import time
from typing import Callable, Iterable, Iterator

import attrs
import hypothesis

from panicfuzz.shrinkers import shrink

from . import scenarios, watchdog
from .loader import resolve
from .model import Model
from .bare import execute_bare
from .run import RunResult, execute
from .strategies import RandomSource, Replay
from .strategies.exhaustive import UNBOUNDED, Explorer, deepening, execute_cut
from .strategies.hypothesis import SWEEP_BOUNDS, hypothesis_search
from .strategies.pct import PctSearch
from .trace import Size

STRATEGIES = ("hypothesis", "random", "pct", "exhaustive")


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
    shrink_report: object = None  # panicfuzz.shrinkers.ShrinkReport: passes used, minimality proven
    scenario: dict = attrs.field(factory=dict)  # the full scenario of the shrunk run (panicfuzz.scenarios)

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
    known_hits: dict[str, int] = attrs.field(factory=dict)  # schedules per signature of `known` or a skipped kind
    reached: int = 0  # schedules that reached the model's goal
    accessed: int = 0  # schedules in which a CPU read or wrote shared state
    vacuous: str | None = None  # why the schedules run prove nothing (`vacuity`), else None


def vacuity(schedules: int, reached: int, accessed: int, goal: str = "the goal") -> str | None:
    """Why `schedules` runs prove nothing about the model, or None.

    A run that never reaches the goal, or in which no CPU touches shared state,
    cannot go wrong in the way the model claims to rule out: a variant whose
    every run is like that "holds" vacuously (a `cpu_main` that returns at once).
    """
    if not schedules:
        return None
    if not reached:
        return f"{goal} was not reached in any of {schedules} schedules"
    if not accessed:
        return f"no CPU read or wrote shared state in any of {schedules} schedules"
    return None


def search(
    model_cls: type[Model] | str,
    variant: str,
    *,
    strategy: str = "hypothesis",
    max_schedules: int | None = 1000,
    seed: int | None = 0,
    known: frozenset[str] = frozenset(),
    first_only: bool = False,
    progress: Callable[[int, int], None] | None = None,
    depth: int = 2,
    on_finding: Callable[[Finding], None] | None = None,
    hypothesis_settings=None,
    observe: Callable[[RunResult], None] | None = None,
    skip_kinds: frozenset[str] = frozenset(),
) -> SearchReport:
    """`model_cls` is a model class or a reference (`panicfuzz.loader.resolve`); `depth` is PCT's
    bug depth (`--strategy pct`); the other strategies ignore it.

    Failures with a signature in `known` or a kind in `skip_kinds` are counted (`known_hits`),
    never shrunk or reported as findings.

    A model with parameters (`panicfuzz.scenarios`) that is not bound to a
    scenario has one drawn with each schedule by the hypothesis strategy; the
    others run it at its defaults. `hypothesis_settings` (a Hypothesis
    `settings`, e.g. the current profile) are honoured by the hypothesis
    strategy: its database and derandomize (`seed=None`: Hypothesis' own
    randomness); None, the command line's: no database, nothing written.
    `max_schedules=None`: their `max_examples` (the current profile's without them).

    `on_finding` is called with each finding the moment it is shrunk, before the search goes on
    (so a caller can save it: an interrupt later in the search loses nothing already found).
    `observe` is called with every run of the search, its `final` state filled in.
    """
    model_cls = resolve(model_cls)
    if max_schedules is None:
        max_schedules = (hypothesis_settings or hypothesis.settings()).max_examples
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    masked = set(known)
    known_hits: dict[str, int] = {}
    findings: list[Finding] = []
    counts = {"schedules": 0, "steps": 0, "reached": 0, "accessed": 0}
    start = time.perf_counter()

    final = observe is not None

    def run(decisions, scenario: dict | None = None) -> RunResult:
        return execute_bare(model_cls if scenario is None else scenarios.bind(model_cls, scenario), variant, decisions, final_state=final)

    # Runs of the other strategies (and hypothesis' sweep), as one stream that later rounds continue.
    runs: Iterator[RunResult]
    if strategy == "random":
        runs = (run(RandomSource(seed or 0, i)) for i in itertools.count())
    elif strategy == "pct":
        runs = _pct_runs(run, PctSearch(seed or 0, depth, model_cls.ncpus))
    elif strategy == "exhaustive":
        runs = deepening(lambda source: execute_cut(model_cls, variant, source, final_state=final), model_cls)
    else:  # the bounded sweep beside Hypothesis (see panicfuzz.strategies.hypothesis)
        p, e = SWEEP_BOUNDS
        runs = Explorer(lambda source: execute_cut(model_cls, variant, source, final_state=final), preemptions=p, events=e).runs()
    round_no = 0
    while counts["schedules"] < max_schedules:
        first: list[RunResult] = []

        def on_run(result: RunResult) -> None:
            counts["schedules"] += 1
            counts["steps"] += result.size.steps
            counts["reached"] += result.reached
            counts["accessed"] += result.accesses > 0
            sig = result.signature
            if sig in known or result.outcome.kind in skip_kinds:
                masked.add(sig)  # before the strategy looks at it: never a finding
                known_hits[sig] = known_hits.get(sig, 0) + 1
            elif sig is not None and sig not in masked and not first:
                first.append(result)
                hit_at.append((counts["schedules"], time.perf_counter() - start))
            if observe is not None:
                observe(result)
            if progress is not None:
                progress(counts["schedules"], max_schedules)

        hit_at: list[tuple[int, float]] = []
        budget = max_schedules - counts["schedules"]
        bound = model_cls
        if strategy == "hypothesis":
            hit = hypothesis_search(
                run, max_examples=budget, seed=None if seed is None else seed * 1000 + round_no, masked=masked,
                on_run=on_run, sweep=runs, scenarios=scenarios.strategy(model_cls), parent=hypothesis_settings,
                key=_database_key(model_cls, variant, masked),
            )
            found, scenario = hit if hit is not None else (None, None)
            bound = model_cls if scenario is None else scenarios.bind(model_cls, scenario)
        else:
            found = _first_new(runs, budget, masked, on_run)
        if found is None:
            break
        finding = _shrunk_finding(bound, variant, found, first[0].size, strategy, seed, *hit_at[0])
        findings.append(finding)
        masked.update((finding.signature, found.signature))  # the same bug in the scenario it was found in
        if on_finding is not None:
            on_finding(finding)
        round_no += 1
        if first_only or watchdog.is_stuck(found.outcome):  # a stuck model: every run may cost a budget
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
        known_hits=known_hits,
        reached=counts["reached"],
        accessed=counts["accessed"],
        vacuous=vacuity(counts["schedules"], counts["reached"], counts["accessed"], _goal(model_cls)),
    )


def _goal(model_cls: type[Model]) -> str:
    return f"the goal ({model_cls.goal or 'every CPU returns'})"


def _database_key(model_cls: type[Model], variant: str, masked: set[str]) -> bytes:
    """Where Hypothesis' database keeps this search's failing examples: one key per question asked."""
    return "/".join(["panicfuzz", model_cls.name, variant, scenarios.describe(model_cls), *sorted(masked)]).encode()


def _shrunk_finding(model_cls, variant, found: RunResult, first: Size, strategy: str, seed: int, schedules: int, seconds: float) -> Finding:
    """Shrink a failing run (its scenario first, `scenarios.simplest`, then its trace, `shrinkers`)
    and replay it with its event log, as a Finding."""
    t0 = time.perf_counter()
    if watchdog.is_stuck(found.outcome):  # every candidate run could cost a watchdog budget: kept as found
        shrunk, report = found, None
    else:
        model_cls, found = scenarios.simplest(model_cls, variant, found)

        def run(decisions) -> RunResult:
            return execute_bare(model_cls, variant, decisions)

        shrunk, report = shrink(run, found, model=model_cls)
    replayed = execute(model_cls, variant, Replay(shrunk.trace), logging=True)
    assert replayed.signature == shrunk.signature, "replay of a shrunk trace diverged"
    return Finding(
        protocol=model_cls.name,
        variant=variant,
        result=replayed,
        first=first,
        strategy=strategy,
        seed=seed,
        schedules=schedules,
        seconds=round(seconds, 3),
        shrink_seconds=round(time.perf_counter() - t0, 3),
        shrink_report=report,
        scenario=scenarios.scenario_of(model_cls),
    )


@attrs.frozen
class Verdict:
    """The answer of bounded verification: counterexamples, or none within the bounds."""

    protocol: str
    variant: str
    preemptions: float  # UNBOUNDED for the whole state space (verify --complete)
    events: float
    schedules: int  # runs executed (each a distinct schedule prefix)
    states: int  # distinct machine states at decision points
    seconds: float
    complete: bool  # every schedule within the bounds was explored (or pruned as seen)
    findings: tuple[Finding, ...]
    reduced: bool = True  # with partial-order reduction (panicfuzz.strategies.exhaustive)
    # Some alternative was left out for the bounds. False: every reachable state within the
    # step budget was explored, the bounds were not binding (always so for --complete).
    binding: bool = True
    reached: int = 0  # schedules that reached the model's goal (a pruned one never counts)
    accessed: int = 0  # schedules in which a CPU read or wrote shared state
    vacuous: str | None = None  # why the schedules prove nothing (`vacuity`), else None

    @property
    def whole_space(self) -> bool:
        return self.complete and not self.binding

    @property
    def holds(self) -> bool:
        """Every schedule within the bounds was explored, none failed, and they tested something."""
        return self.complete and not self.findings and self.vacuous is None


def verify(
    model_cls: type[Model] | str,
    variant: str,
    *,
    preemptions: float,
    events: float,
    max_schedules: int | None = None,
    first_only: bool = True,
    progress: Callable[[int, int], None] | None = None,
    on_finding: Callable[[Finding], None] | None = None,
    reduce: bool = True,
) -> Verdict:
    """Explore every schedule with at most `preemptions` preemptions and `events` injected events
    (`model_cls`: a model class or a reference, as for `search`).

    `on_finding` is called with each counterexample the moment it is shrunk (as in `search`).
    `reduce=False` turns the partial-order reduction off (same answer, more schedules).
    Both bounds UNBOUNDED (`verify --complete`): the whole state space, each state once.
    """
    model_cls = resolve(model_cls)
    start = time.perf_counter()
    explorer = Explorer(lambda source: execute_cut(model_cls, variant, source), preemptions=preemptions, events=events, reduce=reduce)
    masked: set[str] = set()
    findings: list[Finding] = []
    complete = True
    reached = accessed = 0
    for result in explorer.runs():
        reached += result.reached
        accessed += result.accesses > 0
        if progress is not None:
            progress(explorer.schedules, explorer.states)
        sig = result.signature
        if sig is not None and sig not in masked:
            elapsed = time.perf_counter() - start
            findings.append(_shrunk_finding(model_cls, variant, result, result.size, "exhaustive", 0, explorer.schedules, elapsed))
            masked.add(sig)
            if on_finding is not None:
                on_finding(findings[-1])
            if first_only or watchdog.is_stuck(result.outcome):
                break
        if max_schedules is not None and explorer.schedules >= max_schedules:
            complete = False
            break
    return Verdict(
        protocol=model_cls.name,
        variant=variant,
        preemptions=preemptions,
        events=events,
        schedules=explorer.schedules,
        states=explorer.states,
        seconds=round(time.perf_counter() - start, 3),
        complete=complete,
        findings=tuple(findings),
        reduced=reduce,
        binding=explorer.clipped,
        reached=reached,
        accessed=accessed,
        vacuous=vacuity(explorer.schedules, reached, accessed, _goal(model_cls)),
    )


def _first_new(runs: Iterable[RunResult], budget: int, masked: set[str], on_run) -> RunResult | None:
    for result in itertools.islice(runs, budget):
        on_run(result)
        if result.signature is not None and result.signature not in masked:
            return result
    return None


def _pct_runs(run, pct: PctSearch):
    for i in itertools.count():
        result = run(pct.source(i))
        pct.observe(len(result.trace) - result.kinds.count("f"))
        yield result


__all__ = ["Finding", "STRATEGIES", "SearchReport", "UNBOUNDED", "Verdict", "search", "vacuity", "verify"]
