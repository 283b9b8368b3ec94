"""The `panicfuzz` command line.

Exit codes: 0 as expected / nothing found, 1 a failure found (or a replay
that did not behave as checked), 2 bad input (one line naming the file,
field or value).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from panicfuzz import protocols

from . import __version__, corpus
from .campaign import CampaignError
from .errors import UsageError
from .model import Model
from .run import RunResult, execute
from .search import STRATEGIES, Finding, SearchReport, Verdict, search, verify
from .strategies import Replay
from .timeline import headline, render

DEFAULT_CORPUS = os.environ.get("PANICFUZZ_CORPUS", "corpus")


# -- helpers ---------------------------------------------------------------------


def _model(name: str) -> type[Model]:
    try:
        return protocols.load(name)
    except KeyError:
        raise UsageError(f"unknown protocol {name!r}; known: {', '.join(protocols.names())}") from None


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


@contextlib.contextmanager
def _progress(enabled: bool, label: str, total: int | None) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr for one long job; yields its update callback (None when off)."""
    if not enabled:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda done, _: bar.update(task, completed=done)


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
    if args.depth < 1:
        raise UsageError(f"--depth must be at least 1, not {args.depth}")
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
        files: list[str] = []  # each finding is saved the moment it is shrunk: an interrupt loses none
        with _progress(show_progress, f"{model_cls.name}/{variant}", args.max_schedules) as progress:
            report = search(
                model_cls,
                variant,
                strategy=args.strategy,
                max_schedules=args.max_schedules,
                seed=args.seed,
                first_only=args.first,
                progress=progress,
                depth=args.depth,
                on_finding=lambda f: files.append(_save(root, model_cls, f)),
            )
        found_any |= bool(report.findings)
        expected = model_cls.variant_info(variant)
        as_expected = _as_expected(expected, report)
        known = [] if as_expected or expected.expected == "holds" else _known_failure(root, model_cls, variant, expected.kind)
        as_expected |= bool(known)
        unexpected += not as_expected
        out.append({**_report_json(report, files, as_expected), "known_reproduced": known})
        if not args.json:
            _print_report(model_cls, report, files, expected, as_expected)
            for path in known:
                print(f"  (the expected {expected.kind} was not hit in this budget; the saved case {path} reproduces it)")
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


def _known_failure(root: Path, model_cls: type[Model], variant: str, kind: str | None) -> list[str]:
    """Saved cases of `variant` in the corpus that still fail with `kind` (the first one found).

    A short fuzz cannot rediscover every deep bug; the corpus is its evidence for those.
    """
    for path in corpus.files(root / model_cls.name / variant):
        try:
            data = corpus.load(path)
            trace = corpus.trace_of(path, data)
        except corpus.CorpusError:
            continue
        result = execute(model_cls, variant, Replay(trace))
        if result.outcome.kind == kind and result.signature == data["failure"]["signature"]:
            return [str(path)]
    return []


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


def _load_cases(files: Sequence[str], variant: str | None = None) -> list[tuple[Path, dict, type[Model], list]]:
    """Every corpus file checked before any runs: (path, data, model, trace); `variant` must exist too."""
    cases = []
    for path in map(Path, files):
        data = corpus.load(path)
        model_cls = _model(data["protocol"])
        _variants(model_cls, data["variant"])
        if variant is not None:
            _variants(model_cls, variant)
        cases.append((path, data, model_cls, corpus.trace_of(path, data)))
    return cases


def cmd_replay(args: argparse.Namespace) -> int:
    cases = _load_cases(args.files, args.variant)
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


# -- verify ------------------------------------------------------------------------


