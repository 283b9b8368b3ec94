"""Hypothesis stateful test vs the default search (`panicfuzz.search`), both on the trio machine.

    python bench/stateful_vs_default.py [--seeds N] [--json OUT]

For hpet/mainline, per seed: machine runs and seconds until the first failure
is found and shrunk. Prints a markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from hypothesis import HealthCheck, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

import panicfuzz.stateful as stateful
from panicfuzz import protocols
from panicfuzz.search import search


def measure_stateful(seed: int) -> dict:
    calls = [0]
    real = stateful.execute

    def counting(*a, **k):
        calls[0] += 1
        return real(*a, **k)

    stateful.execute = counting
    machine = stateful.schedule_machine("hpet", "mainline")
    quiet = settings(max_examples=2000, stateful_step_count=6, database=None, deadline=None,
                     suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    t0 = time.perf_counter()
    random_state = __import__("random").getstate()
    __import__("random").seed(seed)  # Hypothesis draws its own seed from the global RNG
    try:
        run_state_machine_as_test(machine, settings=quiet)
        found = None
    except stateful.ProtocolFailure as e:
        found = str(e).split("\n")[0]
    finally:
        stateful.execute = real
        __import__("random").setstate(random_state)
    return {"driver": "stateful", "seed": seed, "found": found, "runs": calls[0], "seconds": round(time.perf_counter() - t0, 3)}


def measure_default(seed: int) -> dict:
    t0 = time.perf_counter()
    report = search(protocols.load("hpet"), "mainline", max_schedules=2000, seed=seed, first_only=True)
    f = report.findings[0] if report.findings else None
    return {"driver": "default search", "seed": seed, "found": f.signature if f else None,
            "runs": report.schedules, "seconds": round(time.perf_counter() - t0, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    rows = [measure_stateful(s) for s in range(args.seeds)] + [measure_default(s) for s in range(args.seeds)]
    print("| driver | found | median runs (find + shrink) | median seconds |\n|---|---|---|---|")
    for driver in ("stateful", "default search"):
        mine = [r for r in rows if r["driver"] == driver]
        print(f"| {driver} | {sum(r['found'] is not None for r in mine)}/{len(mine)} | "
              f"{statistics.median(r['runs'] for r in mine):g} | {statistics.median(r['seconds'] for r in mine):.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
