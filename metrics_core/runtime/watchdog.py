"""Processes that end when their parent does.

The fork server and the analysis workers must not outlive the process that started them, whatever ended
it (Ctrl+C, SIGTERM, SIGHUP, SIGKILL, a crash): a thread polls the parent's pid and ends the process
(``os._exit``) once it has changed — the child was reparented, so the parent is gone. The server watches
the CLI or app process; each worker watches the server, so both are gone within ``INTERVAL_S`` of each
other. (``PR_SET_PDEATHSIG`` would be immediate but follows the parent *thread*, and the app starts the
pool from a short-lived worker thread.)
"""

from __future__ import annotations

import os
import threading
import time

#: Seconds between checks of the parent's pid.
INTERVAL_S = 0.5


def exit_with_parent(interval_s: float = INTERVAL_S) -> threading.Thread:
    """Start a daemon thread that ends this process when its parent process has gone."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            if os.getppid() != parent:
                os._exit(0)

    thread = threading.Thread(target=watch, name="modeltui-parent-watch", daemon=True)
    thread.start()
    return thread