def cmd_verify(args: argparse.Namespace) -> int:
    events = args.preemptions if args.events is None else args.events
    for flag, value in (("--preemptions", args.preemptions), ("--events", events)):
        if value < 0:
            raise UsageError(f"{flag} must be at least 0, not {value}")
    if args.max_schedules is not None and args.max_schedules < 1:
        raise UsageError(f"--max-schedules must be at least 1, not {args.max_schedules}")
    model_cls = _model(args.protocol)
    jobs = _variants(model_cls, args.variant)
    root = Path(args.corpus)
    out = []
    codes = []
    for variant in jobs:
        files: list[str] = []
        with _progress(not args.json and sys.stderr.isatty(), f"verify {model_cls.name}/{variant}", args.max_schedules) as progress:
            verdict = verify(
                model_cls,
                variant,
                preemptions=args.preemptions,
                events=events,
                max_schedules=args.max_schedules,
                first_only=not args.all,
                progress=progress,
                on_finding=lambda f: files.append(_save(root, model_cls, f)),
            )
        expected = model_cls.variant_info(variant)
        code = 1 if verdict.findings else (0 if verdict.complete else 3)
        codes.append(code)
        if expected.expected == "holds":
            as_expected = verdict.holds
        else:
            as_expected = expected.kind in {f.result.outcome.kind for f in verdict.findings}
        out.append(_verdict_json(verdict, files, as_expected))
        if not args.json:
            _print_verdict(model_cls, verdict, files, expected, as_expected)
    if args.json:
        print(json.dumps(out[0] if len(out) == 1 else out, indent=1))
    if len(jobs) == 1:
        return codes[0]
    return 0 if all(o["as_expected"] for o in out) else (3 if 3 in codes and 1 not in codes else 1)


def _bounds(v: Verdict) -> str:
    p, e = v.preemptions, v.events
    return f"{p} preemption{'s' * (p != 1)} and {e} injected event{'s' * (e != 1)}"


def _verdict_json(v: Verdict, files: list[str], as_expected: bool) -> dict[str, Any]:
    findings = []
    for f, path in zip(v.findings, files):
        entry = failure_json(f.result)
        assert entry is not None
        entry["corpus_file"] = path
        entry["found_after"] = {"schedules": f.schedules, "seconds": f.seconds}
        findings.append(entry)
    if v.findings:
        answer = "counterexample"
    else:
        answer = "holds" if v.complete else "inconclusive"
    return {
        "protocol": v.protocol,
        "variant": v.variant,
        "answer": answer,
        "bounds": {"preemptions": v.preemptions, "injected_events": v.events},
        "schedules": v.schedules,
        "distinct_states": v.states,
        "seconds": v.seconds,
        "complete": v.complete,
        "findings": findings,
        "as_expected": as_expected,
    }


def _print_verdict(model_cls, v: Verdict, files: list[str], expected, as_expected: bool) -> None:
    for f, path in zip(v.findings, files):
        print(timeline_of(model_cls, v.variant, f.result))
        print(f"\ncounterexample after {f.schedules} schedules ({f.seconds:.2f} s, exhaustive within {_bounds(v)})")
        print(f"saved: {path}\nreplay: panicfuzz replay {path}\n")
    stats = f"{v.schedules} schedules, {v.states} distinct states, {v.seconds:.2f} s"
    if v.findings:
        answer = f"{len(v.findings)} counterexample(s) within {_bounds(v)}"
    elif v.complete:
        answer = f"holds within {_bounds(v)}"
    else:
        answer = f"inconclusive: --max-schedules spent before every schedule within {_bounds(v)} was explored"
    claim = expected.expected + (f" ({expected.kind})" if expected.kind else "")
    print(f"{v.protocol}/{v.variant}: {answer} ({stats}); expected {claim}: {'as expected' if as_expected else 'UNEXPECTED'}")


# -- shrink ------------------------------------------------------------------------


