"""The shrink loop: named, counted passes, then an exhaustive check of minimality.

As in Hypothesis' Shrinker, the passes are one flat list of `ShrinkPass`es
that count their calls and shrinks, and whether a candidate is kept is
deterministic: it must fail with the same signature and be smaller in the
order of design §2 (`panicfuzz.trace.Size`: preemptions, injected events, other
switches, steps, the trace). A pass that succeeds is run again on the new
best; the list is repeated until a whole round keeps nothing.

Then two passes work on the first two keys directly, below the best
reproducer's (p preemptions, i injections) in the size order: fewer than p
preemptions with any number of injected events, or p with at most i-1. The
trace passes cannot trade a preemption for an injected event; these can.
A proof within `QUICK_PROOF` DFS runs comes first (most minima are proven
in a few runs); otherwise `random_below` runs a few seeded random schedules
bounded to each level (cheap, and often enough). `exhaustive_below` runs the bounded DFS
(`panicfuzz.strategies.exhaustive`) for the same signature: first the bounds
with fewer deviations in all, in turn, then one bound per preemption count: a hit
becomes the best (the passes start over, and the check runs again below
it); no hit proves (p, i) minimal (`report.minimal`), unless the schedule
budget ran out first (`minimal` is then None).
"""

from __future__ import annotations

import random
import time
from typing import Callable

import attrs

from panicfuzz.run import RunResult
from panicfuzz.strategies.deviations import Deviations, deviations_of
from panicfuzz.strategies.exhaustive import CutOff, Explorer, event_capacity
from panicfuzz.trace import Action, Inject, Run

from . import passes as P


QUICK_PROOF = 24  # DFS runs of the proof tried before the random probes


@attrs.define
class ShrinkPass:
    name: str
    fn: Callable
    calls: int = 0
    shrinks: int = 0


PASSES: list[Callable] = [
    P.drop_injections,
    P.shorten_stalls,
    P.drop_preemptions,
    P.drop_pairs,
    P.cut_tail,
    P.delta_debug,
    P.move_switches,
    P.move_together,
    P.swap_adjacent,
    P.lower_targets,
    P.renumber_cpus,
]


@attrs.define
class ShrinkReport:
    calls: dict[str, int] = attrs.field(factory=dict)
    shrinks: dict[str, int] = attrs.field(factory=dict)
    # (preemptions, injected) proven the exhaustive minimum; None: not checked
    # (no model given, or a budget ran out first)
    minimal: bool | None = None
    seconds: float = 0.0

    def useful(self) -> list[str]:
        return [name for name, n in self.shrinks.items() if n]

    def useless(self) -> list[str]:
        return [name for name, n in self.calls.items() if n and not self.shrinks.get(name)]

    def summary(self) -> str:
        useful = ", ".join(f"{n} ({self.shrinks[n]}/{self.calls[n]})" for n in self.useful()) or "none"
        useless = ", ".join(f"{n} (0/{self.calls[n]})" for n in self.useless()) or "none"
        proof = "proven minimal" if self.minimal else "minimality not checked"

        return f"Useful passes: {useful}. Useless passes: {useless}. Preemptions/injections {proof}."

    def as_dict(self) -> dict:
        return {
            "calls": dict(self.calls),
            "shrinks": dict(self.shrinks),
            "useful": self.useful(),
            "useless": self.useless(),
            "minimal": self.minimal,
        }


@attrs.frozen
class _Context:
    symmetric_groups: tuple[tuple[int, ...], ...]
    stall_durations: dict[str, tuple[int, ...]]  # each stall's allowed durations (ns)


def shrink(
    run: Callable[[object], RunResult],
    result: RunResult,
    *,
    model=None,
    max_calls: int = 2000,
    exhaustive_budget: int = 1000,
) -> tuple[RunResult, ShrinkReport]:
    """Minimise a failing run, keeping its failure signature.

    `run(decisions) -> RunResult` runs one schedule of the model. `model` (the
    Model class, optional) enables CPU renumbering (`symmetric_cpus`) and the
    exhaustive minimality check.
    """
    t0 = time.perf_counter()
    target = result.signature
    best = result
    report = ShrinkReport()
    ctx = _Context(P.symmetric_groups(model), {st.name: st.durations for st in getattr(model, "stalls", ())})
    passes = [ShrinkPass(f.__name__, f) for f in PASSES]
    tried: set[tuple] = set()
    budget = [max_calls]

    def attempt(devs: P.Devs, sp: ShrinkPass) -> bool:
        nonlocal best
        key = tuple(devs)
        if key in tried or budget[0] <= 0:
            return False
        tried.add(key)
        budget[0] -= 1
        sp.calls += 1
        got = run(Deviations(devs))
        if got.signature == target and got.size < best.size:
            best = got
            sp.shrinks += 1
            return True
        return False

    checked: set[tuple[int, int]] = set()
    while budget[0] > 0:
        improved = False
        for sp in passes:
            while any(attempt(c, sp) for c in sp.fn(deviations_of(best.trace, best.kinds), ctx)):
                improved = True
        if improved:
            continue
        level = (best.size.preemptions, best.size.injected)
        if model is None or level in checked:
            break
        checked.add(level)
        # A proof in a few DFS runs first: when there is no smaller reproducer the
        # random probes cannot find one, and the DFS often says so at once. A hit
        # here is dropped, so that the probes and the full DFS below choose as before.
        quick, proven = _exhaustive_below(run, model, best, QUICK_PROOF)
        report.calls["exhaustive_below"] = report.calls.get("exhaustive_below", 0) + quick[1]
        if quick[0] is None and proven:
            report.shrinks.setdefault("exhaustive_below", 0)
            report.shrinks.setdefault("random_below", 0)
            report.calls.setdefault("random_below", 0)
            report.minimal = True
            break
        probe = _random_below(run, model, best)
        report.calls["random_below"] = report.calls.get("random_below", 0) + probe[1]
        report.shrinks.setdefault("random_below", 0)
        if probe[0] is not None:
            best = probe[0]
            report.shrinks["random_below"] += 1
            checked.discard(level)
            continue
        found, complete = _exhaustive_below(run, model, best, exhaustive_budget)
        report.calls["exhaustive_below"] = report.calls.get("exhaustive_below", 0) + found[1]
        report.shrinks.setdefault("exhaustive_below", 0)
        if found[0] is not None:
            best = found[0]
            report.shrinks["exhaustive_below"] += 1
            continue
        report.minimal = complete or None
        break
    for sp in passes:
        report.calls[sp.name] = sp.calls
        report.shrinks[sp.name] = sp.shrinks
    report.seconds = round(time.perf_counter() - t0, 3)
    return best, report


