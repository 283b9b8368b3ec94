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
preemption is), unless that CPU has finished (then every switch is free). A state seen before with at least the same remaining (K, E)
budget has its whole future explored already (DFS finishes a state's subtree
before it leaves it), so the run ends there: the source raises `CutOff`,
which unwinds the machine like a failure does and hands back the partial
result (`execute_cut`). Hang and livelock verdicts depend on the step count
(the fair continuation starts at `max_steps`), which the fingerprint leaves
out: under pruning they are not complete; deadlocks, invariant failures and
model errors are.

Partial-order reduction (`reduce`, on by default): sleep sets (Godefroid,
"Partial-Order Methods for the Verification of Concurrent Systems", LNCS 1032,
1996). An alternative explored at a decision falls asleep for its later
siblings and stays asleep down their subtrees while it commutes with what they
do; an asleep action is never taken, because the same (state, last CPU,
remaining budget) was reached in the subtree explored first. Dependence comes
from the targets of each injection, what each step or injection touched
(`Machine.footprint`: the CPUs it raised an interrupt on, the cells it wrote)
and from the bounds: a swap must keep who ran last and every decision's cost,
since a bound makes otherwise independent steps dependent (Coons, Musuvathi &
McKinley, "Bounded partial-order reduction", OOPSLA 2013). So two steps of
different CPUs never commute here (their order decides who ran last, hence
which later switch is a preemption); what commutes is an injected event that
writes no cell with a step of a CPU it does not target (the step raises
nothing on a target, the CPU that ran last is not a blocked target, the clock
does not jump) or with a step of its target while it stays masked there, and
two such injections of different events on different CPUs. A stall commutes with
nothing: it changes what every later decision offers (its CPU cannot run) and when
the clock jumps, so nothing stays asleep across it and it never falls asleep
itself. Guards of
injectable events must not read pending interrupts (they read cells and CPU
flags). A state is pruned by its fingerprint only when it was explored with
at least the same budget and no more actions asleep (a sleep set stored with
each visit, as Godefroid's stateful search does). A differential test checks
every shipped model: the same failure signatures with and without the
reduction (tests/test_reduction.py). The dynamic variants (Flanagan &
Godefroid, POPL 2005; source sets and wakeup trees, Abdulla et al., POPL 2014)
need steps of different CPUs to commute, which the preemption bound forbids
here; they would pay only in the unbounded search (`verify --complete`), which
would need every step's reads and writes (models also read cells directly).

Soundness caveat (as before the reduction): the fingerprint leaves out the
step count, so a state first reached close to `max_steps` has its future
explored only until the fair continuation takes over there.
"""

from __future__ import annotations

from typing import Callable, Iterator

import attrs

from ..cells import Cell
from ..fingerprint import fingerprint
from ..machine import Kind, NondeterministicModel, Outcome, Poll, Spin
from ..bare import execute_bare
from ..run import RunResult
from ..trace import Action, Inject, Run, StallFor


class CutOff(BaseException):
    """Ends a run early (BaseException: model code cannot swallow it)."""

    def __init__(self, result: RunResult):
        super().__init__("state already explored")
        self.result = result


def execute_cut(model_cls, variant: str, decisions, **kw) -> RunResult:
    """`execute` (on the bare driver: the same run, faster), where a run ended by `CutOff`
    gives its partial result (outcome: held)."""
    try:
        return execute_bare(model_cls, variant, decisions, **kw)
    except CutOff as cut:
        return cut.result


@attrs.define
class Branch:
    """One decision on the DFS path."""

    actions: tuple[Action, ...]  # what was on offer, default first
    kinds: str  # per enabled action: d/p/s/i
    chosen: int
    budget: tuple[int, int]  # (preemptions, events) left before this decision
    last: int  # the CPU that ran last (whose preemption a switch is)
    last_runnable: bool
    now: int  # virtual time at this decision
    flags: tuple  # per CPU: (irqs off, NMIs blocked, spinning): what a masked interrupt commutes with
    # Sleep set (Godefroid 1996): alternatives whose whole future is explored
    # from an equivalent (state, last CPU, budget) elsewhere -> for a Run, what
    # was on offer right after it there (None for an injection).
    sleep: dict = attrs.field(factory=dict)
    # Alternatives explored from here -> (what was on offer right after each, whether it wrote a cell).
    done: dict = attrs.field(factory=dict)

    def left_after(self, j: int) -> tuple[int, int]:
        p, e = self.budget
        k = self.kinds[j]
        return (p - (k == "p"), e - (k == "i"))

    def open(self, j: int) -> bool:
        return min(self.left_after(j)) >= 0 and self.actions[j] not in self.sleep


UNBOUNDED = float("inf")


class Explorer:
    """Bounded DFS; with `preemptions` and `events` UNBOUNDED, the whole state space, each
    state (without who ran last, which then costs nothing) explored once."""

    def __init__(self, run: Callable[[object], RunResult], *, preemptions: float, events: float, prune: bool = True, reduce: bool = True):
        self.run = run
        self.bound = (preemptions, events)
        self.unbounded = preemptions == UNBOUNDED and events == UNBOUNDED
        self.prune = prune
        self.reduce = reduce
        # The DFS path: one Branch per decision of the last run, root first.
        self.path: list[Branch] = []
        # (fingerprint, last CPU) -> [(budget, sleep set)] it was explored with (none dominates another)
        self.seen: dict[tuple, list[tuple[tuple[int, int], frozenset]]] = {}
        self.schedules = 0
        self.pruned = 0
        self.slept = 0  # alternatives skipped as asleep
        self.clipped = False  # an alternative was skipped for the bounds: they were binding

    @property
    def states(self) -> int:
        return len(self.seen)

    def runs(self) -> Iterator[RunResult]:
        """Every schedule within the bounds, in DFS order (default first), up to the reduction."""
        prefix: list[int] | None = []
        while prefix is not None:
            result = self.run(_DfsSource(self, prefix))
            self.schedules += 1
            yield result
            prefix = self._advance()

    def _advance(self) -> list[int] | None:
        while self.path:
            b = self.path[-1]
            b.done.setdefault(b.actions[b.chosen], (frozenset(), True))
            for j in range(b.chosen + 1, len(b.kinds)):
                if b.actions[j] in b.sleep:
                    self.slept += 1
                elif min(b.left_after(j)) >= 0:
                    b.chosen = j
                    return [x.chosen for x in self.path]
                else:
                    self.clipped = True
            self.path.pop()
        return None

    def visit(self, key: tuple, budget: tuple[int, int], sleep: frozenset = frozenset()) -> bool:
        """Record a state; False when it was explored before with as much budget and no more asleep."""
        seen = self.seen.setdefault(key, [])
        if any(p >= budget[0] and e >= budget[1] and z <= sleep for (p, e), z in seen):
            return False
        seen[:] = [(b, z) for b, z in seen if not (budget[0] >= b[0] and budget[1] >= b[1] and sleep <= z)] + [(budget, sleep)]
        return True


def _targets(action: Inject, ncpus: int) -> frozenset[int]:
    return frozenset(range(ncpus)) if action.cpu is None else frozenset((action.cpu,))


def _inherited(parent: Branch, machine, footprint: set | None) -> dict:
    """The sleep set after the parent's chosen action `x`: what stays asleep across it.

    Only swaps that keep (state, last CPU, budget) are used, so the preemption
    and event bounds stay sound (the bound makes otherwise independent steps
    dependent: Coons, Musuvathi & McKinley, OOPSLA 2013). An injection (which
    changes neither the running CPU nor who ran last) commutes with a step of
    a CPU it does not target, if that step raises nothing on a target, the
    CPU that ran last is not a target blocked until then (its preemption
    would be counted differently), and the clock did not jump; and with a
    step of its target while it is masked there (an IRQ with interrupts off,
    an NMI while NMIs are blocked), neither side spinning (raising an
    interrupt wakes a spinner). A step never commutes with another CPU's step
    here: the order decides who ran last. An injection that writes shared
    state itself (a device's state asserted with it) commutes with nothing.
    """
    x = parent.actions[parent.chosen]
    if machine.now != parent.now or footprint is None or isinstance(x, StallFor):
        return {}
    if isinstance(x, Inject) and any(isinstance(k, Cell) for k in footprint):
        return {}
    candidates = dict(parent.sleep)
    for a, (offered, wrote) in parent.done.items():
        if a != x and not (isinstance(a, Inject) and wrote) and not isinstance(a, StallFor):
            candidates[a] = offered
    if not candidates:
        return {}
    n = len(machine.cpus)
    out = {}
    if isinstance(x, Run):
        for t in candidates:
            if isinstance(t, Run):
                continue
            tt = _targets(t, n)
            if footprint & tt or (parent.last in tt and not parent.last_runnable):
                continue
            if x.cpu in tt and not (t.cpu is not None and _masked_across(machine, parent, t)):
                continue
            out[t] = None
    else:
        xt = _targets(x, n)
        for t, offered in candidates.items():
            if isinstance(t, Run):
                if t.cpu in xt or offered is None or x not in offered:
                    continue
            elif t.event == x.event or _targets(t, n) & xt:
                continue
            out[t] = offered if isinstance(t, Run) else None
    return out


def _flags(machine) -> tuple:
    return tuple((c.irqs_off, c.nmi_blocked, isinstance(c.wait, (Spin, Poll))) for c in machine.cpus)


def _masked_across(machine, parent: Branch, t: Inject) -> bool:
    """Whether injection `t` stays undelivered through its target's step from `parent`, and
    raising it wakes no spinner before or after (so it commutes with that step)."""
    kind = machine.model.event(t.event).kind
    if kind not in (Kind.IRQ, Kind.NMI):
        return False
    irqs_off, nmi_blocked, spinning = parent.flags[t.cpu]
    masked = irqs_off if kind is Kind.IRQ else nmi_blocked
    return masked and not spinning and not isinstance(machine.cpus[t.cpu].wait, (Spin, Poll))


class _DfsSource:
    def __init__(self, explorer: Explorer, prefix: list[int]):
        self.ex = explorer
        self.prefix = prefix

    def choose(self, machine, enabled: list[Action]) -> Action:
        depth = len(machine.trace)
        path = self.ex.path
        reduce = self.ex.reduce
        if depth < len(self.prefix):
            if len(enabled) != len(path[depth].kinds):
                raise NondeterministicModel(f"model nondeterministic at decision {depth}: is the model fully deterministic?")
            if reduce and depth == len(self.prefix) - 1:
                machine.footprint = set()
            return enabled[self.prefix[depth]]
        footprint, machine.footprint = machine.footprint, (set() if reduce else None)
        del path[depth:]
        parent = path[-1] if path else None
        if parent is not None and reduce:
            wrote = footprint is None or any(isinstance(k, Cell) for k in footprint)
            parent.done[parent.actions[parent.chosen]] = (frozenset(enabled), wrote)
        budget = parent.left_after(parent.chosen) if parent is not None else self.ex.bound
        sleep = _inherited(parent, machine, footprint) if parent is not None and reduce else {}
        last_runnable = enabled[0] == Run(machine.last)
        preempt = "p" if last_runnable else "s"
        kinds = "d" + "".join("i" if isinstance(a, Inject) else preempt for a in enabled[1:])
        branch = Branch(tuple(enabled), kinds, 0, budget, machine.last, last_runnable, machine.now, _flags(machine) if reduce else (), sleep)
        # Only a state with a choice left is worth a fingerprint: a straight run
        # from a seen state reaches a seen branching state anyway.
        choice = any(min(branch.left_after(j)) >= 0 for j in range(1, len(enabled)))
        # Who ran last matters only while it can run again (a switch away from it is a
        # preemption then); a finished CPU changes no cost, only the order of the offers.
        last = None if self.ex.unbounded or machine.cpus[machine.last].done else machine.last
        if choice and self.ex.prune and not self.ex.visit((fingerprint(machine), last), budget, frozenset(sleep)):
            self._cut(machine)
        j = next((j for j in range(len(enabled)) if branch.open(j)), None)
        if j is None:  # everything on offer is asleep: explored elsewhere
            self.ex.slept += 1
            self._cut(machine)
        for skipped in range(j):
            if enabled[skipped] in sleep:
                self.ex.slept += 1
        branch.chosen = j
        path.append(branch)
        return enabled[j]

    def _cut(self, machine):
        self.ex.pruned += 1
        machine.footprint = None
        raise CutOff(RunResult(Outcome(None, "pruned"), tuple(machine.trace), "".join(machine.kinds), accesses=machine.accesses))


def event_capacity(model_cls) -> int:
    """The most injections one run can hold (each event's and each stall's limit)."""
    return sum(ev.limit for ev in model_cls.events) + sum(st.limit for st in model_cls.stalls)


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


__all__ = ["CutOff", "Explorer", "UNBOUNDED", "deepening", "event_capacity", "execute_cut", "minima", "minimum"]
