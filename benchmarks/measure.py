"""Run a command and measure it from the outside: wall time, CPU time and memory of its process tree.

Memory is read from the operating system, three ways, because the analysis uses several processes that
share pages (a fork server and its workers share the imported torch):

- ``peak_rss``: the largest peak resident set of any single process of the tree: ``VmHWM`` of
  ``/proc/PID/status`` (polled) and the ``ru_maxrss`` that ``wait4`` returns for the command (Linux: the
  largest peak RSS of the command and of every descendant reaped below it), whichever is larger;
- ``peak_rss_sum``: the largest sum of ``VmRSS`` over the tree at one poll (counts shared pages once per
  process: an upper bound);
- ``peak_pss_sum``: the largest sum of ``Pss`` (``/proc/PID/smaps_rollup``; shared pages split between
  the processes sharing them): the memory the command really occupies. Reading it costs ~15 ms per GB of
  mapped memory, so it is polled once a second (a short peak can be missed).

CPU time is user + system of the whole tree: ``wait4``'s figure (the command and reaped descendants),
or the sum over ``/proc/PID/stat`` of every process seen at its last poll, whichever is larger. The
poll interval is 50 ms.
"""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
KB = 1024


@dataclass
class Measurement:
    """What ``run`` measured (bytes and seconds)."""

    argv: list[str]
    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss: int
    peak_rss_sum: int
    peak_pss_sum: int
    rusage_maxrss: int
    processes: int
    stdout: str = ""
    stderr: str = ""
    extra: dict = field(default_factory=dict)


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from ``/proc/PID/task/TID/children``."""
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                stack.extend(int(c) for c in Path(task.path, "children").read_text().split())
        except OSError:
            continue
    return out


def _status_kb(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return out


def _pss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def run(
    argv: list[str],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    interval: float = 0.05,
    pss_interval: float = 1.0,
    capture: bool = True,
) -> Measurement:
    """Run ``argv`` to completion, polling its process tree (see module docstring)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.PIPE if capture else subprocess.DEVNULL,
        text=True,
    )
    hwm: dict[int, int] = {}
    ticks: dict[int, int] = {}
    peaks = {"rss_sum": 0, "pss_sum": 0}
    stop = threading.Event()

    def poll() -> None:
        known: set[int] = {proc.pid}
        next_pss = 0.0
        while not stop.is_set():
            now = time.perf_counter()
            with_pss = now >= next_pss
            if with_pss:
                next_pss = now + pss_interval
            with contextlib.suppress(OSError):
                known.update(_tree(proc.pid))
            rss_sum = pss_sum = 0
            for pid in list(known):
                if pid == os.getpid():
                    continue
                try:
                    st = _status_kb(pid)
                    pss = _pss_kb(pid) if with_pss else 0
                    ticks[pid] = _cpu_ticks(pid)
                except (OSError, ValueError, IndexError):
                    known.discard(pid)
                    continue
                hwm[pid] = max(hwm.get(pid, 0), st.get("VmHWM", 0))
                rss_sum += st.get("VmRSS", 0)
                pss_sum += pss
            peaks["rss_sum"] = max(peaks["rss_sum"], rss_sum)
            if with_pss:
                peaks["pss_sum"] = max(peaks["pss_sum"], pss_sum)
            stop.wait(interval)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    chunks: dict[str, str] = {}

    def drain(name: str, stream) -> None:  # noqa: ANN001
        chunks[name] = stream.read() if stream is not None else ""

    readers = [
        threading.Thread(target=drain, args=("out", proc.stdout), daemon=True),
        threading.Thread(target=drain, args=("err", proc.stderr), daemon=True),
    ]
    for r in readers:
        r.start()
    # wait4 gives this command's own rusage: its CPU time and, as ru_maxrss, the largest peak RSS of it
    # and every descendant it (or they) waited for.
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    for r in readers:
        r.join()
    stop.set()
    poller.join()
    own_cpu = usage.ru_utime + usage.ru_stime
    polled_cpu = sum(ticks.values()) / TICKS
    return Measurement(
        argv=list(argv),
        returncode=proc.returncode,
        wall_s=wall,
        cpu_s=max(own_cpu, polled_cpu),
        peak_rss=max([*hwm.values(), usage.ru_maxrss]) * KB,
        peak_rss_sum=peaks["rss_sum"] * KB,
        peak_pss_sum=peaks["pss_sum"] * KB,
        rusage_maxrss=usage.ru_maxrss * KB,
        processes=len(hwm),
        stdout=chunks.get("out", ""),
        stderr=chunks.get("err", ""),
    )


def machine() -> str:
    """One line describing this machine: CPU model, cores available, memory, OS, Python."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    load = os.getloadavg()[0]
    return (
        f"{model}, {cores} cores available, {mem:.0f} GB RAM, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; load average {load:.2f} at start"
    )


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for r in [headers, ["-" * w for w in widths], *rows]:
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=False))
        ]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def gb(n: int) -> str:
    return f"{n / 1e9:.2f} GB"


def compile_sources(root: Path | None = None) -> None:
    """Write the bytecode of ``metrics_core`` and ``tui`` (what ``pip install`` does), so that runs time
    the program, not the compilation of its sources (``PYTHONDONTWRITEBYTECODE=1`` environments would
    otherwise compile every module on every run)."""
    import compileall

    root = root or Path(__file__).resolve().parents[1]
    for package in ("metrics_core", "tui"):
        compileall.compile_dir(str(root / package), quiet=1, legacy=False)


#: README's benchmark figures: ``<!-- bench:NAME -->TEXT<!-- /bench -->``, TEXT written by the benchmark
#: from its own output (``--readme``), never by hand.
README = Path(__file__).resolve().parents[1] / "README.md"


def write_readme_figure(name: str, text: str) -> bool:
    """Replace the text of README's ``bench:NAME`` marker with ``text``; False when README has no such
    marker (nothing written)."""
    import re

    from metrics_core.common.paths import write_atomic

    body = README.read_text()
    pattern = re.compile(rf"(<!-- bench:{re.escape(name)} -->).*?(<!-- /bench -->)", re.S)
    if not pattern.search(body):
        return False
    write_atomic(README, pattern.sub(lambda m: m.group(1) + text + m.group(2), body, count=1))
    return True
