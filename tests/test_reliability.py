"""Issue 18: an unusable corpus is found before the search, an internal error is never "bug found",
corpus writes respect the umask and leave nothing behind."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from panicfuzz import corpus
from panicfuzz.cli import EXIT_INTERNAL, main
from panicfuzz.machine import HarnessBug
from tests.support import CORPUS
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
