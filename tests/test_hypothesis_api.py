"""panicfuzz in a user's own Hypothesis tests: `schedules()`, `Schedule.check()`, corpus cases as examples."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.database import InMemoryExampleDatabase

import panicfuzz
from panicfuzz import corpus, loader
from panicfuzz.cells import raw_spinlock_t
from panicfuzz.kernel import raw_spin_lock, raw_spin_unlock
from panicfuzz.model import Model, Variant
from panicfuzz.run import execute
from panicfuzz.search import search
from panicfuzz.strategies import Replay

FAST = settings(max_examples=200, database=None, deadline=None, suppress_health_check=list(HealthCheck))


class Abba(Model):
    """Two CPUs take two locks; in "abba" in opposite orders (a deadlock after one preemption)."""

    name = "toy-abba"
    variants = (
        Variant("abba", "fails", "CPU1 takes the locks in the other order", kind="deadlock"),
        Variant("ordered", "holds", "both CPUs take a before b"),
    )
    ncpus = 2

    def __init__(self, variant: str):
        super().__init__(variant)
        self.a = raw_spinlock_t("a")
        self.b = raw_spinlock_t("b")

    async def cpu_main(self, cpu: int) -> None:
        first, second = (self.b, self.a) if cpu == 1 and self.variant == "abba" else (self.a, self.b)
        await raw_spin_lock(first)
        await raw_spin_lock(second)
        await raw_spin_unlock(second)
        await raw_spin_unlock(first)


def test_a_failing_schedule_reports_its_shrunk_timeline_saves_it_and_it_replays(tmp_path):
    seen = []

    @FAST
    @given(panicfuzz.schedules(Abba, "abba", corpus=tmp_path))
    def test(s):
        seen.append(s)
        s.check()

    with pytest.raises(panicfuzz.ProtocolFailure) as e:
        test()
    message = str(e.value)
    assert "toy-abba / abba: DEADLOCK   (2 CPUs; 1 preemption" in message, message
    assert f"s={seen[-1]!r}" in "\n".join(e.value.__notes__)  # Hypothesis' falsifying example, as code
    (path,) = corpus.files(tmp_path)
    assert f"replay: panicfuzz replay {path}" in message
    data = json.loads(path.read_text())
    assert data["failure"]["preemptions"] == 1 and data["found"]["strategy"] == "hypothesis-given"
    replayed = execute(Abba, "abba", Replay(corpus.trace_of(path, data)), logging=True)
    assert replayed.log_digest() == data["event_log_sha256"]
    # Not every schedule fails: Hypothesis searched.
    assert any(s.failure() is None for s in seen)


def test_the_fix_holds_under_every_schedule_drawn():
    drawn = []

    @settings(FAST, max_examples=60)
    @given(panicfuzz.schedules(Abba, "ordered"))
    def test(s):
        drawn.append(s.seed)
        s.check()

    test()
    assert len(set(drawn)) > 30


def test_a_model_reference_and_the_failing_schedule_as_code():
    strategy = panicfuzz.schedules(f"{__name__}:Abba", "abba")
    s = panicfuzz.Schedule(f"{__name__}:Abba", "abba", seed=3)
    ref = loader.reference(Abba)["ref"]
    assert s.model is Abba and repr(s) == f"Schedule({ref!r}, 'abba', seed=3)" and loader.resolve(ref) is Abba
    assert repr(panicfuzz.Schedule("hpet", "mainline", seed=1, scenario={})) == "Schedule('hpet', 'mainline', seed=1)"
    assert strategy is not None
    failure = next(f for f in map(lambda n: panicfuzz.Schedule(Abba, "abba", seed=n).failure(), range(200)) if f)
    again = panicfuzz.Schedule(Abba, "abba", trace=[str(a) for a in failure.finding.result.trace])
    assert f"replay in Python: {again!r}.check()" in failure.message  # no corpus: the reproducer as code
    assert again.run().signature == failure.finding.signature


def test_corpus_cases_are_tried_first_as_explicit_examples(tmp_path):
    assert not panicfuzz.cases(Abba, "abba", tmp_path)
    found = next(f for f in map(lambda n: panicfuzz.Schedule(Abba, "abba", seed=n, corpus=tmp_path).failure(), range(200)) if f)
    (case,) = panicfuzz.cases(Abba, "abba", tmp_path)
    assert case.case == found.path and repr(case) == f"Schedule.from_case({str(found.path)!r})"
    tried = []

    @settings(FAST, phases=[Phase.explicit])  # the explicit examples only: nothing generated
    @panicfuzz.corpus_examples(Abba, "abba", tmp_path)
    @given(panicfuzz.schedules(Abba, "abba"))
    def test(s):
        tried.append(s)
        s.check()

    with pytest.raises(panicfuzz.ProtocolFailure, match="toy-abba / abba: DEADLOCK"):
        test()
    assert tried == [case]


def test_hypothesis_settings_are_honoured_database_and_derandomize():
    db = InMemoryExampleDatabase()
    firsts = []

    def search():
        seen = []

        @settings(FAST, database=db)
        @given(panicfuzz.schedules(Abba, "abba"))
        def test(s):
            seen.append(s.seed)
            s.check()

        with pytest.raises(panicfuzz.ProtocolFailure):
            test()
        firsts.append((seen[0], len(seen)))
        return seen

    search()
    again = search()
    assert db.data, "Hypothesis saved the failing example in its database"
    assert again[0] == again[-1] and panicfuzz.Schedule(Abba, "abba", seed=again[0]).failure() is not None

    def draws():
        seen = []

        @settings(FAST, derandomize=True, max_examples=20)
        @given(panicfuzz.schedules(Abba, "ordered"))
        def test(s):
            seen.append(s.seed)

        test()
        return seen

    assert draws() == draws()


def test_the_explanation_names_no_engine_line():
    @settings(FAST, phases=[Phase.generate, Phase.shrink, Phase.explain])
    @given(panicfuzz.schedules(Abba, "abba"))
    def test(s):
        s.check()

    with pytest.raises(panicfuzz.ProtocolFailure) as e:
        test()
    notes = "\n".join(getattr(e.value, "__notes__", []))
    assert "Schedule(" in notes  # Hypothesis' falsifying example, as code
    assert "panicfuzz" not in notes.replace("panicfuzz.ProtocolFailure", "") and "/fuzz/" not in notes, notes


def test_the_default_search_under_hypothesis_settings_replays_its_database_and_takes_max_examples():
    db = InMemoryExampleDatabase()
    profile = settings(database=db, max_examples=300)
    first = search("hpet", "mainline", hypothesis_settings=profile, max_schedules=None, seed=None, first_only=True)
    assert first.findings and db.data, "the failing example is saved in Hypothesis' database"
    again = search("hpet", "mainline", hypothesis_settings=profile, max_schedules=None, seed=None, first_only=True)
    # the defaults' schedule first (it passes), then the database's example: the same failure
    assert again.findings[0].schedules == 2 and again.findings[0].signature == first.findings[0].signature
    holds = search("hpet", "panic-cpu-check", hypothesis_settings=settings(database=None, max_examples=40), max_schedules=None, seed=None)
    assert holds.schedules == 40 and not holds.findings
    same = [search("hpet", "mainline", hypothesis_settings=settings(database=None, derandomize=True), max_schedules=50, seed=None, first_only=True)
            for _ in range(2)]
    assert [r.findings[0].schedules for r in same] == [same[0].findings[0].schedules] * 2


def test_a_drawn_scenario_is_shrunk_to_the_one_option_the_bug_needs_saved_and_replayed(tmp_path):
    from .test_scenarios import Notifiers

    @settings(FAST, max_examples=400)
    @given(panicfuzz.schedules(Notifiers, "v", corpus=tmp_path))
    def test(s):
        s.check()

    with pytest.raises(panicfuzz.ProtocolFailure, match=r"\[crash_kexec_post_notifiers=True\]"):
        test()
    (path,) = corpus.files(tmp_path)
    data = json.loads(path.read_text())
    assert data["scenario"] == {"ncpus": 2, "crash_kexec_post_notifiers": True, "panic_print": 0}
    case = panicfuzz.Schedule.from_case(path)
    assert case.scenario == {"crash_kexec_post_notifiers": True}
    replayed = execute(case.bound, "v", case.decisions(), logging=True)
    assert replayed.signature == data["failure"]["signature"] and replayed.log_digest() == data["event_log_sha256"]
