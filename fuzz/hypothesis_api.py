"""panicfuzz in a user's own Hypothesis tests: `schedules()` for `@given`, corpus cases as `@example`s.

    import panicfuzz
    from hypothesis import given

    @panicfuzz.corpus_examples("my_model.py:Lock", "fixed", corpus="corpus")  # saved cases first
    @given(panicfuzz.schedules("my_model.py:Lock", "fixed", corpus="corpus"))
    def test_the_fix_holds(s):
        s.check()

A `Schedule` is one schedule of a (model, variant) in one scenario: the
dice seed the default search uses (`panicfuzz.strategies.hypothesis.dice`,
one draw per schedule, swarm deviation rates) or a saved trace. `check()`
runs it and, when the protocol fails, shrinks the failure with the trace
passes of `shrinkers/` (scenario first: `scenarios.simplest`), saves it to
the corpus when one is given, and raises `ProtocolFailure` whose message is
the shrunk run's timeline and the replay command. A failure is shrunk once
per signature: while Hypothesis shrinks its example, every failing example
of that signature reports the same reproducer.

The run happens with Python's tracer off, so Hypothesis' explain phase
names lines of the user's test, never engine lines (and does not slow
every run by tracing the engine).

Everything here honours the test's Hypothesis settings (`max_examples`,
`database`, `derandomize`, profiles): Hypothesis runs the search.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import attrs
from hypothesis import example, strategies as st

from . import corpus as corpus_files
from . import loader, scenarios
from .bare import execute_bare
from .model import Model
from .run import RunResult
from .strategies import Replay
from .strategies.hypothesis import SEEDS, dice
from .trace import parse_action


class ProtocolFailure(AssertionError):
    """The protocol failed under a schedule; the message is the shrunk reproducer's timeline."""


@attrs.frozen(repr=False, eq=False)
class Failure:
    """A failure as `check()` reports it: the shrunk finding, where it was saved, the message."""

    finding: Any  # panicfuzz.search.Finding
    path: Path | None
    message: str


_shrunk: dict[tuple, Failure] = {}  # (model, variant, corpus, signature) -> its shrunk reproducer
_runs: dict[tuple, list] = {}  # (model, variant) -> [schedules run in this process, time of the first]
_lock = threading.Lock()


def tally(model_cls: type[Model], variant: str) -> None:
    """Count one schedule of (model, variant): what a saved case records as how it was found."""
    with _lock:
        _runs.setdefault((scenarios.base(model_cls), variant), [0, time.perf_counter()])[0] += 1


def report(model_cls: type[Model], variant: str, found: RunResult, corpus: Path | None, *, how: str, seed: int = 0) -> Failure:
    """The shrunk, saved reproducer of a failing run (once per signature: cached)."""
    from .search import _shrunk_finding
    from .timeline import timeline_of

    key = (model_cls, variant, corpus, found.signature)
    with _lock:
        if key in _shrunk:
            return _shrunk[key]
    schedules, since = _runs.get((scenarios.base(model_cls), variant), (1, time.perf_counter()))
    finding = _shrunk_finding(model_cls, variant, found, found.size, how, seed, schedules, time.perf_counter() - since)
    bound = scenarios.bind(model_cls, finding.scenario)
    timeline = timeline_of(bound, variant, finding.result)
    path = None
    if corpus is not None:
        path, _ = corpus_files.save(corpus, corpus_files.record(finding, scenarios.base(model_cls), timeline))
        tail = f"saved: {path}\nreplay: panicfuzz replay {path}"
    else:
        trace = tuple(map(str, finding.result.trace))
        again = Schedule(scenarios.base(model_cls), variant, scenario=scenarios.changed(bound), trace=trace)
        tail = f"not saved (no corpus given); replay in Python: {again!r}.check()"
    failure = Failure(finding, path, f"{finding.signature}\n\n{timeline}\n\n{tail}")
    with _lock:
        return _shrunk.setdefault(key, failure)


@contextlib.contextmanager
def untraced() -> Iterator[None]:
    """Python's tracer (Hypothesis' explain phase) off, for the engine's lines and the raise."""
    monitoring = getattr(sys, "monitoring", None)
    if monitoring is not None:  # Python 3.12+: Hypothesis traces through sys.monitoring
        tools = [t for t in range(6) if monitoring.get_tool(t) is not None]
        events = {t: monitoring.get_events(t) for t in tools}
        for t in tools:
            monitoring.set_events(t, 0)
        try:
            yield
        finally:
            for t in tools:
                monitoring.set_events(t, events[t])
        return
    tracer = sys.gettrace()
    sys.settrace(None)
    try:
        yield
    finally:
        sys.settrace(tracer)


def _model(value: Any) -> type[Model]:
    return loader.resolve(value)


