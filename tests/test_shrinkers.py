"""Trace shrinkers: named passes, the size order, minimality, and `panicfuzz shrink`."""

from __future__ import annotations

import json

from panicfuzz import protocols
from panicfuzz import corpus
from panicfuzz.cells import Cell
from panicfuzz.cli import main
from panicfuzz.kernel import BUG_ON, READ_ONCE, WRITE_ONCE
from panicfuzz.model import Model, Variant
from panicfuzz.run import execute
from panicfuzz.search import search
from panicfuzz.strategies import RandomSource, Replay
from panicfuzz.strategies.deviations import deviations_of
from panicfuzz.strategies.exhaustive import execute_cut, minimum
from panicfuzz.trace import Inject, Run
from panicfuzz.shrinkers import PASSES, shrink
from panicfuzz.shrinkers import passes as P

HPET = protocols.load("hpet")


def _run(model, variant):
    return lambda decisions: execute(model, variant, decisions)


def _noisy_failure(model, variant, signature=None, min_preemptions=3):
    """A failing random run with many needless deviations."""
    for i in range(2000):
        r = execute(model, variant, RandomSource(99, i))
        if r.failed and (signature is None or r.signature == signature) and r.size.preemptions >= min_preemptions:
            return r
    raise AssertionError("no noisy failing run found")


# -- the passes, as pure functions of a deviation list ----------------------------------


def test_removing_a_deviation_folds_its_decisions_into_the_next_gap():
    devs = [(3, Run(1)), (2, Inject("#MC")), (4, Run(0))]
    assert P._without(devs, 1) == [(3, Run(1)), (7, Run(0))]
    assert P._without(devs, 0, 2) == [(3 + 1 + 2 + 1 + 4, Run(0))]
    assert list(P.drop_injections(devs, None)) == [[(3, Run(1)), (7, Run(0))]]
    assert len(list(P.drop_preemptions(devs, None))) == 2


def test_drop_pairs_removes_any_two_deviations_at_once():
    devs = [(3, Run(1)), (2, Inject("#MC")), (4, Run(0)), (1, Run(1))]
    pairs = list(P.drop_pairs(devs, None))
    assert len(pairs) == 6 and all(len(c) == 2 for c in pairs)
    assert [(3, Run(1)), (2 + 1 + 4 + 1 + 1, Run(1))] in pairs  # the #MC and the switch to CPU0 dropped


def test_cut_tail_and_delta_debug_propose_shorter_lists():
    devs = [(i, Run(i % 2)) for i in range(8)]
    assert [len(c) for c in P.cut_tail(devs, None)] == list(range(8))
    halves = list(P.delta_debug(devs, None))
    assert [len(c) for c in halves[:2]] == [4, 4] and max(len(c) for c in halves) == 6


def test_moves_take_deviations_earlier_alone_or_with_everything_after():
    devs = [(6, Inject("#MC")), (1, Run(1))]
    alone = list(P.move_switches(devs, None))
    assert [(0, Inject("#MC")), (7, Run(1))] in alone  # the next one stays where it was
    together = list(P.move_together(devs, None))
    assert [(0, Inject("#MC")), (1, Run(1))] in together  # the pair moves as a whole


def test_renumbering_only_where_the_model_declares_symmetry():
    class Sym(Model):
        name, ncpus = "sym", 3
        symmetric_cpus = True

    class Part(Model):
        name, ncpus = "part", 3
        symmetric_cpus = ((1, 2),)

    assert P.symmetric_groups(HPET) == ()
    assert P.symmetric_groups(Sym) == ((0, 1, 2),)
    ctx = type("Ctx", (), {"symmetric_groups": P.symmetric_groups(Part)})
    devs = [(2, Run(2)), (0, Inject("NMI", 1)), (1, Inject("#MC"))]
    assert list(P.renumber_cpus(devs, ctx)) == [[(2, Run(1)), (0, Inject("NMI", 2)), (1, Inject("#MC"))]]


def test_pass_list_is_flat_and_named():
    names = [p.__name__ for p in PASSES]
    assert len(names) == len(set(names))
    for expected in ("drop_injections", "drop_preemptions", "delta_debug", "move_switches", "cut_tail", "renumber_cpus"):
        assert expected in names


# -- the shrink loop ----------------------------------------------------------------------


def test_shrinks_a_noisy_hpet_deadlock_to_the_exhaustive_minimum():
    found = _noisy_failure(HPET, "mainline")
    best, report = shrink(_run(HPET, "mainline"), found, model=HPET)
    assert best.signature == found.signature  # the same bug, never another one
    assert best.size < found.size
    truth = minimum(lambda s: execute_cut(HPET, "mainline", s), HPET, found.signature, max_preemptions=2)
    assert (best.size.preemptions, best.size.injected) == truth
    assert report.minimal is True  # proven by the last pass
    assert report.useful() and report.useless()
    assert "Useful passes:" in report.summary() and "exhaustive_below" in report.calls
    assert sum(report.calls.values()) >= sum(report.shrinks.values())


