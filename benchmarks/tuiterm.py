"""Helper for the TUI benchmarks: run ``modeltui`` in a real terminal (a tmux pane) and read its screen.

Each ``Term`` uses a tmux server of its own (``tmux -L <socket>``), started before any timing by a
parked idle session, so that the server's start-up is never counted in a measurement. ``screen()``
runs ``tmux capture-pane``: its own cost is the polling floor the benchmarks report.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from pathlib import Path

from measure import _tree

#: shared objects that only an ``import torch`` maps into a process
TORCH_MAPS = re.compile(r"libtorch|libc10|torch/_C")


def torch_mapped(pid: int) -> bool:
    """Whether torch's shared libraries are mapped into process ``pid`` (read from ``/proc/PID/maps``)."""
    return bool(TORCH_MAPS.search(Path(f"/proc/{pid}/maps").read_text()))


class Term:
    """A tmux server of its own, 80x24 panes unless told otherwise."""

    def __init__(self, socket: str, width: int = 80, height: int = 24) -> None:
        self.socket, self.width, self.height = socket, width, height
        self.tmux(["new-session", "-d", "-s", "park", "-x", str(width), "-y", str(height), "sleep 100000"])

    def tmux(self, args: list[str], check: bool = True) -> str:
        out = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check)
        return out.stdout

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> int:
        """Start ``argv`` in a new session ``name`` (environment ``env`` passed with ``-e``); its pid."""
        env_args = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        size = ["-x", str(self.width), "-y", str(self.height)]
        self.tmux(["new-session", "-d", "-s", name, *size, *env_args, "--", *argv])
        return int(self.tmux(["display-message", "-p", "-t", name, "#{pane_pid}"]).strip())

    def screen(self, name: str) -> str:
        """The pane's text now (``capture-pane -p``)."""
        return self.tmux(["capture-pane", "-p", "-t", name], check=False)

    def send(self, name: str, *keys: str) -> None:
        self.tmux(["send-keys", "-t", name, *keys])

    def wait_for(self, name: str, pred, timeout: float = 30.0, interval: float = 0.0) -> tuple[float, str]:  # noqa: ANN001
        """Poll the screen (every ``interval`` s after each capture) until ``pred(text)``; (perf_counter
        when seen, text). Raises on timeout."""
        end = time.perf_counter() + timeout
        while True:
            text = self.screen(name)
            now = time.perf_counter()
            if pred(text):
                return now, text
            if now > end:
                raise TimeoutError(f"screen of {name} never matched; last screen:\n{text}")
            if interval:
                time.sleep(interval)

    def stop(self, name: str, pid: int, timeout: float = 10.0) -> None:
        """Quit the app (``q``) and wait for it and its child processes (the analysis workers) to end;
        kill the session if the app does not end."""
        tree = _tree(pid)
        with contextlib.suppress(subprocess.CalledProcessError):
            self.send(name, "q")
        end = time.perf_counter() + timeout
        while any(Path(f"/proc/{p}").exists() for p in tree) and time.perf_counter() < end:
            time.sleep(0.05)
        self.tmux(["kill-session", "-t", name], check=False)

    def close(self) -> None:
        self.tmux(["kill-server"], check=False)
