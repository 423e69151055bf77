"""Requests arriving at a rate (open loop) under continuous batching: the steady state a serving engine
reaches at λ requests/s, and the largest rate that meets a TTFT / TPOT target.

``perf.serving.concurrency`` is the closed loop (N users, each sending its next request when the last one
completes: the load follows the speed). A public endpoint is an open loop: requests arrive whatever the
speed, and past the engine's largest throughput the queue grows without bound.

**The model** (mean values; each request P prompt tokens, O output tokens, ``s = ceil(P / chunk)``
prefill steps):

- Arrivals are Poisson at λ. The mean number of requests in the engine's steps N is the least solution
  of ``N = λ (s t_p(N) + O t_d(N))`` (Little's law), with ``t_p`` / ``t_d`` the steady-state prefill and
  decode steps of ``perf.serving.steady_steps`` carrying ``min(N, R - 1)`` other requests, estimated at
  ``grid_loads``, never falling and interpolated (``_Engine``): an engine that
  serves every admitted request at once holds a Poisson number of them (M/G/infinity), and a request in it
  sees the others' stationary mean (Palm; PASTA for an arrival: Wolff, Oper. Res. 30, 1982).
- R, the running batch's limit, is ``perf.serving.batch_limits``'s capacity (the stack's ``max_batch`` and
  the sequences whose KV fits). The largest sustainable rate λ_max is the most ``N / c(N)`` reaches,
  mostly at R: the full batch's throughput, the closed loop's at R users. At λ >= λ_max there is no steady
  state (``stable`` false, no speeds).
- The queue for a place in the running batch: the batch is R servers, each holding a request for its
  service ``c = s t_p + O t_d``, offered the load ``a = λ c = N``. An arrival waits with Erlang C's
  probability ``C(R, a)`` (``batch_full``: M/M/R, Erlang 1917; computed by Erlang B's recursion), and the
  mean wait of M/M/R, ``C(R, a) c / (R - a)``, is halved for the equal services of equal requests (the
  Allen-Cunneen approximation of M/G/R, ``(1 + cs^2) / 2`` with service-time variation cs = 0: A. O. Allen,
  Probability, Statistics, and Queueing Theory, 2nd ed. 1990, sec. 6.5) -> ``queue_wait_s``. It is the
  mean over all requests and grows without bound as N nears R.
- TTFT = the queue's wait + the wait for the step in flight (``perf.serving.arrival_wait_s``: ``(1 -
  e^-N) t_d / 2``) + ``s t_p`` + the stack's per-request overhead; TPOT = ``t_d``; output tokens/s = λ O.

Every figure is an estimate (``estimate: true``). No torch here.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from metrics_core.common.errors import UsageError
from metrics_core.perf.hardware import HardwareTarget
from metrics_core.perf.llm import PhaseEstimate, Scenario
from metrics_core.perf.serving import (
    StepModel,
    arrival_wait_s,
    batch_limits,
    chunk_size,
    prompt_chunks,
    request_overhead_s,
    steady_steps,
)
from metrics_core.perf.stacks import Stack, get_stack

#: The largest request rate the view analyses (requests/s).
MAX_RATE_RPS = 1e6
#: The loads (requests in the engine) at which the steps are estimated, from 0 to R: ``grid_loads``.
_GRID = 24
#: The bisection over N for a target stops at this fraction of R (it interpolates: no step estimate each).
_WIDTH = 1e-9
#: A rate limited by throughput alone is reported this fraction below the largest sustainable rate, where
#: the queue (and TTFT), unbounded at it, is still finite.
_NEAR_MAX = 1e-3
#: What the rate view assumes, in words (text and JSON).
RATE_ASSUMPTIONS = (
    "continuous batching, open loop: requests of P prompt tokens and O output tokens arrive at a rate "
    "(Poisson); the mean number N in the engine's steps is the least solution of N = rate x (s x prefill "
    "step + O x TPOT) (steps estimated at 25 loads from 0 to R, never falling, interpolated) "
    "(Little's law), each step carrying min(N, R - 1) other requests' work (a share s / (s + O) "
    "prefilling a chunk, O / (s + O) decoding at P + O/2), R the running batch's limit (the stack's "
    "max_batch and the users whose KV fits); a request waits for a place in the batch with Erlang C's "
    "probability C(R, N) (batch_full), on average C(R, N) x service / (R - N) / 2 (M/M/R's wait halved for "
    "equal requests: the Allen-Cunneen approximation); TTFT = that queue + the wait for the step in "
    "flight ((1 - e^-N) x TPOT / 2) + s prefill steps + the stack's per-request overhead; tokens/s = rate "
    "x O; the largest sustainable rate is the full batch's throughput, above it the queue grows without "
    "bound"
)


@dataclass(frozen=True)
class RateLoad:
    """The steady state at ``rate_rps`` requests/s (module doc); the speeds are None when the rate is at or
    above ``max_rate_rps`` (``stable`` false) or nothing fits (``max_running`` 0).

    ``in_engine``: N, the mean requests in the engine's steps; ``batch_full``: Erlang C's probability that
    a request finds the running batch full and waits; ``queue_wait_s``: the mean wait for a place in it
    (over all requests); ``arrival_wait_s``: the TTFT's wait for the step in flight; all times in
    seconds."""

    rate_rps: float
    prompt_tokens: int
    output_tokens: int
    chunk_tokens: int
    prefill_steps: int
    max_rate_rps: float
    max_running: int
    kv_bytes_per_user: float
    stable: bool
    weights_fit: bool = True
    in_engine: float | None = None
    batch_full: float | None = None
    queue_wait_s: float | None = None
    step: PhaseEstimate | None = None
    arrival_wait_s: float | None = None
    ttft_s: float | None = None
    tpot_s: float | None = None

    @property
    def tokens_per_s(self) -> float | None:
        """Output tokens/s: every request's O tokens at the arrival rate (None when not stable)."""
        return self.rate_rps * self.output_tokens if self.stable else None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object (seconds, requests/s, bytes)."""
        return {
            "rate_rps": self.rate_rps,
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "chunk_tokens": self.chunk_tokens,
            "prefill_steps": self.prefill_steps,
            "stable": self.stable,
            "max_rate_rps": self.max_rate_rps if self.max_running else None,
            "max_running_users": self.max_running,
            "weights_fit": self.weights_fit,
            "in_engine": self.in_engine,
            "batch_full": self.batch_full,
            "queue_wait_s": self.queue_wait_s,
            "step_s": self.step.time_s if self.step else None,
            "step_bound": self.step.bound if self.step else None,
            "arrival_wait_s": self.arrival_wait_s,
            "ttft_s": self.ttft_s,
            "tpot_s": self.tpot_s,
            "tokens_per_s": self.tokens_per_s,
            "kv_bytes_per_user": self.kv_bytes_per_user,
            "assumptions": RATE_ASSUMPTIONS,
            "estimate": True,
        }


def erlang_c(servers: int, load: float) -> float:
    """Erlang C: the probability that an arrival to an M/M/``servers`` queue offered ``load`` Erlangs
    (arrival rate x mean service time; ``load < servers``) waits. From Erlang B's recursion, stable for
    thousands of servers: ``B(0) = 1``, ``B(k) = a B(k-1) / (k + a B(k-1))``; ``C = c B / (c - a (1 - B))``
    (Erlang 1917; e.g. Kleinrock, Queueing Systems vol. 1, 1975, sec. 3.5). ``ValueError`` for
    ``servers < 1`` or a load that is negative, non-finite or not below ``servers``."""
    if servers < 1 or not math.isfinite(load) or not 0 <= load < servers:
        raise ValueError(f"need servers >= 1 and 0 <= load < servers, got {servers!r}, {load!r}")
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1.0 - b))


def queue_wait_s(servers: int, load: float, service_s: float) -> float:
    """Mean wait (seconds, over all arrivals) for one of ``servers`` places, each held ``service_s``
    seconds, at ``load`` Erlangs: M/M/c's ``C(c, a) service / (c - a)`` x ``(1 + cs^2) / 2`` with equal
    service times (cs = 0): the Allen-Cunneen approximation of M/D/c (Allen, Probability, Statistics, and
    Queueing Theory, 2nd ed. 1990, sec. 6.5). ``ValueError`` as ``erlang_c``."""
    return erlang_c(servers, load) * service_s / (servers - load) / 2.0


def grid_loads(capacity: int, points: int) -> list[float]:
    """The numbers of requests in the engine at which the steps are estimated: ``capacity (i / points)^2``
    for i = 0 .. points (denser at light load, where TTFT and TPOT change fastest), distinct."""
    return sorted({capacity * (i / points) ** 2 for i in range(points + 1)})


def envelope(values: list[float]) -> list[float]:
    """The running maximum of ``values``: a step time that never falls as load is added."""
    out, top = [], -math.inf
    for v in values:
        top = max(top, v)
        out.append(top)
    return out


class _Engine:
    """The steps of one model, target, scenario and stack as continuous functions of N, the requests in
    the engine (module doc): estimated at ``grid_loads`` (``_GRID`` + 1 loads from 0 to R), made
    non-decreasing (``envelope``: the step times rise in steps with GEMM tiles and waves, and dip where a
    kernel's tiling or a routed-expert count changes) and interpolated linearly between them, the mean over
    the fluctuating load a real engine sees. The service ``c(N) = s t_p + O t_d`` is then continuous and
    non-decreasing: the steady state at a rate is the least solution of ``N = rate c(N)`` (exact on each
    linear piece), which grows with the rate, and TTFT and TPOT with it."""

    def __init__(
        self, model: StepModel, target: HardwareTarget, scenario: Scenario, chunk: int | None, stack: Stack
    ) -> None:
        self.model, self.target, self.s, self.stack = model, target, scenario, stack
        self.chunk = chunk_size(scenario, chunk, stack)
        self.plan = prompt_chunks(scenario.prompt_tokens, self.chunk)
        self.limits = batch_limits(model, target, scenario, stack)
        self.capacity = self.limits.capacity
        self._table: tuple[list[float], list[float], list[float], list[PhaseEstimate]] | None = None

    def table(self) -> tuple[list[float], list[float], list[float], list[PhaseEstimate]]:
        """(loads, prefill steps, decode steps, decode step estimates) at ``grid_loads``, the times
        ``envelope``d (seconds); each load's steps carry ``min(N, R - 1)`` others."""
        if self._table is None:
            loads = grid_loads(max(1, self.capacity), _GRID)
            memo: dict[float, tuple[float, PhaseEstimate]] = {}
            for n in loads:
                others = min(n, self.capacity - 1.0)
                if others not in memo:
                    memo[others] = steady_steps(
                        self.model, self.target, self.s, others, self.plan, self.stack
                    )
            rows = [memo[min(n, self.capacity - 1.0)] for n in loads]
            self._table = (
                loads,
                envelope([r[0] for r in rows]),
                envelope([r[1].time_s for r in rows]),
                [r[1] for r in rows],
            )
        return self._table

    def _piece(self, n: float) -> tuple[int, float]:
        loads = self.table()[0]
        i = max(0, min(len(loads) - 2, bisect.bisect_right(loads, n) - 1))
        return i, min(1.0, max(0.0, (n - loads[i]) / (loads[i + 1] - loads[i])))

    def steps(self, n: float) -> tuple[float, float, PhaseEstimate]:
        """(prefill step, decode step, the nearest estimated decode step) at ``n`` requests (0 <= n <= R),
        interpolated (class doc)."""
        _, pre, dec, est = self.table()
        i, w = self._piece(n)
        nearest = est[i] if w < 0.5 else est[i + 1]
        return pre[i] + w * (pre[i + 1] - pre[i]), dec[i] + w * (dec[i + 1] - dec[i]), nearest

    def service_s(self, n: float) -> float:
        """A request's time in the engine's steps: ``s t_p + O t_d`` (seconds)."""
        t_pre, t_d, _ = self.steps(n)
        return len(self.plan) * t_pre + self.s.generate_tokens * t_d

    def rate_at(self, n: float) -> float:
        """The rate whose steady state could be ``n``: ``n / c(n)`` (requests/s)."""
        return n / self.service_s(n)

    @property
    def max_rate_rps(self) -> float:
        """The largest sustainable rate: the most ``n / c(n)`` reaches, at a grid load (it is monotone on
        each linear piece of c); 0 when nothing fits. Mostly the full batch's throughput."""
        if self.capacity < 1:
            return 0.0
        return max(self.rate_at(n) for n in self.table()[0])

    def _head(self, rate: float) -> dict[str, Any]:
        s = self.s
        return {
            "rate_rps": rate,
            "prompt_tokens": s.prompt_tokens,
            "output_tokens": s.generate_tokens,
            "chunk_tokens": min(self.chunk, s.prompt_tokens) if self.chunk else s.prompt_tokens,
            "prefill_steps": len(self.plan),
            "max_rate_rps": self.max_rate_rps,
            "max_running": max(0, self.capacity),
            "kv_bytes_per_user": self.limits.kv_bytes_per_user,
            "weights_fit": self.limits.weights_fit,
        }

    def at_n(self, n: float, rate: float | None = None) -> RateLoad:
        """The steady state with ``n`` requests in the engine (``0 <= n <= R``) at its rate ``n / c(n)``
        (or ``rate``, the rate ``n`` was solved for)."""
        t_pre, t_d, nearest = self.steps(n)
        service = len(self.plan) * t_pre + self.s.generate_tokens * t_d
        wait = arrival_wait_s(t_d, n)
        load = min(n, self.capacity * (1 - 1e-12))  # the full batch itself: the queue's limit
        queue = queue_wait_s(self.capacity, load, service)
        return RateLoad(
            **self._head(n / service if rate is None else rate),
            stable=True,
            in_engine=n,
            batch_full=full if (full := erlang_c(self.capacity, load)) > 1e-12 else 0.0,
            queue_wait_s=queue,
            step=nearest,
            arrival_wait_s=wait,
            ttft_s=queue + wait + len(self.plan) * t_pre + request_overhead_s(self.s, self.stack),
            tpot_s=t_d,
        )

    def solve(self, rate: float) -> float:
        """The least N with ``N = rate c(N)`` (``rate`` below ``max_rate_rps``): on the first linear piece
        whose right end reaches the rate, ``c = a + b N`` gives ``N = rate a / (1 - rate b)``."""
        loads = self.table()[0]
        for lo, hi in zip(loads, loads[1:], strict=False):
            if self.rate_at(hi) >= rate:
                c_lo, c_hi = self.service_s(lo), self.service_s(hi)
                b = (c_hi - c_lo) / (hi - lo)
                a = c_lo - b * lo
                return min(hi, max(lo, rate * a / (1 - rate * b)))
        return float(self.capacity)

    def load(self, rate: float) -> RateLoad:
        """The steady state at ``rate`` requests/s (``solve``); not stable at or above the largest rate."""
        if self.capacity < 1 or rate >= self.max_rate_rps:
            return RateLoad(**self._head(rate), stable=False)
        return self.at_n(self.solve(rate), rate)


#: Recent engines by (model, target, scenario, chunk, stack): the rows and the target search of one run
#: share one grid of step estimates. Values keep the model and target, so an id is never reused.
_ENGINES: dict[tuple, tuple[Any, Any, _Engine]] = {}


def _engine(
    model: StepModel, target: HardwareTarget, scenario: Scenario, chunk: int | None, stack: Stack
) -> _Engine:
    key = (id(model), id(target), scenario, chunk, stack.id)
    hit = _ENGINES.get(key)
    if hit is not None and hit[0] is model and hit[1] is target:
        return hit[2]
    engine = _Engine(model, target, scenario, chunk, stack)
    if len(_ENGINES) >= 8:
        _ENGINES.pop(next(iter(_ENGINES)))
    _ENGINES[key] = (model, target, engine)
    return engine


def check_rate(rate: float) -> float:
    """``rate`` (requests/s) if it is a finite number in (0, ``MAX_RATE_RPS``]; else ``UsageError``."""
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise UsageError(f"--rate must be a number of requests per second, e.g. 2 or 0.5, got {rate!r}")
    if not 0 < rate <= MAX_RATE_RPS:
        raise UsageError(f"--rate must be above 0 and at most {MAX_RATE_RPS:,.0f} requests/s, got {rate:g}")
    return float(rate)


def at_rate(
    model: StepModel,
    target: HardwareTarget,
    scenario: Scenario,
    rate_rps: float,
    chunk: int | None = None,
    stack: Stack | None = None,
) -> RateLoad:
    """The steady state of ``model`` on ``target`` at ``rate_rps`` requests/s of ``scenario``'s prompt P and
    output O (module doc). ``UsageError`` for a rate that is not a positive finite number."""
    s = scenario.validated(target)
    return _engine(model, target, s, chunk, stack or get_stack(s.stack)).load(check_rate(rate_rps))


@dataclass(frozen=True)
class RateTarget:
    """The largest request rate meeting a TPOT / TTFT target (seconds; None: no limit): ``rate_rps`` (None
    when not even a lone request meets it), the steady state there, and what limits it: ``tpot``,
    ``ttft``, ``throughput`` (every stable rate meets the targets: 0.1 % below the largest sustainable
    rate, where the queue is still finite; only without a TTFT target, which the queue always reaches
    first) or ``memory`` (no request's KV fits)."""

    max_tpot_s: float | None
    max_ttft_s: float | None
    rate_rps: float | None
    at: RateLoad | None
    limited_by: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON object."""
        return {
            "max_tpot_s": self.max_tpot_s,
            "max_ttft_s": self.max_ttft_s,
            "max_rate_rps": self.rate_rps,
            "limited_by": self.limited_by,
            "at": self.at.to_dict() if self.at else None,
            "estimate": True,
        }


def max_rate(
    model: StepModel,
    target: HardwareTarget,
    scenario: Scenario,
    max_tpot_s: float | None = None,
    max_ttft_s: float | None = None,
    chunk: int | None = None,
    stack: Stack | None = None,
) -> RateTarget:
    """The largest rate (requests/s, below the largest sustainable one) whose steady state meets
    ``max_tpot_s`` and ``max_ttft_s`` (seconds): N_goal, the most requests in the engine meeting them, by
    bisection over N (TTFT and TPOT grow with N on ``_Engine``'s steps); then the largest rate whose least
    solution is at most N_goal, max(N / c(N)) over N <= N_goal (exact: at a grid load or N_goal): the state
    ``--rate`` shows at the answer meets the targets, and a looser target never gives a lower rate.
    ``UsageError`` when neither target is given."""
    if max_tpot_s is None and max_ttft_s is None:
        raise UsageError("give --max-tpot and/or --max-ttft (e.g. --max-tpot 50ms)")
    s = scenario.validated(target)
    engine = _engine(model, target, s, chunk, stack or get_stack(s.stack))
    r = float(engine.capacity)
    if r < 1:
        return RateTarget(max_tpot_s, max_ttft_s, None, None, "memory")
    lone = engine.at_n(0.0)  # a request alone in the engine: the rate's limit from below
    checks = [("tpot", max_tpot_s, lambda x: x.tpot_s), ("ttft", max_ttft_s, lambda x: x.ttft_s)]
    n_goal, why = r, "throughput"
    for name, goal, metric in checks:
        if goal is None:
            continue
        if metric(lone) > goal:
            return RateTarget(max_tpot_s, max_ttft_s, None, lone, name)
        if metric(engine.at_n(r)) <= goal:
            continue  # met up to the full batch
        lo, hi = 0.0, r  # TTFT and TPOT grow with N: lo meets the target, hi does not
        while hi - lo > _WIDTH * r:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if metric(engine.at_n(mid)) <= goal else (lo, mid)
        if lo < n_goal:
            n_goal, why = lo, name
    # every rate up to the most n / c(n) reaches at n <= N_goal has its least solution at or below such an
    # n, so its state meets the targets; n / c(n) is monotone on each linear piece of c: the grid loads
    # below N_goal and N_goal itself hold that most
    candidates = [n for n in engine.table()[0] if n <= n_goal] + [n_goal]
    rate = min(max(engine.rate_at(n) for n in candidates), engine.max_rate_rps * (1 - _NEAR_MAX))
    at = engine.load(rate)
    return RateTarget(max_tpot_s, max_ttft_s, at.rate_rps, at, why)
