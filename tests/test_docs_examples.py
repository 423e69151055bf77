"""Every Python example of README's "From Python" section and of docs/api.md runs, as written (each file's
blocks in order, in one fresh interpreter, so an example cannot go stale)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```python\n(.*?)```", re.S)


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


SOURCES = {
    "README From Python": _section((ROOT / "README.md").read_text(), "## From Python"),
    "docs/api.md": (ROOT / "docs" / "api.md").read_text(),
}


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_examples_run(source: str, tmp_path: Path) -> None:
    blocks = FENCE.findall(SOURCES[source])
    assert len(blocks) >= 4, f"{source}: expected its examples, found {len(blocks)} python blocks"
    script = tmp_path / "examples.py"
    script.write_text("\n\n".join(blocks))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MODELTUI_JOBS": "0"}
    cmd = [sys.executable, str(script)]
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{source} examples failed:\n{done.stderr[-3000:]}"
