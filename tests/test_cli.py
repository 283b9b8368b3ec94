"""The command line as a user meets it: outputs, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from panicfuzz.cli import main
from tests.support import saved_cases


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_has_every_variant_with_its_claim(capsys):
    code, out, _ = run(capsys, "list", "--json")
    rows = json.loads(out)["variants"]
    assert code == 0
    assert {"protocol", "variant", "expected", "expected_kind", "source"} <= set(rows[0])
    hpet = {r["variant"]: r for r in rows if r["protocol"] == "hpet"}
    assert hpet["mainline"]["expected"] == "fails" and hpet["mainline"]["must"] == ["deadlock on hpet.lock in read_hpet()"]
    assert hpet["panic-cpu-check"]["expected"] == "holds"


def test_fuzz_finds_saves_and_exits_0_as_claimed(capsys, tmp_path):
    code, out, _ = run(capsys, "fuzz", "hpet", "--variant", "mainline", "--max-schedules", "300", "--corpus", str(tmp_path), "--json")
    (report,) = json.loads(out)["variants"]
    assert code == 0 and report["as_expected"]
    new = report["new"][0]
    assert new["kind"] == "deadlock"
    assert set(new) >= {"kind", "message", "signature", "steps", "preemptions", "injected_events"}
    assert new["corpus_file"] and json.loads(open(new["corpus_file"]).read())["protocol"] == "hpet"


def test_fuzz_prints_the_timeline_and_the_replay_recipe(capsys, tmp_path):
    code, out, _ = run(capsys, "fuzz", "hpet", "--variant", "mainline", "--max-schedules", "300", "--first", "--corpus", str(tmp_path))
    assert code == 0
    assert "\nhpet / mainline: DEADLOCK" in out
    assert "CPU0 (kernel mode)" in out and "replay: panicfuzz replay " in out


def test_fuzz_of_a_fix_exits_0(capsys, tmp_path):
    code, out, _ = run(capsys, "fuzz", "hpet", "--variant", "panic-cpu-check", "--max-schedules", "200", "--corpus", str(tmp_path), "--json")
    assert code == 0 and json.loads(out)["variants"][0]["new"] == []


def test_replay_reproduces_and_fixed_variant_survives(capsys):
    files = [str(p) for p in saved_cases("hpet", "mainline")]
    code, out, _ = run(capsys, "replay", *files, "--json")
    assert code == 0
    assert all(r["answer"] == "reproduced" and r["identical"] for r in json.loads(out)["cases"])
    code, out, _ = run(capsys, "replay", *files, "--variant", "panic-cpu-check", "--json")
    assert code == 0
    assert all(r["failure"] is None and r["answer"] in ("survived", "weak") for r in json.loads(out)["cases"])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["fuzz", "nosuch"], "unknown protocol 'nosuch'"),
        (["fuzz", "hpet", "--variant", "v9"], "protocol 'hpet' has no variant 'v9'"),
        (["fuzz", "hpet", "--max-schedules", "0"], "--max-schedules: must be at least 1, not 0"),
        (["replay", "/nonexistent.json"], "/nonexistent.json: no such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err and err.count("\n") == 1


def test_help_teaches(capsys):
    assert main(["fuzz", "--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status" in out and "--max-schedules" in out


def test_a_short_fuzz_counts_the_corpus_as_evidence_for_expected_failures(capsys, tmp_path):
    import shutil

    from tests.support import CORPUS

    # Two schedules cannot find the mainline deadlock: an empty corpus leaves it unexpected (one, the
    # default schedule, never panics: a vacuous "holds" of the other variants)...
    code, out, _ = run(capsys, "fuzz", "hpet", "--max-schedules", "2", "--corpus", str(tmp_path / "empty"), "--json")
    reports = {r["variant"]: r for r in json.loads(out)["variants"]}
    assert code == 1 and not reports["mainline"]["as_expected"]
    # ...while the shipped reproducers show it still fails.
    shutil.copytree(CORPUS / "hpet", tmp_path / "seeded" / "hpet")
    code, out, _ = run(capsys, "fuzz", "hpet", "--max-schedules", "2", "--corpus", str(tmp_path / "seeded"), "--json")
    reports = {r["variant"]: r for r in json.loads(out)["variants"]}
    assert code == 0 and reports["mainline"]["as_expected"]
    assert reports["mainline"]["evidence"].startswith(str(tmp_path / "seeded" / "hpet" / "mainline"))
