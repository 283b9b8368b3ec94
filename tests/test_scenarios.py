"""Scenarios: model parameters drawn with the schedule, shrunk toward the defaults, recorded and replayed."""

from __future__ import annotations

import json

import pytest
from hypothesis import strategies as st

from panicfuzz import corpus, loader, scenarios
from panicfuzz.cells import Cell, raw_spinlock_t
from panicfuzz.timeline import timeline_of
from panicfuzz.kernel import READ_ONCE, WRITE_ONCE, goal_reached, halt, raw_spin_lock, raw_spin_unlock
from panicfuzz.model import Model, Parameter, Variant
from panicfuzz.run import execute
from panicfuzz.search import search
from panicfuzz.strategies import RandomSource, Replay


class Notifiers(Model):
    """panic() with crash_kexec_post_notifiers: a notifier takes a lock a stopped CPU may hold."""

    name = "toy-notifiers"
    seed = 101
    goal = "CPU0 reaches crash_kexec()"
    variants = (Variant("v", "fails", "notifiers before kdump take notifier_lock", kind="deadlock"),)
    ncpus = 2
    crash_kexec_post_notifiers = False
    panic_print = 0
    parameters = (
        Parameter("ncpus", st.integers(2, 4), "CPUs"),
        Parameter("crash_kexec_post_notifiers", st.booleans(), "run the panic notifiers before crash_kexec()"),
        Parameter("panic_print", st.integers(0, 3), "what panic() prints (no effect here)"),
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.panicking = Cell("panicking", 0)
        self.notifier_lock = raw_spinlock_t("notifier_lock")

    async def cpu_main(self, cpu: int) -> None:
        if cpu == 0:
            await self.panic()
        else:
            await self.notifier_user()

    async def panic(self) -> None:
        await WRITE_ONCE(self.panicking, 1)
        if self.crash_kexec_post_notifiers:
            await raw_spin_lock(self.notifier_lock)
            await raw_spin_unlock(self.notifier_lock)
        await goal_reached("crash_kexec()")

    async def notifier_user(self) -> None:
        await raw_spin_lock(self.notifier_lock)
        if await READ_ONCE(self.panicking):
            await halt("stopped by the panic CPU")
        await raw_spin_unlock(self.notifier_lock)


def test_bind_validates_and_reads_back():
    bound = scenarios.bind(Notifiers, {"ncpus": 3})
    assert bound.ncpus == 3 and bound.name == "toy-notifiers" and bound("v").ncpus == 3
    assert scenarios.scenario_of(bound) == {"ncpus": 3, "crash_kexec_post_notifiers": False, "panic_print": 0}
    assert scenarios.bind(Notifiers, {"ncpus": 2}) is Notifiers  # the defaults are the model itself
    assert scenarios.bind(Notifiers, {"ncpus": 3}) is bound
    with pytest.raises(scenarios.ScenarioError, match="no parameter 'nr_cpus'"):
        scenarios.bind(Notifiers, {"nr_cpus": 3})
    with pytest.raises(scenarios.ScenarioError, match="takes a bool"):
        scenarios.bind(Notifiers, {"crash_kexec_post_notifiers": 1})


def test_a_failure_is_shrunk_to_the_one_option_it_needs():
    """Found in a bigger configuration, the same schedule fails with only the option it needs."""
    big = scenarios.bind(Notifiers, {"ncpus": 4, "crash_kexec_post_notifiers": True, "panic_print": 3})
    runs = (execute(big, "v", RandomSource(0, i)) for i in range(500))
    found = next(r for r in runs if r.failed)
    assert found.outcome.kind == "deadlock", found.outcome.message
    simple, again = scenarios.simplest(big, "v", found)
    assert scenarios.scenario_of(simple) == {"ncpus": 2, "crash_kexec_post_notifiers": True, "panic_print": 0}
    assert again.outcome.kind == "deadlock" and "CPU2" not in again.outcome.message, again.outcome.message


def test_search_draws_the_option_shrinks_to_it_saves_and_replays_identically(tmp_path):
    assert not search(Notifiers, "v", strategy="random", max_schedules=200).findings, "needs the option"
    report = search(Notifiers, "v", max_schedules=400, seed=0, first_only=True)
    assert report.findings, "the search did not find the bug that needs crash_kexec_post_notifiers"
    f = report.findings[0]
    assert f.result.outcome.kind == "deadlock"
    assert f.scenario == {"ncpus": 2, "crash_kexec_post_notifiers": True, "panic_print": 0}
    bound = scenarios.bind(Notifiers, f.scenario)
    timeline = timeline_of(bound, "v", f.result)
    assert "[crash_kexec_post_notifiers=True]" in timeline.splitlines()[0]
    path, written = corpus.save(tmp_path, corpus.record(f, Notifiers, timeline))
    assert written
    data = json.loads(path.read_text())
    assert data["scenario"] == f.scenario and data["config"]["ncpus"] == 2
    replayed = execute(scenarios.from_record(Notifiers, data, str(path)), "v", Replay(corpus.trace_of(path, data)), logging=True)
    assert replayed.signature == data["failure"]["signature"]
    assert replayed.log_digest() == data["event_log_sha256"]
    # Without its scenario the schedule does not fail: the record is what makes it replay.
    assert not execute(Notifiers, "v", Replay(corpus.trace_of(path, data), data["kinds"], strict=False)).failed


def test_a_shipped_model_declares_the_option_its_thread_discusses_and_list_shows_it(capsys):
    from panicfuzz.cli import main
    from panicfuzz.protocols.blocks.panic import POST_NOTIFIERS

    console = loader.resolve("console")
    assert POST_NOTIFIERS in console.parameters and scenarios.defaults(console) == {"crash_kexec_post_notifiers": True}
    assert main(["list", "--json"]) == 0
    rows = [r for r in json.loads(capsys.readouterr().out)["variants"] if r["protocol"] == "console"]
    assert rows and all(r["parameters"][0]["name"] == "crash_kexec_post_notifiers" and r["parameters"][0]["default"] is True for r in rows)
    assert main(["list"]) == 0
    assert "console parameter crash_kexec_post_notifiers = True (a search draws booleans())" in capsys.readouterr().out
    # Off, panic() stops the others with smp_send_stop() (REBOOT_VECTOR) before the notifiers.
    def stops_by_reboot_vector(model_cls) -> bool:
        return any("send REBOOT_VECTOR" in str(e) for e in execute(model_cls, "v6.9", RandomSource(0, 0), logging=True).log)

    assert stops_by_reboot_vector(scenarios.bind(console, {"crash_kexec_post_notifiers": False}))
    assert not stops_by_reboot_vector(console)