class _BoundedRandom:
    """Seeded random deviations that never exceed `preemptions` and `events`."""

    def __init__(self, seed: str, rate: float, preemptions: int, events: int):
        self.rng = random.Random(f"panicfuzz/shrink/{seed}")
        self.rate = rate
        self.left = {"p": preemptions, "i": events, "s": 1 << 30}

    def choose(self, machine, enabled: list[Action]) -> Action:
        if len(enabled) == 1 or self.rng.random() >= self.rate:
            return enabled[0]
        preempt = "p" if enabled[0] == Run(machine.last) else "s"
        kinds = ["i" if isinstance(a, Inject) else preempt for a in enabled[1:]]
        allowed = [j for j, k in enumerate(kinds) if self.left[k] > 0]
        if not allowed:
            return enabled[0]
        j = self.rng.choice(allowed)
        self.left[kinds[j]] -= 1
        return enabled[1 + j]


def _random_below(run, model, best: RunResult, probes: int = 150) -> tuple[RunResult | None, int]:
    """Cheap probes before the proof: random runs bounded to each level below (p, i), smallest first.

    The passes cannot trade a preemption for an injected event; a bounded
    random run often finds such a smaller reproducer in a few runs where the
    DFS would need hundreds.
    """
    p, i = best.size.preemptions, best.size.injected
    cap = event_capacity(model)
    levels = [(k, e) for k in range(p) for e in range(cap + 1)] + [(p, e) for e in range(i)]
    per_level = max(3, probes // max(1, len(levels)))
    spent = 0
    for k, e in levels:
        for n in range(per_level):
            r = run(_BoundedRandom(f"{k}/{e}/{n}", (0.3, 0.1, 0.03)[n % 3], k, e))
            spent += 1
            if r.signature == best.signature and r.size < best.size:
                return r, spent
    return None, spent


def _exhaustive_below(run, model, best: RunResult, budget: int) -> tuple[tuple[RunResult | None, int], bool]:
    """A run with the same signature and fewer (preemptions, injections), by bounded DFS."""

    def run_cut(source) -> RunResult:
        try:
            return run(source)
        except CutOff as cut:
            return cut.result

    # Below (p, i) in the size order: fewer than p preemptions with any number
    # of events, or p with at most i-1. First a search of the bounds with fewer
    # deviations in all, one run of each in turn (a smaller reproducer is
    # usually a few deviations away, and one big bound must not starve the
    # others). Then the proof: one bound per preemption row, as the DFS of a
    # bound covers every smaller bound (skipped when the search completed a
    # bound that covers it). A hit becomes the best and the next call looks
    # below it, so the last answer is the minimum.
    p, i = best.size.preemptions, best.size.injected
    cap = event_capacity(model)
    search = [(k, e) for k in range(p + 1) for e in range(cap + 1) if k + e < p + i]
    proof = [(k, cap) for k in range(p)] + ([(p, i - 1)] if i else [])
    done: list[tuple[int, int]] = []
    spent = 0

    def hit(r: RunResult) -> bool:
        nonlocal spent
        spent += 1
        return r.signature == best.signature and r.size < best.size

    open_ = {b: Explorer(run_cut, preemptions=b[0], events=b[1]).runs() for b in search}
    while open_:
        for b, runs in list(open_.items()):
            r = next(runs, None)
            if r is None:
                done.append(b)
                del open_[b]
            elif hit(r):
                return (r, spent), True
            elif spent >= budget:
                return (None, spent), False
    for k, e in proof:
        if any(dk == k and de >= e for dk, de in done):
            continue
        for r in Explorer(run_cut, preemptions=k, events=e).runs():
            if hit(r):
                return (r, spent), True
            if spent >= budget:
                return (None, spent), False
    return (None, spent), True