@attrs.frozen(repr=False)
class Schedule:
    """One schedule of `model` (a class or any reference `panicfuzz.loader.resolve` takes) and
    `variant`, in `scenario` (parameters not named are at their defaults): dice `seed`, or `trace`
    (actions as a corpus case writes them, replayed strictly). `corpus`: where `check()` saves a
    failure. The repr is code that builds the same schedule."""

    model: type[Model] = attrs.field(converter=_model)
    variant: str
    seed: int = 0
    scenario: dict = attrs.field(factory=dict)
    trace: tuple[str, ...] | None = attrs.field(default=None, converter=attrs.converters.optional(tuple))
    corpus: Path | None = attrs.field(default=None, converter=attrs.converters.optional(Path))
    case: Path | None = None  # the corpus file it was read from

    def __attrs_post_init__(self) -> None:
        self.model.variant_info(self.variant)  # KeyError names a variant the model lacks
        scenarios.validate(self.model, self.scenario)

    @property
    def bound(self) -> type[Model]:
        """The model class running this schedule's scenario."""
        return scenarios.bind(self.model, self.scenario)

    def decisions(self):
        if self.trace is None:
            return dice(self.seed)
        return Replay([parse_action(a) for a in self.trace])

    def run(self) -> RunResult:
        """Run the schedule (no event log: see `check()` for the timeline)."""
        tally(self.model, self.variant)
        with untraced():
            return execute_bare(self.bound, self.variant, self.decisions())

    def failure(self) -> Failure | None:
        """None when the protocol holds under this schedule, else its shrunk (and saved) reproducer."""
        with untraced():
            result = self.run()
            if not result.failed:
                return None
            return report(self.bound, self.variant, result, self.corpus, how="hypothesis-given", seed=self.seed)

    def check(self) -> None:
        """Raise `ProtocolFailure` (timeline and replay command) when the protocol fails."""
        __tracebackhide__ = True  # pytest: the report starts in the user's test
        with untraced():
            failure = self.failure()
            if failure is not None:
                raise ProtocolFailure(failure.message)

    @classmethod
    def from_case(cls, path: str | Path, *, model: Any = None, corpus: str | Path | None = None) -> "Schedule":
        """The schedule of a saved corpus case (its model found as `panicfuzz replay` finds it)."""
        path = Path(path)
        data = corpus_files.load(path)
        model_cls = loader.resolve(model) if model is not None else loader.case_model(data, path)
        bound = scenarios.from_record(model_cls, data, str(path))
        corpus_files.check_model(path, data, bound)
        return cls(model_cls, data["variant"], scenario=scenarios.changed(bound), trace=data["trace"], corpus=corpus, case=path)

    def __repr__(self) -> str:
        if self.case is not None:
            return f"Schedule.from_case({str(self.case)!r})"
        args = [repr(_ref(self.model)), repr(self.variant)]
        if self.trace is not None:
            args.append(f"trace={list(self.trace)!r}")
        else:
            args.append(f"seed={self.seed}")
        if scenario := {k: v for k, v in self.scenario.items() if scenarios.defaults(self.model)[k] != v}:
            args.append(f"scenario={scenario!r}")
        return f"Schedule({', '.join(args)})"


def _ref(model_cls: type[Model]) -> str:
    """How code names the model: its shipped name, else its module or file reference."""
    if any(e.model is model_cls for e in loader.shipped_entries()):
        return model_cls.name
    return loader.reference(model_cls)["ref"]


def schedules(
    model: Any, variant: str, *, scenario: dict | None = None, corpus: str | Path | None = None
) -> st.SearchStrategy[Schedule]:
    """A Hypothesis strategy of `Schedule`s of (`model`, `variant`).

    A model with parameters has a scenario drawn with each schedule (Hypothesis
    shrinks it toward the defaults), unless `scenario` fixes it. `corpus`: where
    `check()` saves a failure (None: nowhere).
    """
    model_cls = loader.resolve(model)
    model_cls.variant_info(variant)
    root = None if corpus is None else Path(corpus)
    if scenario is not None:
        scenarios.validate(model_cls, scenario)
        drawn = st.just(dict(scenario))
    else:
        drawn = scenarios.strategy(model_cls)
        drawn = st.just({}) if drawn is None else drawn
    return st.builds(lambda sc, seed: Schedule(model_cls, variant, seed=seed, scenario=sc, corpus=root), drawn, SEEDS)


def cases(model: Any, variant: str, corpus: str | Path) -> list[Schedule]:
    """The saved cases of (`model`, `variant`) in `corpus`, as Schedules (by file name)."""
    model_cls = loader.resolve(model)
    root = Path(corpus)
    out = []
    for path in corpus_files.files(root / model_cls.name / variant):
        out.append(Schedule.from_case(path, model=model_cls, corpus=root))
    return out


def corpus_examples(model: Any, variant: str, corpus: str | Path) -> Callable:
    """A decorator: every saved case of (`model`, `variant`) in `corpus` as an explicit `@example`
    of a `@given(schedules(...))` test, so Hypothesis tries them first (as it replays its database)."""

    def decorate(test: Callable) -> Callable:
        for case in reversed(cases(model, variant, corpus)):
            test = example(case)(test)
        return test

    return decorate


__all__ = ["ProtocolFailure", "Schedule", "cases", "corpus_examples", "schedules"]
