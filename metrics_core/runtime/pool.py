"""Parallel analysis in worker processes forked from one pre-warmed server (``forkserver``).

Why this design (measured on 2 cores, see ``benchmarks/RESULTS.md``):

- Importing torch + torchvision costs ~2.5 s of one core and ~0.7 GB; re-importing it in every worker
  would repeat that work and memory. A ``multiprocessing`` fork server imports it once
  (``metrics_core.runtime.pool_server``) and forks each worker from that warm process: a worker starts in
  milliseconds and shares the imported pages. The server also replaces torch's compiler with a stand-in
  (a third of the import, never used here) and freezes the imported objects out of the garbage
  collector's sight (collections had cost a quarter of the analysis time).
- The fork server is a fresh single-threaded interpreter, so forking it is safe even when the caller has
  threads (the Textual app calls ``analyze_many`` from a thread worker), and the caller itself never
  imports torch: a cached ``compare`` and the app's first paint stay light.
- Each worker keeps a ``metamemo.MetaMemo`` (memoised meta kernels) across the models it analyses.
- Models are handed out one at a time (largest first, by published parameter count), so the cores
  finish within one small model of each other.
- A worker writes its result to the cache itself and sends back the report without its per-op records
  (they load lazily from the cache file); the caller's core is left to the other worker.

The pool is created on first use and kept for the life of the process (the app's next analysis starts
at once); ``shutdown()`` ends it (and cancels what is queued). A worker that dies (crash, out of
memory) fails only the model it was analysing: the others are rerun in a fresh pool. Ctrl+C stops the
workers and re-raises ``KeyboardInterrupt`` in the caller; workers and server ignore SIGINT and write
nothing to the terminal, so no traceback is printed. At exit the server and workers are ended and
reaped. If no worker can be started, ``run_tasks`` raises ``PoolUnavailable`` and ``analyze_many``
analyses in-process with a warning.

``MODELTUI_JOBS`` sets the number of worker processes (0 means one: user model code never runs in the
calling process of the CLI or the app, which call ``isolate()``). Unset, the pool has one worker per
available core. A library caller that has imported torch itself (a script or test) analyses in-process,
where its monkeypatches apply, unless it called ``isolate()``; ``MODELTUI_IN_PROCESS=1`` forces
in-process analysis for tests. Any exception from a model's code (``SystemExit``, ``KeyboardInterrupt``
raised by the model, ``BaseException`` subclasses), a crash, ``os._exit`` or a kill becomes that model's
row error. A model that runs longer than ``timeout_s`` (``run_tasks``) has its worker killed and gets a
"timed out" row error; the others are rerun.
``MODELTUI_MEMO=0`` and ``MODELTUI_DYNAMO_SHIM=0`` turn off the two worker speed-ups (benchmarks).
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from metrics_core.common.records import ModelReport

ENV_JOBS = "MODELTUI_JOBS"
#: ``MODELTUI_IN_PROCESS=1``: analyse in the calling process (tests that monkeypatch the analysis).
ENV_IN_PROCESS = "MODELTUI_IN_PROCESS"
#: Seconds a model may take before its worker is killed (``--timeout``; the CLI's default).
DEFAULT_TIMEOUT_S = 300.0
#: ``MODELTUI_MEMO=0`` turns off the workers' memoised meta kernels (``metrics_core.runtime.metamemo``).
ENV_MEMO = "MODELTUI_MEMO"

#: The module the fork server imports before forking any worker (torch, torchvision, the analysis).
PRELOAD: tuple[str, ...] = ("metrics_core.runtime.pool_server",)


def configured_jobs() -> int | None:
    """``MODELTUI_JOBS`` as an int (>= 0), or None when unset or not a number."""
    text = os.environ.get(ENV_JOBS, "").strip()
    try:
        return max(0, int(text)) if text else None
    except ValueError:
        return None


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_isolated = False


def isolate() -> None:
    """Never run user model code in this process (the CLI and the app call this first): analyses go to
    worker processes even when torch is imported here, and no in-process fallback is taken."""
    global _isolated
    _isolated = True


@contextlib.contextmanager
def isolation() -> Iterator[None]:
    """``isolate()`` for the duration of a block (a CLI verb run from a test process), then as before."""
    global _isolated
    before, _isolated = _isolated, True
    try:
        yield
    finally:
        _isolated = before


def isolated() -> bool:
    """Whether ``isolate()`` was called (and ``MODELTUI_IN_PROCESS`` does not override it)."""
    return _isolated and os.environ.get(ENV_IN_PROCESS, "") != "1"


def use_processes() -> bool:
    """Whether ``analyze_many`` should analyse in worker processes (see module docstring)."""
    if os.environ.get(ENV_IN_PROCESS, "") == "1":
        return False
    if _isolated or configured_jobs() is not None:
        return True
    return "torch" not in sys.modules


def worker_count() -> int:
    """Worker processes of the pool: ``MODELTUI_JOBS`` (0 counts as 1), else one per available core."""
    jobs = configured_jobs()
    if jobs is not None:
        return max(1, jobs)
    return available_cores()


@dataclass(frozen=True)
class Task:
    """One model to analyse: its position in the caller's list, name, and cache key (None: don't store)."""

    position: int
    name: str
    key: dict[str, Any] | None
    cost: float = 0.0


@dataclass
class Outcome:
    """What a worker sends back. ``stored``: the records were written to ``cache_dir`` and left out of
    ``report`` (``n_records`` of them); ``warning``: a one-line problem to report (cache not writable)."""

    report: ModelReport
    stored: bool = False
    n_records: int = 0
    warning: str | None = None


# -- worker side ------------------------------------------------------------------------------------------


_started: Any = None  # the worker's queue of (task position, pid, start time) messages


def _init_worker(threads: int, started: Any = None) -> None:
    import signal

    global _started
    _started = started
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller handles Ctrl+C (also set by pool_server)
    from metrics_core.common.watchdog import exit_with_parent

    server = sys.modules.get("metrics_core.runtime.pool_server")  # forked from it: its pid, even if gone
    exit_with_parent(parent=getattr(server, "SERVER_PID", None))  # the fork server: never outlived
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


_memo: Any = None  # the worker's MetaMemo, kept across models


def _analyse(
    name: str,
    options: Any,
    key: dict[str, Any] | None,
    cache_dir: str | None,
    cwd: str | None = None,
    ticket: int = -1,
) -> Outcome:
    """Worker entry point: analyse one model; store it in the cache when ``key`` is given. ``cwd`` is the
    caller's working directory: custom modules, ``--inputs`` functions and ``hf:`` paths resolve there
    (the worker was forked from a server started wherever the pool first ran). Whatever the model's code
    raises, ``BaseException`` included, is its report's error."""
    import time

    if _started is not None:
        _started.put((ticket, os.getpid(), time.monotonic()))
    try:
        return _analyse_guarded(name, options, key, cache_dir, cwd)
    except BaseException as exc:  # noqa: BLE001 - SIGINT is ignored here: this came from the model's code
        from metrics_core.common.errors import error_kind, one_line_error

        report = _error_report(Task(-1, name, None), options, one_line_error(exc))
        report.error_kind = error_kind(exc)
        return Outcome(report)


