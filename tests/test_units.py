"""The one formatting module: decimal prefixes, decimal bytes, times, rates, ratios."""

from __future__ import annotations

import math

from metrics_core.common import units


def test_counts_and_bytes_are_decimal():
    assert units.human_count(11689512) == "11.69M"
    assert units.human_count(999) == "999"
    assert units.human_count(None) == "-"
    assert units.human_bytes(46758048) == "46.76 MB"  # 1 MB = 1e6 bytes
    assert units.human_bytes(512) == "512 B"
    assert units.human_bytes(3_341_670.93e12) == "3.34 EB"  # beyond TB: PB, EB (decimal)
    assert units.human_bytes(2.5e15) == "2.50 PB"
    assert units.human_mib(2**20) == "1.0 MiB"


def test_times_rates_and_ratios():
    assert units.human_time(0.00123) == "1.23 ms"
    assert units.human_time(4.5e-6) == "4.50 us"
    # long times in units that read: 59.5 s; 90 s = 1.5 min; 7,200 s = 2 h; 102,605,373.57 s / 86,400 s
    # = 1,187.56 days
    assert units.human_time(59.5) == "59.50 s"
    assert units.human_time(90) == "1.50 min"
    assert units.human_time(7_200) == "2.00 h"
    assert units.human_time(102_605_373.57) == "1,187.6 days"
    # a sum a rounding error below a boundary (the float just below 1 us) takes the unit above
    assert units.human_time(math.nextafter(1e-6, 0)) == "1.00 us"
    assert units.human_time(math.nextafter(1e-3, 0)) == "1.00 ms"
    assert units.human_time(9.99e-7) == "999.0 ns"
    assert units.human_rate(1.95e13) == "19.50 TFLOP/s"
    assert units.times(22.664) == "22.66x"
    assert units.times(None) == "-"
    assert units.pct(12.345) == "12.3%"
    assert units.human_shape([1, 64, 56, 56]) == "1x64x56x56"


def test_human_energy_prefixes():
    from metrics_core.common.units import human_energy

    assert [human_energy(v) for v in (2.5, 0.0123, 4.5e-5, 2.5e-7, None)] == [
        "2.50 J",
        "12.30 mJ",
        "45.00 uJ",
        "250.00 nJ",
        "-",
    ]


def test_params_say_b_and_flops_go_to_p():
    # Llama-3.1-8B: 8,030,261,248 parameters, as its model card writes them: 8.03B (not 8.03G)
    assert units.human_params(8_030_261_248) == "8.03B"
    assert units.human_params(11_689_512) == "11.69M"
    assert units.human_params(1.2e12) == "1.20T"
    # 8,124.47 TFLOPs is 8.12 PFLOPs; 1e18 is E
    assert units.human_count(8.12447e15) == "8.12P"
    assert units.human_count(2.5e18) == "2.50E"
    assert units.human_rate(1.979e15) == "1.98 PFLOP/s"


def test_samples_per_second_has_one_format():
    # 8,486.9 samples/s reads 8.49K in every verb and the app; below 1,000 two decimals
    assert [units.samples_per_s(v) for v in (8486.9, 12.345, 200.0, 1.2e6, None)] == [
        "8.49K",
        "12.35",
        "200",
        "1.20M",
        "-",
    ]


def test_every_verb_formats_samples_per_second_with_it():
    from metrics_core.report.columns import ESTIMATE_COLUMNS
    from metrics_core.report.pareto import X_AXES
    from tui.app.tables import ESTIMATE_COLUMNS as APP_ESTIMATES

    compare = next(c for c in ESTIMATE_COLUMNS if c.key == "throughput_per_s")
    app = next(c for c in APP_ESTIMATES if c.key == "est_throughput_per_s")
    assert compare.fmt(8486.9) == "8.49K"
    assert app.fmt(8486.9) == X_AXES["throughput"].fmt(8486.9) == "8.49K/s"
