"""The campaign benchmark: scaling from 1 to 2 local workers, and the cost of model coverage.

    python bench/campaign.py [--repeats N] [--json OUT] [--protocol NAME ...] [--round N] [--units N]

Scaling. The same campaign (the given protocols, a fresh corpus each time,
`--units` units of `--round` schedules, coverage on) runs with 1 and with 2
workers, alternately (1, 2, 1, 2, ...) so that the load of a shared machine
hits both alike. Figures per run: schedules/s of wall time; worker CPU per
schedule (the sum of the units' CPU time, which another process's load does
not inflate); the coordinator's own CPU. The speedup is the ratio of the
medians of schedules/s. When the machine is shared, the CPU per schedule says
whether two workers do more work per schedule (overhead) or only get less of
the machine (contention): the wall speedup is then bounded by the CPU the two
workers actually got, reported as `cpu_parallelism` (worker CPU / wall), and
`worker_utilisation` (the units' wall time / (workers x campaign wall)) says
how much of the time the workers had a unit at all (the coordinator's share).

Coverage. Model coverage is measured by replaying under coverage.py only the
runs that reached a new end state. Its cost: the share of worker time spent
in those replays (`coverage_seconds / seconds` over the units), and, for
comparison, the slowdown of tracing every run (a search under the tracer vs
without) that this choice avoids.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panicfuzz import protocols  # noqa: E402
from panicfuzz.campaign import Campaign, Scheduler, load_state  # noqa: E402
from panicfuzz.executor import LocalPool  # noqa: E402
from panicfuzz.modelcov import measure  # noqa: E402
from panicfuzz.search import search  # noqa: E402


def one_campaign(names: list[str], workers: int, round_schedules: int, units: int) -> dict:
    selected = [(m, v.name) for m in map(protocols.load, names) for v in m.variants]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        state = load_state(root / "state", selected)
        pool = LocalPool(workers)
        pool.warm()
        c = Campaign(
            state=state,
            root=root,
            executor=pool,
            scheduler=Scheduler(state, round_schedules, 10**9, "hypothesis", True, masked={}),
            max_schedules=units * round_schedules,
            deadline=None,
            grace=5.0,
            on_event=lambda c, ev: None,
        )
        cpu0, t0 = time.process_time(), time.perf_counter()
        try:
            c.run()
        finally:
            pool.close()
        wall = time.perf_counter() - t0
        ps = list(state.progress.values())
        schedules = sum(p.schedules for p in ps) + sum(p.verify["schedules"] for p in ps)
        worker_cpu = sum(p.cpu for p in ps)
        return {
            "workers": workers,
            "schedules": schedules,
            "wall_s": round(wall, 3),
            "schedules_per_s": round(schedules / wall, 1),
            "worker_cpu_ms_per_schedule": round(1000 * worker_cpu / schedules, 3),
            "cpu_parallelism": round(worker_cpu / wall, 2),
            "worker_utilisation": round(sum(p.seconds for p in ps) / (workers * wall), 3),
            "coordinator_cpu_s": round(time.process_time() - cpu0, 3),
            "coverage_share": round(sum(p.coverage_seconds for p in ps) / max(sum(p.seconds for p in ps), 1e-9), 4),
        }


def tracing_everything(name: str, variant: str, schedules: int) -> dict:
    """What tracing every run would cost: one search plain, then under coverage.py."""
    model = protocols.load(name)
    t0 = time.perf_counter()
    search(model, variant, max_schedules=schedules, seed=1)
    plain = time.perf_counter() - t0
    t0 = time.perf_counter()
    measure(model, lambda: search(model, variant, max_schedules=schedules, seed=1))
    traced = time.perf_counter() - t0
    return {"protocol": name, "variant": variant, "schedules": schedules, "plain_s": round(plain, 3), "traced_s": round(traced, 3), "slowdown": round(traced / plain, 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=3, help="runs per worker count (default: %(default)s)")
    ap.add_argument("--protocol", action="append", help="protocols in the campaign (default: hpet smp_stop kdump)")
    ap.add_argument("--round", type=int, default=200, help="schedules per unit (default: %(default)s)")
    ap.add_argument("--units", type=int, default=40, help="units per campaign (default: %(default)s)")
    ap.add_argument("--json", default="bench/results-campaign.json", metavar="OUT")
    args = ap.parse_args()
    names = args.protocol or ["hpet", "smp_stop", "kdump"]
    runs = []
    for i in range(args.repeats):
        for workers in (1, 2):
            r = one_campaign(names, workers, args.round, args.units)
            runs.append(r)
            print(f"run {i + 1} workers={workers}: {r}", flush=True)
    med = {w: {k: statistics.median(r[k] for r in runs if r["workers"] == w) for k in runs[0] if k != "workers"} for w in (1, 2)}
    speedup = med[2]["schedules_per_s"] / med[1]["schedules_per_s"]
    tracing = tracing_everything("hpet", "panic-cpu-check", 300)
    print("\n| workers | schedules/s | worker CPU ms/schedule | CPU parallelism | worker utilisation | coordinator CPU s | coverage share |")
    print("|---|---|---|---|---|---|---|")
    for w in (1, 2):
        m = med[w]
        print(f"| {w} | {m['schedules_per_s']:.1f} | {m['worker_cpu_ms_per_schedule']:.3f} | {m['cpu_parallelism']:.2f} | {m['worker_utilisation']:.2f} | {m['coordinator_cpu_s']:.2f} | {100 * m['coverage_share']:.1f}% |")
    print(f"\nspeedup 2 vs 1 worker (medians of schedules/s): {speedup:.2f}x (target >= 1.8x)")
    print(f"CPU per schedule 2 vs 1 worker: {med[2]['worker_cpu_ms_per_schedule'] / med[1]['worker_cpu_ms_per_schedule']:.2f}x")
    print(f"coverage on replay of new-state runs: {100 * med[1]['coverage_share']:.1f}% of worker time; "
          f"tracing every run instead: {tracing['slowdown']:.2f}x slower ({tracing})")
    out = {"protocols": names, "round": args.round, "units": args.units, "runs": runs, "medians": med, "speedup": round(speedup, 3), "tracing_everything": tracing}
    Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