def _analyse_guarded(
    name: str, options: Any, key: dict[str, Any] | None, cache_dir: str | None, cwd: str | None
) -> Outcome:
    from metrics_core.runtime.engines import analyze_spec
    from metrics_core.sources.resolve import get_spec

    if cwd is not None and cwd != os.getcwd():
        with contextlib.suppress(OSError):
            os.chdir(cwd)
    spec = get_spec(name)
    if options.engine == "meta" and os.environ.get(ENV_MEMO, "1") != "0":
        global _memo
        if _memo is None:
            from metrics_core.runtime.metamemo import MetaMemo

            _memo = MetaMemo()
        with _memo:
            report = analyze_spec(spec, options)
    else:
        report = analyze_spec(spec, options)
    if key is None or cache_dir is None or not report.ok:
        return Outcome(report)
    from metrics_core.runtime import cache

    warning = cache.try_store(key, report, cache_dir)
    if warning is not None:
        return Outcome(report, warning=warning)
    return Outcome(replace(report, records=[]), stored=True, n_records=len(report.records))


def quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its standard error on /dev/null. When this process
    is killed (SIGKILL) the tracker frees the pool's semaphores, as it should, but also prints
    "There appear to be N leaked semaphore objects" to the user's terminal; nothing else it says is
    meant for a user. A no-op when the tracker already runs. (Descriptor 2 points at /dev/null while the
    tracker is spawned, a few milliseconds: the app calls this before it draws, see ``tui.cli.launch``.)"""
    from multiprocessing import resource_tracker

    if getattr(resource_tracker._resource_tracker, "_fd", None) is not None:
        return
    try:
        saved = os.dup(2)
    except OSError:
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            resource_tracker.ensure_running()
        finally:
            os.dup2(saved, 2)
            os.close(devnull)
    except (OSError, ValueError):  # no tracker: multiprocessing starts its own later, as before
        pass
    finally:
        os.close(saved)


def _ready() -> int:
    return os.getpid()


# -- caller side ------------------------------------------------------------------------------------------

_lock = threading.Lock()
_executor: Any = None
_closing = False
_cancelled: weakref.WeakSet = weakref.WeakSet()  # pools ended on purpose (shutdown, exit, Ctrl+C)
_executor_workers = 0


def _get_executor(workers: int) -> Any:
    global _executor, _executor_workers
    with _lock:
        if _closing:
            raise RuntimeError("the interpreter is exiting")
        if _executor is not None and _executor_workers == workers:
            return _executor
        if _executor is not None:
            _executor.shutdown(wait=False, cancel_futures=True)
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from metrics_core.common.watchdog import name_self_as_parent

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))
        name_self_as_parent()  # the fork server ends with this process (pool_server)
        quiet_resource_tracker()
        threads = max(1, available_cores() // workers)
        global _started_queue
        _started_queue = ctx.SimpleQueue()
        _executor = ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=_init_worker, initargs=(threads, _started_queue)
        )
        _executor_workers = workers
        global _exit_registered
        if not _exit_registered:
            # Before concurrent.futures' own exit hook (which would wait for every queued model) and
            # before threads are joined (the app's analysis thread may be waiting on this pool).
            register = getattr(threading, "_register_atexit", atexit.register)
            register(_at_exit)
            _exit_registered = True
        return _executor


_exit_registered = False
_started_queue: Any = None  # (ticket, pid, monotonic start) of each model a worker begins
_starts: dict[int, tuple[int, float]] = {}  # ticket -> (worker pid, start), read from the queue
_tickets = itertools.count()  # one per submitted model: start messages never mix between calls


def _read_starts() -> None:
    """Move the workers' start messages into ``_starts`` (never blocks)."""
    queue = _started_queue
    if queue is None:
        return
    with contextlib.suppress(OSError, EOFError, ValueError):
        while not queue.empty():
            ticket, pid, started = queue.get()
            _starts[ticket] = (pid, started)


