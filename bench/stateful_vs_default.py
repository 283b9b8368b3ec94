"""The Hypothesis stateful facade (`panicfuzz.stateful`) vs the default search (`panicfuzz.search`).

    python bench/stateful_vs_default.py [--seeds N] [--only PROTOCOL/VARIANT ...] [--json OUT]

On every shipped variant claimed to fail (`panicfuzz list --json`), per seed
and driver: machine runs (every run of either driver, the shrinker's and the
final replay included) and seconds until the first failure is found and
shrunk. Prints a markdown table (medians over the seeds) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

from hypothesis import HealthCheck, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from panicfuzz import hypothesis_api, loader, stateful
from panicfuzz.bare import BareMachine
from panicfuzz.machine import Machine
from panicfuzz.search import search

BUDGET = 3000  # runs (examples) a driver may spend before the seed counts as not found


class Counter:
    """Counts machine runs of both drivers (trio and bare) while active."""

    def __init__(self) -> None:
        self.runs = 0

    def __enter__(self) -> "Counter":
        self.real = Machine.run, BareMachine.run

        def counted(real):
            def run(machine):
                self.runs += 1
                return real(machine)

            return run

        Machine.run, BareMachine.run = counted(self.real[0]), counted(self.real[1])
        return self

    def __exit__(self, *exc) -> None:
        Machine.run, BareMachine.run = self.real


def failing_variants() -> list[tuple[str, str]]:
    out = subprocess.run([sys.executable, "-m", "panicfuzz", "list", "--json"], capture_output=True, text=True, check=True).stdout
    return [(r["protocol"], r["variant"]) for r in json.loads(out)["variants"] if r["origin"] == "shipped" and r["expected"] == "fails"]


def measure_stateful(protocol: str, variant: str, seed: int) -> dict:
    hypothesis_api._shrunk.clear()  # every seed shrinks its own failure
    machine = stateful.schedule_machine(protocol, variant)
    # The facade's own settings (no Hypothesis shrink phase: panicfuzz's shrinkers shrink the failure).
    quiet = settings(machine.TestCase.settings, max_examples=BUDGET, stateful_step_count=6, database=None,
                     suppress_health_check=list(HealthCheck), verbosity=Verbosity.quiet)
    state = random.getstate()
    random.seed(seed)  # Hypothesis draws its own seed from the global RNG
    t0 = time.perf_counter()
    try:
        with Counter() as c:
            run_state_machine_as_test(machine, settings=quiet)
        found = None
    except stateful.ProtocolFailure as e:
        found = str(e).split("\n")[0]
    finally:
        random.setstate(state)
    return row("stateful", protocol, variant, seed, found, c.runs, time.perf_counter() - t0)


def measure_default(protocol: str, variant: str, seed: int) -> dict:
    t0 = time.perf_counter()
    with Counter() as c:
        report = search(loader.resolve(protocol), variant, max_schedules=BUDGET, seed=seed, first_only=True)
    f = report.findings[0] if report.findings else None
    return row("default search", protocol, variant, seed, f.signature if f else None, c.runs, time.perf_counter() - t0)


def row(driver: str, protocol: str, variant: str, seed: int, found: str | None, runs: int, seconds: float) -> dict:
    return {"driver": driver, "protocol": protocol, "variant": variant, "seed": seed, "found": found, "runs": runs, "seconds": round(seconds, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--only", nargs="*", metavar="PROTOCOL/VARIANT", help="these variants only")
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args()
    jobs = failing_variants()
    if args.only:
        jobs = [j for j in jobs if "/".join(j) in args.only]
    rows = []
    for protocol, variant in jobs:
        for seed in range(args.seeds):
            rows += [measure_stateful(protocol, variant, seed), measure_default(protocol, variant, seed)]
            print(f"{protocol}/{variant} seed {seed}: " + ", ".join(f"{r['driver']} {r['runs']} runs {r['seconds']} s" for r in rows[-2:]), file=sys.stderr)
    print("| variant | stateful: found, median runs, median s | default search: found, median runs, median s | runs ratio |")
    print("|---|---|---|---|")
    totals = {"stateful": [], "default search": []}
    for protocol, variant in jobs:
        cells, medians = [], []
        for driver in totals:
            mine = [r for r in rows if r["driver"] == driver and (r["protocol"], r["variant"]) == (protocol, variant)]
            runs = statistics.median(r["runs"] for r in mine)
            totals[driver] += mine
            medians.append(runs)
            cells.append(f"{sum(r['found'] is not None for r in mine)}/{len(mine)}, {runs:g}, {statistics.median(r['seconds'] for r in mine):.2f}")
        print(f"| {protocol}/{variant} | {cells[0]} | {cells[1]} | {medians[0] / max(medians[1], 1):.2f} |")
    cells = [f"{sum(r['found'] is not None for r in t)}/{len(t)}, {sum(r['runs'] for r in t)}, {sum(r['seconds'] for r in t):.1f}" for t in totals.values()]
    print(f"| total (runs, seconds: sums) | {cells[0]} | {cells[1]} | |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"budget": BUDGET, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
