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
  throughput  per model: steps/s and schedules/s (CPU time, median of 5) of
              the trio machine (`execute_all`: every schedule in one
              trio.run(), panicfuzz.host) and of the bare-coroutine driver on
              the same schedules, and the ratio (trio_bare_ratio); the same
              with one trio.run() per schedule (`execute`: trio_per_run); the
              cost of an empty trio.run().
  verify      every variant expected to hold, bounded exhaustive search
              within 2 preemptions and 2 injected events (--quick: 1 and 1,
              with a schedule cap), with and without partial-order reduction:
              verify.<variant>.{reduced,plain}.{schedules,states,seconds} and
              the reduction factor.
  e2e         every variant expected to fail: seconds (wall and CPU) from the
              start of the default search to a saved, proven-minimal
              reproducer (`bench/e2e_job.py`, 5 seeds, --quick 3), on this
              tree and on the --baseline revision exported from git ("today's
              figure"), run interleaved under the same load.

    python bench/run.py [--quick] --section e2e|throughput|verify|finding --json OUT
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
    "quick": {"seeds": 3, "budget": 200, "verify": (1, 1), "verify_cap": 5000, "minimum_cap": 300, "tput": 100, "e2e_seeds": 3},
    "full": {"seeds": 10, "budget": 2000, "verify": (2, 2), "verify_cap": 2_000_000, "minimum_cap": 400_000, "tput": 500, "e2e_seeds": 5},
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
    """CPU time (process_time: what other processes on the machine take is not counted) of the
    same schedules on each driver, the three interleaved, median of five repetitions."""
    import trio

    from panicfuzz.bare import execute_bare
    from panicfuzz.run import execute, execute_all
    from panicfuzz.strategies import RandomSource, Replay

    protocol, n = args
    model = _model(protocol)
    out = {"protocol": protocol}
    variant = model.variants[0].name
    traces = [execute(model, variant, RandomSource(7, i)).trace for i in range(n)]  # warm-up and schedules

    drivers = {
        "trio": lambda: sum(r.size.steps for r in execute_all(model, variant, (Replay(t) for t in traces))),
        "bare": lambda: sum(execute_bare(model, variant, Replay(t)).size.steps for t in traces),
        "trio_per_run": lambda: sum(execute(model, variant, Replay(t)).size.steps for t in traces),
    }
    times: dict[str, list[float]] = {name: [] for name in drivers}
    steps = 0
    for _ in range(5):
        for name, fn in drivers.items():
            c0 = time.process_time()
            steps = fn()
            times[name].append(time.process_time() - c0)
    for name, ts in times.items():
        dt = statistics.median(ts)
        out[name] = {"schedules_per_s": round(n / dt), "steps_per_s": round(steps / dt), "steps_per_schedule": round(steps / n, 1)}

    async def nothing() -> None:
        pass

    c0 = time.process_time()
    for _ in range(n):
        trio.run(nothing)
    out["empty_trio_run_ms"] = round((time.process_time() - c0) / n * 1000, 3)
    out["ratio"] = round(out["trio"]["schedules_per_s"] / out["bare"]["schedules_per_s"], 2)
    out["trio_per_run"]["ratio"] = round(out["trio_per_run"]["schedules_per_s"] / out["bare"]["schedules_per_s"], 2)
    per_trio = 1000 / out["trio_per_run"]["schedules_per_s"]
    per_bare = 1000 / out["bare"]["schedules_per_s"]
    out["ms_per_schedule"] = {"trio": round(1000 / out["trio"]["schedules_per_s"], 3), "trio_per_run": round(per_trio, 3), "bare": round(per_bare, 3)}
    # What a trio.run() per schedule adds, and how much of that is trio.run() itself.
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

    protocol, variant, k, e, cap, reduce = args
    model = _model(protocol)
    c0 = time.process_time()
    v = verify(model, variant, preemptions=k, events=e, max_schedules=cap, reduce=reduce)
    answer = "counterexample" if v.findings else ("holds" if v.complete else "inconclusive")
    return {
        "protocol": protocol,
        "variant": variant,
        "reduced": reduce,
        "cpu_seconds": round(time.process_time() - c0, 2),
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
        "| protocol | steps/schedule | trio steps/s | trio schedules/s | bare steps/s | bare schedules/s | trio/bare | trio.run per schedule: schedules/s (/bare) | its overhead ms/schedule | of which empty trio.run ms | CPU switches/schedule | rest per switch µs |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t, b = r["trio"], r["bare"]
        lines.append(
            f"| {r['protocol']} | {t['steps_per_schedule']} | {t['steps_per_s']} | {t['schedules_per_s']} | {b['steps_per_s']} | "
            f"{b['schedules_per_s']} | {r['ratio']} | {r['trio_per_run']['schedules_per_s']} ({r['trio_per_run']['ratio']}) | "
            f"{r['trio_overhead_ms']} | {r['empty_trio_run_ms']} | {r['switches_per_schedule']} | {r['us_per_switch']} |"
        )
    return "\n".join(lines)


def verify_json(rows: list[dict]) -> dict:
    """verify.<protocol/variant>.{reduced,plain}.{schedules,states,seconds}, and the reduction factor."""
    out: dict = {}
    for r in rows:
        entry = out.setdefault(f"{r['protocol']}/{r['variant']}", {"bounds": r["bounds"]})
        entry["reduced" if r["reduced"] else "plain"] = {k: r[k] for k in ("answer", "schedules", "states", "seconds", "cpu_seconds")}
    for entry in out.values():
        red, plain = entry["reduced"], entry["plain"]
        entry["answer"] = red["answer"] if red["answer"] == plain["answer"] else f"DISAGREE: {red['answer']} / {plain['answer']}"
        entry["reduction_factor"] = round(plain["schedules"] / max(1, red["schedules"]), 2)
    return out


def verify_table(rows: dict) -> str:
    lines = [
        "| protocol/variant | bounds K/E | answer | reduced: schedules | states | s (CPU s) | plain: schedules | states | s (CPU s) | factor |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in rows.items():
        red, plain = r["reduced"], r["plain"]
        lines.append(
            f"| {key} | {r['bounds'][0]}/{r['bounds'][1]} | {r['answer']} | {red['schedules']} | {red['states']} | {red['seconds']} ({red['cpu_seconds']}) | "
            f"{plain['schedules']} | {plain['states']} | {plain['seconds']} ({plain['cpu_seconds']}) | {r['reduction_factor']} |"
        )
    return "\n".join(lines)


def targets(summary: list[dict]) -> list[str]:
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


SECTIONS = ("finding", "throughput", "verify", "e2e")
# The tree "today's figure" of the e2e section is measured on: main before issue 17's speed work.
BASELINE = "83ee7ea"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer seeds and schedules, smaller verify bounds (< 2 min on 2 cores)")
    p.add_argument("--json", metavar="OUT", help="write every measurement here (default: bench/results[-quick].json)")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    p.add_argument("--protocol", action="append", help="only this protocol (repeatable)")
    p.add_argument("--section", action="append", choices=SECTIONS, help="only this section (repeatable; default: all)")
    p.add_argument("--baseline", default=BASELINE, metavar="REV", help="git revision of the e2e section's 'today' figures (default: %(default)s)")
    args = p.parse_args(argv)
    sections = args.section or list(SECTIONS)
    prof = PROFILES["quick" if args.quick else "full"]
    t0 = time.perf_counter()
    models, skipped = discover(args.protocol)
    fails = [(m.name, v.name) for m in models.values() for v in m.variants if v.expected == "fails"]
    holds = [(m.name, v.name) for m in models.values() for v in m.variants if v.expected == "holds"]
    out: dict = {"profile": "quick" if args.quick else "full", "settings": prof, "sections": sections, "skipped": skipped}
    report = [f"# panicfuzz bench ({out['profile']}; sections: {', '.join(sections)}; {args.jobs} workers)", ""]
    report += [f"- skipped protocol `{name}`: {why}" for name, why in skipped.items()]
    targets_out: list[str] = []
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.jobs, initializer=warm_up) as pool:
        if "throughput" in sections:
            # One model at a time, so nothing else competes for the CPUs.
            tput = [job_throughput((name, prof["tput"])) for name in models]
            _note(f"throughput measured ({time.perf_counter() - t0:.0f} s)")
            out["throughput"] = tput
            out["trio_bare_ratio"] = {r["protocol"]: r["ratio"] for r in tput}
            report += ["## Throughput (same schedules on both drivers)", "", throughput_table(tput), ""]
            for r in tput:
                targets_out.append(f"- {r['protocol']} trio/bare = {r['ratio']} ({'met' if r['ratio'] >= 0.8 else 'MISSED'} >= 0.8; "
                                   f"one trio.run per schedule: {r['trio_per_run']['ratio']})")
        if "finding" in sections:
            search_jobs = []
            for protocol, variant in fails:
                for strategy, depth in STRATEGIES:
                    seeds = [0] if strategy == "exhaustive" else range(prof["seeds"])
                    search_jobs += [(protocol, variant, strategy, depth, seed, prof["budget"]) for seed in seeds]
            rows = _mapped(pool, job_search, search_jobs, "searches", t0)
            sigs = sorted({(r["protocol"], r["variant"], r["signature"]) for r in rows if r.get("found")})
            by_variant: dict[tuple[str, str], list[str]] = {}
            for protocol, variant, sig in sigs:
                by_variant.setdefault((protocol, variant), []).append(sig)
            jobs = [(*key, found, prof["minimum_cap"]) for key, found in by_variant.items()]
            mins = [m for ms in _mapped(pool, job_minima, jobs, "exhaustive minima", t0) for m in ms]
            minima = {(m["protocol"], m["variant"], m["signature"]): list(m["minimum"]) if m["minimum"] else None for m in mins}
            table, summary = finding_table(rows, minima)
            out.update(searches=rows, summary=summary, minima=[dict(m, minimum=list(m["minimum"]) if m["minimum"] else None) for m in mins])
            report += ["## Finding and shrinking (variants expected to fail)", "", table, ""]
            targets_out += targets(summary)
        if "verify" in sections:
            k, e = prof["verify"]
            jobs = [(protocol, variant, k, e, prof["verify_cap"], reduce) for protocol, variant in holds for reduce in (True, False)]
            ver = _mapped(pool, job_verify, jobs, "verifications", t0)
            out["verify"] = verify_json(ver)
            report += [f"## Bounded verification (variants expected to hold, K={k} preemptions, E={e} injected events)", "", verify_table(out["verify"]), ""]
            for key, v in out["verify"].items():
                targets_out.append(f"- verify {key} within {k}/{e}: {v['answer']}, reduced {v['reduced']['seconds']} s "
                                   f"(plain {v['plain']['seconds']} s, {v['reduction_factor']}x fewer schedules)")
    if "e2e" in sections:
        out["e2e"] = e2e_section(fails, prof["e2e_seeds"], args.baseline, args.jobs, t0)
        report += [f"## Search start to a saved, proven-minimal reproducer (default strategy; today = {args.baseline})", "", e2e_table(out["e2e"]), ""]
        for key, r in out["e2e"].items():
            ok = r["e2e_seconds"] is not None and r["e2e_seconds"] < 1.5 and r["proven_minimal"] == r["runs"]
            targets_out.append(f"- e2e {key}: median {r['e2e_seconds']} s wall, {r['e2e_cpu_seconds']} s CPU, proven {r['proven_minimal']}/{r['runs']} "
                               f"(today {r['today']['e2e_seconds']} s, {r['today']['e2e_cpu_seconds']} s CPU): {'met' if ok else 'MISSED'}")
    out["seconds"] = round(time.perf_counter() - t0, 1)
    report += ["## Targets", "", *targets_out, "", f"({out['seconds']} s)"]
    print("\n".join(report))
    path = Path(args.json or Path(__file__).parent / ("results-quick.json" if args.quick else "results.json"))
    path.write_text(json.dumps(out, indent=1))
    return 0


# -- e2e: search start to a saved, proven-minimal reproducer --------------------------


def e2e_section(fails: list[tuple[str, str]], seeds: int, baseline: str, jobs: int, t0: float) -> dict:
    """Per failing variant, `bench/e2e_job.py` on this tree and on `baseline` (exported from git), paired."""
    import subprocess
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(repo), "archive", baseline], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        job = str(repo / "bench" / "e2e_job.py")

        def one(args: tuple[str, str, str]) -> tuple[str, str, str, list[dict]]:
            tree, protocol, variant = args
            env = dict(os.environ, PANICFUZZ_TREE=str(repo if tree == "now" else base))
            done = subprocess.run([sys.executable, job, protocol, variant, *map(str, range(seeds))], env=env, capture_output=True, text=True)
            rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
            return tree, protocol, variant, rows or [{"error": done.stderr.strip().splitlines()[-1:]}]

        # Interleaved, so both trees see the same load.
        work = [(tree, protocol, variant) for protocol, variant in fails for tree in ("now", "today")]
        results: dict[tuple[str, str], dict[str, list[dict]]] = {}
        with ThreadPoolExecutor(jobs) as pool:
            for n, (tree, protocol, variant, rows) in enumerate(pool.map(one, work), 1):
                results.setdefault((protocol, variant), {})[tree] = rows
                _note(f"e2e: {n}/{len(work)} ({time.perf_counter() - t0:.0f} s)")
    out = {}
    for (protocol, variant), by_tree in results.items():
        now, today = by_tree.get("now", []), by_tree.get("today", [])
        found = [r for r in now if r.get("found")]
        out[f"{protocol}/{variant}"] = {
            "runs": len(now),
            "e2e_seconds": _med([r["seconds"] for r in found]),
            "e2e_cpu_seconds": _med([r["cpu_seconds"] for r in found]),
            "proven_minimal": sum(r.get("minimal") is True for r in found),
            "sizes": [r["size"] for r in found],
            "today": {
                "e2e_seconds": _med([r["seconds"] for r in today if r.get("found")]),
                "e2e_cpu_seconds": _med([r["cpu_seconds"] for r in today if r.get("found")]),
                "proven_minimal": sum(r.get("minimal") is True for r in today if r.get("found")),
                "sizes": [r["size"] for r in today if r.get("found")],
            },
            "errors": [r["error"] for r in now + today if "error" in r],
        }
    return out


def e2e_table(rows: dict) -> str:
    lines = [
        "| protocol/variant | median s (wall) | median s (CPU) | proven minimal | p/i/steps | today: median s (wall) | today: CPU | today: proven | today: p/i/steps |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, r in rows.items():
        t = r["today"]
        lines.append(
            f"| {key} | {_fmt(r['e2e_seconds'])} | {_fmt(r['e2e_cpu_seconds'])} | {r['proven_minimal']}/{r['runs']} | "
            f"{' '.join('/'.join(map(str, s)) for s in r['sizes'])} | {_fmt(t['e2e_seconds'])} | {_fmt(t['e2e_cpu_seconds'])} | "
            f"{t['proven_minimal']} | {' '.join('/'.join(map(str, s)) for s in t['sizes'])} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
