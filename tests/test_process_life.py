"""The fork server and the analysis workers never outlive the process that started them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

STARTER = """
import os, sys, time
from metrics_core.runtime import pool
pool.warm_up().join()
print("ready", flush=True)
time.sleep(120)
"""


def descendants(root: int) -> set[int]:
    """Every process below ``root``, from /proc (ppid links)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.add(child)
            stack.append(child)
    return out


def user_env() -> dict[str, str]:
    """The environment a user runs modeltui in: the worker pool on (the test suite's settings removed)."""
    return {k: v for k, v in os.environ.items() if k not in ("MODELTUI_JOBS", "MODELTUI_IN_PROCESS")}


def survivors(pids: set[int], wait_s: float = 10) -> list[int]:
    """``pids`` still alive after up to ``wait_s``: the watchdogs notice a dead parent within 0.5 s, then
    the resource tracker cleans up."""
    deadline = time.monotonic() + wait_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if alive(p)]


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def default_signals() -> None:
    """In the child: SIGTERM and SIGHUP at their default action, as a user's shell gives them (a test run
    under nohup would otherwise hand down an ignored SIGHUP)."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP], ids=["KILL", "TERM", "HUP"])
def test_workers_and_server_end_with_their_parent(sig):
    env = user_env()
    proc = subprocess.Popen(
        [sys.executable, "-c", STARTER],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=default_signals,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        spawned = descendants(proc.pid)
        assert len(spawned) >= 2  # the fork server and at least one worker (and the resource tracker)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert survivors(spawned) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def start_cold_compare() -> tuple[subprocess.Popen, set[int]]:
    """``modeltui compare --all --no-cache`` as a user runs it, a second into its analysis: (the process,
    every process below it: tracker, fork server, workers)."""
    argv = [sys.executable, "-m", "tui.cli", "compare", "--all", "--no-cache", "--format", "json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=user_env())
    deadline = time.monotonic() + 60
    while len(descendants(proc.pid)) < 4 and time.monotonic() < deadline:  # tracker, server, 2 workers
        time.sleep(0.2)
    time.sleep(1)  # analysing
    return proc, descendants(proc.pid)


def test_sigterm_takes_the_ctrl_c_path():
    """SIGTERM/SIGHUP to a verb: one line, exit 128 + signal, no process of the run left behind."""
    proc, spawned = start_cold_compare()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert (proc.returncode, out, err) == (143, "", "modeltui: terminated (SIGTERM)\n")
    assert survivors(spawned) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_sigkill_leaves_no_process_and_no_leaked_semaphore_warning():
    proc, spawned = start_cold_compare()
    proc.kill()
    out, err = proc.communicate(timeout=120)  # EOF once every process holding the pipes has gone
    assert (proc.returncode, out, err) == (-9, "", "")  # no "leaked semaphore objects" from the tracker
    assert survivors(spawned) == []


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc and a pty")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["TERM", "HUP"])
def test_the_app_quits_cleanly_on_sigterm_and_sighup(sig):
    """The app in a pseudo-terminal: the signal takes the quit path, so the terminal leaves the alternate
    screen, the status is 128 + signal, one line says why, and no process of the app survives."""
    import pty
    import select

    env = user_env()
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "tui.cli", "resnet18"]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    screen = b""

    def read_for(seconds: float) -> None:
        nonlocal screen
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    return

    try:
        deadline = time.monotonic() + 60
        while b"resnet18" not in screen and time.monotonic() < deadline:
            read_for(0.5)
        assert b"\x1b[?1049h" in screen  # the app is in the alternate screen
        read_for(2)
        spawned = descendants(proc.pid)
        proc.send_signal(sig)
        proc.wait(timeout=30)
        read_for(1)
        assert proc.returncode == 128 + sig
        tail = screen[screen.rindex(b"\x1b[?1049h") :]
        assert b"\x1b[?1049l" in tail  # ... and has left it: the terminal is restored
        assert f"modeltui: terminated ({signal.Signals(sig).name})".encode() in tail
        assert survivors(spawned) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_the_timm_index_builder_ends_with_a_sigkilled_cli(tmp_path):
    """``models --source timm`` with no index yet: the builder subprocess (it imports torch and timm, for
    seconds) ends within the watch interval once its CLI is SIGKILLed (it outlived it by seconds)."""
    pytest.importorskip("timm")
    env = {**user_env(), "MODELTUI_CACHE_DIR": str(tmp_path)}  # no index: it is built
    argv = [sys.executable, "-m", "tui.cli", "models", "--source", "timm"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while not descendants(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        builder = descendants(proc.pid)
        assert len(builder) == 1  # python -m metrics_core.sources.timm_index
        time.sleep(0.5)  # importing torch
        proc.kill()
        proc.communicate(timeout=30)
        assert survivors(builder, wait_s=5) == []
        assert not list(tmp_path.rglob("timm-*.json"))  # nothing half-written
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_child_whose_named_parent_is_already_gone_ends_at_once():
    """The race the fork server lost once in five runs: its caller killed while it imported torch, before
    its watch started. The starter's pid travels in $MODELTUI_PARENT_PID; a child that finds a different
    parent when it starts its watch ends at once (exit 0, nothing printed) instead of waiting forever."""
    from metrics_core.common.watchdog import ENV_PARENT

    code = (
        "from metrics_core.common.watchdog import exit_with_parent, expected_parent\n"
        "exit_with_parent(parent=expected_parent())\n"
        "import time; time.sleep(60); print('survived')\n"
    )
    env = {**os.environ, ENV_PARENT: "1"}  # "started by" pid 1: not this child's parent, so gone
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    env[ENV_PARENT] = str(os.getpid())  # the real parent: the watch runs and the child sleeps on
    child = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=2)
    finally:
        child.kill()
        child.communicate()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_the_fork_server_ends_with_a_cli_sigkilled_while_it_starts():
    """SIGKILL as soon as the fork server exists, while it still imports torch (seconds) and has not
    started its watch: it must still end (it outlived the CLI once in five runs)."""
    argv = [sys.executable, "-m", "tui.cli", "compare", "--all", "--no-cache", "--format", "json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=user_env())
    try:
        deadline = time.monotonic() + 60
        while len(descendants(proc.pid)) < 2 and time.monotonic() < deadline:  # the tracker and the server
            time.sleep(0.02)
        spawned = descendants(proc.pid)
        proc.kill()
        proc.communicate(timeout=60)
        assert survivors(spawned) == []
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc and a pty")
def test_quitting_the_app_while_the_pool_starts_leaves_no_process(tmp_path):
    """``q`` while the fork server still imports torch (a worker's start waits for it) and the timm index
    is being built (a fresh cache): the app ends both at once (``backend.abort``: ``pool.abort``,
    ``timm_source.cancel_index_builds``) rather than wait for their imports, and nothing it started is
    left."""
    import pty
    import select

    env = {**user_env(), "MODELTUI_CACHE_DIR": str(tmp_path)}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "tui.cli", "resnet50", "vit_b_16", "--no-cache"]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    screen = b""

    def read_until(done, seconds: float) -> None:  # noqa: ANN001
        nonlocal screen
        end = time.monotonic() + seconds
        while not done() and time.monotonic() < end:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    return

    try:
        read_until(lambda: len(descendants(proc.pid)) >= 2, 60)  # the tracker and the fork server
        spawned = descendants(proc.pid)
        os.write(master, b"q")
        read_until(lambda: proc.poll() is not None, 30)
        assert proc.wait(timeout=5) == 0
        assert survivors(spawned | descendants(proc.pid)) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