def _kill_overdue(futures: dict, remaining: set, timeout_s: float | None, timed_out: set[int]) -> None:
    """Kill the worker of each model running longer than ``timeout_s``; note its position."""
    import signal
    import time

    if timeout_s is None:
        return
    _read_starts()
    now = time.monotonic()
    for fut in remaining:
        position = futures[fut].position
        start = _starts.get(fut.modeltui_ticket)
        if start is not None and position not in timed_out and now - start[1] > timeout_s:
            timed_out.add(position)
            with contextlib.suppress(OSError):
                os.kill(start[0], signal.SIGKILL)


def _at_exit() -> None:
    """At interpreter exit: drop queued models, end the workers, then the fork server, and reap it, so
    no process outlives the caller and the caller's ``getrusage(RUSAGE_CHILDREN)`` covers them all
    (the server reaps the workers). The server is killed: it has nothing to save, and a graceful exit
    would wait for its imports to finish (Ctrl+C right after start) and then tear down torch.

    A worker being started (``ProcessPoolExecutor.submit`` holds the pool's lock while the fork server,
    still importing torch, has yet to fork it) would hold up the pool's shutdown for those seconds (the
    app took 1.4-3.2 s to quit while it analysed): then the server is killed first, the start fails at
    once and the shutdown goes on (the workers already forked are terminated all the same)."""
    import signal

    global _closing
    _closing = True
    if threading.current_thread() is threading.main_thread():
        # exiting: an interrupt now (a second Ctrl-C) would only print a traceback from inside the cleanup
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _discard_executor(kill=True)
        _kill_server(reap=True)
    except KeyboardInterrupt:  # one that arrived before the line above: finish the cleanup regardless
        _discard_executor(kill=True)
        _kill_server(reap=True)


