"""A run is a pure function of (protocol, variant, config, decisions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json
from panicfuzz import protocols
from panicfuzz.run import execute
from panicfuzz.search import search
from panicfuzz.strategies import Replay
m = protocols.load("hpet")
report = search(m, "mainline", max_schedules=300, seed=3)
out = []
for f in report.findings:
    again = execute(m, "mainline", Replay(f.result.trace), logging=True)
    out.append([f.signature, [str(a) for a in f.result.trace], again.log_digest(), f.result.log_digest()])
print(json.dumps([report.schedules, out]))
"""


def _probe(hashseed: str) -> list:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_same_search_and_event_logs_in_two_processes_with_different_hash_seeds():
    a, b = _probe("1"), _probe("12345")
    assert a == b
    schedules, findings = a
    assert findings, "the search found nothing to compare"
    for _, _, replayed, original in findings:
        assert replayed == original


EXPLORED = """
import hashlib, json, sys
import panicfuzz.search as s
for name in sys.argv[1:]:
    __import__(name)  # an unrelated local module full of integer literals
digest = hashlib.sha256()
def recording(real):
    def run(model_cls, variant, decisions, **kw):
        result = real(model_cls, variant, decisions, **kw)
        digest.update(" ".join(map(str, result.trace)).encode() + b"\\n")
        return result
    return run
for name in ("execute", "execute_bare"):  # every run the search makes, on either driver
    if hasattr(s, name):
        setattr(s, name, recording(getattr(s, name)))
from panicfuzz import protocols
report = s.search(protocols.load("hpet"), "mainline", max_schedules=300, seed=3)
print(json.dumps([report.schedules, report.steps, digest.hexdigest(), [f.signature for f in report.findings]]))
"""


def test_search_ignores_unrelated_modules_and_writes_nothing_into_the_current_directory(tmp_path):
    """Hypothesis seeds draws from literals of local modules (and caches them in ./.hypothesis): not ours."""
    (tmp_path / "lits_a.py").write_text("A = [1234567, 17, 99, 4242, 31337, 65000, 2**40 + 3]\n")
    (tmp_path / "lits_b.py").write_text("B = {7: 123456789, 8: 987654321, 9: 555555}\n")
    runs = []
    for hashseed, modules in (("1", ["lits_a"]), ("999", ["lits_b", "lits_a"]), ("31", [])):
        env = {**os.environ, "PYTHONHASHSEED": hashseed, "PYTHONPATH": str(tmp_path)}
        done = subprocess.run([sys.executable, "-c", EXPLORED, *modules], cwd=tmp_path, env=env,
                              capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][0] == 300 and runs[0][3], "the search explored too little to compare"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__") == ["lits_a.py", "lits_b.py"]
