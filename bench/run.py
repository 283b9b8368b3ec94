"""The search benchmark: how fast each strategy finds each known bug, how small
the reproducers get, how fast the machine runs, and whether the fixed
variants verify within small bounds. Not part of the test suite.

    python bench/run.py [--quick] [--json OUT] [--jobs N] [--protocol NAME ...]

Prints a markdown table per section and writes every measurement as JSON.
Every protocol module present when it runs is included; one that fails to
import (a model still being written) is skipped with a note.

Sections
  finding     every variant expected to fail x every strategy (hypothesis,
              random, pct d=1..3, exhaustive) x seeds: found rate within a
              fixed schedule budget; median schedules and seconds to the
              first failure; the final reproducer (preemptions/injected
              events/steps, median); the exhaustive minimum for the same
              failure signature and how many reproducers hit it; shrink
              seconds (everything between the first failing run and the
              finished reproducer: the strategy's own shrinking, the trace
              passes, the replay). Exhaustive search is deterministic (one run).
  throughput  per model: steps/s and schedules/s of the trio machine and of
              the bare-coroutine driver on the same schedules, and the ratio;
              plus the cost of an empty trio.run(), to show where time goes.
  verify      every variant expected to hold, bounded exhaustive search
              within 2 preemptions and 2 injected events (--quick: 1 and 1,
              with a schedule cap).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import multiprocessing
import os
import pkgutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from panicfuzz import protocols  # noqa: E402
from panicfuzz.model import Model  # noqa: E402

STRATEGIES = [("hypothesis", 0), ("random", 0), ("pct", 1), ("pct", 2), ("pct", 3), ("exhaustive", 0)]
PROFILES = {
    # seeds; schedule budget per search; verify bounds and schedule cap; schedule cap of
    # each exhaustive-minimum computation; schedules per throughput measurement
    "quick": {"seeds": 3, "budget": 200, "verify": (1, 1), "verify_cap": 300, "minimum_cap": 300, "tput": 100},
    "full": {"seeds": 10, "budget": 2000, "verify": (2, 2), "verify_cap": 2_000_000, "minimum_cap": 400_000, "tput": 500},
}


def discover(only: list[str] | None) -> tuple[dict[str, type[Model]], dict[str, str]]:
    """Every protocol model that imports; the others with the reason (import errors are expected mid-work)."""
    models, skipped = {}, {}
    for info in pkgutil.iter_modules(protocols.__path__):
        if info.name.startswith("_") or (only and info.name not in only):
            continue
        try:
            module = importlib.import_module(f"panicfuzz.protocols.{info.name}")
        except Exception as e:  # a model being written: note it, bench the rest
            skipped[info.name] = f"{type(e).__name__}: {e}"
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Model) and obj is not Model and obj.__module__ == module.__name__:
                models[obj.name] = obj
    return dict(sorted(models.items(), key=lambda kv: (kv[1].seed, kv[0]))), skipped


_MODELS: dict[str, type[Model]] = {}


def _model(name: str) -> type[Model]:
    if not _MODELS:
        _MODELS.update(discover(None)[0])
    return _MODELS[name]


# -- jobs (run in worker processes) ---------------------------------------------


def warm_up() -> None:
    """Pay each strategy's one-time costs (imports, first calls) before anything is timed."""
    from panicfuzz.search import search

    if not _MODELS:
        _MODELS.update(discover(None)[0])
    model = next(iter(_MODELS.values()))
    for strategy, depth in STRATEGIES:
        search(model, model.variants[0].name, strategy=strategy, depth=depth or 2, max_schedules=5, first_only=True)


def job_search(args: tuple) -> dict:
    from panicfuzz.search import search

    protocol, variant, strategy, depth, seed, budget = args
    model = _model(protocol)
    t0 = time.perf_counter()
    try:
        r = search(model, variant, strategy=strategy, depth=depth or 2, seed=seed, max_schedules=budget, first_only=True)
    except Exception as e:
        return {"protocol": protocol, "variant": variant, "strategy": _label(strategy, depth), "seed": seed, "error": repr(e)}
    out = {"protocol": protocol, "variant": variant, "strategy": _label(strategy, depth), "seed": seed, "found": bool(r.findings)}
    out["total_seconds"] = round(time.perf_counter() - t0, 3)
    if r.findings:
        f = r.findings[0]
        out.update(
            kind=f.result.outcome.kind,
            signature=f.signature,
            schedules=f.schedules,
            seconds=f.seconds,
            first=f.first.as_dict(),
            final=f.result.size.as_dict(),
            shrink_seconds=round(r.seconds - f.seconds, 3),
        )
    return out


