"""Requests arriving at a rate (open loop) under continuous batching: the steady state a serving engine
reaches at λ requests/s, and the largest rate that meets a TTFT / TPOT target.

``perf.serving.concurrency`` is the closed loop (N users, each sending its next request when the last one
completes: the load follows the speed). A public endpoint is an open loop: requests arrive whatever the
speed, and past the engine's largest throughput the queue grows without bound.

**The model** (mean values; each request P prompt tokens, O output tokens, ``s = ceil(P / chunk)``
prefill steps):

- Arrivals are Poisson at λ. The mean number of requests in the engine's steps N solves
  ``N = λ (s t_p(N) + O t_d(N))`` (Little's law), with ``t_p`` / ``t_d`` the steady-state prefill and
  decode steps of ``perf.serving.steady_steps`` carrying ``min(N, R - 1)`` other requests: an engine that
  serves every admitted request at once holds a Poisson number of them (M/G/infinity), and a request in it
  sees the others' stationary mean (Palm; PASTA for an arrival: Wolff, Oper. Res. 30, 1982).
- R, the running batch's limit, is ``perf.serving.batch_limits``'s capacity (the stack's ``max_batch`` and
  the sequences whose KV fits). The largest sustainable rate ``λ_max = R / (s t_p + O t_d)`` at R - 1
  others: the full batch's throughput, the closed loop's at R users. At λ >= λ_max there is no steady
  state (``stable`` false, no speeds).
- The queue for a place in the running batch: the batch is R servers, each holding a request for its
  service ``c = s t_p + O t_d``, offered the load ``a = λ c = N``. An arrival waits with Erlang C's
  probability ``C(R, a)`` (``batch_full``: M/M/R, Erlang 1917; computed by Erlang B's recursion), and the
  mean wait of M/M/R, ``C(R, a) c / (R - a)``, is halved for the equal services of equal requests (the
  Allen-Cunneen approximation of M/G/R, ``(1 + cs^2) / 2`` with service-time variation cs = 0: A. O. Allen,
  Probability, Statistics, and Queueing Theory, 2nd ed. 1990, sec. 6.5) -> ``queue_wait_s``. It is the
  mean over all requests and grows without bound as λ nears λ_max.
- TTFT = the queue's wait + the wait for the step in flight (``perf.serving.arrival_wait_s``: ``(1 -
  e^-N) t_d / 2``) + ``s t_p`` + the stack's per-request overhead; TPOT = ``t_d``; output tokens/s = λ O.

Every figure is an estimate (``estimate: true``). No torch here.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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
#: Root finding over N stops when its bracket is this many requests wide: the step times have steps of
#: their own (GEMM tiles and waves by token count), so finer is not more true.
_WIDTH = 0.01
#: A rate limited by throughput alone is reported this fraction below the largest sustainable rate, where
#: the queue (and TTFT), unbounded at it, is still finite.
_NEAR_MAX = 1e-3
#: What the rate view assumes, in words (text and JSON).
RATE_ASSUMPTIONS = (
    "continuous batching, open loop: requests of P prompt tokens and O output tokens arrive at a rate "
    "(Poisson); the mean number N in the engine's steps solves N = rate x (s x prefill step + O x TPOT) "
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


def _root(f: Callable[[float], float], lo: float, hi: float, f_lo: float, f_hi: float) -> float:
    """The point of ``[lo, hi]`` where ``f`` (``f_lo > 0 >= f_hi``) turns non-positive: the Illinois
    variant of regula falsi (Dowell & Jarratt, BIT 11, 1971), a few evaluations for the smooth, nearly
    linear functions of the steps here; stops when the bracket is ``_WIDTH`` requests wide or after 60
    evaluations. Returns the bracket's ``lo`` end (``f > 0`` there: the last point still positive)."""
    width = _WIDTH
    side = 0
    for _ in range(60):
        if hi - lo <= width:
            break
        x = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        x = min(max(x, lo + width / 2), hi - width / 2)  # keep strictly inside
        fx = f(x)
        if fx > 0:
            lo, f_lo = x, fx
            if side == -1:
                f_hi /= 2
            side = -1
        else:
            hi, f_hi = x, fx
            if side == 1:
                f_lo /= 2
            side = 1
    return lo