def _wait_for_starts(ex: Any, wait_s: float = 0.05) -> bool:
    """At exit or on ``abort``, before ``ex.shutdown``: while its lock stays held longer than ``wait_s``
    (``submit`` holds it for microseconds, except while a worker's start waits for the fork server), kill
    the fork server, so that the start fails at once instead of waiting for the server's imports. Returns
    whether the server was killed."""
    lock = getattr(ex, "_shutdown_lock", None)
    if lock is None:
        return False
    killed = False
    while not lock.acquire(timeout=wait_s):
        _kill_server(reap=False)
        killed = True
    lock.release()
    return killed


def _kill_server(reap: bool) -> None:
    """SIGKILL the fork server (if one was started); ``reap``: also wait for it and forget it."""
    import multiprocessing.forkserver
    import signal

    server = multiprocessing.forkserver._forkserver
    pid = getattr(server, "_forkserver_pid", None)
    stop = getattr(server, "_stop", None)
    if pid is None or stop is None:
        return
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    if reap:
        with contextlib.suppress(Exception):
            stop()


def _discard_executor(kill: bool, cancelled: bool = True, unblock: bool = False) -> bool:
    """Forget the current pool. ``kill``: drop queued models and terminate the workers at once (and
    wait until the server has reaped them); otherwise let running models finish. ``cancelled``: the
    callers waiting on it report their unfinished models as cancelled, not as killed by a crash.
    ``unblock`` (always at exit): a worker start waiting for the fork server's imports is ended by killing
    the server (``_wait_for_starts``). Returns whether the server was killed."""
    global _executor
    with _lock:
        ex, _executor = _executor, None
    if ex is None:
        return False
    if kill and cancelled:
        _cancelled.add(ex)
    processes = list(getattr(ex, "_processes", {}).values())
    if kill:
        for p in processes:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                p.terminate()
    killed = kill and (unblock or _closing) and _wait_for_starts(ex)
    results = getattr(ex, "_result_queue", None)  # shutdown forgets it
    ex.shutdown(wait=not kill, cancel_futures=True)
    if kill:
        for p in processes:
            with contextlib.suppress(OSError, ValueError, AssertionError, AttributeError):
                p.join(2.0)
        # A worker killed while it sent its result leaves the pool's thread reading the rest of that
        # message: this process's own copy of the pipe's write end would keep it from ever seeing EOF
        # (the thread, never ending, then held up the interpreter's exit: SIGTERM printed "terminated"
        # and hung). With the workers gone, closing it ends the read and the thread.
        with contextlib.suppress(Exception):
            results._writer.close()  # type: ignore[union-attr]
    return killed


def shutdown(cancel: bool = True) -> None:
    """End the worker processes now (they are otherwise kept for the next call, and ended at exit).
    ``cancel``: drop queued models and stop running ones (their ``analyze_many`` rows get an error);
    otherwise finish them first. The fork server stays, so the next call starts workers at once."""
    _discard_executor(kill=cancel)


def abort() -> None:
    """End the pool's work now, whatever it is doing (the app quits): queued and running models are
    cancelled and the workers terminated; a worker start still waiting for the fork server's imports ends
    with the server, which is then reaped (a later call starts a new one). Nothing here waits for torch to
    finish importing, so quitting does not either; unlike at exit, the pool can be used again."""
    if _discard_executor(kill=True, unblock=True):
        _kill_server(reap=True)


def warm_up() -> threading.Thread:
    """Start the fork server and the workers in the background (torch imports there, not here), so that
    the first analysis does not wait for them. Returns the thread doing it; errors are ignored."""

    def run() -> None:
        try:
            ex = _get_executor(worker_count())
            futures = [ex.submit(_ready) for _ in range(worker_count())]
            for f in futures:
                f.result()
        except Exception:  # the real call will report or fall back
            pass

    t = threading.Thread(target=run, name="modeltui-pool-warm-up", daemon=True)
    t.start()
    return t


class PoolUnavailable(RuntimeError):
    """Worker processes could not be started (the caller may analyse in-process instead)."""