def job_minima(args: tuple) -> list[dict]:
    """The exhaustive minimum of every signature found on one variant (one search serves them all)."""
    from panicfuzz.strategies.exhaustive import execute_cut, minima

    protocol, variant, signatures, cap = args
    model = _model(protocol)
    t0 = time.perf_counter()
    low = minima(lambda s: execute_cut(model, variant, s), model, signatures, max_preemptions=3, max_schedules=cap)
    seconds = round(time.perf_counter() - t0, 2)
    return [{"protocol": protocol, "variant": variant, "signature": sig, "minimum": low[sig], "seconds": seconds} for sig in signatures]


def job_throughput(args: tuple) -> dict:
    from panicfuzz.bare import execute_bare
    from panicfuzz.run import execute
    from panicfuzz.strategies import RandomSource, Replay

    protocol, n = args
    model = _model(protocol)
    out = {"protocol": protocol}
    for variant in [v.name for v in model.variants][:1]:
        traces = [execute(model, variant, RandomSource(7, i)).trace for i in range(n)]  # warm-up and schedules
        for name, ex in (("trio", execute), ("bare", execute_bare)):
            t0 = time.perf_counter()
            steps = sum(ex(model, variant, Replay(t)).size.steps for t in traces)
            dt = time.perf_counter() - t0
            out[name] = {"schedules_per_s": round(n / dt), "steps_per_s": round(steps / dt), "steps_per_schedule": round(steps / n, 1)}
    import trio

    from panicfuzz.machine import Machine

    # What the trio driver would give if one trio.run() hosted many schedules.
    machines = [Machine(model(variant), Replay(t), max_steps=model.max_steps) for t in traces]

    async def all_in_one() -> None:
        for m in machines:
            await m._main()

    t0 = time.perf_counter()
    trio.run(all_in_one)
    dt = time.perf_counter() - t0
    assert all(m.outcome is not None for m in machines)
    out["trio_shared_run"] = {"schedules_per_s": round(n / dt)}

    async def nothing() -> None:
        pass

    t0 = time.perf_counter()
    for _ in range(n):
        trio.run(nothing)
    out["empty_trio_run_ms"] = round((time.perf_counter() - t0) / n * 1000, 3)
    out["ratio"] = round(out["trio"]["schedules_per_s"] / out["bare"]["schedules_per_s"], 2)
    per_trio = 1000 / out["trio"]["schedules_per_s"]
    per_bare = 1000 / out["bare"]["schedules_per_s"]
    out["ms_per_schedule"] = {"trio": round(per_trio, 3), "bare": round(per_bare, 3)}
    # What the trio driver adds per schedule, and how much of that is trio.run() itself.
    out["trio_overhead_ms"] = round(per_trio - per_bare, 3)
    # The rest is per hand-off: a CPU parks (wait_task_rescheduled) and wakes the next (reschedule).
    from panicfuzz.trace import Run

    switches = 0
    for t in traces:
        cpus = [a.cpu for a in t if isinstance(a, Run)]
        switches += sum(a != b for a, b in zip(cpus, cpus[1:]))
    out["switches_per_schedule"] = round(switches / n, 1)
    rest = out["trio_overhead_ms"] - out["empty_trio_run_ms"]
    out["us_per_switch"] = round(1000 * rest / max(1, switches / n), 1)
    return out


def job_verify(args: tuple) -> dict:
    from panicfuzz.search import verify

    protocol, variant, k, e, cap = args
    model = _model(protocol)
    v = verify(model, variant, preemptions=k, events=e, max_schedules=cap)
    answer = "counterexample" if v.findings else ("holds" if v.complete else "inconclusive")
    return {
        "protocol": protocol,
        "variant": variant,
        "bounds": [k, e],
        "answer": answer,
        "schedules": v.schedules,
        "states": v.states,
        "seconds": v.seconds,
        "findings": [f.signature for f in v.findings],
    }


def _label(strategy: str, depth: int) -> str:
    return f"pct d={depth}" if strategy == "pct" else strategy


# -- tables ---------------------------------------------------------------------


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _fmt(x, nd=3):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}g}" if x < 100 else f"{x:.0f}"
    return str(x)


