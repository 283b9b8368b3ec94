"""Exhaustive search: bounded depth-first search over every decision.

Stateless (as CHESS and loom): each schedule is a fresh run that replays a
prefix of choices and then takes the default action at every new decision,
recording what else was on offer. After the run, the deepest decision with an
untried alternative inside the bounds is advanced and the next run replays up
to it. Bounds: at most K preemptions (kind "p") and E injected events ("i");
other switches (from a CPU that cannot run) are free, as in preemption
bounding (Musuvathi & Qadeer, PLDI 2007).

Pruning: at every new decision that still offers a choice within the
bounds, the source fingerprints the whole machine state (`panicfuzz.fingerprint`)
with the CPU that ran last (it decides the default action and so what a
preemption is). A state seen before with at least the same remaining (K, E)
budget has its whole future explored already (DFS finishes a state's subtree
before it leaves it), so the run ends there: the source raises `CutOff`,
which unwinds the machine like a failure does and hands back the partial
result (`execute_cut`). Hang and livelock verdicts depend on the step count
(the fair continuation starts at `max_steps`), which the fingerprint leaves
out: under pruning they are not complete; deadlocks, invariant failures and
model errors are.
"""

from __future__ import annotations

from typing import Callable, Iterator

import attrs

from ..fingerprint import fingerprint
from ..machine import NondeterministicModel, Outcome
from ..run import RunResult, execute
from ..trace import Action, Inject, Run


class CutOff(BaseException):
    """Ends a run early (BaseException: model code cannot swallow it)."""

    def __init__(self, result: RunResult):
        super().__init__("state already explored")
        self.result = result


def execute_cut(model_cls, variant: str, decisions, **kw) -> RunResult:
    """`execute`, where a run ended by `CutOff` gives its partial result (outcome: held)."""
    try:
        return execute(model_cls, variant, decisions, **kw)
    except CutOff as cut:
        return cut.result


@attrs.define
class Branch:
    """One decision on the DFS path."""

    kinds: str  # per enabled action: d/p/s/i
    chosen: int
    budget: tuple[int, int]  # (preemptions, events) left before this decision

    def left_after(self, j: int) -> tuple[int, int]:
        p, e = self.budget
        k = self.kinds[j]
        return (p - (k == "p"), e - (k == "i"))


class Explorer:
    def __init__(self, run: Callable[[object], RunResult], *, preemptions: int, events: int, prune: bool = True):
        self.run = run
        self.bound = (preemptions, events)
        self.prune = prune
        # The DFS path: one Branch per decision of the last run, root first.
        self.path: list[Branch] = []
        # fingerprint -> budgets it was explored with (none dominates another)
        self.seen: dict[tuple, list[tuple[int, int]]] = {}
        self.schedules = 0
        self.pruned = 0
        self.clipped = False  # an alternative was skipped for the bounds

    @property
    def states(self) -> int:
        return len(self.seen)

    def runs(self) -> Iterator[RunResult]:
        """Every schedule within the bounds, in DFS order (default first)."""
        prefix: list[int] | None = []
        while prefix is not None:
            result = self.run(_DfsSource(self, prefix))
            self.schedules += 1
            yield result
            prefix = self._advance()

    def _advance(self) -> list[int] | None:
        while self.path:
            b = self.path[-1]
            for j in range(b.chosen + 1, len(b.kinds)):
                if min(b.left_after(j)) >= 0:
                    b.chosen = j
                    return [x.chosen for x in self.path]
                self.clipped = True
            self.path.pop()
        return None

    def visit(self, key: tuple, budget: tuple[int, int]) -> bool:
        """Record a state; False when it was explored before with as much budget."""
        seen = self.seen.setdefault(key, [])
        if any(p >= budget[0] and e >= budget[1] for p, e in seen):
            return False
        seen[:] = [(p, e) for p, e in seen if not (budget[0] >= p and budget[1] >= e)] + [budget]
        return True


class _DfsSource:
    def __init__(self, explorer: Explorer, prefix: list[int]):
        self.ex = explorer
        self.prefix = prefix

    def choose(self, machine, enabled: list[Action]) -> Action:
        depth = len(machine.trace)
        path = self.ex.path
        if depth < len(self.prefix):
            if len(enabled) != len(path[depth].kinds):
                raise NondeterministicModel(f"model nondeterministic at decision {depth}: is the model fully deterministic?")
            return enabled[self.prefix[depth]]
        del path[depth:]
        budget = path[-1].left_after(path[-1].chosen) if path else self.ex.bound
        preempt = "p" if enabled[0] == Run(machine.last) else "s"
        branch = Branch("d" + "".join("i" if isinstance(a, Inject) else preempt for a in enabled[1:]), 0, budget)
        # Only a state with a choice left is worth a fingerprint: a straight run
        # from a seen state reaches a seen branching state anyway.
        choice = any(min(branch.left_after(j)) >= 0 for j in range(1, len(enabled)))
        if choice and self.ex.prune and not self.ex.visit((fingerprint(machine), machine.last), budget):
            self.ex.pruned += 1
            raise CutOff(RunResult(Outcome(None, "pruned"), tuple(machine.trace), "".join(machine.kinds)))
        path.append(branch)
        return enabled[0]


def event_capacity(model_cls) -> int:
    """The most injections one run can hold (each event's limit)."""
    return sum(ev.limit for ev in model_cls.events)


def deepening(run, model_cls, *, max_preemptions: int | None = None) -> Iterator[RunResult]:
    """Exhaustive search for `fuzz`: bounds (0, all events), (1, all), ... until nothing is clipped."""
    k = 0
    while max_preemptions is None or k <= max_preemptions:
        ex = Explorer(run, preemptions=k, events=event_capacity(model_cls))
        yield from ex.runs()
        if not ex.clipped:
            return
        k += 1


def minima(
    run, model_cls, signatures, *, max_preemptions: int = 4, max_schedules: int | None = None
) -> dict[str, tuple[int, int] | None]:
    """For each failure signature, the fewest (preemptions, injected events), in that order, of any run failing so.

    None for a signature with no such run within `max_preemptions`, and for
    every signature still open when `max_schedules` runs were spent. Row by
    row: one bounded DFS with k preemptions and every event covers the whole
    row, so a signature it never hits needs more than k; for those it hits,
    (k, 0), (k, 1), ... find the fewest events. One search serves every
    signature of the variant.
    """
    left = set(signatures)
    out: dict[str, tuple[int, int] | None] = dict.fromkeys(signatures)
    spent = 0

    def hits(k: int, e: int, wanted: set[str]) -> set[str]:
        """The wanted signatures hit within (k, e); stops once all are."""
        nonlocal spent
        got: set[str] = set()
        for r in Explorer(run, preemptions=k, events=e).runs():
            spent += 1
            if r.signature in wanted:
                got.add(r.signature)
                if got == wanted:
                    break
            if max_schedules is not None and spent >= max_schedules:
                raise _Spent
        return got

    cap = event_capacity(model_cls)
    try:
        for k in range(max_preemptions + 1):
            row = hits(k, cap, left)
            for e in range(cap + 1):
                if not row:
                    break
                for sig in hits(k, e, row):
                    out[sig] = (k, e)
                    row.discard(sig)
                    left.discard(sig)
            if not left:
                break
    except _Spent:
        pass
    return out


def minimum(run, model_cls, signature: str, **kw) -> tuple[int, int] | None:
    """`minima` of one signature."""
    return minima(run, model_cls, [signature], **kw)[signature]


class _Spent(Exception):
    pass


__all__ = ["CutOff", "Explorer", "deepening", "event_capacity", "execute_cut", "minima", "minimum"]
