"""Parallel analysis in worker processes: same reports as in-process, in input order, failures isolated."""

from __future__ import annotations

import threading

import pytest

from metrics_core.common.errors import UnknownModelError
from metrics_core.runtime import cache, pool
from metrics_core.runtime.analyze import AnalysisOptions, analyze_many

SMALL = ["resnet18", "mobilenet_v2", "squeezenet1_0"]


@pytest.fixture
def jobs(tmp_path, monkeypatch):
    """Two worker processes (forked from the module-wide fork server) and an empty cache."""
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MODELTUI_JOBS", "2")
    monkeypatch.delenv("MODELTUI_IN_PROCESS", raising=False)
    from metrics_core.common import cache_warnings  # the channel runtime.cache's warnings go through

    monkeypatch.setattr(cache_warnings, "_warned", set())
    monkeypatch.setattr(cache_warnings, "_pending", [])
    monkeypatch.setattr(cache_warnings, "_handler", lambda _msg: None)
    return tmp_path / "cache" / "reports"


@pytest.fixture(scope="module")
def serial() -> dict:
    """The in-process reports (``MODELTUI_IN_PROCESS=1``), by name, as dicts."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELTUI_IN_PROCESS", "1")
        reports = analyze_many([*SMALL, "pool_models:tiny"], AnalysisOptions(use_cache=False))
    return {r.model: r.to_dict() for r in reports}


def test_policy_follows_the_environment(monkeypatch):
    import torch  # noqa: F401 - "a library caller with torch imported": alone, this test had not imported it

    monkeypatch.delenv("MODELTUI_IN_PROCESS", raising=False)
    monkeypatch.setenv("MODELTUI_JOBS", "0")  # one worker: never the calling process
    assert pool.use_processes() and pool.worker_count() == 1
    monkeypatch.setenv("MODELTUI_JOBS", "3")
    assert pool.use_processes() and pool.worker_count() == 3
    monkeypatch.delenv("MODELTUI_JOBS")
    assert not pool.use_processes()  # a library caller with torch imported (this test) analyses here
    with pool.isolation():  # ... unless it isolates (the CLI and the app)
        assert pool.use_processes() and pool.isolated()
    assert not pool.use_processes()
    monkeypatch.setenv("MODELTUI_IN_PROCESS", "1")
    with pool.isolation():
        assert not pool.use_processes()


def test_pool_matches_serial_in_input_order(jobs, serial):
    reports = analyze_many(SMALL, AnalysisOptions(use_cache=False))
    assert [r.model for r in reports] == SMALL
    assert [r.to_dict() for r in reports] == [serial[n] for n in SMALL]


def test_pool_writes_the_cache_and_returns_lazy_records(jobs, serial):
    reports = analyze_many(SMALL)
    assert len(list(jobs.iterdir())) == 3  # the workers stored them
    assert all(isinstance(r.records, cache.LazyRecords) and not r.records.loaded for r in reports)
    assert [r.to_dict() for r in reports] == [serial[n] for n in SMALL]
    again = analyze_many(list(reversed(SMALL)), AnalysisOptions(use_cache=True))
    assert [r.to_dict() for r in again] == [serial[n] for n in reversed(SMALL)]


def test_on_report_runs_in_the_calling_thread(jobs):
    seen: list[tuple[str, int]] = []
    result: dict = {}

    def worker() -> None:
        result["reports"] = analyze_many(
            SMALL,
            AnalysisOptions(batch_size=2),
            on_report=lambda r: seen.append((r.model, threading.get_ident())),
        )
        result["ident"] = threading.get_ident()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert sorted(name for name, _ in seen) == sorted(SMALL)
    assert {ident for _, ident in seen} == {result["ident"]}
    assert [r.model for r in result["reports"]] == SMALL


def test_a_failing_model_does_not_affect_the_others(jobs, serial):
    names = ["resnet18", "pool_models:broken", "pool_models:tiny", "squeezenet1_0"]
    reports = analyze_many(names, AnalysisOptions(use_cache=False))
    assert [r.model for r in reports] == names
    assert "factory failed on purpose" in reports[1].error and reports[1].metrics is None
    assert [reports[i].to_dict() for i in (0, 2, 3)] == [serial[names[i]] for i in (0, 2, 3)]
    assert reports[2].metrics.macs == 12  # Linear(3, 4) at batch 1: 3 x 4


def test_a_dying_worker_fails_only_its_model(jobs, serial):
    names = ["resnet18", "pool_models:crash", "mobilenet_v2", "squeezenet1_0"]
    reports = analyze_many(names, AnalysisOptions(use_cache=False))
    assert [r.model for r in reports] == names
    assert (
        reports[1].error
        == "the worker process analysing this model died (crash, os._exit, kill or out of memory)"
    )
    assert [reports[i].to_dict() for i in (0, 2, 3)] == [serial[names[i]] for i in (0, 2, 3)]
    (after,) = analyze_many(["squeezenet1_0"], AnalysisOptions(use_cache=False))  # a fresh pool
    assert after.to_dict() == serial["squeezenet1_0"]


def test_a_worker_dying_while_it_sends_its_result_fails_only_its_model(jobs, serial):
    """A worker killed in the middle of sending its result back (1 MiB announced, a few bytes sent): the
    pool's thread waited for the rest forever, as this process's own copy of the pipe's write end kept
    EOF away, so the model never finished, ``--timeout`` never fired (its worker was already dead) and
    SIGTERM then hung at exit. Now the pool is ended after ``STUCK_DEATH_S`` and the model's row says its
    worker died; the others are reported, and the pool's thread ends."""
    import time

    names = ["pool_models:dies_sending_its_result", "squeezenet1_0"]
    start = time.monotonic()
    reports = analyze_many(names, AnalysisOptions(use_cache=False))
    assert time.monotonic() - start < 60
    assert [r.model for r in reports] == names
    assert reports[0].error == pool.DEAD_WORKER
    assert reports[1].to_dict() == serial["squeezenet1_0"]
    managers = [t for t in threading.enumerate() if "ExecutorManagerThread" in type(t).__name__]
    live = getattr(pool._executor, "_executor_manager_thread", None)  # the kept pool's own thread
    for t in managers:
        if t is not live:
            t.join(10)
    assert [t for t in managers if t.is_alive() and t is not live] == []


