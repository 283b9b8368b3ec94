"""One e2e measurement job: search start -> saved, proven-minimal reproducer (default strategy).

    [PANICFUZZ_TREE=DIR] python bench/e2e_job.py PROTOCOL VARIANT SEED [SEED ...]

Prints one JSON line per seed. With PANICFUZZ_TREE it imports panicfuzz from
that source tree (laid out as the repository: fuzz/, protocols/, ...), so
bench/run.py runs it on this tree and on a baseline tree exported from git
with the same measurement code: wall and CPU seconds
from the call of `search()` until the case file is written, the reproducer's
size and whether the shrinker proved it minimal.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

# The repository's package-dir mapping (pyproject.toml), for a tree that is not installed.
PACKAGE_DIRS = {"panicfuzz": "fuzz", "panicfuzz.protocols": "protocols", "panicfuzz.shrinkers": "shrinkers", "panicfuzz.shipped_corpus": "corpus"}


class _TreeFinder:
    """Import panicfuzz from the source tree PANICFUZZ_TREE, as an editable install would."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name not in PACKAGE_DIRS:
            return None
        d = Path(os.environ["PANICFUZZ_TREE"]) / PACKAGE_DIRS[name]
        return importlib.util.spec_from_file_location(name, d / "__init__.py", submodule_search_locations=[str(d)])


if os.environ.get("PANICFUZZ_TREE"):
    sys.meta_path.insert(0, _TreeFinder)

from panicfuzz import protocols  # noqa: E402
from panicfuzz.commands._common import save  # noqa: E402
from panicfuzz.search import search  # noqa: E402


def once(protocol: str, variant: str, seed: int) -> dict:
    model = protocols.load(protocol)
    with tempfile.TemporaryDirectory() as root:
        saved: list[tuple[float, float]] = []

        def on_finding(finding) -> None:
            save(Path(root), model, finding)
            saved.append((time.perf_counter() - t0, time.process_time() - c0))

        t0, c0 = time.perf_counter(), time.process_time()
        report = search(model, variant, seed=seed, first_only=True, max_schedules=2000, on_finding=on_finding)
    if not report.findings:
        return {"protocol": protocol, "variant": variant, "seed": seed, "found": False}
    f = report.findings[0]
    size = f.result.size
    return {
        "protocol": protocol,
        "variant": variant,
        "seed": seed,
        "found": True,
        "signature": f.signature,
        "seconds": round(saved[0][0], 3),
        "cpu_seconds": round(saved[0][1], 3),
        "search_seconds": f.seconds,
        "size": [size.preemptions, size.injected, size.steps],
        "minimal": f.shrink_report.minimal,
    }


def main(argv: list[str]) -> None:
    protocol, variant, *seeds = argv
    search(protocols.load(protocol), variant, max_schedules=5, first_only=True)  # warm-up: imports, first calls
    for seed in seeds:
        print(json.dumps(once(protocol, variant, int(seed))), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
