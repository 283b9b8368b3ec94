"""Model coverage with coverage.py: which lines and branches of a model's files ran.

`measure` runs a function under coverage.py's tracer (branch mode), limited
to the model's own directory, and returns the executed lines and arcs per
file as plain data, keyed by the path relative to that directory (workers may
see the model at another absolute path). `analyse` turns merged data into
line and branch figures and the never-executed lines, with the same parser
coverage.py's own reports use.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Callable

import attrs
import coverage
from coverage.parser import PythonParser

from .model import Model


def model_dir(model_cls: type[Model]) -> Path:
    return Path(inspect.getfile(model_cls)).resolve().parent


def measure(model_cls: type[Model], fn: Callable[[], object]) -> dict[str, dict[str, list]]:
    """{relative file: {"lines": [...], "arcs": [[from, to], ...]}} executed while `fn()` ran."""
    root = model_dir(model_cls)
    cov = coverage.Coverage(data_file=None, branch=True, include=[f"{root}/*"], config_file=False)
    cov.start()
    try:
        fn()
    finally:
        cov.stop()
    data = cov.get_data()
    out = {}
    for path in sorted(data.measured_files()):
        rel = Path(path).resolve().relative_to(root).as_posix()
        out[rel] = {"lines": sorted(data.lines(path) or ()), "arcs": sorted(map(list, data.arcs(path) or ()))}
    return out


def merge(into: dict[str, dict[str, list]], more: dict[str, dict[str, list]]) -> int:
    """Add `more` to `into` in place; returns how many lines and arcs were new."""
    new = 0
    for rel, got in more.items():
        have = into.setdefault(rel, {"lines": [], "arcs": []})
        lines, arcs = set(have["lines"]), set(map(tuple, have["arcs"]))
        fresh_lines, fresh_arcs = set(got["lines"]) - lines, set(map(tuple, got["arcs"])) - arcs
        new += len(fresh_lines) + len(fresh_arcs)
        have["lines"] = sorted(lines | fresh_lines)
        have["arcs"] = sorted(map(list, arcs | fresh_arcs))
    return new


@attrs.frozen
class FileCoverage:
    path: Path
    statements: int
    executed: int
    branches: int
    taken: int
    missing: tuple[int, ...]  # statements never executed
    partial: tuple[int, ...]  # branch lines with an exit never taken

    @property
    def line_pct(self) -> float:
        return 100.0 * self.executed / self.statements if self.statements else 100.0

    @property
    def branch_pct(self) -> float:
        return 100.0 * self.taken / self.branches if self.branches else 100.0


def analyse(path: Path, lines: list[int], arcs: list[list[int]]) -> FileCoverage:
    """Line and branch coverage of one file from executed `lines` and `arcs`."""
    parser = PythonParser(filename=str(path))
    parser.parse_source()
    statements = parser.statements
    ran = parser.translate_lines(set(lines) | _import_time(path)) & statements
    executed_arcs = parser.translate_arcs(map(tuple, arcs))
    exits = {line: n for line, n in parser.exit_counts().items() if n > 1}
    possible = {a for a in parser.arcs() if a[0] in exits}
    taken = possible & executed_arcs
    partial = sorted({a[0] for a in possible - taken} & ran)
    return FileCoverage(
        path=path,
        statements=len(statements),
        executed=len(ran),
        branches=sum(exits.values()),
        taken=len(taken),
        missing=tuple(sorted(statements - ran)),
        partial=tuple(partial),
    )


def _import_time(path: Path) -> set[int]:
    """Lines run when the module was imported (module and class bodies), before any replay was traced."""
    out: set[int] = set()
    todo = list(ast.parse(path.read_text()).body)
    while todo:
        node = todo.pop()
        out.add(node.lineno)
        for d in getattr(node, "decorator_list", ()):
            out.add(d.lineno)
        if isinstance(node, ast.ClassDef):
            todo += node.body
        elif isinstance(node, (ast.If, ast.Try)):
            todo += node.body + node.orelse + getattr(node, "finalbody", []) + [h for h in getattr(node, "handlers", [])]
    return out
