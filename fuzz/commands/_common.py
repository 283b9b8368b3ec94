"""Glue shared by the commands: resolving models and variants, progress, the corpus."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import shutil
import sys
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from panicfuzz import protocols

from .. import corpus, scenarios
from ..errors import UsageError
from ..model import Model
from ..search import Finding
from ..timeline import SCREEN, timeline_of

DEFAULT_CORPUS = os.environ.get("PANICFUZZ_CORPUS", "corpus")


def model(name: str) -> type[Model]:
    try:
        return protocols.load(name)
    except KeyError:
        raise UsageError(f"unknown protocol {name!r}; known: {', '.join(protocols.names())}") from None


def variants(model_cls: type[Model], variant: str | None) -> list[str]:
    names = [v.name for v in model_cls.variants]
    if variant is None:
        return names
    if variant not in names:
        raise UsageError(f"protocol {model_cls.name!r} has no variant {variant!r}; known: {', '.join(names)}")
    return [variant]


@contextlib.contextmanager
def progress(enabled: bool, label: str, total: int | None) -> Iterator[Callable[[int, int], None] | None]:
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


def save(root: Path, model_cls: type[Model], finding: Finding) -> str:
    bound = scenarios.bind(model_cls, finding.scenario)
    data = corpus.record(finding, model_cls, timeline_of(bound, finding.variant, finding.result))
    path, _ = corpus.save(root, data)
    return str(path)


def load_cases(files: Sequence[str], variant: str | None = None) -> list[tuple[Path, dict, type[Model], list]]:
    """Every corpus file checked before any runs: (path, data, model, trace); `variant` must exist too."""
    cases = []
    for path in map(Path, files):
        data = corpus.load(path)
        try:
            model_cls = model(data["protocol"])
        except UsageError as e:
            raise corpus.CorpusError(f"{path}: field 'protocol': {e}") from None
        try:
            model_cls = scenarios.from_record(model_cls, data, str(path))
        except scenarios.ScenarioError as e:
            raise corpus.CorpusError(str(e)) from None
        if variant is not None:
            variants(model_cls, variant)
        corpus.check_model(path, data, model_cls)
        cases.append((path, data, model_cls, corpus.trace_of(path, data)))
    return cases


def at_least(low: int) -> Callable[[str], int]:
    """An argparse type: an integer (plain digits, no 1e9) of at least `low`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value

    return parse


def protocol_name(text: str) -> str:
    """An argparse type: a protocol name, never empty (an empty one is not "every protocol")."""
    if not text:
        raise argparse.ArgumentTypeError("a protocol name is not empty (omit it for every protocol)")
    return text


def directory(text: str) -> str:
    """An argparse type: a directory name, never empty."""
    if not text:
        raise argparse.ArgumentTypeError("a directory name is not empty")
    return text


def positive_float(text: str) -> float:
    """An argparse type: a finite number above 0 (minutes, seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, not {text}")
    return value


def add_timeline_options(s: argparse.ArgumentParser) -> None:
    s.add_argument(
        "--width",
        type=at_least(40),
        metavar="N",
        help="columns of a timeline (default: the terminal's width, 200 off a terminal); long cells wrap",
    )
    s.add_argument("--steps", action="store_true", help="number each timeline row with its step and virtual time")


def drawing(args: argparse.Namespace) -> dict:
    """The timeline options of `args`, as keyword arguments of `timeline_of`."""
    width = args.width or (shutil.get_terminal_size((SCREEN, 24)).columns if sys.stdout.isatty() else SCREEN)
    return {"width": width, "steps": args.steps}
