"""Issue 18: an unusable corpus is found before the search, an internal error is never "bug found",
corpus writes respect the umask and leave nothing behind."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from panicfuzz import corpus
from panicfuzz.cli import EXIT_INTERNAL, main
from panicfuzz.machine import HarnessBug
from tests.support import CORPUS
from tests import toys
from tests.toys import Stuck

SHIPPED = CORPUS / "hpet" / "mainline" / "deadlock-b0baa83d5539.json"


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    return tmp_path / "a"


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda t: (t / "file").write_text("") or t / "file", "is not a directory"),
        (lambda t: (t / "file").write_text("") or t / "file" / "sub", "Not a directory"),
        (_loop, "Too many levels of symbolic links"),
    ],
    ids=["a-file", "under-a-file", "symlink-loop"],
)
@pytest.mark.parametrize("command", ["fuzz", "verify", "campaign"])
def test_an_unusable_corpus_is_reported_before_searching(capsys, tmp_path, make, fragment, command):
    root = make(tmp_path)
    argv = {
        "fuzz": ["fuzz", "hpet", "--variant", "mainline", "--max-schedules", "100000"],
        "verify": ["verify", "hpet", "--variant", "mainline", "--preemptions", "9"],
        "campaign": ["campaign", "hpet", "--max-schedules", "100000"],
    }[command]
    code = main([*argv, "--corpus", str(root)])
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err.count("\n") == 1 and f"panicfuzz: error: {root}: unusable corpus directory" in err and fragment in err


def test_a_read_only_corpus_is_reported_before_searching(capsys, monkeypatch, tmp_path):
    """EROFS as access(2) reports it (root may write anywhere else, so the file system is simulated)."""
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real_access(p, mode))
    monkeypatch.setattr(corpus, "_read_only_fs", lambda p: True)
    code = main(["fuzz", "hpet", "--variant", "mainline", "--corpus", str(tmp_path / "corpus")])
    err = capsys.readouterr().err
    assert code == 2 and err == f"panicfuzz: error: {tmp_path / 'corpus'}: unusable corpus directory: {tmp_path}: read-only file system\n"


def test_an_internal_error_has_its_own_exit_code(capsys, monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise HarnessBug("run ended without an outcome")

    monkeypatch.setattr("panicfuzz.commands.fuzz.search", broken)
    code = main(["fuzz", "hpet", "--variant", "mainline", "--corpus", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL != 1
    assert "Traceback" in err
    assert err.splitlines()[-2:] == [
        "panicfuzz: internal error: HarnessBug: run ended without an outcome",
        "this is a panicfuzz bug, not a finding: please report it with the command line and the traceback above",
    ]


def test_new_files_follow_the_umask_and_replaced_files_keep_their_mode(tmp_path):
    data = json.loads(SHIPPED.read_text())
    old = os.umask(0o027)
    try:
        corpus.write_atomic(tmp_path / "new.json", data)
        kept = tmp_path / "kept.json"
        kept.write_text("{}")
        kept.chmod(0o644)
        corpus.write_atomic(kept, data)
    finally:
        os.umask(old)
    assert (tmp_path / "new.json").stat().st_mode & 0o777 == 0o640
    assert kept.stat().st_mode & 0o777 == 0o644
    assert corpus.load(kept) == data


def test_temporaries_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    stale = tmp_path / f".x.json.{dead.stdout.strip()}.0badf00d.tmp"
    live = tmp_path / f".x.json.{os.getppid()}.0badf00d.tmp"  # a writer still running
    stale.write_text("{")
    live.write_text("{")
    corpus.write_atomic(tmp_path / "x.json", json.loads(SHIPPED.read_text()))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, "x.json"])


def test_the_directory_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")) or real(fd))
    corpus.write_atomic(tmp_path / "x.json", json.loads(SHIPPED.read_text()))
    assert synced[-1] == str(tmp_path) and synced[0].endswith(".tmp")


WATCHED = """
import json, time
from panicfuzz.search import search
from tests import toys
from tests.toys import Stuck
t0 = time.monotonic()
report = search(Stuck, "spins", max_schedules=1000, seed=0)
print(json.dumps({"seconds": time.monotonic() - t0, "schedules": report.schedules,
                  "outcomes": [[f.result.outcome.kind, f.result.outcome.message] for f in report.findings]}))