def finding_table(rows: list[dict], minima: dict) -> tuple[str, list[dict]]:
    lines = [
        "| protocol/variant | strategy | found | median schedules | median s | reproducer p/i/steps (median) | exhaustive min p/i | at min / min known | shrink s (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    summary = []
    keys = sorted({(r["protocol"], r["variant"]) for r in rows})
    for key in keys:
        for label in [_label(s, d) for s, d in STRATEGIES]:
            rs = [r for r in rows if (r["protocol"], r["variant"]) == key and r["strategy"] == label]
            if not rs:
                continue
            hit = [r for r in rs if r.get("found")]
            known = [r for r in hit if minima.get((*key, r["signature"]))]
            at_min = [r for r in known if minima[(*key, r["signature"])] == [r["final"]["preemptions"], r["final"]["injected_events"]]]
            mins = sorted({tuple(minima[(*key, r["signature"])]) for r in hit if minima.get((*key, r["signature"]))})
            med = {k: _med([r["final"][k] for r in hit]) for k in ("preemptions", "injected_events", "steps")}
            s = {
                "protocol": key[0],
                "variant": key[1],
                "strategy": label,
                "runs": len(rs),
                "found": len(hit),
                "median_schedules": _med([r["schedules"] for r in hit]),
                "median_seconds": _med([r["seconds"] for r in hit]),
                "median_shrink_seconds": _med([r["shrink_seconds"] for r in hit]),
                "at_minimum": len(at_min),
                "minimum_known": len(known),
                "errors": [r["error"] for r in rs if "error" in r],
            }
            summary.append(s)
            repro = "/".join(_fmt(med[k]) for k in ("preemptions", "injected_events", "steps")) if hit else "–"
            lines.append(
                f"| {key[0]}/{key[1]} | {label} | {len(hit)}/{len(rs)} | {_fmt(s['median_schedules'])} | "
                f"{_fmt(s['median_seconds'])} | {repro} | {', '.join(f'{p}/{i}' for p, i in mins) or '–'} | "
                f"{len(at_min)}/{len(known)} | {_fmt(s['median_shrink_seconds'])} |"
            )
    return "\n".join(lines), summary


def throughput_table(rows: list[dict]) -> str:
    lines = [
        "| protocol | steps/schedule | trio steps/s | trio schedules/s | bare steps/s | bare schedules/s | trio/bare | trio overhead ms/schedule | of which empty trio.run ms | CPU switches/schedule | rest per switch µs | trio, one trio.run for all: schedules/s (/bare) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, b = r["trio"], r["bare"]
        lines.append(
            f"| {r['protocol']} | {t['steps_per_schedule']} | {t['steps_per_s']} | {t['schedules_per_s']} | {b['steps_per_s']} | "
            f"{b['schedules_per_s']} | {r['ratio']} | {r['trio_overhead_ms']} | {r['empty_trio_run_ms']} | {r['switches_per_schedule']} | {r['us_per_switch']} | "
            f"{r['trio_shared_run']['schedules_per_s']} ({r['trio_shared_run']['schedules_per_s'] / b['schedules_per_s']:.2f}) |"
        )
    return "\n".join(lines)


def verify_table(rows: list[dict]) -> str:
    lines = ["| protocol/variant | bounds K/E | answer | schedules | distinct states | seconds |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['protocol']}/{r['variant']} | {r['bounds'][0]}/{r['bounds'][1]} | {r['answer']} | {r['schedules']} | {r['states']} | {r['seconds']} |"
        )
    return "\n".join(lines)


def targets(summary: list[dict], tput: list[dict], ver: list[dict], seeds: int) -> list[str]:
    out = []
    for key in sorted({(s["protocol"], s["variant"]) for s in summary}):
        by = {s["strategy"]: s for s in summary if (s["protocol"], s["variant"]) == key}
        h = by.get("hypothesis")
        if h is None:
            continue
        ok = h["found"] == h["runs"] and (h["median_seconds"] or 99) < 1
        out.append(f"- {key[0]}/{key[1]}: default found {h['found']}/{h['runs']}, median {_fmt(h['median_seconds'])} s: {'met' if ok else 'MISSED'}")
        rivals = [by[k] for k in by if k in ("random", "pct d=1", "pct d=2", "pct d=3") and by[k]["found"]]
        if rivals:
            best = min(rivals, key=lambda s: (-s["found"], s["median_seconds"]))
            slower = h["found"] < best["found"] or (h["median_seconds"] or 99) > best["median_seconds"]
            out.append(
                f"  vs best of random/PCT ({best['strategy']}: {best['found']}/{best['runs']}, median {_fmt(best['median_seconds'])} s): "
                f"{'SLOWER' if slower else 'no slower'}"
            )
        for s in by.values():
            if s["at_minimum"] < s["minimum_known"]:
                out.append(f"  {s['strategy']}: {s['minimum_known'] - s['at_minimum']} reproducer(s) ABOVE the exhaustive minimum")
            if s["minimum_known"] < s["found"]:
                out.append(f"  {s['strategy']}: {s['found'] - s['minimum_known']} reproducer(s) whose minimum was not computed within the cap")
    for r in tput:
        out.append(f"- {r['protocol']} throughput trio/bare = {r['ratio']} ({'met' if r['ratio'] >= 0.5 else 'MISSED'}; trio adds {r['trio_overhead_ms']} ms per schedule, of which trio.run() alone {r['empty_trio_run_ms']} ms)")
    for r in ver:
        out.append(f"- verify {r['protocol']}/{r['variant']} within {r['bounds'][0]}/{r['bounds'][1]}: {r['answer']}")
    return out


# -- main -------------------------------------------------------------------------


def _note(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _mapped(pool, fn, jobs: list, what: str, t0: float) -> list:
    """pool.map with a progress line on stderr; results in job order."""
    out: list = [None] * len(jobs)
    step = max(1, len(jobs) // 10)
    for n, (i, r) in enumerate(pool.imap_unordered(_indexed, [(fn, i, j) for i, j in enumerate(jobs)]), 1):
        out[i] = r
        if n % step == 0 or n == len(jobs):
            _note(f"{what}: {n}/{len(jobs)} ({time.perf_counter() - t0:.0f} s)")
    return out


def _indexed(args: tuple):
    fn, i, job = args
    return i, fn(job)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer seeds and schedules, smaller verify bounds (< 2 min on 2 cores)")
    p.add_argument("--json", metavar="OUT", help="write every measurement here (default: bench/results[-quick].json)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    p.add_argument("--protocol", action="append", help="only this protocol (repeatable)")
    args = p.parse_args(argv)
    prof = PROFILES["quick" if args.quick else "full"]
    t0 = time.perf_counter()
    models, skipped = discover(args.protocol)
    fails = [(m.name, v.name) for m in models.values() for v in m.variants if v.expected == "fails"]
    holds = [(m.name, v.name) for m in models.values() for v in m.variants if v.expected == "holds"]

    search_jobs = []
    for protocol, variant in fails:
        for strategy, depth in STRATEGIES:
            seeds = [0] if strategy == "exhaustive" else range(prof["seeds"])
            search_jobs += [(protocol, variant, strategy, depth, seed, prof["budget"]) for seed in seeds]
    k, e = prof["verify"]
    verify_jobs = [(protocol, variant, k, e, prof["verify_cap"]) for protocol, variant in holds]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.jobs, initializer=warm_up) as pool:
        # Throughput first, one model at a time, so nothing else competes for the CPUs.
        tput = [job_throughput((name, prof["tput"])) for name in models]
        _note(f"throughput measured ({time.perf_counter() - t0:.0f} s)")
        rows = _mapped(pool, job_search, search_jobs, "searches", t0)
        sigs = sorted({(r["protocol"], r["variant"], r["signature"]) for r in rows if r.get("found")})
        by_variant: dict[tuple[str, str], list[str]] = {}
        for protocol, variant, sig in sigs:
            by_variant.setdefault((protocol, variant), []).append(sig)
        jobs = [(*key, found, prof["minimum_cap"]) for key, found in by_variant.items()]
        mins = [m for ms in _mapped(pool, job_minima, jobs, "exhaustive minima", t0) for m in ms]
        ver = _mapped(pool, job_verify, verify_jobs, "verifications", t0)
    minima = {(m["protocol"], m["variant"], m["signature"]): list(m["minimum"]) if m["minimum"] else None for m in mins}
    table, summary = finding_table(rows, minima)
    notes = [f"- skipped protocol `{name}`: {why}" for name, why in skipped.items()]
    seconds = round(time.perf_counter() - t0, 1)
    report = [
        f"# panicfuzz bench ({'quick' if args.quick else 'full'}: {prof['seeds']} seeds, {prof['budget']} schedules per search; {seconds} s on {args.jobs} workers)",
        "",
        *notes,
        "",
        "## Finding and shrinking (variants expected to fail)",
        "",
        table,
        "",
        "## Throughput (same schedules on both drivers)",
        "",
        throughput_table(tput),
        "",
        f"## Bounded verification (variants expected to hold, K={k} preemptions, E={e} injected events)",
        "",
        verify_table(ver),
        "",
        "## Targets",
        "",
        *targets(summary, tput, ver, prof["seeds"]),
    ]
    print("\n".join(report))
    out = Path(args.json or Path(__file__).parent / ("results-quick.json" if args.quick else "results.json"))
    out.write_text(
        json.dumps(
            {
                "profile": "quick" if args.quick else "full",
                "settings": prof,
                "seconds": seconds,
                "skipped": skipped,
                "searches": rows,
                "summary": summary,
                "minima": [dict(m, minimum=list(m["minimum"]) if m["minimum"] else None) for m in mins],
                "throughput": tput,
                "verify": ver,
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
