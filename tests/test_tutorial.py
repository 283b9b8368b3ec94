"""docs/tutorial.md, executed: its files are written and its commands run, in order, in a fresh directory.

A `<!-- file: NAME -->` line before a fenced block writes that block to NAME; in a
```console block, `$ ` lines are commands (with `# exit status N` when it is not 0)
and the first line after a command is its output's first line, checked (timings aside).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
TUTORIAL = DOCS / "tutorial.md"
BLOCK = re.compile(r"(?:<!-- file: (?P<file>\S+) -->\n)?```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)
TIMING = re.compile(r"\d+\.\d+ s\b")


def steps(text: str):
    """("file", name, content) and ("run", command, exit status, first output line or None), in order."""
    for block in BLOCK.finditer(text):
        if block["file"]:
            yield "file", block["file"], block["body"]
        elif block["lang"] == "console":
            lines = block["body"].splitlines()
            for i, line in enumerate(lines):
                if line.startswith("$ "):
                    command, _, status = line[2:].partition("# exit status ")
                    following = lines[i + 1] if i + 1 < len(lines) and not lines[i + 1].startswith("$ ") else None
                    yield "run", command.strip(), int(status or 0), following


def normal(text: str) -> str:
    return " ".join(TIMING.sub("T s", text).split())


def test_the_tutorial_runs_as_written(tmp_path):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "100"}
    env.pop("PANICFUZZ_CORPUS", None)
    cwd = tmp_path
    ran = 0
    for step in steps(TUTORIAL.read_text()):
        if step[0] == "file":
            (cwd / step[1]).write_text(step[2])
            continue
        _, command, status, first = step
        if command.startswith("mkdir ") and "&& cd " in command:
            subprocess.run(command.split("&&")[0], shell=True, cwd=cwd, check=True)
            cwd = cwd / command.rpartition("cd ")[2].strip()
            continue
        done = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, executable="/bin/bash")
        output = done.stdout + done.stderr
        assert done.returncode == status, f"$ {command}\nexit status {done.returncode}, not {status}\n{output}"
        if first is not None:
            assert normal(first) in normal(output), f"$ {command}\nexpected a line\n  {first}\nin\n{output}"
        ran += 1
    assert ran >= 10
    assert (cwd / "nmi_lock.py").read_text() == (DOCS / "nmi_lock.py").read_text()  # docs/nmi_lock.py is the tutorial's model
