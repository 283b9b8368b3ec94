"""Memory of a long search: peak RSS, and what Python holds, as the schedules add up.

    python bench/memory.py [--schedules 100000] [--every 10000] [--strategy hypothesis ...]
                           [--model hpet] [--variant panic-cpu-check] [--traced 20000] [--json OUT]

Each strategy's search runs in a fresh process (so one peak does not hide
another) with the command line's settings (`panicfuzz fuzz`: no database,
seed 0), and reports every `--every` schedules its peak RSS (`ru_maxrss`) so
far. A second process per strategy runs `--traced` schedules under
tracemalloc (several times slower) and reports the traced memory (current and
peak) at the same points, and the lines holding the most at the end. Bounded
memory is a flat line after the first checkpoints: the slope column is MB
per 1,000 schedules between the last two.

Not part of the test suite (figures depend on the machine).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys, tracemalloc
from panicfuzz.loader import resolve
from panicfuzz.search import search
model, variant, strategy, n, every, traced = sys.argv[1:7]
n, every, traced = int(n), int(every), traced == "1"
if traced:
    tracemalloc.start()
points = []
def progress(done, _total):
    if done % every == 0 or done == n:
        point = {"schedules": done, "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
        if traced:
            current, peak = tracemalloc.get_traced_memory()
            point.update(traced_mb=round(current / 2**20, 2), traced_peak_mb=round(peak / 2**20, 2))
        points.append(point)
report = search(resolve(model), variant, strategy=strategy, max_schedules=n, seed=0, progress=progress)
top = []
if traced:
    for stat in tracemalloc.take_snapshot().statistics("lineno")[:8]:
        frame = stat.traceback[0]
        top.append({"where": f"{frame.filename}:{frame.lineno}", "mb": round(stat.size / 2**20, 2), "blocks": stat.count})
print(json.dumps({"schedules": report.schedules, "seconds": report.seconds, "points": points, "top": top}))
"""


def measure(model: str, variant: str, strategy: str, n: int, every: int, traced: bool) -> dict:
    argv = [sys.executable, "-c", CHILD, model, variant, strategy, str(n), str(every), "1" if traced else "0"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parent.parent)
    return json.loads(done.stdout)


def slope(points: list[dict], key: str) -> float | None:
    """MB per 1,000 schedules between the last two checkpoints."""
    if len(points) < 2:
        return None
    a, b = points[-2], points[-1]
    return round((b[key] - a[key]) / (b["schedules"] - a["schedules"]) * 1000, 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="hpet")
    p.add_argument("--variant", default="panic-cpu-check")
    p.add_argument("--strategy", action="append", help="default: hypothesis and random")
    p.add_argument("--schedules", type=int, default=100_000)
    p.add_argument("--every", type=int, default=10_000)
    p.add_argument("--traced", type=int, default=20_000, help="schedules of the tracemalloc run (0: none)")
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args()
    out = {"model": args.model, "variant": args.variant, "schedules": args.schedules, "strategies": {}}
    for strategy in args.strategy or ["hypothesis", "random"]:
        rss = measure(args.model, args.variant, strategy, args.schedules, args.every, False)
        entry = {"rss": rss, "peak_rss_mb": rss["points"][-1]["peak_rss_mb"], "rss_slope_mb_per_1000": slope(rss["points"], "peak_rss_mb")}
        if args.traced:
            every = max(1, min(args.every, args.traced // 4))
            tm = measure(args.model, args.variant, strategy, args.traced, every, True)
            entry.update(traced=tm, traced_peak_mb=tm["points"][-1]["traced_peak_mb"], traced_slope_mb_per_1000=slope(tm["points"], "traced_mb"))
        out["strategies"][strategy] = entry
        print(f"## {args.model}/{args.variant}, --strategy {strategy}: {rss['schedules']} schedules in {rss['seconds']:.0f} s")
        print("| schedules | peak RSS (MB) |")
        print("|---:|---:|")
        for point in rss["points"]:
            print(f"| {point['schedules']} | {point['peak_rss_mb']} |")
        print(f"peak RSS {entry['peak_rss_mb']} MB; slope over the last {args.every} schedules: {entry['rss_slope_mb_per_1000']} MB per 1,000")
        if args.traced:
            print(f"tracemalloc ({args.traced} schedules): " + ", ".join(f"{q['schedules']}: {q['traced_mb']} MB" for q in tm["points"]))
            print(f"  traced peak {entry['traced_peak_mb']} MB; slope {entry['traced_slope_mb_per_1000']} MB per 1,000; held most at the end:")
            for t in tm["top"][:5]:
                print(f"    {t['mb']:>7} MB  {t['blocks']:>7} blocks  {t['where']}")
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
