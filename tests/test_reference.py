"""docs/reference.md covers every public primitive of panicfuzz.kernel and panicfuzz.cells, each with a docstring."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from panicfuzz import cells, kernel

REFERENCE = (Path(__file__).resolve().parent.parent / "docs" / "reference.md").read_text()


def public(module) -> list[tuple[str, object]]:
    """Functions and classes defined in `module` (aliases included) and its constants."""
    out = []
    for name, obj in vars(module).items():
        if name.startswith("_"):
            continue
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == module.__name__:
            out.append((name, obj))
        elif isinstance(obj, int) and name.isupper():
            out.append((name, None))
    return out


NAMES = [(m.__name__, name, obj) for m in (kernel, cells) for name, obj in public(m)]


@pytest.mark.parametrize("module, name, obj", NAMES, ids=[f"{m}.{n}" for m, n, _ in NAMES])
def test_every_public_primitive_has_a_docstring_and_a_reference_entry(module, name, obj):
    if obj is not None:
        assert (obj.__doc__ or "").strip(), f"{module}.{name} has no docstring: say what it models, which kernel function, whether it is a schedule point and what it logs"
    assert re.search(rf"`{re.escape(name)}[`(]", REFERENCE), f"{module}.{name} has no entry in docs/reference.md"


def test_the_reference_names_nothing_that_does_not_exist():
    known = {name for _, name, _ in NAMES} | {"of"}
    for table_row in re.findall(r"^\| (.*?) \|", REFERENCE, re.M):
        for name in re.findall(r"`(\w+)[`(]", table_row):
            assert name in known, f"docs/reference.md lists `{name}`, which panicfuzz.kernel/cells do not define"


def test_every_relative_link_of_the_docs_exists():
    # README and docs/ link each other (tutorial -> semantics -> reference ...): none may dangle
    root = Path(__file__).resolve().parent.parent
    pages = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    dangling = [
        f"{page.relative_to(root)}: {target}"
        for page in pages
        for target in re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", page.read_text())
        if not (page.parent / target).exists()
    ]
    assert dangling == []