def test_shrinking_is_deterministic():
    found = _noisy_failure(HPET, "mainline")
    a, ra = shrink(_run(HPET, "mainline"), found, model=HPET)
    b, rb = shrink(_run(HPET, "mainline"), found, model=HPET)
    assert a.trace == b.trace and ra.calls == rb.calls


def test_without_a_model_the_contract_is_unchanged():
    found = _noisy_failure(HPET, "mainline")
    best, report = shrink(_run(HPET, "mainline"), found)
    assert best.signature == found.signature and best.size <= found.size
    assert report.minimal is None and "exhaustive_below" not in report.calls


class LostUpdate(Model):
    """Two identical CPUs increment a counter with READ_ONCE/WRITE_ONCE: CPUs are interchangeable."""

    name = "toy-lost-update"
    seed = 900
    ncpus = 2
    symmetric_cpus = True
    max_steps = 40
    variants = (Variant("racy", "fails", "read-modify-write without a lock", kind="invariant"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.count = Cell("count", 0)

    async def cpu_main(self, cpu: int) -> None:
        v = await READ_ONCE(self.count)
        await WRITE_ONCE(self.count, v + 1)

    def final_check(self) -> None:
        BUG_ON(self.count.value != 2, "lost-update", f"count = {self.count.value}, not 2")


def test_symmetric_model_shrinks_to_a_canonical_numbering():
    run = _run(LostUpdate, "racy")
    results = []
    for i in range(200):
        r = execute(LostUpdate, "racy", RandomSource(5, i))
        if r.failed:
            results.append(shrink(run, r, model=LostUpdate))
    assert len(results) >= 2
    traces = {best.trace for best, _ in results}
    assert len(traces) == 1, "every failing schedule shrinks to the same canonical trace"
    best, report = results[0]
    assert best.size.preemptions == 1 and report.minimal
    assert any(r.calls.get("renumber_cpus") for _, r in results)


# -- search and the CLI -------------------------------------------------------------------------


def test_every_strategy_gets_trace_level_shrinking():
    for strategy in ("random", "pct"):
        report = search(HPET, "mainline", strategy=strategy, seed=1, max_schedules=300)
        for f in report.findings:
            assert f.result.size <= f.first
            assert f.shrink_report is not None and f.shrink_report.minimal


def test_cli_shrink_rewrites_a_noisy_case_atomically_and_keeps_sizes(tmp_path, capsys):
    report = search(HPET, "mainline", strategy="random", seed=2, max_schedules=300, first_only=True)
    finding = report.findings[0]
    data = corpus.record(finding, HPET, "timeline")
    noisy = _noisy_failure(HPET, "mainline", finding.signature, min_preemptions=2)
    data["trace"], data["kinds"] = [str(a) for a in noisy.trace], noisy.kinds
    data["failure"].update(noisy.size.as_dict())
    data["event_log_sha256"] = execute(HPET, "mainline", Replay(noisy.trace), logging=True).log_digest()
    path = tmp_path / "case.json"
    corpus.write_atomic(path, data)

    assert main(["shrink", str(path)]) == 0
    out = capsys.readouterr().out
    assert "shrunk from" in out and "Useful passes:" in out
    saved = corpus.load(path)
    assert saved["failure"]["signature"] == finding.signature
    assert saved["failure"]["preemptions"] < noisy.size.preemptions
    history = saved["shrink"]["history"][-1]
    assert history["before"] == noisy.size.as_dict() and history["after"]["steps"] == saved["failure"]["steps"]
    assert saved["shrink"]["passes"]["minimal"] is True and saved["shrink"]["minimal"] is True
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind
    assert main(["replay", str(path)]) == 0
    capsys.readouterr()

    # Already minimal: left as it is.
    before = path.read_text()
    assert main(["shrink", str(path), "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)["cases"]
    assert entry["changed"] is False and entry["minimal"] is True and entry["before"] == entry["after"]
    assert path.read_text() == before

    # A case whose minimality was not known gains the proof, and nothing else changes.
    data = corpus.load(path)
    data["shrink"]["minimal"] = None
    corpus.write_atomic(path, data)
    assert main(["shrink", str(path)]) == 0
    capsys.readouterr()
    assert corpus.load(path) == dict(data, shrink=dict(data["shrink"], minimal=True))


def test_cli_shrink_reports_a_case_that_does_not_reproduce(tmp_path, capsys):
    report = search(HPET, "mainline", strategy="random", seed=2, max_schedules=300, first_only=True)
    data = corpus.record(report.findings[0], HPET, "timeline")
    data["failure"]["signature"] = "deadlock-000000000000"
    path = tmp_path / "stale.json"
    corpus.write_atomic(path, data)
    before = path.read_text()
    assert main(["shrink", str(path)]) == 1
    assert "NOT reproduced" in capsys.readouterr().out
    assert path.read_text() == before
    assert main(["shrink", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.json" in err


def test_deviations_round_trip_through_the_shrunk_trace():
    found = _noisy_failure(HPET, "mainline")
    best, _ = shrink(_run(HPET, "mainline"), found, model=HPET)
    assert len(deviations_of(best.trace, best.kinds)) == best.size.preemptions + best.size.injected + best.size.switches
