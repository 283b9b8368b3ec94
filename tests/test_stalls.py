"""Stalls: a CPU that makes no progress for a virtual duration, while the others run and time moves.

The toy is a stop protocol in miniature (arm64 `smp_send_stop()`: a stop IPI, 1 s for it to be
answered, then an NMI). Its bug needs CPU1 to make no progress, inside the late IPI handler,
for longer than CPU0's 1 s timeout: without stalls virtual time never moves while CPU1 can
run, so no schedule reaches it.
"""

from __future__ import annotations

import pytest

from panicfuzz.bare import execute_bare
from panicfuzz.cells import Cell, cpumask_t
from panicfuzz.corpus import check_model, trace_of
from panicfuzz import kernel
from panicfuzz.kernel import (
    BUG_ON,
    NSEC_PER_USEC,
    USEC_PER_MSEC,
    USEC_PER_SEC,
    WRITE_ONCE,
    context_of,
    cpumask_clear_cpu,
    cpumask_empty,
    cpumask_read,
    goal_reached,
    halt,
    send_IPI,
    send_IPI_mask,
    smp_processor_id,
    spin_until_cond_timeout,

)
from panicfuzz.model import Model, Stall, Variant
from panicfuzz.run import execute
from panicfuzz.search import search, verify
from panicfuzz.shrinkers import shrink
from panicfuzz.strategies import Deviations, RandomSource, Replay
from panicfuzz.strategies.exhaustive import execute_cut
from panicfuzz.timeline import timeline_of
from panicfuzz.trace import Inject, Run, StallFor, parse_action

MS = USEC_PER_MSEC * NSEC_PER_USEC