def cmd_shrink(args: argparse.Namespace) -> int:
    from panicfuzz.shrinkers import shrink

    from .trace import Size

    cases = _load_cases(args.files)
    results = []
    bad = 0
    for path, data, model_cls, trace in cases:
        variant = data["variant"]
        saved_sig = data["failure"]["signature"]
        found = execute(model_cls, variant, Replay(trace))
        if found.signature != saved_sig:
            bad += 1
            got = found.signature or "no failure"
            entry = {"file": str(path), "reproduced": False, "error": f"replay gives {got}, not {saved_sig}"}
            results.append(entry)
            if not args.json:
                print(f"{path}: NOT reproduced (replay gives {got}, not {saved_sig}); left unchanged")
            continue

        def run(decisions, model_cls=model_cls, variant=variant) -> RunResult:
            return execute(model_cls, variant, decisions)

        shrunk, report = shrink(run, found, model=model_cls, max_calls=args.max_calls, exhaustive_budget=args.proof_budget)
        before = found.size
        changed = shrunk.size < before
        if changed:
            replayed = execute(model_cls, variant, Replay(shrunk.trace), logging=True)
            old = data.get("shrink", {})
            finding = Finding(
                protocol=model_cls.name,
                variant=variant,
                result=replayed,
                first=Size(**_size_args(old.get("before", before.as_dict())), trace=()),
                strategy=data.get("found", {}).get("strategy", "?"),
                seed=data.get("found", {}).get("seed", 0),
                schedules=data.get("found", {}).get("schedules", 0),
                seconds=data.get("found", {}).get("seconds", 0.0),
                shrink_seconds=report.seconds,
                shrink_report=report,
            )
            new = corpus.record(finding, model_cls, timeline_of(model_cls, variant, replayed))
            new["found"] = data.get("found", new["found"])
            history = list(old.get("history", []))
            history.append(
                {"command": "panicfuzz shrink", "before": before.as_dict(), "after": shrunk.size.as_dict(), "seconds": report.seconds}
            )
            new["shrink"]["history"] = history
            new["shrink"]["passes"] = report.as_dict()
            corpus.write_atomic(path, new)
        elif report.minimal and not data.get("shrink", {}).get("minimal"):
            data.setdefault("shrink", {})["minimal"] = True  # the same case, now proven minimal
            corpus.write_atomic(path, data)
        entry = {
            "file": str(path),
            "reproduced": True,
            "changed": changed,
            "before": before.as_dict(),
            "after": shrunk.size.as_dict(),
            "minimal": report.minimal,
            "seconds": report.seconds,
            "passes": report.as_dict(),
        }
        results.append(entry)
        if not args.json:
            b, a = before, shrunk.size
            proof = "minimal: proven" if report.minimal else "minimality not proven within --proof-budget"
            if changed:
                same = (b.preemptions, b.injected, b.switches, b.steps) == (a.preemptions, a.injected, a.switches, a.steps)
                what = f"shrunk from {_short(b)} to {_short(a)}{' (a simpler trace)' if same else ''}; {proof}"
            else:
                what = f"no smaller reproducer than {_short(a)} ({proof}); left unchanged"
            print(f"{path}: {what} in {report.seconds:.2f} s\n  {report.summary()}")
    if args.json:
        print(json.dumps(results, indent=1))
    return 1 if bad else 0


def _size_args(d: dict) -> dict:
    return {"preemptions": d["preemptions"], "injected": d["injected_events"], "switches": d.get("switches", 0), "steps": d["steps"]}


def _short(size) -> str:
    return f"{size.preemptions}p/{size.injected}i/{size.switches}s/{size.steps} steps"


# -- campaign and report --------------------------------------------------------------


