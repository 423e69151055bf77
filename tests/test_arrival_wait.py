"""A request arriving at a rate waits for the step in flight (``perf.serving.arrival_wait_s``)."""

from __future__ import annotations

import math

import pytest

from metrics_core.perf.serving import arrival_wait_s


def test_a_busy_engine_costs_half_a_step_on_average():
    """With 11 requests in the system (TensorRT-LLM's Llama-3.1-70B at 2 requests/s, 256 output tokens of
    ~21 ms: Little's law 2 x (0.06 + 256 x 0.021) = 10.9) the engine is almost never idle, so an arrival
    waits half a step: (1 - e^-11) x 21 ms / 2 = 10.49991 ms."""
    assert arrival_wait_s(0.021, 11.0) == pytest.approx((1 - math.exp(-11)) * 0.0105, rel=1e-12)
    assert arrival_wait_s(0.021, 11.0) == pytest.approx(0.0104998, rel=1e-5)


def test_an_engine_often_idle_makes_arrivals_wait_less():
    """One request in the system on average: an arrival finds the engine idle with probability e^-1 =
    0.36788 (Poisson number in an M/G/infinity system), so the mean wait is 0.63212 x 8 ms / 2 = 2.52848 ms;
    nobody in the system: no wait."""
    assert arrival_wait_s(0.008, 1.0) == pytest.approx(0.00252848, rel=1e-5)
    assert arrival_wait_s(0.008, 0.0) == 0.0
    assert arrival_wait_s(0.0, 5.0) == 0.0


@pytest.mark.parametrize("step, n", [(-0.001, 1.0), (0.01, -1.0), (math.nan, 1.0), (0.01, math.inf)])
def test_bad_arguments_are_refused(step, n):
    with pytest.raises(ValueError, match="must be finite and >= 0"):
        arrival_wait_s(step, n)
