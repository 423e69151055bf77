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
#: The searches over N stop at this many requests: the step times have steps of their own (GEMM tiles
#: and waves by token count), so finer is not more true.
_WIDTH = 0.01
#: The largest rate meeting a target is found to this fraction of the rate.
_RATE_WIDTH = 1e-3
#: The fixed-point iteration's cap (it takes 5-30 iterations for Llama-3.1-8B from 10 % to 99.9 % of the
#: largest rate).
_MAX_ITERATIONS = 200
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

    def visited(self) -> list[float]:
        """The numbers of requests in the engine whose steps were estimated (below R - 1, where the
        others are N itself)."""
        return [o for o in self._memo if o < self.capacity - 1]

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
            "chunk_tokens": min(self.chunk, s.prompt_tokens) if self.chunk else s.prompt_tokens,
            "prefill_steps": len(self.plan),
            "max_rate_rps": self.max_rate_rps,
            "max_running": max(0, self.capacity),
            "kv_bytes_per_user": self.limits.kv_bytes_per_user,
            "weights_fit": self.limits.weights_fit,
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
            batch_full=full if (full := erlang_c(self.capacity, load)) > 1e-12 else 0.0,
            queue_wait_s=queue,
            step=step,
            arrival_wait_s=wait,
            ttft_s=queue + wait + len(self.plan) * t_pre + request_overhead_s(self.s, self.stack),
            tpot_s=step.time_s,
        )

    def load(self, rate: float) -> RateLoad:
        """The steady state at ``rate`` requests/s: N the least solution of ``N = rate x service(N)``, the
        state an engine filling from empty settles in, found by iterating ``N <- rate x service(N)`` from 0
        (the service grows with N, so the iterates rise to the least solution and never pass it; the step
        times rise in steps, GEMM tiles and waves, so the equation can have several solutions near the
        largest rate, and this one makes N, TTFT and TPOT grow with the rate). Stops when an iterate moves
        less than ``_WIDTH`` requests, or after ``_MAX_ITERATIONS`` (the last iterate, from below)."""
        if self.capacity < 1 or rate >= self.max_rate_rps:
            return RateLoad(**self._head(rate), stable=False)
        return self.at_n(self.least(rate), rate)

    def least(self, rate: float, start: float = 0.0, ceiling: float | None = None) -> float | None:
        """``load``'s N at ``rate``, iterating from ``start`` (at or below the least solution: 0, or the
        least solution at a lower rate); None as soon as an iterate passes ``ceiling`` (the least solution
        is above it)."""
        top = float(self.capacity)
        n = start
        for _ in range(_MAX_ITERATIONS):
            nxt = min(rate * self.service_s(n), top)
            if ceiling is not None and nxt > ceiling:
                return None
            done = nxt - n <= _WIDTH
            n = nxt
            if done:
                break
        return n


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
    ``max_tpot_s`` and ``max_ttft_s`` (seconds): N_goal, the most requests in the engine meeting them, by
    bisection over N to ``_WIDTH`` (TTFT and TPOT grow with N); then the largest rate whose least solution
    (``_Engine.load``) is at most N_goal, max(N / service(N)) over N <= N_goal, by bisection over the rate
    to ``_RATE_WIDTH``: the state ``--rate`` shows at the answer meets the targets, and a looser target
    never gives a lower rate. ``UsageError`` when neither target is given."""
    if max_tpot_s is None and max_ttft_s is None:
        raise UsageError("give --max-tpot and/or --max-ttft (e.g. --max-tpot 50ms)")
    s = scenario.validated(target)
    engine = _Engine(model, target, s, chunk, stack or get_stack(s.stack))
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
        while hi - lo > _WIDTH:
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if metric(engine.at_n(mid)) <= goal else (lo, mid)
        if lo < n_goal:
            n_goal, why = lo, name
    # a rate meets the targets when its least solution (_Engine.load) is at most N_goal: the largest is
    # max(N / service(N)) over N <= N_goal, found by bisection over the rate from one known to meet them
    # (N / service(N) at an N met on the way), each probe iterating from the last rate met
    met = [n for n in [*engine.visited(), n_goal] if n <= n_goal]
    lo = min(max(n / engine.service_s(n) for n in met), engine.max_rate_rps * (1 - _NEAR_MAX))
    n_lo = engine.least(lo) or 0.0
    hi = engine.max_rate_rps * (1 - _NEAR_MAX)
    if (n := engine.least(hi, n_lo, n_goal)) is not None:
        lo = hi
    else:
        while hi - lo > _RATE_WIDTH * hi:
            mid = (lo + hi) / 2
            if (n := engine.least(mid, n_lo, n_goal)) is None:
                hi = mid
            else:
                lo, n_lo = mid, n
    at = engine.load(lo)
    return RateTarget(max_tpot_s, max_ttft_s, at.rate_rps, at, why)