def cmd_campaign(args: argparse.Namespace) -> int:
    from .campaign_cmd import campaign

    for flag, value in (("--round-schedules", args.round_schedules), ("--verify-schedules", args.verify_schedules), ("--workers", args.workers), ("--max-schedules", args.max_schedules)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, not {value}")
    if args.max_schedules is None and args.minutes is None:
        raise UsageError("give a budget: --max-schedules N and/or --minutes M")
    selected = []
    for name in args.protocols or protocols.names():
        protocol, _, variant = name.partition("/")
        model_cls = _model(protocol)
        selected += [(model_cls, v) for v in _variants(model_cls, variant or None)]
    return campaign(
        selected,
        root=Path(args.corpus),
        state_file=args.state,
        workers=args.workers,
        scheduler=args.scheduler,
        max_schedules=args.max_schedules,
        minutes=args.minutes,
        round_schedules=args.round_schedules,
        verify_schedules=args.verify_schedules,
        strategy=args.strategy,
        coverage=not args.no_coverage,
        grace=args.grace,
        as_json=args.json,
    )


def cmd_report(args: argparse.Namespace) -> int:
    from .campaign_cmd import show_report

    return show_report(Path(args.corpus), args.state, args.output)


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
            "with several variants (no --variant), 0 when every variant gave its expected outcome, 1 otherwise. "
            "A variant expected to fail whose failure this budget did not hit still counts as expected when a "
            "saved case in CORPUS reproduces it (the corpus is the evidence a short fuzz builds on)."
        ),
    )
    s.add_argument("protocol", nargs="?", help="protocol name (see `panicfuzz list`); default: all")
    s.add_argument("--variant", help="variant name; default: every variant of the protocol")
    s.add_argument("--strategy", choices=STRATEGIES, default="hypothesis", help="decision source (default: %(default)s)")
    s.add_argument("--max-schedules", type=int, default=1000, metavar="N", help="schedule budget per variant (default: %(default)s)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the search (default: %(default)s)")
    s.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="DIR", help="where findings are saved (default: %(default)s, or $PANICFUZZ_CORPUS)")
    s.add_argument("--first", action="store_true", help="stop at the first failure instead of looking for every distinct one")
    s.add_argument("--depth", type=int, default=2, metavar="D", help="bug depth of --strategy pct: D-1 priority change points or injections (default: %(default)s)")
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
        help="fuzz every variant on every core (or a Dask cluster) overnight, resumable, with a report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Search every variant of the given protocols (all by default; PROTOCOL/VARIANT for one) in units of "
            "(variant, seed, --round-schedules) on --workers local processes or on the Dask cluster at --scheduler. "
            "Fair first (every variant gets its first unit before any gets a second), then adaptive: a unit goes to "
            "the variant whose recent units found the most new end states, model lines/branches and failures per "
            "schedule, every 5th to the variant with the fewest schedules, every 4th to verifying a variant claimed "
            "to hold at growing bounds (verify K=E=1, 2, ...). Each finding is saved to CORPUS the moment its unit "
            "returns and the state (CORPUS/.campaign/state) after every unit, atomically: run the same command again "
            "to resume. Model coverage is measured by replaying under coverage.py the runs that reached a new state. "
            "On a terminal a live table shows each variant's progress; otherwise one timestamped line per unit. At "
            "the end the report is written to CORPUS/.campaign/report.md and report.html (`panicfuzz report` renders "
            "it any time) and one line per variant is printed: Observation <protocol>/<variant> Never|Sometimes "
            "<failure signatures> <schedules> against the model's claim, or \"not run\".\n\n"
            "SIGINT/SIGTERM: no new units; in-flight units get --grace seconds to finish, then are abandoned (a second "
            "signal abandons them at once); state and report saved. A second campaign on the same corpus is refused.\n\n"
            "exit status: 0 every variant that ran behaved as claimed, 1 one did not, 2 bad input or the corpus is "
            "held by another campaign, 130 stopped by SIGINT, 143 by SIGTERM."
        ),
        epilog=(
            "examples:\n"
            "  panicfuzz campaign --minutes 480                       # overnight, every core\n"
            "  panicfuzz campaign hpet kdump/mainline --max-schedules 20000\n"
            "  panicfuzz campaign --minutes 600 --scheduler tcp://head:8786   # on a Dask cluster\n"
            "  panicfuzz report"
        ),
    )
    s.add_argument("protocols", nargs="*", metavar="PROTOCOL", help="protocols (or PROTOCOL/VARIANT) to include (default: all)")
    s.add_argument("--max-schedules", type=int, metavar="N", help="total schedule budget of this invocation")
    s.add_argument("--minutes", type=float, metavar="M", help="stop handing out units after M minutes of wall time")
    s.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: the cores this process may use)")
    s.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run the units on this Dask distributed scheduler's workers instead")
    s.add_argument("--round-schedules", type=int, default=500, metavar="N", help="schedules per search unit (default: %(default)s)")
    s.add_argument("--verify-schedules", type=int, default=20000, metavar="N", help="first budget of a verification unit, doubled when inconclusive (default: %(default)s)")
    s.add_argument("--strategy", choices=STRATEGIES, default="hypothesis", help="decision source (default: %(default)s)")
    s.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="DIR", help="where findings are saved (default: %(default)s)")
    s.add_argument("--state", metavar="FILE", help="campaign state file (default: CORPUS/.campaign/state)")
    s.add_argument("--grace", type=float, default=5.0, metavar="S", help="seconds in-flight units get to finish after SIGINT/SIGTERM (default: %(default)s)")
    s.add_argument("--no-coverage", action="store_true", help="do not measure model coverage")
    s.add_argument("--json", action="store_true", help="print the observations as JSON (the log goes to stderr)")
    s.set_defaults(func=cmd_campaign)

    s = sub.add_parser(
        "report",
        help="write the campaign report (markdown and HTML) from a corpus's campaign state, running or not",
        description="Render CORPUS/.campaign/report.md and report.html from the campaign state: verdicts, findings with "
        "timelines, verification bounds and model coverage. Works while a campaign runs.",
    )
    s.add_argument("corpus", nargs="?", default=DEFAULT_CORPUS, metavar="CORPUS", help="corpus directory (default: %(default)s)")
    s.add_argument("--state", metavar="FILE", help="campaign state file (default: CORPUS/.campaign/state)")
    s.add_argument("--output", metavar="DIR", help="where to write report.md and report.html (default: CORPUS/.campaign)")
    s.set_defaults(func=cmd_report)

    s = sub.add_parser(
        "verify",
        help="prove a variant within preemption and event bounds (bounded exhaustive search)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Explore EVERY schedule of PROTOCOL's variant with at most K preemptions (a switch away from a CPU "
            "that could still run) and E injected events, depth first, pruning a machine state already explored "
            "with at least the same remaining budget. The answer is either a counterexample (shrunk, printed and "
            "saved like a `fuzz` finding) or \"holds within K preemptions and E injected events\", with the "
            "number of schedules run and of distinct states seen. Bugs that need more preemptions or events than "
            "the bounds are not seen: raise the bounds to strengthen the claim (cost grows roughly as "
            "(decisions)^K). Hang and livelock verdicts depend on step counts the pruning ignores, so one may be "
            "missed; deadlocks, invariant failures and model errors are complete within the bounds.\n\n"
            "exit status: with one variant, 0 holds, 1 counterexample, 3 inconclusive (--max-schedules spent "
            "first); with several variants, 0 when every variant gave its expected outcome, 1 otherwise "
            "(3 if only budgets ran out)."
        ),
        epilog="examples:\n  panicfuzz verify hpet --variant panic-cpu-check --preemptions 2 --events 2\n"
        "  panicfuzz verify hpet --preemptions 1 --json",
    )
    s.add_argument("protocol", help="protocol name (see `panicfuzz list`)")
    s.add_argument("--variant", help="variant name; default: every variant of the protocol")
    s.add_argument("--preemptions", type=int, default=2, metavar="K", help="preemption bound (default: %(default)s)")
    s.add_argument("--events", type=int, metavar="E", help="injected-event bound (default: the same as K)")
    s.add_argument("--max-schedules", type=int, metavar="N", help="give up (inconclusive) after N schedules; default: no limit")
    s.add_argument("--all", action="store_true", help="keep exploring after a counterexample: every distinct failure within the bounds")
    s.add_argument("--corpus", default=DEFAULT_CORPUS, metavar="DIR", help="where counterexamples are saved (default: %(default)s)")
    s.add_argument("--json", action="store_true", help="print a JSON report instead of timelines")
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser(
        "shrink",
        help="minimise saved corpus cases in place",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Replay each saved case, then shrink it with the trace passes (drop injected events, turn preemptions "
            "into default steps, delta-debug segments, move switches, cut the tail, renumber symmetric CPUs) and a "
            "bounded exhaustive check that no schedule with fewer preemptions or injected events fails the same "
            "way. A smaller reproducer replaces the file atomically (same signature, so same name), with the "
            "before/after sizes appended to its shrink history and the useful/useless pass counts; a case with "
            "no smaller reproducer keeps its trace, and gains `shrink.minimal: true` once the check proves it. "
            "Order of \"smaller\": fewer preemptions, then injected events, then other switches, then steps.\n\n"
            "exit status: 0 when every case reproduced (shrunk or not), 1 when one did not reproduce (left "
            "unchanged), 2 bad input."
        ),
        epilog="example:\n  panicfuzz shrink corpus/hpet/mainline/*.json",
    )
    s.add_argument("files", nargs="+", metavar="FILE", help="corpus JSON files")
    s.add_argument("--max-calls", type=int, default=2000, metavar="N", help="most candidate runs of the passes per case (default: %(default)s)")
    s.add_argument(
        "--proof-budget",
        type=int,
        default=5000,
        metavar="N",
        help="most runs of the exhaustive check that no schedule with fewer preemptions/injected events fails the same way "
        "(default: %(default)s; `fuzz` uses 1000 to stay quick)",
    )
    s.add_argument("--json", action="store_true", help="print one JSON object per file")
    s.set_defaults(func=cmd_shrink)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, corpus.CorpusError, CampaignError) as e:
        print(f"panicfuzz: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("panicfuzz: interrupted (saved findings are complete files)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