def test_unknown_names_raise_before_any_work(jobs):
    with pytest.raises(UnknownModelError, match="resnet19"):
        analyze_many(["resnet18", "resnet19"])
    assert not jobs.exists()


def test_a_repeated_name_is_analysed_once(jobs, serial):
    seen = []
    reports = analyze_many(["squeezenet1_0", "resnet18", "squeezenet1_0"], on_report=seen.append)
    assert reports[0] is reports[2] and len(seen) == 3
    assert len(list(jobs.iterdir())) == 2
    assert reports[0].to_dict() == serial["squeezenet1_0"]


def test_shutdown_cancels_what_is_left_and_the_pool_recovers(jobs, serial):
    names = ["squeezenet1_0", "squeezenet1_1", "resnet18", "resnet34", "mobilenet_v2", "mobilenet_v3_small"]
    names += ["mnasnet0_5", "mnasnet1_0", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "alexnet", "vgg11"]

    def stop_after_first(_report) -> None:
        pool.shutdown()  # from the callback, i.e. while analyze_many is waiting on the pool

    reports = analyze_many(names, AnalysisOptions(use_cache=False), on_report=stop_after_first)
    assert [r.model for r in reports] == names
    assert all(r.ok or r.error == "analysis cancelled" for r in reports)
    again = analyze_many(SMALL, AnalysisOptions(use_cache=False))
    assert [r.to_dict() for r in again] == [serial[n] for n in SMALL]


def test_exit_does_not_wait_for_a_worker_start_held_up_by_the_server(monkeypatch):
    """Quitting the app while the fork server still imports torch: a ``submit`` is starting a worker
    (the pool's lock held until the server forks), so the pool's shutdown would wait for the server's
    imports (the app took 1.4-3.2 s to quit). At exit the server is killed first, which ends that start
    (EOF on its pipe), and only then is it reaped."""
    events = []
    lock = threading.Lock()
    lock.acquire()  # held by a worker start in another thread, as ProcessPoolExecutor.submit does

    class StartingExecutor:
        _shutdown_lock = lock
        _processes: dict = {}

        def shutdown(self, wait: bool, cancel_futures: bool) -> None:
            with self._shutdown_lock:  # as ProcessPoolExecutor.shutdown
                events.append(("shutdown", wait, cancel_futures))

    def kill_server(reap: bool) -> None:
        events.append(("kill server", reap))
        if lock.locked() and not reap:
            lock.release()  # the start fails: the server's end closed its pipe

    monkeypatch.setattr(pool, "_executor", StartingExecutor())
    monkeypatch.setattr(pool, "_closing", False)
    monkeypatch.setattr(pool, "_kill_server", kill_server)
    pool._at_exit()
    assert events == [("kill server", False), ("shutdown", False, True), ("kill server", True)]


def test_exit_with_no_start_in_progress_reaps_the_server_after_the_workers(monkeypatch):
    events = []

    class IdleExecutor:
        _shutdown_lock = threading.Lock()
        _processes: dict = {}

        def shutdown(self, wait: bool, cancel_futures: bool) -> None:
            events.append(("shutdown", wait, cancel_futures))

    monkeypatch.setattr(pool, "_executor", IdleExecutor())
    monkeypatch.setattr(pool, "_closing", False)
    monkeypatch.setattr(pool, "_kill_server", lambda reap: events.append(("kill server", reap)))
    pool._at_exit()
    # the server reaps its workers: it goes last, as before
    assert events == [("shutdown", False, True), ("kill server", True)]


def test_abort_unblocks_a_held_up_start_and_leaves_the_pool_usable(monkeypatch):
    """``pool.abort`` (the app quits): as at exit, a start held up by the server ends with the server, which
    is then reaped; unlike at exit the pool is not closed (``tui.show`` runs the app in a user's process,
    which may analyse again)."""
    events = []
    lock = threading.Lock()
    lock.acquire()

    class StartingExecutor:
        _shutdown_lock = lock
        _processes: dict = {}

        def shutdown(self, wait: bool, cancel_futures: bool) -> None:
            with self._shutdown_lock:
                events.append(("shutdown", wait, cancel_futures))

    def kill_server(reap: bool) -> None:
        events.append(("kill server", reap))
        if lock.locked() and not reap:
            lock.release()

    monkeypatch.setattr(pool, "_executor", StartingExecutor())
    monkeypatch.setattr(pool, "_closing", False)
    monkeypatch.setattr(pool, "_kill_server", kill_server)
    pool.abort()
    assert events == [("kill server", False), ("shutdown", False, True), ("kill server", True)]
    assert (pool._executor, pool._closing) == (None, False)
    events.clear()

    class IdleExecutor(StartingExecutor):
        _shutdown_lock = threading.Lock()

    monkeypatch.setattr(pool, "_executor", IdleExecutor())
    pool.abort()  # nothing held up: the workers end, the warm server stays for the next analysis
    assert events == [("shutdown", False, True)]