"""


def test_the_watchdog_turns_a_model_that_never_yields_into_a_model_error():
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PANICFUZZ_STEP_BUDGET="0.2")
    done = subprocess.run([sys.executable, "-c", WATCHED], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    ((kind, message),) = report["outcomes"]
    assert kind == "model-error"
    lines, first = inspect.getsourcelines(Stuck.spin_forever)
    loop = [first + i for i, line in enumerate(lines) if line.strip() in ("while True:", "n += 1")]
    assert message in [f"stuck at toys.py:{n} in spin_forever(): no schedule point for 0.2 s (Python code that never awaits "
                       "a primitive; $PANICFUZZ_STEP_BUDGET sets the budget)" for n in loop]
    assert report["schedules"] < 1000  # the search stopped at the stuck model: each stuck run costs a budget


IDLE = f"{Path(toys.__file__)}:Idle"
GOAL_NEVER = "the goal (CPU0 publishes the flag) was not reached in any of"
NO_ACCESS = "no CPU read or wrote shared state in any of"


@pytest.mark.parametrize(
    "variant, reason",
    [("returns", GOAL_NEVER), ("no-goal", NO_ACCESS), ("works", None)],
    ids=["goal-never-reached", "no-shared-access", "not-vacuous"],
)
@pytest.mark.parametrize("command", ["fuzz", "fuzz-json", "verify", "verify-json", "campaign"])
def test_a_model_that_does_nothing_is_not_called_holds(capsys, tmp_path, command, variant, reason):
    """Issue 18.4: a `cpu_main` that returns at once "holds" vacuously: not as claimed, exit 1."""
    json_out = command.endswith("-json")
    argv = {
        "fuzz": ["fuzz", IDLE, "--variant", variant, "--max-schedules", "40"],
        "verify": ["verify", IDLE, "--variant", variant, "--preemptions", "1"],
        "campaign": ["campaign", f"{IDLE}/{variant}", "--max-schedules", "40", "--workers", "1"],
    }[command.removesuffix("-json")]
    code = main([*argv, "--corpus", str(tmp_path), *(["--json"] if json_out else [])])
    out = capsys.readouterr().out
    assert code == (0 if reason is None else 1), out
    if json_out:
        (entry,) = json.loads(out)["variants"]
        assert entry["as_expected"] is (reason is None)
        assert (entry["vacuous"] or "").startswith(reason or "")
        assert bool(entry["vacuous"]) is (reason is not None)
        assert entry["shared_access"] == (0 if variant != "works" else entry["schedules"])
        if command == "verify-json":
            assert entry["answer"] == ("holds" if reason is None else "vacuous")
    elif reason is None:
        assert "VACUOUS" not in out
    elif command == "fuzz":
        assert f"toy-idle/{variant}  holds  VACUOUS" in out
        assert f"toy-idle/{variant}  holds, but: VACUOUS: {reason}" in out and 'its "holds" proves nothing' in out
    elif command == "verify":
        assert f"toy-idle/{variant}: VACUOUS within 1 preemption and 1 injected event: {reason}" in out
    else:
        assert f"Observation toy-idle/{variant} Never 0 40 (expected holds: VACUOUS: " in out


@pytest.mark.parametrize("signum, code", [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)], ids=["SIGKILL", "SIGINT"])
def test_a_killed_fuzz_keeps_its_first_finding_as_a_complete_case(tmp_path, signum, code):
    """A finding is saved the moment it is shrunk: a kill right after it leaves a valid case that replays."""
    argv = ["fuzz", "hpet", "--variant", "mainline", "--max-schedules", "1000000", "--corpus", str(tmp_path)]
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from panicfuzz.cli import main; sys.exit(main(sys.argv[1:]))", *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not (saved := corpus.files(tmp_path)):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.005)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    if signum == signal.SIGINT:  # (a SIGKILL inside a later save may leave a temporary: the next write removes it)
        assert err.endswith("panicfuzz: interrupted (saved findings are complete files)\n") and not out
        assert [p.name for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".json")] == []
    for path in saved:
        data = corpus.load(path)
        assert path.stem == data["failure"]["signature"]
        assert main(["replay", str(path)]) == 0


def test_a_long_default_search_runs_in_bounded_memory(monkeypatch):
    """Issue 18.7: a Hypothesis engine keeps every example it ran; a fresh one every CHUNK examples
    keeps the search's memory flat (bench/memory.py measures the real figure)."""
    import gc
    import tracemalloc

    from panicfuzz.search import search
    from panicfuzz.strategies import hypothesis

    monkeypatch.setattr(hypothesis, "CHUNK", 100)
    held = {}

    def progress(done, _total):
        if done in (200, 700):
            gc.collect()  # what is held, not garbage waiting for the cycle collector
            held[done] = tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        report = search(toys.Idle, "works", max_schedules=700, seed=0, progress=progress)
    finally:
        tracemalloc.stop()
    assert report.schedules == 700
    assert held[700] - held[200] < 2**19, held  # one engine keeps about 3 kB per example: 1.5 MB for these 500


def test_a_campaign_state_from_before_vacuity_counts_still_loads_unjudged(capsys, tmp_path):
    from panicfuzz.campaign import campaign_dir, read_state, verdicts

    assert main(["campaign", f"{IDLE}/returns", "--max-schedules", "20", "--workers", "1", "--corpus", str(tmp_path)]) == 1
    path = campaign_dir(tmp_path) / "state"
    data = json.loads(path.read_text())
    for saved in data["variants"].values():
        del saved["reached"], saved["accessed"]
    path.write_text(json.dumps(data))
    (v,) = verdicts(read_state(path))
    assert v.ok is True and "VACUOUS" not in v.line  # not counted then: no vacuity verdict
