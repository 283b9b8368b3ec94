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
