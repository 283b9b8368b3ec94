"""What people read: the main job's summary, timeline formats, replay answers, CLI conventions."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from panicfuzz.cells import raw_spinlock_t
from panicfuzz.cli import main
from panicfuzz.kernel import goal_reached, raw_spin_lock, raw_spin_unlock
from panicfuzz.machine import Kind
from panicfuzz.model import Event, Model, Variant
from tests.support import CORPUS

GOLDEN = Path(__file__).parent / "golden"
CASE = CORPUS / "hpet" / "mainline" / "deadlock-e7599f253a99.json"  # 1 preemption, a masked pending IPI


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def golden(name: str, text: str) -> None:
    """`text` equals tests/golden/<name> (PANICFUZZ_GOLDEN=update rewrites it: review the diff)."""
    path = GOLDEN / name
    if os.environ.get("PANICFUZZ_GOLDEN") == "update":
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs: if the change is intended, rerun with PANICFUZZ_GOLDEN=update and review the diff"


def seconds_masked(text: str) -> str:
    """Wall-clock figures vary from run to run; everything else is deterministic."""
    return re.sub(r"\d+\.\d+( s|$)", r"X\1", text, flags=re.M)


# -- the main job --------------------------------------------------------------------


def test_fuzz_summary_counts_known_bugs_and_leaves_the_corpus_alone(capsys, tmp_path):
    shutil.copytree(CORPUS / "hpet", tmp_path / "hpet")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out, _ = run(capsys, "fuzz", "hpet", "--max-schedules", 60, "--corpus", tmp_path)
    assert code == 0
    golden("fuzz-summary.txt", seconds_masked(out).replace(str(tmp_path), "CORPUS"))
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_fuzz_summary_names_the_default_corpus(capsys, tmp_path, monkeypatch):
    # no --corpus: the project's default directory is the one searched, named in the summary and JSON
    shutil.copytree(CORPUS / "hpet", tmp_path / "corpus" / "hpet")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "fuzz", "hpet", "--variant", "mainline", "--max-schedules", 20)
    assert code == 0 and "None" not in out
    assert "corpus: unchanged (corpus)" in out and "files in corpus/<protocol>/<variant>/" in out
    code, out, _ = run(capsys, "fuzz", "hpet", "--variant", "mainline", "--max-schedules", 20, "--json")
    assert json.loads(out)["corpus"] == "corpus"


def test_fuzz_draws_and_saves_only_new_findings(capsys, tmp_path):
    code, out, _ = run(capsys, "fuzz", "hpet", "--variant", "mainline", "--max-schedules", 300, "--first", "--corpus", tmp_path, "--width", 100)
    assert code == 0
    assert "NEW in hpet/mainline: deadlock-" in out and "CPU0 (kernel mode)" in out
    assert max(len(line) for line in out.splitlines() if "/tmp" not in line) <= 100
    (saved,) = tmp_path.rglob("*.json")
    assert f"replay: panicfuzz replay {saved}" in out and f"corpus: 1 file added (new signatures):\n  {saved}" in out
    code, out, _ = run(capsys, "fuzz", "hpet", "--variant", "mainline", "--max-schedules", 300, "--corpus", tmp_path, "--json")
    doc = json.loads(out)
    assert doc["schema"] == "panicfuzz.fuzz/1" and doc["corpus_changes"] == [] or all(c["file"] != str(saved) for c in doc["corpus_changes"])
    (row,) = doc["variants"]
    assert row["claim"] == {"expected": "fails", "kind": None, "must": ["deadlock on hpet.lock in read_hpet()"], "must_not": []} and row["as_expected"]
    assert any(h["file"] == str(saved) and h["schedules"] > 0 for h in row["known"])


def test_fuzz_exit_code_follows_the_claim(capsys, tmp_path):
    # the claimed deadlock is not found in one schedule and no saved case proves it: not as claimed
    assert run(capsys, "fuzz", "hpet", "--variant", "mainline", "--max-schedules", 1, "--corpus", tmp_path)[0] == 1
    assert run(capsys, "fuzz", "hpet", "--variant", "panic-cpu-check", "--max-schedules", 50, "--corpus", tmp_path)[0] == 0


# -- timelines -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt, width", [("text", 100), ("mail", 200), ("markdown", 200)])
def test_show_formats(capsys, fmt, width):
    code, out, _ = run(capsys, "show", CASE, "--format", fmt, "--width", width, "--steps")
    assert code == 0
    golden(f"show-{fmt}.txt", out)


def test_timeline_marks_preemptions_and_masked_pending_interrupts_and_wraps(capsys):
    _, out, _ = run(capsys, "show", CASE, "--width", 80)
    lines = out.splitlines()
    assert max(map(len, lines)) <= 80 and "…" not in out
    assert any(line.startswith("--- preempted at decision 6: CPU0 -> CPU1 ---") for line in lines)
    assert "(REBOOT_VECTOR pending" in out
    _, mail, _ = run(capsys, "show", CASE, "--format", "mail")
    assert mail.isascii() and max(map(len, mail.splitlines())) <= 72


@pytest.mark.parametrize("fmt, start", [("html", "<!DOCTYPE html>"), ("svg", "<svg")])
def test_show_exports_html_and_svg(capsys, fmt, start):
    code, out, _ = run(capsys, "show", CASE, "--format", fmt)
    assert code == 0 and out.lstrip().startswith(start) and "raw_spin_trylock" in out


def test_diff_starts_at_the_first_divergence(capsys):
    code, out, _ = run(capsys, "diff", CASE, "--variant", "panic-cpu-check", "--width", 160)
    assert code == 0
    head = out.splitlines()[:3]
    assert head[2].startswith("first difference: event ")
    assert " | " in out and "DEADLOCK" in out and "HOLDS" in out
    doc = json.loads(run(capsys, "diff", CASE, CASE, "--json")[1])
    assert doc["schema"] == "panicfuzz.diff/1" and doc["identical"]


# -- replay answers ------------------------------------------------------------------


class Window(Model):
    """A #GP in a locked region whose handler takes the lock; the fix has no locked region."""

    name = "toy-window"
    seed = 900
    ncpus = 1
    goal = "the update is done"
    max_steps = 50
    variants = (
        Variant("locked", "fails", "the update runs under the lock", kind="deadlock"),
        Variant("lockless", "holds", "the update takes no lock: no window for the #GP"),
    )

    def __init__(self, variant: str):
        super().__init__(variant)
        self.lock = raw_spinlock_t("lock")
        self.other = raw_spinlock_t("other")
        self.inside = False

    async def cpu_main(self, cpu: int) -> None:
        lock = self.lock if self.variant == "locked" else self.other
        await raw_spin_lock(lock)
        self.inside = lock is self.lock
        await raw_spin_unlock(lock)
        self.inside = False
        await goal_reached("update done")

    async def gp(self) -> None:
        await raw_spin_lock(self.lock)

    events = (Event("#GP", Kind.EXC, gp, guard=lambda self, cpu: self.inside),)


