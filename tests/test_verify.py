"""Bounded verification: `verify()` and `panicfuzz verify`."""

from __future__ import annotations

import json

from panicfuzz import protocols
from panicfuzz import corpus
from panicfuzz.cli import main
from panicfuzz.cells import Cell, raw_spinlock_t
from panicfuzz.kernel import BUG_ON, READ_ONCE, WRITE_ONCE, raw_spin_lock, raw_spin_unlock
from panicfuzz.model import Model, Variant
from panicfuzz.search import UNBOUNDED, verify
from panicfuzz.strategies.exhaustive import execute_cut, minima, minimum

HPET = protocols.load("hpet")


def test_fixed_hpet_variants_hold_within_one_preemption_and_one_event():
    for variant in ("panic-cpu-check", "panic-nmi-context"):
        v = verify(HPET, variant, preemptions=1, events=1)
        assert v.holds and v.complete and not v.findings
        assert v.schedules > 100 and v.states > 100


def test_mainline_gives_a_shrunk_counterexample_at_the_exhaustive_minimum():
    v = verify(HPET, "mainline", preemptions=1, events=1)
    assert not v.holds
    (f,) = v.findings
    assert f.result.outcome.kind == "deadlock" and f.strategy == "exhaustive"
    size = f.result.size
    truth = minimum(lambda s: execute_cut(HPET, "mainline", s), HPET, f.signature, max_preemptions=1)
    assert (size.preemptions, size.injected) == truth
    assert f.result.log  # replayed with its event log, ready for a timeline


def test_minima_of_every_signature_at_once_match_each_computed_alone():
    v = verify(HPET, "mainline", preemptions=1, events=1, first_only=False)
    sigs = sorted(f.signature for f in v.findings)
    run = lambda s: execute_cut(HPET, "mainline", s)  # noqa: E731
    together = minima(run, HPET, sigs, max_preemptions=1)
    assert together == {sig: minimum(run, HPET, sig, max_preemptions=1) for sig in sigs}
    assert None not in together.values() and len(set(together.values())) >= 2  # different rows of the search
    # each verify finding was shrunk to its minimum
    assert all((f.result.size.preemptions, f.result.size.injected) == together[f.signature] for f in v.findings)


def test_all_finds_every_distinct_failure_within_the_bounds():
    v = verify(HPET, "mainline", preemptions=1, events=1, first_only=False)
    assert len({f.signature for f in v.findings}) == len(v.findings) >= 2
    assert v.complete


def test_a_schedule_cap_makes_the_answer_inconclusive():
    v = verify(HPET, "panic-cpu-check", preemptions=2, events=2, max_schedules=20)
    assert not v.complete and not v.holds and v.schedules == 20


def test_cli_verify_holds(capsys):
    assert main(["verify", "hpet", "--variant", "panic-cpu-check", "--preemptions", "1", "--events", "1"]) == 0
    out = capsys.readouterr().out
    assert "holds within 1 preemption and 1 injected event" in out and "distinct states" in out


def test_cli_verify_counterexample_is_saved_like_a_finding(tmp_path, capsys):
    code = main(["verify", "hpet", "--variant", "mainline", "--preemptions", "1", "--events", "1", "--corpus", str(tmp_path), "--json"])
    assert code == 0  # the counterexample is the claimed deadlock
    (out,) = json.loads(capsys.readouterr().out)["variants"]
    assert out["answer"] == "counterexample" and out["as_expected"] is True
    (finding,) = out["findings"]
    data = corpus.load(finding["corpus_file"])
    assert data["found"]["strategy"] == "exhaustive" and data["failure"]["kind"] == "deadlock"
    assert main(["replay", finding["corpus_file"]]) == 0


def test_cli_verify_inconclusive_and_bad_input(capsys):
    args = ["verify", "hpet", "--variant", "panic-cpu-check", "--preemptions", "2", "--max-schedules", "5", "--json"]
    assert main(args) == 3
    assert json.loads(capsys.readouterr().out)["variants"][0]["answer"] == "inconclusive"
    assert main(["verify", "hpet", "--variant", "nope"]) == 2
    assert main(["verify", "hpet", "--preemptions", "-1"]) == 2
    assert main(["verify", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "'nope'" in err[0] and "--preemptions" in err[1]


def test_cli_fuzz_offers_every_strategy(tmp_path, capsys):
    for strategy in ("pct", "exhaustive"):
        code = main(["fuzz", "hpet", "--variant", "mainline", "--strategy", strategy, "--max-schedules", "200", "--first", "--corpus", str(tmp_path), "--json"])
        assert code == 0
        report = json.loads(capsys.readouterr().out)
        assert report["strategy"] == strategy and report["variants"][0]["new"][0]["kind"] == "deadlock"
    assert main(["fuzz", "hpet", "--strategy", "pct", "--depth", "0"]) == 2


class _Pair(Model):
    """Two CPUs increment a counter under a spinlock: a state space small enough to exhaust."""

    name = "toy-pair"
    seed = 104
    ncpus = 2
    variants = (Variant("locked", "holds", "count++ under a spinlock"),)

    def __init__(self, variant: str):
        super().__init__(variant)
        self.lock = raw_spinlock_t("lock")
        self.count = Cell("count")

    async def cpu_main(self, cpu: int) -> None:
        await raw_spin_lock(self.lock)
        await WRITE_ONCE(self.count, await READ_ONCE(self.count) + 1)
        await raw_spin_unlock(self.lock)

    def final_check(self) -> None:
        BUG_ON(self.count.value != 2, "lost-update", "an increment was lost")


def test_complete_verification_explores_the_whole_state_space():
    whole = verify(_Pair, "locked", preemptions=UNBOUNDED, events=UNBOUNDED)
    assert whole.holds and whole.whole_space and not whole.binding
    low = verify(_Pair, "locked", preemptions=1, events=0)
    assert low.holds and low.binding  # one preemption leaves interleavings out
    high = verify(_Pair, "locked", preemptions=8, events=0)
    assert high.holds and high.whole_space  # every alternative fit: the bounds were not binding


def test_cli_verify_complete_says_so(capsys):
    assert main(["verify", "console", "--variant", "v6.9", "--complete", "--json"]) == 0
    (out,) = json.loads(capsys.readouterr().out)["variants"]
    assert out["answer"] == "holds" and out["whole_state_space"] is True and out["bounds"] is None


def test_cli_verify_without_reduction_gives_the_same_answer(capsys):
    args = ["verify", "hpet", "--variant", "panic-cpu-check", "--preemptions", "1", "--events", "1", "--json"]
    assert main(args) == 0 and main([*args, "--no-reduction"]) == 0
    on, off = (json.loads(chunk)["variants"][0] for chunk in capsys.readouterr().out.replace("}\n{", "}\n\x00{").split("\x00"))
    assert on["reduced"] is True and off["reduced"] is False
    assert on["answer"] == off["answer"] == "holds" and on["schedules"] <= off["schedules"]
