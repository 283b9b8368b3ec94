"""`panicfuzz fuzz`: search protocols for failures, shrink, save and draw each one."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from panicfuzz import protocols

from .. import corpus, scenarios
from ..errors import UsageError
from ..model import Model
from ..render import dumps, fuzz_text, one_or_list, report_json
from ..run import execute
from ..search import STRATEGIES, SearchReport, search
from ..strategies import Replay
from ._common import DEFAULT_CORPUS, model, progress, save, variants

ORDER = 20


def add_parser(sub) -> None:
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
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.max_schedules < 1:
        raise UsageError(f"--max-schedules must be at least 1, not {args.max_schedules}")
    if args.depth < 1:
        raise UsageError(f"--depth must be at least 1, not {args.depth}")
    names = [args.protocol] if args.protocol else protocols.names()
    jobs = []
    for name in names:
        model_cls = model(name)
        for variant in variants(model_cls, args.variant):
            jobs.append((model_cls, variant))
    root = Path(args.corpus)
    corpus.check_root(root)
    out = []
    unexpected = 0
    found_any = False
    show_progress = not args.json and sys.stderr.isatty()
    for model_cls, variant in jobs:
        files: list[str] = []  # each finding is saved the moment it is shrunk: an interrupt loses none
        with progress(show_progress, f"{model_cls.name}/{variant}", args.max_schedules) as on_progress:
            report = search(
                model_cls,
                variant,
                strategy=args.strategy,
                max_schedules=args.max_schedules,
                seed=args.seed,
                first_only=args.first,
                progress=on_progress,
                on_finding=lambda f: files.append(save(root, model_cls, f)),
                depth=args.depth,
            )
        found_any |= bool(report.findings)
        expected = model_cls.variant_info(variant)
        as_expected = _as_expected(expected, report)
        known = [] if as_expected or expected.expected == "holds" else _known_failure(root, model_cls, variant, expected.kind)
        as_expected |= bool(known)
        unexpected += not as_expected
        out.append(report_json(report, files, as_expected, known))
        if not args.json:
            print(fuzz_text(model_cls, report, files, expected, as_expected, known))
    if args.json:
        print(dumps(one_or_list(out)))
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
            bound = scenarios.from_record(model_cls, data, str(path))
        except (corpus.CorpusError, scenarios.ScenarioError):
            continue
        result = execute(bound, variant, Replay(trace))
        if result.outcome.kind == kind and result.signature == data["failure"]["signature"]:
            return [str(path)]
    return []
