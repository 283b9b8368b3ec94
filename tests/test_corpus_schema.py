"""Malformed corpus cases: each is a shipped case with one thing changed, and each gives exit 2
with one line naming the file and the field's path, whichever command reads it."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from panicfuzz import corpus
from panicfuzz.cli import main
from tests.support import CORPUS

SHIPPED = CORPUS / "hpet" / "mainline" / "deadlock-b0baa83d5539.json"
BASE = json.loads(SHIPPED.read_text())
N, STEPS = len(BASE["trace"]), BASE["failure"]["steps"]  # actions, steps


def changed(edit):
    data = json.loads(SHIPPED.read_text())
    edit(data)
    return json.dumps(data, indent=1)


def raw(old: str, new: str) -> str:
    text = SHIPPED.read_text()
    assert old in text
    return text.replace(old, new, 1)


def longer(data):
    data["trace"] += ["cpu0"] * 100
    data["kinds"] += "d" * 100
    data["failure"]["steps"] += 100


# (id, file text, message fragment naming the field and value)
CASES = [
    ("no-switches", changed(lambda d: d["failure"].pop("switches")), "field 'failure.switches' is missing"),
    ("failure-empty", changed(lambda d: d.update(failure={})), "field 'failure.kind' is missing"),
    ("failure-null", changed(lambda d: d.update(failure=None)), "field 'failure' is null, expected an object"),
    ("protocol-int", changed(lambda d: d.update(protocol=5)), "field 'protocol' is 5, expected a string"),
    ("schema-true", changed(lambda d: d.update(schema=True)), "field 'schema' is true; this panicfuzz reads schema 1"),
    ("schema-2", changed(lambda d: d.update(schema=2)), "field 'schema' is 2"),
    ("no-trace", changed(lambda d: d.pop("trace")), "field 'trace' is missing"),
    ("trace-int", changed(lambda d: d["trace"].__setitem__(3, 1)), "field 'trace[3]' is 1, expected an action string"),
    ("trace-arabic-digit", changed(lambda d: d["trace"].__setitem__(3, "cpu\u0661")), "field 'trace[3]' is \"cpu\u0661\", not an action"),
    ("trace-5000-digits", changed(lambda d: d["trace"].__setitem__(3, "cpu" + "9" * 5000)), "field 'trace[3]' is \"cpu99999"),
    ("kinds-short", changed(lambda d: d.update(kinds=d["kinds"][:-1])), f"field 'kinds' has {N - 1} letters for {N} trace actions"),
    ("kinds-letter", changed(lambda d: d.update(kinds="x" + d["kinds"][1:])), "field 'kinds' is \"xdddidd"),
    ("steps-wrong", changed(lambda d: d["failure"].update(steps=30)), f"field 'failure.steps' is 30, but trace and kinds have {STEPS}"),
    ("steps-negative", changed(lambda d: d["failure"].update(steps=-1)), "field 'failure.steps' is -1, expected an integer from 0"),
    ("steps-float", changed(lambda d: d["failure"].update(steps=25.0)), "field 'failure.steps' is 25.0"),
    ("ncpus-huge", raw('"ncpus": 2', '"ncpus": 1' + "0" * 200), "field 'config.ncpus' is 1000000000"),
    ("ncpus-5000-digits", raw('"ncpus": 2', '"ncpus": 1' + "0" * 5000), "not JSON: Exceeds the limit"),
    ("ncpus-infinity", raw('"ncpus": 2', '"ncpus": 1e999'), "field 'config.ncpus' is Infinity"),
    ("seed-beyond-64-bits", changed(lambda d: d["found"].update(seed=2**64)), f"field 'found.seed' is {2**64}, expected an integer from"),
    ("seconds-nan", raw('"seconds": 0.444', '"seconds": NaN'), "not JSON: NaN is not a JSON number"),
    ("no-config", changed(lambda d: d.pop("config")), "field 'config' is missing"),
    ("kind-unknown", changed(lambda d: d["failure"].update(kind="oops")), "field 'failure.kind' is \"oops\""),
    ("signature-kind", changed(lambda d: d["failure"].update(kind="invariant")), "field 'failure.signature' is \"deadlock-b0baa83d5539\", not a invariant signature"),
    ("no-log-digest", changed(lambda d: d.pop("event_log_sha256")), "field 'event_log_sha256' is missing"),
    ("timeline-str", changed(lambda d: d.update(timeline="x")), "field 'timeline' is \"x\", expected a list"),
    ("minimal-str", changed(lambda d: d["shrink"].update(minimal="yes")), "field 'shrink.minimal' is \"yes\", expected true or false"),
    ("history-item", changed(lambda d: d["shrink"].update(history=[{"before": {}}])), "field 'shrink.history[0].before.preemptions' is missing"),
    ("model-no-ref", changed(lambda d: d.update(model={"name": "hpet"})), "field 'model.ref' is missing"),
    ("scenario-list", changed(lambda d: d.update(scenario=[])), "field 'scenario' is [], expected an object"),
    ("scenario-value", changed(lambda d: d.update(scenario={"ncpus": [2]})), "field 'scenario.ncpus' is [2], expected a string"),
    ("scenario-unknown", changed(lambda d: d.update(scenario={"nope": 1})), "field 'scenario': "),
    ("deep-nesting", raw('"schema": 1,', '"schema": 1, "scenario": {"x": ' + "[" * 100_000 + "]" * 100_000 + "},"), "nested too deeply"),
    ("top-level-list", "[]", "expected a JSON object, found []"),
    ("not-json", "{", "not JSON: Expecting property name"),
    # what only the model can say (corpus.check_model)
    ("variant-unknown", changed(lambda d: d.update(variant="nope")), "field 'variant' is \"nope\": hpet has no such variant"),
    ("protocol-unknown", changed(lambda d: d.update(protocol="nope")), "field 'protocol': unknown protocol 'nope'"),
    ("config-max-steps", changed(lambda d: d["config"].update(max_steps=601)), "field 'config.max_steps' is 601, but hpet has max_steps 600"),
    ("config-ncpus", changed(lambda d: d["config"].update(ncpus=3)), "field 'config.ncpus' is 3, but hpet has ncpus 2"),
    ("trace-cpu-missing", changed(lambda d: d["trace"].__setitem__(25, "cpu7")), "field 'trace[25]' is \"cpu7\": hpet has 2 CPUs"),
    ("trace-event-missing", changed(lambda d: d["trace"].__setitem__(4, "#XX@cpu0")), "field 'trace[4]' is \"#XX@cpu0\": hpet has no event \"#XX\""),
    # what only a replay can say (corpus.check_replay)
    ("trace-longer", changed(longer), f"field 'trace[{N}]' onward is never used: the run ends after {N} of {N + 100} actions"),
]


def _one_line_error(capsys, argv, fragment):
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert err.startswith("panicfuzz: error: ") and err.count("\n") == 1 and len(err) < 400, err
    assert fragment in err, err
    return err


@pytest.mark.parametrize("command", ["replay", "shrink"])
@pytest.mark.parametrize("text, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_case_is_one_line_naming_the_field(capsys, tmp_path, command, text, fragment):
    path = tmp_path / SHIPPED.name
    path.write_text(text)
    err = _one_line_error(capsys, [command, str(path)], fragment)
    assert str(path) in err
    assert path.read_text() == text  # left as it was


def test_a_64_bit_dice_seed_is_a_valid_seed(tmp_path):
    """`panicfuzz.schedules()` draws dice seeds up to 2**64 - 1 and saves them in `found.seed`."""
    path = tmp_path / SHIPPED.name
    path.write_text(changed(lambda d: d["found"].update(seed=2**64 - 1)))
    assert corpus.load(path)["found"]["seed"] == 2**64 - 1


def test_renamed_case_is_checked_against_its_signature(capsys, tmp_path):
    path = tmp_path / "deadlock-000000000000.json"
    shutil.copy(SHIPPED, path)
    _one_line_error(capsys, ["replay", str(path)], "field 'failure.signature' is \"deadlock-b0baa83d5539\", but the file is named for deadlock-000000000000")
    other = tmp_path / "bug-for-lkml.json"  # a name that is not a signature is the user's choice
    shutil.copy(SHIPPED, other)
    assert main(["replay", str(other)]) == 0


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: os.mkfifo(p), "not a regular file (a FIFO)"),
        (lambda p: p.symlink_to("/dev/zero"), "not a regular file (a device or socket)"),
        (lambda p: p.mkdir(), "not a regular file (a directory)"),
        (lambda p: os.truncate(p.write_bytes(b"") or p, (8 << 20) + 1), "larger than 8 MiB"),
        (lambda p: p.write_bytes(b'{"a": "\xff"}'), "not UTF-8 text (byte 7)"),
        (lambda p: None, "no such file"),
    ],
    ids=["fifo", "dev-zero", "directory", "huge", "not-utf8", "missing"],
)
def test_only_regular_files_of_bounded_size_are_read(capsys, tmp_path, make, fragment):
    path = tmp_path / "case.json"
    make(path)
    _one_line_error(capsys, ["replay", str(path)], fragment)


def test_a_malformed_case_in_the_corpus_does_not_crash_fuzz(capsys, tmp_path):
    """Issue 18.1: the malformed file is never trusted; the new finding replaces it."""
    saved = tmp_path / "hpet" / "mainline" / SHIPPED.name
    saved.parent.mkdir(parents=True)
    saved.write_text(changed(lambda d: d["failure"].pop("switches")))
    argv = ["fuzz", "hpet", "--variant", "mainline", "--max-schedules", "200", "--corpus", str(tmp_path), "--json"]
    code = main(argv)
    out, _ = capsys.readouterr()
    assert code == 0
    files = {Path(f["corpus_file"]).name for f in json.loads(out)["variants"][0]["new"]}
    assert SHIPPED.name in files
    corpus.load(saved)  # valid again


def test_shrink_does_not_call_a_differing_event_log_reproduced(capsys, tmp_path):
    path = tmp_path / SHIPPED.name
    text = changed(lambda d: d.update(event_log_sha256="0" * 64))
    path.write_text(text)
    code = main(["shrink", str(path)])
    out, _ = capsys.readouterr()
    assert code == 1
    assert "NOT reproduced identically (the event log differs); left unchanged" in out
    assert path.read_text() == text
