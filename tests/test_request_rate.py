"""Requests at a rate (open loop) under continuous batching (``perf.request_rate``, ``llm --rate``): every
expected value derived here by hand, on the tiny GPT-2 of ``tests/test_llm_serving.py`` (2 layers, hidden
64, vocabulary 1,000) on an A100 under the default stack (vLLM: 3 ms per request, at most 256 sequences)."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("transformers")

from metrics_core.common.errors import UsageError  # noqa: E402
from metrics_core.perf.llm import Scenario  # noqa: E402
from metrics_core.perf.request_rate import at_rate, check_rate, erlang_c, max_rate, queue_wait_s  # noqa: E402
from metrics_core.perf.serving import Segment, concurrency, step_estimate  # noqa: E402
from tests.test_llm_serving import A100, FP16, tiny  # noqa: E402, F401 (tiny: a fixture)

S = Scenario(prompt_tokens=40, generate_tokens=4)


@pytest.fixture
def steps(tiny):  # noqa: F811
    from metrics_core.perf.serving import StepModel
    from metrics_core.runtime.llm_steps import capture_steps

    return StepModel(capture_steps(tiny, FP16))


def test_erlang_c_and_the_queue_by_hand():
    # one server: an arrival waits with the server's utilisation; M/D/1's wait (Pollaczek-Khinchine) is
    # rho c / (2 (1 - rho)), exact: 0.5 x 2 s / (2 x 0.5) = 1 s
    assert erlang_c(1, 0.5) == pytest.approx(0.5, rel=1e-12)
    assert queue_wait_s(1, 0.5, 2.0) == pytest.approx(1.0, rel=1e-12)
    # two servers at 1 Erlang: C = (a^2/2! x 2/(2 - a)) / (1 + a + a^2/2! x 2/(2 - a)) = 1 / (2 + 1) = 1/3;
    # the wait 1/3 x c / (2 - 1) / 2 = c / 6
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)
    assert queue_wait_s(2, 1.0, 3.0) == pytest.approx(0.5, rel=1e-12)
    assert erlang_c(256, 0.0) == 0.0
    for bad in ((0, 0.5), (2, 2.0), (2, -1.0), (2, float("nan"))):
        with pytest.raises(ValueError):
            erlang_c(*bad)


def _hand_steps(steps, n: float):
    """The prefill (3 chunks of 16) and decode steps with ``n`` others: of each, 3/7 a chunk, 4/7 decoding
    at 40 + 4/2 = 42 tokens."""
    others = [Segment(n / 7, 16, 0, 0), Segment(n / 7, 16, 16, 0), Segment(n / 7, 8, 32, 1),
              Segment(n * 4 / 7, 1, 41)]  # fmt: skip
    own = [Segment(1 / 3, 16, 0, 0), Segment(1 / 3, 16, 16, 0), Segment(1 / 3, 8, 32, 1)]
    t_p = step_estimate(steps, A100, S, [*others, *own]).time_s
    t_d = step_estimate(steps, A100, S, [*others, Segment(1, 1, 41)]).time_s
    return t_p, t_d


def _grid_steps(steps, n: float):
    """The prefill and decode steps at ``n`` requests as the rate view takes them: estimated at the grid
    loads 256 (i / 24)^2 (others: min(load, 255)), never falling (running maximum), interpolated."""
    from metrics_core.perf.request_rate import envelope, grid_loads

    loads = grid_loads(256, 24)
    rows = [_hand_steps(steps, min(x, 255.0)) for x in loads]
    pre, dec = envelope([r[0] for r in rows]), envelope([r[1] for r in rows])
    i = max(j for j, x in enumerate(loads) if x <= n)
    i = min(i, len(loads) - 2)
    w = (n - loads[i]) / (loads[i + 1] - loads[i])
    return pre[i] + w * (pre[i + 1] - pre[i]), dec[i] + w * (dec[i + 1] - dec[i])


def test_steady_state_at_a_rate(steps):
    full = concurrency(steps, A100, S, 256, chunk=16)
    top = full.requests_per_s  # the closed loop with the batch full: the largest sustainable rate
    rate = 0.5 * top
    x = at_rate(steps, A100, S, rate, chunk=16)
    assert x.stable and x.max_running == 256 and x.prefill_steps == 3
    assert x.max_rate_rps == pytest.approx(top, rel=1e-12)
    t_p, t_d = _grid_steps(steps, x.in_engine)
    # Little's law: N = rate x (3 prefill steps + 4 decode steps), exact on the interpolated steps
    service = 3 * t_p + 4 * t_d
    assert x.in_engine == pytest.approx(rate * service, rel=1e-9)
    assert x.tpot_s == pytest.approx(t_d, rel=1e-12)
    wait = (1 - math.exp(-x.in_engine)) * t_d / 2
    assert x.arrival_wait_s == pytest.approx(wait, rel=1e-12)
    # the queue for a place in the batch of 256, offered N Erlangs, each request held its service
    queue = erlang_c(256, x.in_engine) * service / (256 - x.in_engine) / 2
    assert x.batch_full == pytest.approx(erlang_c(256, x.in_engine), rel=1e-12)
    assert x.queue_wait_s == pytest.approx(queue, rel=1e-9)
    assert x.ttft_s == pytest.approx(queue + wait + 3 * t_p + 3e-3, rel=1e-12)
    assert x.tokens_per_s == pytest.approx(rate * 4, rel=1e-12)
    d = x.to_dict()
    assert (d["stable"], d["estimate"], d["ttft_s"], d["rate_rps"]) == (True, True, x.ttft_s, rate)
    assert "Little's law" in d["assumptions"] and "open loop" in d["assumptions"]


def test_a_rate_near_zero_is_a_request_alone(steps):
    x = at_rate(steps, A100, S, 1e-6, chunk=16)
    t_p, t_d = _hand_steps(steps, 0.0)
    # N = 1e-6 x (a lone request's service), far below a step's worth: no wait, nothing else in the steps
    assert x.in_engine == pytest.approx(1e-6 * (3 * t_p + 4 * t_d), rel=0.05, abs=1e-9)
    assert x.ttft_s == pytest.approx(3 * t_p + 3e-3, rel=1e-4)
    assert x.tpot_s == pytest.approx(t_d, rel=1e-4)
    assert x.queue_wait_s < 1e-300  # Erlang C at a load of 1e-6 Erlangs on 256 places


def test_a_rate_above_the_full_batch_overloads(steps):
    from metrics_core.perf.serving_report import rate_text

    top = concurrency(steps, A100, S, 256, chunk=16).requests_per_s
    x = at_rate(steps, A100, S, 1.5 * top, chunk=16)
    assert not x.stable
    d = x.to_dict()
    assert [d[k] for k in ("ttft_s", "tpot_s", "tokens_per_s", "in_engine", "step_s", "queue_wait_s")] == [
        None
    ] * 6
    assert d["max_rate_rps"] == pytest.approx(top, rel=1e-12)
    row = rate_text([x]).splitlines()[-1].split()
    assert row[1:] == ["-"] * 6 + ["overloaded"]


def test_largest_rate_meeting_a_target(steps):
    goal = at_rate(steps, A100, S, 1000.0, chunk=16).tpot_s
    best = max_rate(steps, A100, S, max_tpot_s=goal, chunk=16)
    assert best.limited_by == "tpot"
    assert best.at.tpot_s <= goal
    assert at_rate(steps, A100, S, best.rate_rps * 1.01, chunk=16).tpot_s > goal
    assert best.rate_rps == pytest.approx(1000.0, rel=0.02)
    # a target every stable rate meets: limited by the largest sustainable rate
    top = concurrency(steps, A100, S, 256, chunk=16).requests_per_s
    easy = max_rate(steps, A100, S, max_tpot_s=1.0, chunk=16)
    assert easy.limited_by == "throughput" and easy.rate_rps == pytest.approx(0.999 * top, rel=1e-12)
    # a TTFT target is always met below the largest rate: the queue grows without bound towards it
    near = max_rate(steps, A100, S, max_ttft_s=1.0, chunk=16)
    assert near.limited_by == "ttft" and near.at.ttft_s <= 1.0 and 0.99 * top < near.rate_rps < top
    # one lone request misses it: none
    lone = at_rate(steps, A100, S, 1e-6, chunk=16)
    none = max_rate(steps, A100, S, max_ttft_s=0.5 * lone.ttft_s, chunk=16)
    assert (none.rate_rps, none.limited_by) == (None, "ttft")
    assert none.to_dict()["max_rate_rps"] is None
    with pytest.raises(UsageError, match="--max-tpot"):
        max_rate(steps, A100, S)


@pytest.mark.parametrize("bad", [0, -2.0, float("nan"), float("inf"), True, "3"])
def test_rates_that_are_not_rates_are_refused(bad):
    with pytest.raises(UsageError, match="--rate"):
        check_rate(bad)


def test_cli_rate_view(tiny, capsys):  # noqa: F811
    from tui.cli import main

    args = ["llm", tiny, "--hardware", "a100-sxm4-80gb", "--prompt", "40", "--generate", "4", "--chunk",
            "16", "--rate", "100,1e5", "--max-tpot", "1s"]  # fmt: skip
    assert main([*args, "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    rates = row["rates"]
    assert [r["rate_rps"] for r in rates] == [100.0, 1e5]
    assert [r["stable"] for r in rates] == [True, False]
    assert row["max_rate"]["limited_by"] == "throughput"
    assert row["max_rate"]["max_rate_rps"] == pytest.approx(0.999 * rates[0]["max_rate_rps"], rel=1e-12)
    assert "max_users" not in row and "concurrency" not in row  # --rate without --users: the rate view only
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "requests at a rate, open loop" in out and "overloaded" in out
    assert "largest request rate with TPOT <= 1.00 s" in out
    for bad, says in (("0", "above 0"), ("fast", "requests per second")):
        assert main(["llm", tiny, "--hardware", "a100-sxm4-80gb", "--rate", bad]) == 2
        assert says in capsys.readouterr().err


def test_the_least_solution_on_a_service_that_jumps():
    """Steps estimated at 0, 4, 6 and 10 requests: the service (one prefill step + one decode step) is
    1 s up to 4 requests, then rises to 3 s at 6 (a jump, spread between the grid loads) and stays. N / c(N)
    is 0, 4, 2, 3.33 there: the largest sustainable rate is 4 requests/s. At 3.5 requests/s both 3.5 (on
    the first piece) and 4.2 (on the rise: N = 3.5 (N - 3)) solve N = rate c(N); an engine filling from
    empty stops at 3.5."""
    from types import SimpleNamespace

    from metrics_core.perf.request_rate import _Engine, envelope

    assert envelope([1.0, 0.5, 2.0, 1.5]) == [1.0, 1.0, 2.0, 2.0]
    e = object.__new__(_Engine)
    e.capacity, e.plan, e.s = 10, [(1, 0)], SimpleNamespace(generate_tokens=1)
    e._table = ([0.0, 4.0, 6.0, 10.0], [0.5, 0.5, 1.5, 1.5], [0.5, 0.5, 1.5, 1.5], [None] * 4)
    assert [e.service_s(n) for n in (0, 2, 4, 5, 6, 8)] == [1.0, 1.0, 1.0, 2.0, 3.0, 3.0]
    assert e.max_rate_rps == 4.0
    assert e.solve(2.0) == pytest.approx(2.0, rel=1e-12)
    assert e.solve(3.5) == pytest.approx(3.5, rel=1e-12)


def test_the_largest_rate_fed_back_meets_its_target_and_grows_with_it(steps):
    rates = []
    for goal in (0.5, 1.0, 2.0):
        base = at_rate(steps, A100, S, 1e-6, chunk=16).tpot_s
        best = max_rate(steps, A100, S, max_tpot_s=base * (1 + goal), chunk=16)
        fed = at_rate(steps, A100, S, best.rate_rps, chunk=16)
        assert fed.tpot_s <= base * (1 + goal) and fed.in_engine == pytest.approx(best.at.in_engine)
        rates.append(best.rate_rps)
    assert rates == sorted(rates)


def test_no_speeds_say_why(steps):
    """With no running batch at all, the views say whether the weights alone overflow the GPU or no KV
    cache fits beside them."""
    from dataclasses import replace

    from metrics_core.perf.serving_report import concurrency_text, rate_text

    x = at_rate(steps, A100, S, 100.0, chunk=16)
    c = concurrency(steps, A100, S, 4, chunk=16)
    assert x.weights_fit and c.weights_fit and x.to_dict()["weights_fit"] is True
    heavy = replace(x, stable=False, max_running=0, weights_fit=False)
    assert "the weights alone do not fit in one GPU's memory" in " ".join(rate_text([heavy]).split())
    kv = replace(c, max_users_fit=0, max_running=0)
    assert "not even one user's KV cache fits beside the weights" in " ".join(concurrency_text([kv]).split())


def test_empty_serving_values_are_refused(tiny, capsys):  # noqa: F811
    from tui.cli import main

    for flag in ("--rate", "--users", "--max-tpot"):
        assert main(["llm", tiny, "--hardware", "a100-sxm4-80gb", flag, " "]) == 2
        assert f"{flag} needs a value" in capsys.readouterr().err
