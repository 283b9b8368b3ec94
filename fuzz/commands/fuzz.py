"""`panicfuzz fuzz`: search variants for failures the corpus does not know yet.

Signatures already saved in the corpus for a variant are known bugs: the
search counts its hits on them but does not shrink or save them again, so a
run on a fresh clone changes no tracked file. A new signature is shrunk and
saved the moment it is found. A hang the oracles cannot prove is only counted
(shrunk and saved with --save-unproven).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import corpus, scenarios
from ..claims import Claim, answers
from ..model import Model
from ..render import dumps, fuzz_json, fuzz_text
from ..run import RunResult, execute
from ..search import STRATEGIES, Finding, search
from ..strategies import Replay
from ..timeline import timeline_of
from ._common import CORPUS_HELP, MODEL_HELP, add_timeline_options, at_least, corpus_root, directory, drawing, models, progress, protocol_name, variants

ORDER = 20
UNPROVEN = "hang"  # the kind of a finding the oracles could not prove (no deadlock, no lasso)


def add_parser(sub) -> None:
    s = sub.add_parser(
        "fuzz",
        help="search protocols for failures the corpus does not know yet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Search the schedules and injected events of PROTOCOL (every protocol if omitted). A failure "
            "whose signature is already saved in CORPUS/<protocol>/<variant>/ is a known bug: it is counted, "
            "not shrunk or saved again. A new one is shrunk to a minimal reproducer, saved at once to "
            "CORPUS/<protocol>/<variant>/<signature>.json and drawn as a timeline. Ends with one row per "
            "variant (claim, verdict, new and known findings, schedules, seconds), the timelines of new "
            "findings and what changed in the corpus. A variant expected to fail whose failure this budget "
            "did not hit still counts as expected when a saved case reproduces it.\n\n"
            "exit status: 0 every variant gave the outcome its model claims, 1 one did not, 2 bad input, "
            "130 interrupted (findings already saved are complete files)."
        ),
        epilog="examples:\n  panicfuzz fuzz --max-schedules 300\n  panicfuzz fuzz hpet --variant mainline --corpus /tmp/fresh",
    )
    s.add_argument("protocol", nargs="?", type=protocol_name, help=f"{MODEL_HELP}; default: the project's [tool.panicfuzz] models, else every model")
    s.add_argument("--variant", help="variant name; default: every variant of the protocol")
    s.add_argument("--strategy", choices=STRATEGIES, default="hypothesis", help="decision source (default: %(default)s)")
    s.add_argument("--max-schedules", type=at_least(1), default=1000, metavar="N", help="schedule budget per variant (default: %(default)s)")
    s.add_argument("--seed", type=at_least(0), default=0, metavar="S", help="seed of the search (default: %(default)s)")
    s.add_argument("--corpus", type=directory, metavar="DIR", help=f"known bugs, and where new ones are saved {CORPUS_HELP}")
    s.add_argument("--first", action="store_true", help="stop a variant's search at its first new failure")
    s.add_argument("--depth", type=at_least(1), default=2, metavar="D", help="bug depth of --strategy pct: D-1 priority change points or injections (default: %(default)s)")
    s.add_argument(
        "--save-unproven",
        action="store_true",
        help="also shrink and save hangs the oracles could not prove (no deadlock, no livelock lasso); "
        "by default they are only counted",
    )
    s.add_argument("--json", action="store_true", help="print the report as JSON (docs/json.md) instead of text")
    add_timeline_options(s)
    s.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    found, broken = models([args.protocol] if args.protocol else [])
    jobs = [(m, v) for m in found for v in variants(m, args.variant)]
    root = corpus_root(args.corpus)
    corpus.check_root(root)
    rows = []
    timelines: dict[str, str] = {}
    show_progress = not args.json and sys.stderr.isatty()
    for model_cls, variant in jobs:
        known = _known(root, model_cls, variant)
        new: list[dict] = []
        again: dict[str, int] = {}  # known bugs found in another scenario, shrunk back to a saved signature
        names: dict[str, tuple[str, ...]] = {}  # every signature seen -> its failure names

        def observe(result: RunResult, names=names) -> None:
            if result.failed:
                names.setdefault(result.signature, answers(result.outcome))

        def keep(f: Finding, model_cls=model_cls, known=known, new=new, again=again) -> None:
            """Save a new finding the moment it is shrunk (an interrupt loses nothing); never touch a saved one."""
            if f.signature in known:
                again[f.signature] = again.get(f.signature, 0) + 1
                return
            bound = scenarios.bind(model_cls, f.scenario)
            path, written = corpus.save(root, corpus.record(f, model_cls, timeline_of(bound, f.variant, f.result)))
            new.append({"finding": f, "file": str(path), "written": written})
            timelines[f.signature] = timeline_of(bound, f.variant, f.result, **drawing(args))

        with progress(show_progress, f"{model_cls.name}/{variant}", args.max_schedules) as on_progress:
            report = search(
                model_cls,
                variant,
                strategy=args.strategy,
                max_schedules=args.max_schedules,
                seed=args.seed,
                known=frozenset(known),
                first_only=args.first,
                progress=on_progress,
                depth=args.depth,
                on_finding=keep,
                observe=observe,
                skip_kinds=frozenset() if args.save_unproven else frozenset({UNPROVEN}),
            )
        counted = {s: report.known_hits.get(s, 0) + again.get(s, 0) for s in {*report.known_hits, *again}}
        evidence = None
        claimed = Claim.of(model_cls.variant_info(variant))
        if claimed.expected == "fails" and claimed.judge([(s, names[s]) for s in {*counted, *(n["finding"].signature for n in new)} if s in names]).missing:
            evidence = _reproducing(model_cls, variant, claimed, known, names)
        rows.append((model_cls, report, new, known, counted, evidence, names))
        if args.verbose and not args.json:
            print(f"{model_cls.name}/{variant}: done in {report.seconds:.1f} s", file=sys.stderr, flush=True)
    doc = fuzz_json(rows, args, root)
    if args.json:
        print(dumps(doc))
    else:
        print(fuzz_text(doc, timelines, quiet=args.quiet, width=drawing(args)["width"]))
    if broken:
        return 2
    return 0 if doc["totals"]["unexpected"] == 0 else 1


def _known(root: Path, model_cls: type[Model], variant: str) -> dict[str, tuple[str, str]]:
    """The variant's saved signatures: signature -> (file, failure kind).

    A file that does not load is not trusted (a warning says why): the same bug found again
    replaces it.
    """
    out = {}
    for path in corpus.files(root / model_cls.name / variant):
        try:
            data = corpus.load(path)
        except corpus.CorpusError as e:
            print(f"panicfuzz: warning: {e}; not counted as a known bug", file=sys.stderr)
            continue
        out[data["failure"]["signature"]] = (str(path), data["failure"]["kind"])
    return out


def _reproducing(model_cls: type[Model], variant: str, claimed: Claim, known: dict[str, tuple[str, str]], names: dict) -> str | None:
    """A saved case of `variant` that still fails as claimed: the evidence a short fuzz builds on
    (its failure names join `names`)."""
    for sig, (path, _) in known.items():
        data = corpus.load(Path(path))
        try:
            bound = scenarios.from_record(model_cls, data, path)
        except scenarios.ScenarioError as e:
            raise corpus.CorpusError(str(e)) from None
        result = execute(bound, variant, Replay(corpus.trace_of(Path(path), data)))
        if result.signature == sig and not claimed.judge([(sig, answers(result.outcome))]).missing:
            names[sig] = answers(result.outcome)
            return path
    return None
