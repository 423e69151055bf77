"""Processes that end when their parent does.

The fork server, the analysis workers, the bench child and the timm-index builder must not outlive the
process that started them, whatever ended it (Ctrl+C, SIGTERM, SIGHUP, SIGKILL, a crash): a thread polls
the parent's pid and ends the process (``os._exit``) once it has changed — the child was reparented, so
the parent is gone. The server watches the CLI or app process; each worker watches the server, so both
are gone within ``INTERVAL_S`` of each other. (``PR_SET_PDEATHSIG`` would be immediate but follows the
parent *thread*, and the app starts the pool from a short-lived worker thread.)

A child that starts its watch late (the fork server imports torch first, for seconds) cannot learn its
parent from ``os.getppid()`` then: a parent killed in the meantime has already been replaced by init or a
subreaper, and the watch would wait for a change that never comes. So the starting process names itself
in ``$MODELTUI_PARENT_PID`` (:func:`name_self_as_parent`, :func:`child_env`) and the child reads it the
moment it starts (:func:`expected_parent`); a child that finds its parent already gone ends at once.
Standard library only (every stage may start a child).
"""

from __future__ import annotations

import os
import threading
import time

#: Seconds between checks of the parent's pid.
INTERVAL_S = 0.5

#: The pid of the process that started this one, set by the starter (read at the child's start).
ENV_PARENT = "MODELTUI_PARENT_PID"


def expected_parent() -> int:
    """The parent this process must end with: ``$MODELTUI_PARENT_PID`` when it is set to a number, else
    ``os.getppid()``. Call it first thing in the child (before slow imports)."""
    try:
        return int(os.environ[ENV_PARENT])
    except (KeyError, ValueError):
        return os.getppid()


def child_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) naming this process as the parent of the child about
    to be started."""
    return {**(os.environ if env is None else env), ENV_PARENT: str(os.getpid())}


def name_self_as_parent() -> None:
    """Put this process's pid in ``$MODELTUI_PARENT_PID`` for children started by libraries that take no
    ``env`` argument (``multiprocessing``'s fork server)."""
    os.environ[ENV_PARENT] = str(os.getpid())


def exit_with_parent(interval_s: float = INTERVAL_S, parent: int | None = None) -> threading.Thread:
    """Start a daemon thread that ends this process when ``parent`` (default: the current parent) has
    gone; ends the process at once when it is already gone."""
    if parent is None:
        parent = os.getppid()
    if os.getppid() != parent:
        os._exit(0)

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(0)

    thread = threading.Thread(target=watch, name="modeltui-parent-watch", daemon=True)
    thread.start()
    return thread
