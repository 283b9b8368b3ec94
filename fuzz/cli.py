"""The `panicfuzz` command line.

Exit codes: 0 as expected / nothing found, 1 a failure found (or a replay
that did not behave as checked), 2 bad input (one line naming the file,
field or value).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import protocols

from . import __version__, corpus
from .model import Model
from .run import RunResult, execute
from .search import STRATEGIES, Finding, SearchReport, search
from .strategies import Replay
from .timeline import headline, render

DEFAULT_CORPUS = os.environ.get("PANICFUZZ_CORPUS", "corpus")


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


# -- helpers ---------------------------------------------------------------------


def _model(name: str) -> type[Model]:
    if name not in protocols.names():
        raise UsageError(f"unknown protocol {name!r}; known: {', '.join(protocols.names())}")
    return protocols.load(name)


def _variants(model_cls: type[Model], variant: str | None) -> list[str]:
    names = [v.name for v in model_cls.variants]
    if variant is None:
        return names
    if variant not in names:
        raise UsageError(f"protocol {model_cls.name!r} has no variant {variant!r}; known: {', '.join(names)}")
    return [variant]


def failure_json(result: RunResult) -> dict[str, Any] | None:
    if not result.failed:
        return None
    size = result.size
    return {
        "kind": result.outcome.kind,
        "message": result.outcome.message,
        "signature": result.signature,
        "steps": size.steps,
        "preemptions": size.preemptions,
        "injected_events": size.injected,
    }


def timeline_of(model_cls: type[Model], variant: str, result: RunResult) -> str:
    model = model_cls(variant)
    labels = [model.cpu_label(i) for i in range(model_cls.ncpus)]
    title = headline(model_cls.name, variant, result.outcome.kind, model_cls.ncpus, result.size.as_dict())
    return render(title, labels, result.log, footer=result.outcome.message)


def _progress(enabled: bool) -> Progress | None:
    if not enabled:
        return None
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


# -- list -------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    rows = []
    for name in protocols.names():
        m = protocols.load(name)
        for v in m.variants:
            rows.append(
                {
                    "protocol": name,
                    "variant": v.name,
                    "expected": v.expected,
                    "expected_kind": v.kind,
                    "source": v.source or m.source,
                    "summary": v.summary,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    table = Table(title="panicfuzz protocols and variants")
    for col in ("protocol", "variant", "expected", "summary", "source"):
        table.add_column(col, overflow="fold")
    for r in rows:
        expected = r["expected"] + (f" ({r['expected_kind']})" if r["expected_kind"] else "")
        table.add_row(r["protocol"], r["variant"], expected, r["summary"], r["source"])
    Console().print(table)
    return 0


# -- fuzz -------------------------------------------------------------------------


def cmd_fuzz(args: argparse.Namespace) -> int:
    if args.max_schedules < 1:
        raise UsageError(f"--max-schedules must be at least 1, not {args.max_schedules}")
    names = [args.protocol] if args.protocol else protocols.names()
    jobs = []
    for name in names:
        model_cls = _model(name)
        for variant in _variants(model_cls, args.variant):
            jobs.append((model_cls, variant))
    root = Path(args.corpus)
    out = []
    unexpected = 0
    found_any = False
    show_progress = not args.json and sys.stderr.isatty()
    for model_cls, variant in jobs:
        progress = _progress(show_progress)
        if progress is not None:
            with progress:
                task = progress.add_task(f"{model_cls.name}/{variant}", total=args.max_schedules)
                report = search(
                    model_cls,
                    variant,
                    strategy=args.strategy,
                    max_schedules=args.max_schedules,
                    seed=args.seed,
                    first_only=args.first,
                    progress=lambda done, total: progress.update(task, completed=done),
                )
        else:
            report = search(
                model_cls, variant, strategy=args.strategy, max_schedules=args.max_schedules, seed=args.seed, first_only=args.first
            )
        files = [_save(root, model_cls, f) for f in report.findings]
        found_any |= bool(report.findings)
        expected = model_cls.variant_info(variant)
        as_expected = _as_expected(expected, report)
        unexpected += not as_expected
        out.append(_report_json(report, files, as_expected))
        if not args.json:
            _print_report(model_cls, report, files, expected, as_expected)
    if args.json:
        print(json.dumps(out[0] if len(out) == 1 else out, indent=1))
    if len(jobs) == 1:
        return 1 if found_any else 0
    return 1 if unexpected else 0


def _as_expected(expected, report: SearchReport) -> bool:
    kinds = {f.result.outcome.kind for f in report.findings}
    if expected.expected == "holds":
        return not kinds
    return expected.kind in kinds


def _save(root: Path, model_cls: type[Model], finding: Finding) -> str:
    data = corpus.record(finding, model_cls, timeline_of(model_cls, finding.variant, finding.result))
    path, _ = corpus.save(root, data)
    return str(path)


def _finding_json(f: Finding, path: str) -> dict[str, Any]:
    out = failure_json(f.result)
    assert out is not None
    out["corpus_file"] = path
    out["found_after"] = {"schedules": f.schedules, "seconds": f.seconds}
    out["before_shrinking"] = f.first.as_dict()
    return out


def _report_json(report: SearchReport, files: list[str], as_expected: bool) -> dict[str, Any]:
    findings = [_finding_json(f, p) for f, p in zip(report.findings, files)]
    return {
        "protocol": report.protocol,
        "variant": report.variant,
        "strategy": report.strategy,
        "seed": report.seed,
        "schedules": report.schedules,
        "seconds": report.seconds,
        "steps_per_second": round(report.steps / report.seconds) if report.seconds else None,
        "failure": findings[0] if findings else None,
        "corpus_file": files[0] if files else None,
        "findings": findings,
        "as_expected": as_expected,
    }


def _print_report(model_cls, report: SearchReport, files: list[str], expected, as_expected: bool) -> None:
    for f, path in zip(report.findings, files):
        print(timeline_of(model_cls, report.variant, f.result))
        first = f.first
        after = f.result.size
        print(
            f"\nfound after {f.schedules} schedules ({f.seconds:.2f} s, {report.strategy}, seed {report.seed}); "
            f"shrunk from {first.preemptions}p/{first.injected}i/{first.steps} steps "
            f"to {after.preemptions}p/{after.injected}i/{after.steps} steps in {f.shrink_seconds:.2f} s"
        )
        print(f"saved: {path}\nreplay: panicfuzz replay {path}\n")
    claim = expected.expected + (f" ({expected.kind})" if expected.kind else "")
    verdict = "as expected" if as_expected else "UNEXPECTED"
    kinds = ", ".join(sorted({f.result.outcome.kind for f in report.findings})) or "nothing"
    print(
        f"{report.protocol}/{report.variant}: {len(report.findings)} finding(s) [{kinds}] in "
        f"{report.schedules} schedules, {report.seconds:.2f} s; expected {claim}: {verdict}"
    )


# -- replay -------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    cases = []
    for path in map(Path, args.files):
        data = corpus.load(path)
        model_cls = _model(data["protocol"])
        _variants(model_cls, data["variant"])
        if args.variant is not None:
            _variants(model_cls, args.variant)
        cases.append((path, data, model_cls, corpus.trace_of(path, data)))
    results = []
    bad = 0
    for path, data, model_cls, trace in cases:
        saved_sig = data["failure"]["signature"]
        if args.variant is None or args.variant == data["variant"]:
            variant = data["variant"]
            result = execute(model_cls, variant, Replay(trace), logging=True)
            reproduced = result.signature == saved_sig
            identical = reproduced and result.log_digest() == data.get("event_log_sha256")
            ok = reproduced and identical
            entry = {"file": str(path), "variant": variant, "reproduced": reproduced, "identical": identical}
        else:
            variant = args.variant
            source = Replay(trace, data["kinds"], strict=False)
            result = execute(model_cls, variant, source, logging=True)
            reproduced = result.signature == saved_sig
            ok = not result.failed
            entry = {
                "file": str(path),
                "variant": variant,
                "reproduced": reproduced,
                "identical": None,
                "survived": ok,
                "diverged_at": source.diverged_at,
            }
        entry["failure"] = failure_json(result)
        results.append(entry)
        bad += not ok
        if not args.json:
            _print_replay(model_cls, variant, path, result, entry, ok)
    if args.json:
        print(json.dumps(results, indent=1))
    return 1 if bad else 0


def _print_replay(model_cls, variant: str, path: Path, result: RunResult, entry: dict, ok: bool) -> None:
    if result.failed and not entry.get("survived", False):
        print(timeline_of(model_cls, variant, result))
        print()
    if entry["identical"] is None:
        what = "survives" if ok else f"fails ({result.outcome.kind})"
        diverged = "" if entry["diverged_at"] is None else f", schedule adapted from decision {entry['diverged_at']}"
        print(f"{path}: variant {variant} {what}{diverged}")
    else:
        state = "reproduced identically" if ok else ("reproduced, but the event log differs" if entry["reproduced"] else "NOT reproduced")
        print(f"{path}: {state}")


# -- campaign ----------------------------------------------------------------------


def cmd_campaign(args: argparse.Namespace) -> int:
    from .campaign import CampaignError, Job, load_state, observation, run_campaign

    if args.round_schedules < 1:
        raise UsageError(f"--round-schedules must be at least 1, not {args.round_schedules}")
    if args.max_schedules is None and args.minutes is None:
        raise UsageError("give a budget: --max-schedules N and/or --minutes M")
    root = Path(args.corpus)
    state = Path(args.state) if args.state else root / ".campaign.json"
    jobs = []
    for name in args.protocols or protocols.names():
        model_cls = _model(name)
        jobs += [(model_cls, Job(name, v)) for v in _variants(model_cls, None)]
    try:
        load_state(state, [j for _, j in jobs])
    except CampaignError as e:
        raise UsageError(str(e)) from None
    by_key = {j.key: m for m, j in jobs}

    def on_round(job, report) -> None:
        for f in report.findings:
            path = _save(root, by_key[job.key], f)
            print(f"{job.key}: new {f.result.outcome.kind} {f.signature} (seed {report.seed}) -> {path}",
                  file=sys.stderr if args.json else sys.stdout, flush=True)
        if not args.json:
            print(f"{job.key}: round {job.rounds} seed {report.seed}: {report.schedules} schedules, "
                  f"{len(report.findings)} new finding(s)", file=sys.stderr, flush=True)

    import time

    deadline = None if args.minutes is None else time.monotonic() + 60 * args.minutes
    try:
        run_campaign(
            jobs,
            state_path=state,
            strategy=args.strategy,
            round_schedules=args.round_schedules,
            max_schedules=args.max_schedules,
            deadline=deadline,
            on_round=on_round,
        )
    except KeyboardInterrupt:
        print(f"panicfuzz: interrupted; progress up to the last finished round is in {state}", file=sys.stderr)
    lines = [observation(m, j) for m, j in jobs]
    if args.json:
        print(json.dumps([{"observation": line, "as_expected": ok} for line, ok in lines], indent=1))
    else:
        print("\n".join(line for line, _ in lines))
    return 0 if all(ok for _, ok in lines) else 1


# -- entry point ---------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="panicfuzz",
        description=(
            "Search the schedules and interrupt arrivals of Linux panic/stop/crash protocol models "
            "for deadlocks, livelocks and broken invariants; shrink each failure to a minimal "
            "reproducer, draw it as a CPU-column timeline, save it, and replay it forever after."
        ),
        epilog=(
            "examples:\n"
            "  panicfuzz list\n"
            "  panicfuzz fuzz hpet --variant mainline\n"
            "  panicfuzz replay corpus/hpet/mainline/*.json\n"
            "  panicfuzz replay corpus/hpet/mainline/*.json --variant panic-cpu-check"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"panicfuzz {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="list protocols, variants and their expected outcomes", description="List every protocol and variant with its expected outcome, failure kind and kernel/LKML source.")
    s.add_argument("--json", action="store_true", help="print a JSON list of {protocol, variant, expected, expected_kind, source}")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser(
        "fuzz",
        help="search a protocol for failures",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Search schedules and injected events of PROTOCOL (every protocol if omitted). Each distinct "
            "failure is shrunk to a minimal reproducer, printed as a timeline and saved to "
            "CORPUS/<protocol>/<variant>/<signature>.json (the same bug found again is the same file).\n\n"
            "exit status: with one variant, 0 when nothing was found and 1 when a failure was found; "
            "with several variants (no --variant), 0 when every variant gave its expected outcome, 1 otherwise."
        ),
    )
    s.add_argument("protocol", nargs="?", help="protocol name (see `panicfuzz list`); default: all")
    s.add_argument("--variant", help="variant name; default: every variant of the protocol")
    s.add_argument("--strategy", choices=STRATEGIES, default="hypothesis", help="decision source (default: %(default)s)")
    s.add_argument("--max-schedules", type=int, default=1000, metavar="N", help="schedule budget per variant (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the search (default: %(default)s)")
    s.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="DIR", help="where findings are saved (default: %(default)s, or $PANICFUZZ_CORPUS)")
    s.add_argument("--first", action="store_true", help="stop at the first failure instead of looking for every distinct one")
    s.add_argument("--json", action="store_true", help="print a JSON report instead of timelines")
    s.set_defaults(func=cmd_fuzz)

    s = sub.add_parser(
        "replay",
        help="re-run saved corpus cases",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Re-run each saved trace. Without --variant, check that the recorded failure reproduces with an "
            "identical event log. With --variant, report whether that variant survives the schedule (\"does my "
            "fix survive every known bad schedule?\").\n\nexit status: 0 when every case behaved as checked, 1 otherwise."
        ),
    )
    s.add_argument("files", nargs="+", metavar="FILE", help="corpus JSON files")
    s.add_argument("--variant", help="replay against this variant of the file's protocol")
    s.add_argument("--json", action="store_true", help="print one JSON object per file")
    s.set_defaults(func=cmd_replay)

    s = sub.add_parser(
        "campaign",
        help="fuzz every variant round after round (overnight), resumable",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Cycle through every variant of the given protocols (all by default), one search round each with "
            "the next seed, until the budget is spent. Progress is saved after every round (atomically) in the "
            "state file, so an interrupted campaign resumes where it stopped when run again; findings are saved "
            "to the corpus as they are found. Ends with one line per variant: Observation <protocol>/<variant> "
            "Never|Sometimes <findings> <schedules> and whether that matches the model's claim.\n\n"
            "exit status: 0 when every variant behaved as claimed, 1 otherwise."
        ),
    )
    s.add_argument("protocols", nargs="*", metavar="PROTOCOL", help="protocols to include (default: all)")
    s.add_argument("--max-schedules", type=int, metavar="N", help="total schedule budget of this invocation")
    s.add_argument("--minutes", type=float, metavar="M", help="stop starting rounds after M minutes of wall time")
    s.add_argument("--round-schedules", type=int, default=500, metavar="N", help="schedules per round (default: %(default)s)")
    s.add_argument("--strategy", choices=STRATEGIES, default="hypothesis", help="decision source (default: %(default)s)")
    s.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="DIR", help="where findings are saved (default: %(default)s)")
    s.add_argument("--state", metavar="FILE", help="campaign state file (default: CORPUS/.campaign.json)")
    s.add_argument("--json", action="store_true", help="print the observations as JSON")
    s.set_defaults(func=cmd_campaign)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, corpus.CorpusError) as e:
        print(f"panicfuzz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("panicfuzz: interrupted (saved findings are complete files)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
