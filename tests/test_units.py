"""The one formatting module: decimal prefixes, decimal bytes, times, rates, ratios."""

from __future__ import annotations

from metrics_core.common import units


def test_counts_and_bytes_are_decimal():
    assert units.human_count(11689512) == "11.69M"
    assert units.human_count(999) == "999"
    assert units.human_count(None) == "-"
    assert units.human_bytes(46758048) == "46.76 MB"  # 1 MB = 1e6 bytes
    assert units.human_bytes(512) == "512 B"
    assert units.human_mib(2**20) == "1.0 MiB"


def test_times_rates_and_ratios():
    assert units.human_time(0.00123) == "1.23 ms"
    assert units.human_time(4.5e-6) == "4.50 us"
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