class StopTimeout(Model):
    """CPU0 stops CPU1 with an IPI, waits 1 s, then sends an NMI and waits 1 s more."""

    name = "toy-stop-timeout"
    ncpus = 2
    max_steps = 200
    goal = "CPU0 goes on after stopping CPU1"
    variants = (
        Variant("nested", "fails", "the NMI runs the stop body again inside the late IPI handler", kind="invariant"),
        Variant("once", "holds", "the stop body begins with test_and_set_bit(cpu, &stopping): it runs once"),
    )
    # CPU1's vCPU may be descheduled inside the stop IPI handler, for half or one and a half times
    # CPU0's timeout (or 3 s: past both of them).
    stalls = (Stall("vcpu-preempted", (500 * MS, 1500 * MS, 3000 * MS), cpus=(1,), guard=lambda self, cpu: context_of(cpu) == "STOP"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.stop_mask = cpumask_t.of("stop_mask", [1])
        self.stopping = cpumask_t("stopping")
        self.crash_note = Cell("crash_notes[1]", 0)  # how many times the body saved it

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 1:
            await halt("idle")  # interrupts on: the stop IPI is taken here
        await self.smp_send_stop()
        await goal_reached("CPU0 goes on")

    async def smp_send_stop(self) -> None:
        await send_IPI(1, self.ipi_cpu_stop, name="STOP")
        if not await spin_until_cond_timeout(self.all_stopped, USEC_PER_SEC):
            await send_IPI_mask(await cpumask_read(self.stop_mask), nmi=True)
            await spin_until_cond_timeout(self.all_stopped, USEC_PER_SEC)

    async def all_stopped(self) -> bool:
        return await cpumask_empty(self.stop_mask)

    async def ipi_cpu_stop(self) -> None:
        await self.stop_this_cpu()

    async def nmi(self) -> None:
        await self.stop_this_cpu()

    nmi_entry = nmi

    async def stop_this_cpu(self) -> None:
        cpu = smp_processor_id()
        if self.variant == "once" and await kernel.test_and_set_bit(cpu, self.stopping):
            await halt("already stopping")
        await WRITE_ONCE(self.crash_note, self.crash_note.value + 1)  # crash_save_cpu()
        await cpumask_clear_cpu(cpu, self.stop_mask)
        await halt("stopped")

    def check(self) -> None:
        BUG_ON(self.crash_note.value > 1, "stop-nested", "CPU1 ran the stop body twice: the NMI nested in the late stop IPI handler")


class NoStalls(StopTimeout):
    stalls = ()


class Settling(StopTimeout):
    settle_after_goal = 50  # CPU0's goal at 2 s no longer hides what CPU1 does after a 3 s stall


BOUNDS = dict(preemptions=1, events=1)


def kinds(verdict) -> list[str]:
    return [f.result.outcome.kind for f in verdict.findings]


def test_the_bug_needs_a_stall_longer_than_the_timeout():
    assert verify(NoStalls, "nested", **BOUNDS).holds  # time never moves while CPU1 can run
    v = verify(StopTimeout, "nested", **BOUNDS)
    assert kinds(v) == ["invariant"]
    stall = [a for a in v.findings[0].result.trace if isinstance(a, StallFor)]
    assert [(a.cpu, a.ns) for a in stall] == [(1, 1500 * MS)]
    assert v.findings[0].result.size.injected == 1


def test_the_fixed_variant_holds_with_stalls():
    v = verify(StopTimeout, "once", preemptions=2, events=1)
    assert v.holds and v.schedules > 1
    assert kinds(verify(Settling, "once", preemptions=1, events=1)) == []


@pytest.mark.parametrize("strategy", ["hypothesis", "random", "pct", "exhaustive"])
def test_every_strategy_chooses_stalls(strategy):
    report = search(StopTimeout, "nested", strategy=strategy, max_schedules=400, seed=0, first_only=True)
    assert [f.result.outcome.kind for f in report.findings] == ["invariant"], strategy


def test_a_stall_is_shrunk_to_the_shortest_that_still_fails():
    # The 3 s stall outlasts both timeouts: it fails only when the machine settles after the goal.
    long = [(7, StallFor("vcpu-preempted", 1, 3000 * MS))]  # inside the handler, after the note
    assert execute(StopTimeout, "nested", Deviations(long)).outcome.kind is None
    r = execute(Settling, "nested", Deviations(long))
    assert r.outcome.kind == "invariant"
    best, report = shrink(lambda d: execute_cut(Settling, "nested", d), r, model=Settling)
    stalls = [a for a in best.trace if isinstance(a, StallFor)]
    assert [a.ns for a in stalls] == [1500 * MS] and report.shrinks["shorten_stalls"] >= 1
    assert best.size < r.size and best.size.stalled == 1500 * MS


def test_a_stall_in_a_trace_replays_identically_and_as_text():
    v = verify(StopTimeout, "nested", **BOUNDS)
    found = execute(StopTimeout, "nested", Replay(v.findings[0].result.trace), logging=True)
    text = [str(a) for a in found.trace]
    assert "vcpu-preempted@cpu1 for 1500 ms" in text
    again = execute(StopTimeout, "nested", Replay([parse_action(t) for t in text]), logging=True)
    assert again.log_digest() == found.log_digest()
    data = {"variant": "nested", "config": {"ncpus": 2, "max_steps": 200}, "trace": text}
    check_model("case.json", data, StopTimeout)  # the model knows the stall by name
    assert trace_of("case.json", data) == list(found.trace)


def test_the_bare_driver_runs_stalls_identically():
    for i in range(40):
        a = execute(StopTimeout, "nested", RandomSource(7, i), logging=True)
        b = execute_bare(StopTimeout, "nested", RandomSource(7, i), logging=True)
        assert (a.outcome, a.trace, a.kinds, a.log, a.clock) == (b.outcome, b.trace, b.kinds, b.log, b.clock)
    assert any(isinstance(x, StallFor) for i in range(40) for x in execute(StopTimeout, "nested", RandomSource(7, i)).trace)


def test_a_stalled_cpu_takes_no_step_and_no_interrupt_while_time_moves():
    # Decisions: CPU0 sends the IPI, CPU1 takes it and saves its note; then the stall.
    r = execute(StopTimeout, "nested", Replay(verify(StopTimeout, "nested", **BOUNDS).findings[0].result.trace), logging=True)
    log = list(zip(r.clock, r.log))
    begin = next(i for i, (_, e) in enumerate(log) if e[1] == 1 and e[3].startswith("stalls for 1500 ms"))
    end = next(i for i, (_, e) in enumerate(log) if e[1] == 1 and e[3] == "stall ends: runs again")
    assert log[end][0] - log[begin][0] == 1500 * MS
    assert not any(e[1] == 1 for _, e in log[begin + 1 : end])  # CPU1 did nothing meanwhile
    assert any(e[1] == 0 and e[3].startswith("timed out after 1 s") for _, e in log[begin:end])
    assert any(e[3] == "> NMI (NMI)" and e[1] == 1 for _, e in log[end:])  # the NMI waited for it


def test_the_timeline_draws_the_stall():
    v = verify(StopTimeout, "nested", **BOUNDS)
    r = execute(StopTimeout, "nested", Replay(v.findings[0].result.trace), logging=True)
    drawn = timeline_of(StopTimeout, "nested", r)
    assert "injected: vcpu-preempted on CPU1: no progress for 1500 ms" in drawn
    assert "stalls for 1500 ms (vcpu-preempted)" in drawn and "stall ends: runs again" in drawn
    assert "  ┆" in drawn  # its column, dotted while the others run
    assert "1 injected event (1 stall)" in drawn.splitlines()[0]


def test_stall_limit_guard_and_cpus_bound_what_is_offered():
    offers: list[list] = []

    class Record:
        def choose(self, machine, enabled):
            offers.append(enabled)
            stall = [a for a in enabled if isinstance(a, StallFor)]
            return stall[0] if stall else enabled[0]

    execute(StopTimeout, "nested", Record())
    stalls = [a for offer in offers for a in offer if isinstance(a, StallFor)]
    assert {a.cpu for a in stalls} == {1}  # cpus=(1,), and only inside the STOP handler
    assert len({id(o) for o in offers if any(isinstance(a, StallFor) for a in o)}) == 1  # limit 1
    assert [a.ns for a in stalls] == [500 * MS, 1500 * MS, 3000 * MS]
    assert Inject("vcpu-preempted", 1) not in stalls and Run(1) != stalls[0]


def test_a_bad_stall_declaration_is_refused():
    with pytest.raises(ValueError, match="durations"):
        Stall("smi", ())
    with pytest.raises(ValueError, match="name"):
        Stall("smi@cpu1", (1,))


@pytest.mark.parametrize("variant", ["nested", "once"])
def test_the_sleep_set_reduction_keeps_every_failure_with_stalls(variant):
    full = verify(StopTimeout, variant, preemptions=2, events=1, first_only=False, reduce=False)
    reduced = verify(StopTimeout, variant, preemptions=2, events=1, first_only=False)
    assert sorted(f.signature for f in reduced.findings) == sorted(f.signature for f in full.findings)
    assert reduced.schedules <= full.schedules


def test_the_corpus_keeps_the_case_with_the_shorter_stall(tmp_path):
    from panicfuzz import corpus
    from panicfuzz.search import Finding

    def case(ns: int) -> dict:
        r = execute(StopTimeout, "nested", Deviations([(7, StallFor("vcpu-preempted", 1, ns))]), logging=True)
        f = Finding("toy-stop-timeout", "nested", r, r.size, "exhaustive", 0, 1, 0.0, 0.0)
        return corpus.record(f, StopTimeout, timeline_of(StopTimeout, "nested", r))

    long = case(1500 * MS)
    # The same counts of everything, only a shorter stall (the size order's next key; as text,
    # "500 ms" sorts after "1500 ms").
    short = dict(long, trace=[t.replace("for 1500 ms", "for 500 ms") for t in long["trace"]])
    assert short["trace"] != long["trace"]
    assert corpus.save(tmp_path, long)[1] and corpus.save(tmp_path, short)[1]  # the shorter replaces it
    assert not corpus.save(tmp_path, long)[1]