def run_tasks(
    tasks: Sequence[Task], options: Any, cache_dir: str | None, timeout_s: float | None = None
) -> Iterator[tuple[Task, Outcome]]:
    """Analyse ``tasks`` in worker processes; yields ``(task, outcome)`` in completion order, in the
    calling thread, largest ``cost`` first. A task whose worker died, or that ``shutdown()`` cancelled,
    yields an error report; one that runs longer than ``timeout_s`` seconds has its worker killed and
    yields a "timed out" report. Raises ``PoolUnavailable`` if no worker can be started (before yielding)."""
    pending = sorted(tasks, key=lambda t: -t.cost)
    workers = worker_count()  # a fixed size: the pool is kept; it starts only as many as it needs
    timed_out: set[int] = set()
    # First pass: all tasks in flight. If a worker dies, every unfinished task fails with it, so the
    # unfinished ones are rerun one at a time in a fresh pool, where a death names its model exactly.
    unfinished, cancelled = yield from _run_parallel(
        pending, options, cache_dir, workers, timeout_s, timed_out
    )
    for task in [t for t in unfinished if t.position in timed_out]:
        yield task, Outcome(_error_report(task, options, _timed_out(timeout_s)))
    unfinished = [t for t in unfinished if t.position not in timed_out]
    for i, task in enumerate(unfinished):
        if cancelled:
            for t in unfinished[i:]:
                yield t, Outcome(_error_report(t, options, "analysis cancelled"))
            return
        leftover, cancelled = yield from _run_parallel(
            [task], options, cache_dir, workers, timeout_s, timed_out
        )
        if leftover and task.position in timed_out:
            yield task, Outcome(_error_report(task, options, _timed_out(timeout_s)))
            continue
        if leftover and not cancelled:
            yield task, Outcome(_error_report(task, options, DEAD_WORKER))
        elif leftover:
            yield task, Outcome(_error_report(task, options, "analysis cancelled"))


DEAD_WORKER = "the worker process analysing this model died (crash, os._exit, kill or out of memory)"

#: Seconds a worker may lie dead while the pool has not failed its futures before the pool is ended
#: (``_run_parallel``): concurrent.futures notices a death within milliseconds, except when the worker died
#: sending its result (its thread then waits for the rest of the message); and the seconds after that end
#: before the futures still not failed are given up.
STUCK_DEATH_S = 1.0


