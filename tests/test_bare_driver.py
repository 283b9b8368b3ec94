"""The bare-coroutine driver is the trio machine without trio: same trace, same run.

trio stays the reference (design §2); `panicfuzz.bare` exists to measure the
ceiling. These differential tests hold it, and the trio machine hosting many
runs in one trio.run() (`panicfuzz.host`), to identical event logs, outcomes,
decision kinds and state fingerprints for the same decisions.
"""

from __future__ import annotations

import pytest

from panicfuzz import protocols
from panicfuzz.bare import BareMachine, execute_bare
from panicfuzz.fingerprint import fingerprint
from panicfuzz.host import HostedMachine
from panicfuzz.run import execute, execute_all
from panicfuzz.strategies import RandomSource, Replay
from tests import toys

HPET = protocols.load("hpet")
# Every shipped model: the search, the shrinker and verify run on the bare driver
# (panicfuzz.search), and every reproducer is replayed on trio before it is saved.
SHIPPED = [protocols.load(name) for name in protocols.names()]
MODELS = [(m, v.name) for m in SHIPPED for v in m.variants] + [
    (toys.Flood, "bounded"),
    (toys.Flood, "flood"),
    (toys.Semantics, "base"),
    (toys.Halter, "base"),
    (toys.Broken, "base"),
]


def _same(a, b) -> None:
    assert b.outcome == a.outcome
    assert b.trace == a.trace
    assert b.kinds == a.kinds
    assert b.log == a.log


@pytest.mark.parametrize("model, variant", MODELS, ids=[f"{m.name}/{v}" for m, v in MODELS])
def test_same_trace_gives_identical_event_log_on_both_drivers(model, variant):
    kinds = set()
    refs = []
    for i in range(25):
        ref = execute(model, variant, RandomSource(11, i), logging=True)
        kinds.add(ref.outcome.kind)
        _same(ref, execute_bare(model, variant, Replay(ref.trace), logging=True))
        # The bare driver choosing for itself makes the same choices.
        _same(ref, execute_bare(model, variant, RandomSource(11, i), logging=True))
        refs.append(ref)
    # Many runs in one trio.run(): replayed, and choosing for themselves.
    for ref, hosted in zip(refs, execute_all(model, variant, (Replay(r.trace) for r in refs), logging=True), strict=True):
        _same(ref, hosted)
    for ref, hosted in zip(refs, execute_all(model, variant, (RandomSource(11, i) for i in range(25)), logging=True), strict=True):
        _same(ref, hosted)
    if model is HPET and variant == "mainline":
        assert "deadlock" in kinds, "no failing schedule among the compared ones"
    if model is toys.Flood and variant == "flood":
        assert "livelock" in kinds  # the lasso proof runs on fingerprints: same on both


class _Fingerprints:
    """Record the state fingerprint at every decision, then defer to `inner`."""

    def __init__(self, inner):
        self.inner = inner
        self.seen: list[int] = []

    def choose(self, machine, enabled):
        self.seen.append(fingerprint(machine))
        return self.inner.choose(machine, enabled)


def test_state_fingerprints_agree_between_drivers():
    for i in range(10):
        a, b = _Fingerprints(RandomSource(3, i)), _Fingerprints(RandomSource(3, i))
        execute(HPET, "mainline", a)
        execute_bare(HPET, "mainline", b)
        assert a.seen == b.seen and len(set(a.seen)) > 1
        c = _Fingerprints(RandomSource(3, i))
        execute_all(HPET, "mainline", [c])
        assert c.seen == a.seen


def test_bare_machine_is_a_machine_and_ends_parked_cpus():
    m = BareMachine(HPET("mainline"), Replay([]), max_steps=HPET.max_steps)
    outcome = m.run()
    assert outcome.kind is None  # the default schedule completes
    # No CPU coroutine is left suspended after the run.
    assert all(c.task.coro.cr_frame is None for c in m.cpus)


def test_hosted_runs_of_different_widths_share_one_trio_run():
    """A batch may mix models (the pool grows to the widest); each run is the run of its own."""
    smp_stop = protocols.load("smp_stop")
    assert smp_stop.ncpus != HPET.ncpus
    from panicfuzz.host import run_all

    machines = [HostedMachine(m(m.variants[0].name), RandomSource(5, i), max_steps=m.max_steps, logging=True) for i in range(6) for m in (HPET, smp_stop)]
    ended = []
    run_all(machines, ended.append)
    assert ended == machines
    for i, m in enumerate(machines):
        model = type(m.model)
        ref = execute(model, model.variants[0].name, RandomSource(5, i // 2), logging=True)
        assert (ref.outcome, ref.log) == (m.outcome, tuple(m.log))


def test_hosted_machine_reraises_a_harness_bug():
    class Bad:
        def choose(self, machine, enabled):
            from panicfuzz.machine import HarnessBug

            raise HarnessBug("boom")

    with pytest.raises(Exception, match="boom"):
        execute_all(HPET, "mainline", [Bad()])