def test_replay_on_a_fix_without_the_window_is_a_weak_survival(capsys, tmp_path):
    assert run(capsys, "fuzz", f"{__name__}:Window", "--variant", "locked", "--max-schedules", 50, "--corpus", tmp_path)[0] == 0
    (case,) = tmp_path.rglob("*.json")
    code, out, _ = run(capsys, "replay", case, "--variant", "lockless")
    assert code == 0
    assert f"{case} on lockless: survived, but the schedule diverged at decision 2 (#GP on CPU0 no longer offered) and the injected #GP was never delivered" in out
    assert out.splitlines()[-1] == "1 case on lockless: 0 survived the same schedule, 1 survived only after a divergence (weak), 0 failed"
    code, out, _ = run(capsys, "replay", case, "--variant", "lockless", "--strict", "-q", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["schema"] == "panicfuzz.replay/1" and doc["totals"]["answers"] == {"weak": 1}
    assert doc["cases"][0]["diverged"] == {"decision": 2, "not_offered": "#GP@cpu0", "not_delivered": ["#GP@cpu0"]}
    code, out, _ = run(capsys, "replay", case, "--variant", "lockless", "--show")
    assert "toy-window / lockless: HOLDS" in out


def test_replay_quiet_prints_only_failures_and_totals(capsys):
    files = sorted((CORPUS / "hpet" / "mainline").glob("*.json"))
    code, out, _ = run(capsys, "replay", *files, "-q")
    assert code == 0 and out == f"{len(files)} cases: {len(files)} reproduced identically, 0 not\n"
    code, out, _ = run(capsys, "replay", *files, "--variant", "panic-nmi-context")
    assert code == 0 and out.count("survived the same schedule") == len(files) + 1


# -- conventions ---------------------------------------------------------------------


def test_json_into_a_closed_pipe_is_quiet():
    """`panicfuzz ... --json | head -c 10`: no BrokenPipeError traceback."""
    cmd = [sys.executable, "-m", "panicfuzz", "show", CASE, "--format", "svg", "--json"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.read(10) == b'{\n "schema'
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait() in (0, 141) and err == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fuzz", "--max-schedules", "0"], "argument --max-schedules: must be at least 1, not 0"),
        (["fuzz", "--max-schedules", "-10"], "must be at least 1, not -10"),
        (["fuzz", "--max-schedules", "1e23"], "'1e23' is not a whole number"),
        (["campaign", "--minutes", "-1"], "must be a finite number above 0, not -1"),
        (["campaign", "--minutes", "nan"], "not nan"),
        (["fuzz", "--corpus", ""], "argument --corpus: a directory name is not empty"),
        (["fuzz", ""], "a protocol name is not empty"),
        (["fuzz", "--strategy", "nope"], "argument --strategy: invalid choice"),
        (["show", CASE, "--width", "10"], "argument --width: must be at least 40"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_quiet_and_verbose_on_every_command(capsys):
    _, out, _ = run(capsys, "--help")
    commands = re.findall(r"^    (\w+) ", out, flags=re.M)
    assert {"list", "fuzz", "replay", "show", "diff", "verify", "shrink", "campaign"} <= set(commands)
    for command in commands:
        _, helptext, _ = run(capsys, command, "--help")
        assert "-q, --quiet" in helptext and "-v, --verbose" in helptext and "exit status" in helptext
    code, out, _ = run(capsys, "list", "-q")
    assert code == 0 and "hpet mainline" in out.splitlines()


def test_list_in_a_pipe_keeps_names_whole(capsys):
    _, out, _ = run(capsys, "list")  # capsys: not a terminal
    rows = [line.split()[:2] for line in out.splitlines()[1:]]
    assert ["console", "no-spin-on-panic-cpu"] in rows
    doc = json.loads(run(capsys, "list", "--json")[1])
    assert doc["schema"] == "panicfuzz.list/1" and {"protocol", "variant", "expected", "expected_kind", "source"} <= set(doc["variants"][0])


def _keys(data) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in _keys(v)}
    if isinstance(data, list):
        return {k for v in data for k in _keys(v)}
    return set()


def test_every_json_field_is_documented(capsys, tmp_path):
    docs = (Path(__file__).parent.parent / "docs" / "json.md").read_text()
    files = sorted((CORPUS / "hpet" / "mainline").glob("*.json"))
    runs = [
        ["list", "--json"],
        ["fuzz", "hpet", "--variant", "mainline", "--max-schedules", 300, "--first", "--corpus", tmp_path, "--json"],
        ["replay", *files, "--variant", "panic-cpu-check", "--json"],
        ["replay", *files, "--json"],
        ["show", CASE, "--json"],
        ["diff", CASE, "--variant", "panic-cpu-check", "--json"],
        ["verify", "hpet", "--variant", "mainline", "--preemptions", 1, "--events", 1, "--corpus", tmp_path, "--json"],
    ]
    for argv in runs:
        doc = json.loads(run(capsys, *argv)[1])
        assert doc["schema"] == f"panicfuzz.{argv[0]}/1"
        missing = {k for k in _keys(doc) if f"`{k}`" not in docs} - set(doc.get("totals", {}).get("answers", {}))
        assert not missing, f"{argv[0]} --json fields not in docs/json.md: {sorted(missing)}"


def test_fuzz_quiet_shows_only_what_is_unexpected_or_new_and_verbose_reports_progress(capsys, tmp_path):
    code, out, err = run(capsys, "fuzz", "hpet", "--max-schedules", 2, "--corpus", tmp_path, "-q")
    assert code == 1  # two schedules cannot find the claimed deadlock, and no saved case proves it
    rows = [line.split()[0] for line in out.splitlines()[1:] if line[:1].strip() and "/" in line.split()[0]]
    assert rows == ["hpet/mainline"] and "UNEXPECTED" in out
    assert "not as claimed:\n  hpet/mainline  fails (deadlock on hpet.lock in read_hpet()), but: no claimed failure found" in out
    _, _, err = run(capsys, "fuzz", "hpet", "--variant", "panic-cpu-check", "--max-schedules", 5, "--corpus", tmp_path, "-v")
    assert "hpet/panic-cpu-check: done in" in err