def _a_worker_died(executor: Any) -> bool:
    """Whether a worker process of ``executor`` has exited (``Process.exitcode``; never blocks)."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    return any(getattr(p, "exitcode", None) is not None for p in processes)


def _timed_out(timeout_s: float | None) -> str:
    return f"timed out after {timeout_s:g} s (--timeout); its worker process was killed"


def _submit_all(tasks: Sequence[Task], options: Any, cache_dir: str | None, workers: int) -> tuple:
    """(executor, {future: task}); a broken or shut-down pool is replaced once."""
    from concurrent.futures.process import BrokenProcessPool

    for attempt in (1, 2):
        executor = _get_executor(workers)
        try:
            cwd = os.getcwd()
            futures = {}
            for t in tasks:
                ticket = next(_tickets)
                fut = executor.submit(_analyse, t.name, options, t.key, cache_dir, cwd, ticket)
                fut.modeltui_ticket = ticket  # what the worker's start message names
                futures[fut] = t
            return executor, futures
        except (BrokenProcessPool, RuntimeError, OSError) as exc:
            _discard_executor(kill=True, cancelled=False)
            if attempt == 2:
                raise PoolUnavailable(f"{type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable")


def _run_parallel(
    tasks: Sequence[Task],
    options: Any,
    cache_dir: str | None,
    workers: int,
    timeout_s: float | None = None,
    timed_out: set[int] | None = None,
) -> Iterator[tuple[Task, Outcome]]:
    """Yields finished tasks; returns (tasks whose worker died or were cancelled, cancelled?)."""
    import time
    from concurrent.futures import FIRST_COMPLETED, CancelledError, wait
    from concurrent.futures.process import BrokenProcessPool

    if _closing:
        return list(tasks), True
    executor, futures = _submit_all(tasks, options, cache_dir, workers)
    timed_out = set() if timed_out is None else timed_out
    unfinished: list[Task] = []
    died_at = ended_at = None  # when a dead worker was seen with the pool still up; when it was ended
    try:
        remaining = set(futures)
        while remaining:
            # The timeout only notices a pool ended on purpose (``shutdown`` from a callback or another
            # thread): its running futures are never completed by concurrent.futures.
            done, remaining = wait(remaining, timeout=0.25, return_when=FIRST_COMPLETED)
            _kill_overdue(futures, remaining, timeout_s, timed_out)
            if not done and executor in _cancelled:
                unfinished.extend(futures[f] for f in remaining)
                break
            if done or not remaining:
                died_at = None
            elif ended_at is not None:  # ended for a stuck death: its futures fail, or are given up
                if time.monotonic() - ended_at > STUCK_DEATH_S * 5:
                    unfinished.extend(futures[f] for f in remaining)
                    break
            elif _a_worker_died(executor):  # the pool fails its futures within ms, unless it is stuck
                died_at = died_at or time.monotonic()
                if time.monotonic() - died_at > STUCK_DEATH_S:
                    _discard_executor(kill=True, cancelled=False)
                    ended_at = time.monotonic()
            for fut in sorted(done, key=lambda f: futures[f].position):
                task = futures[fut]
                _starts.pop(fut.modeltui_ticket, None)
                try:
                    outcome = fut.result()
                except (BrokenProcessPool, CancelledError):
                    unfinished.append(task)
                    continue
                except Exception as exc:  # an unpicklable result or similar: the model's row error
                    from metrics_core.common.errors import one_line_error

                    outcome = Outcome(_error_report(task, options, one_line_error(exc)))
                yield task, outcome
    except BaseException:  # Ctrl+C, or the caller stopped listening: nobody wants the rest
        _discard_executor(kill=True)
        raise
    cancelled = executor in _cancelled
    if unfinished and not cancelled:
        _discard_executor(kill=True, cancelled=False)
    return sorted(unfinished, key=lambda t: -t.cost), cancelled


def _error_report(task: Task, options: Any, message: str) -> ModelReport:
    from metrics_core.runtime.engines import analyze_spec
    from metrics_core.sources.catalog import get_spec

    spec = get_spec(task.name)
    return analyze_spec(replace(spec, supported=False, reason=message), options)


def _call_in(cwd: str, func: Any, args: tuple) -> Any:
    """Worker side of ``run_call``: in the caller's directory, with the worker's memoised meta kernels.
    Whatever the model's code raises beyond ``Exception`` (``SystemExit``, ``KeyboardInterrupt`` - SIGINT
    is ignored here - or another ``BaseException``) comes back as a ``ModelCodeError``."""
    from metrics_core.common.errors import ModelCodeError, one_line_error

    try:
        return _call_guarded(cwd, func, args)
    except Exception:
        raise
    except BaseException as exc:  # noqa: BLE001 - the model's code: its caller gets one line
        raise ModelCodeError(one_line_error(exc)) from None


def _call_guarded(cwd: str, func: Any, args: tuple) -> Any:
    if cwd != os.getcwd():
        with contextlib.suppress(OSError):
            os.chdir(cwd)
    if os.environ.get(ENV_MEMO, "1") != "0":
        global _memo
        if _memo is None:
            from metrics_core.runtime.metamemo import MetaMemo

            _memo = MetaMemo()
        with _memo:
            return func(*args)
    return func(*args)


def run_call(func: Any, *args: Any, timeout_s: float | None = None) -> Any:
    """``func(*args)`` (a module-level function; arguments and result picklable) in a worker process, or in
    this process when worker processes are off (``use_processes``). Its exceptions reach the caller (a
    ``BaseException`` of the model's code as ``ModelCodeError``); a worker that dies, or runs past
    ``timeout_s`` seconds (then killed), raises ``ModelCodeError`` with one line."""
    if not use_processes():
        return func(*args)
    from concurrent.futures import TimeoutError as FutureTimeout
    from concurrent.futures.process import BrokenProcessPool

    from metrics_core.common.errors import ModelCodeError

    try:
        future = _get_executor(worker_count()).submit(_call_in, os.getcwd(), func, args)
        return future.result(timeout=timeout_s)
    except BrokenProcessPool:
        _discard_executor(kill=True, cancelled=False)
        raise ModelCodeError(DEAD_WORKER.replace("analysing", "running")) from None
    except FutureTimeout:
        _discard_executor(kill=True, cancelled=False)
        raise ModelCodeError(_timed_out(timeout_s)) from None