class _Engine:
    """The steps of one model, target, scenario and stack as functions of N, the requests in the engine."""

    def __init__(
        self, model: StepModel, target: HardwareTarget, scenario: Scenario, chunk: int | None, stack: Stack
    ) -> None:
        self.model, self.target, self.s, self.stack = model, target, scenario, stack
        self.chunk = chunk_size(scenario, chunk, stack)
        self.plan = prompt_chunks(scenario.prompt_tokens, self.chunk)
        self.limits = batch_limits(model, target, scenario, stack)
        self.capacity = self.limits.capacity
        self._memo: dict[float, tuple[float, PhaseEstimate]] = {}

    def steps(self, n: float) -> tuple[float, PhaseEstimate]:
        """(prefill step s, decode step) with ``n`` requests in the engine (``min(n, R - 1)`` others)."""
        others = min(n, self.capacity - 1.0)
        if others not in self._memo:
            self._memo[others] = steady_steps(self.model, self.target, self.s, others, self.plan, self.stack)
        return self._memo[others]

    def service_s(self, n: float) -> float:
        """A request's time in the engine's steps: ``s t_p + O t_d`` (seconds)."""
        t_pre, step = self.steps(n)
        return len(self.plan) * t_pre + self.s.generate_tokens * step.time_s

    @property
    def max_rate_rps(self) -> float:
        """The full running batch's throughput (requests/s); 0 when nothing fits."""
        return self.capacity / self.service_s(self.capacity) if self.capacity >= 1 else 0.0

    def _head(self, rate: float) -> dict[str, Any]:
        s = self.s
        return {
            "rate_rps": rate,
            "prompt_tokens": s.prompt_tokens,
            "output_tokens": s.generate_tokens,
            "chunk_tokens": self.chunk or s.prompt_tokens,
            "prefill_steps": len(self.plan),
            "max_rate_rps": self.max_rate_rps,
            "max_running": max(0, self.capacity),
            "kv_bytes_per_user": self.limits.kv_bytes_per_user,
        }

    def at_n(self, n: float, rate: float | None = None) -> RateLoad:
        """The steady state with ``n`` requests in the engine (``0 <= n <= R``) at its rate ``n / service``
        (or ``rate``, the rate ``n`` was solved for)."""
        t_pre, step = self.steps(n)
        service = len(self.plan) * t_pre + self.s.generate_tokens * step.time_s
        wait = arrival_wait_s(step.time_s, n)
        load = min(n, self.capacity * (1 - 1e-12))  # the full batch itself: the queue's limit
        queue = queue_wait_s(self.capacity, load, service)
        return RateLoad(
            **self._head(n / service if rate is None else rate),
            stable=True,
            in_engine=n,
            batch_full=erlang_c(self.capacity, load),
            queue_wait_s=queue,
            step=step,
            arrival_wait_s=wait,
            ttft_s=queue + wait + len(self.plan) * t_pre + request_overhead_s(self.s, self.stack),
            tpot_s=step.time_s,
        )

    def load(self, rate: float) -> RateLoad:
        """The steady state at ``rate`` requests/s: N solves ``N = rate x service(N)`` (module doc)."""
        if self.capacity < 1 or rate >= self.max_rate_rps:
            return RateLoad(**self._head(rate), stable=False)
        r = float(self.capacity)

        def excess(n: float) -> float:
            return rate * self.service_s(n) - n

        lo = _root(excess, 0.0, r, excess(0.0), excess(r))
        return self.at_n(rate * self.service_s(lo), rate)


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
    return _Engine(model, target, s, chunk, stack or get_stack(s.stack)).load(check_rate(rate_rps))


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
    ``max_tpot_s`` and ``max_ttft_s``: bisection over the rate (TTFT and TPOT grow with it), to 1 part in
    10^9 of the largest sustainable rate, the reported rate the bracket's lower end (it meets them).
    ``UsageError`` when neither target is given."""
    if max_tpot_s is None and max_ttft_s is None:
        raise UsageError("give --max-tpot and/or --max-ttft (e.g. --max-tpot 50ms)")
    s = scenario.validated(target)
    engine = _Engine(model, target, s, chunk, stack or get_stack(s.stack))
    r = float(engine.capacity)
    if r < 1:
        return RateTarget(max_tpot_s, max_ttft_s, None, None, "memory")
    lone = engine.at_n(0.0)  # a request alone in the engine: the rate's limit from below
    checks = [("tpot", max_tpot_s, lambda x: x.tpot_s), ("ttft", max_ttft_s, lambda x: x.ttft_s)]
    n_best, why = r, "throughput"
    for name, goal, metric in checks:
        if goal is None:
            continue
        if metric(lone) > goal:
            return RateTarget(max_tpot_s, max_ttft_s, None, lone, name)

        def slack(n: float, goal: float = goal, metric: Callable[[RateLoad], float] = metric) -> float:
            return goal - metric(engine.at_n(n)) + 1e-300  # meeting it exactly counts as meeting it

        s_r = slack(r)
        if s_r > 0:
            continue  # met up to the full batch
        n = _root(slack, 0.0, r, slack(0.0), s_r)
        if n < n_best:
            n_best, why = n, name
    if why == "throughput":  # every stable rate meets the targets: just below the full batch's, where
        at = engine.load(engine.max_rate_rps * (1 - _NEAR_MAX))  # the queue is still finite
        return RateTarget(max_tpot_s, max_ttft_s, at.rate_rps, at, why)
    at = engine.at_n(n_best)
    return RateTarget(max_tpot_s, max_ttft_s, at.rate_rps, at, why)
