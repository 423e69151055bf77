"""The run-time ``this-machine`` CPU target: ISA flags -> FLOP/cycle, /proc/cpuinfo, cached bandwidth."""

from __future__ import annotations

import json

import pytest

from metrics_core.perf import this_machine as tm

CPUINFO = """processor\t: 0
model name\t: Test CPU 9000
flags\t\t: fpu sse avx2 fma avx512f avx512_vnni
cpu MHz\t\t: 3000.000
physical id\t: 0
core id\t\t: 0
cpu cores\t: 2

processor\t: 1
model name\t: Test CPU 9000
physical id\t: 0
core id\t\t: 0

processor\t: 2
physical id\t: 0
core id\t\t: 1

processor\t: 3
physical id\t: 0
core id\t\t: 1
"""


def test_cpuinfo_counts_physical_cores_and_reads_flags():
    info = tm.read_cpuinfo(CPUINFO)
    assert (info["model"], info["cores"], info["threads"], info["mhz"]) == ("Test CPU 9000", 2, 4, 3000.0)
    assert {"avx512f", "avx512_vnni"} <= set(info["flags"])


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({"sse"}, {"fp32": 16, "fp16": 16, "bf16": 16, "int8": 32}),
        ({"avx2", "fma"}, {"fp32": 32, "fp16": 32, "bf16": 32, "int8": 64}),
        ({"avx2", "fma", "avx_vnni"}, {"fp32": 32, "fp16": 32, "bf16": 32, "int8": 128}),
        ({"avx512f", "avx512_bf16", "avx512_vnni"}, {"fp32": 64, "fp16": 64, "bf16": 128, "int8": 256}),
        (
            {"avx512f", "avx512_fp16", "amx_bf16", "amx_int8"},
            {"fp32": 64, "fp16": 128, "bf16": 1024, "int8": 2048},
        ),
    ],
)
def test_flops_per_cycle_from_isa_flags(flags, expected):
    assert tm.flops_per_cycle(flags) == expected


def test_target_uses_cached_bandwidth(tmp_path, monkeypatch):
    info = tm.read_cpuinfo(CPUINFO)
    monkeypatch.setattr(tm, "read_cpuinfo", lambda: info)
    monkeypatch.setattr(tm, "max_clock_ghz", lambda mhz: (mhz / 1e3, "test"))
    key = {"model": "Test CPU 9000", "cores": 2, "flags": 6}
    (tmp_path / tm.CACHE_NAME).write_text(json.dumps({"key": key, "gbps": 40.0, "method": "copy"}))
    t = tm.this_machine(cache_dir=tmp_path, measure=False)
    # 2 cores x 64 FLOP/cycle x 3.0 GHz = 0.384 TFLOP/s; int8 (VNNI) 4 x that
    assert t.id == "this-machine" and t.kind == "CPU"
    assert t.peak_tflops == {"fp32": 0.384, "fp16": 0.384, "bf16": 0.384, "int8": 1.536}
    assert t.memory_bandwidth_gbps == 40.0 and "cached" in t.figure_notes["memory_bandwidth_gbps"]
    # nothing cached and no measuring: a default, said so
    t = tm.this_machine(cache_dir=tmp_path / "empty", measure=False)
    assert (
        t.memory_bandwidth_gbps == tm.DEFAULT_BANDWIDTH_GBPS
        and "not measured" in t.figure_notes["memory_bandwidth_gbps"]
    )


def test_measured_copy_is_positive():
    gbps, method = tm.measure_bandwidth_gbps(1, mib=4, repeat=1)
    assert gbps > 0 and "copy" in method


@pytest.mark.parametrize(
    "cached",
    [
        [1],  # a JSON list: was AttributeError
        {"key": "KEY", "gbps": 1e-300, "method": "copy"},  # rounds to 0 GB/s: was ZeroDivisionError
        {"key": "KEY", "gbps": "40", "method": "copy"},
        {"key": "KEY", "gbps": 40.0, "method": 7},
        {"key": "KEY", "gbps": float("1e400"), "method": "copy"},  # inf
    ],
    ids=["list", "tiny", "string", "method", "inf"],
)
def test_a_malformed_bandwidth_cache_is_measured_again(tmp_path, monkeypatch, cached):
    info = tm.read_cpuinfo(CPUINFO)
    monkeypatch.setattr(tm, "read_cpuinfo", lambda: info)
    monkeypatch.setattr(tm, "max_clock_ghz", lambda mhz: (mhz / 1e3, "test"))
    monkeypatch.setattr(tm, "measure_bandwidth_gbps", lambda threads: (12.5, "re-measured"))
    key = {"model": "Test CPU 9000", "cores": 2, "flags": 6}
    if isinstance(cached, dict):
        cached = {**cached, "key": key}
    (tmp_path / tm.CACHE_NAME).write_text(json.dumps(cached))
    t = tm.this_machine(cache_dir=tmp_path, measure=True)
    assert t.memory_bandwidth_gbps == 12.5
    assert t.figure_notes["memory_bandwidth_gbps"] == "measured: re-measured"
    # ... and the good figure replaced the bad file
    written = json.loads((tmp_path / tm.CACHE_NAME).read_text())
    assert written == {"key": key, "gbps": 12.5, "method": "re-measured"}


def test_the_run_time_target_goes_through_the_hardware_validator(tmp_path, monkeypatch):
    from metrics_core.common.errors import HardwareFileError

    info = tm.read_cpuinfo(CPUINFO)
    monkeypatch.setattr(tm, "read_cpuinfo", lambda: info)
    monkeypatch.setattr(tm, "max_clock_ghz", lambda mhz: (mhz / 1e3, "test"))
    monkeypatch.setattr(tm, "memory_gb", lambda: 0.0)  # an odd /proc/meminfo
    with pytest.raises(HardwareFileError) as err:
        tm.this_machine(cache_dir=tmp_path, measure=False)
    assert str(err.value) == (
        "hardware derived at run time: target 'this-machine': field 'memory_gb' must be a positive number"
    )


def test_a_damaged_bandwidth_cache_is_one_warning_another_cpus_none(tmp_path, monkeypatch, capsys):
    # the cache folder's rule (common.cache_warnings): a damaged file is ignored with one warning line and
    # rebuilt; it was measured again silently. A file of another CPU is no damage: measured again, quietly.
    from metrics_core.common import cache_warnings

    monkeypatch.setattr(cache_warnings, "_warned", set())
    monkeypatch.setattr(cache_warnings, "_handler", cache_warnings._stderr_handler)
    key = {"model": "Test CPU 9000", "cores": 2, "flags": 6}
    path = tmp_path / tm.CACHE_NAME
    good = json.dumps({"key": key, "gbps": 40.0, "method": "copy"})
    cases = [
        (good[:20], "unreadable (JSONDecodeError)"),  # truncated
        ("[1]", "a JSON list, not an object"),
        (json.dumps({"key": key, "gbps": "40", "method": "copy"}),
         "no plausible bandwidth in it (gbps '40', method 'copy')"),
    ]  # fmt: skip
    for text, why in cases:
        path.write_text(text)
        assert tm.read_cached_bandwidth(path, key) is None
        assert capsys.readouterr().err == (
            f"modeltui: warning: ignoring cache file this-machine.json (this machine's measured bandwidth): "
            f"{why}; it will be measured again\n"
        )
    path.write_text(json.dumps({"key": {**key, "cores": 64}, "gbps": 40.0, "method": "copy"}))
    assert tm.read_cached_bandwidth(path, key) is None
    assert tm.read_cached_bandwidth(tmp_path / "missing.json", key) is None
    assert capsys.readouterr().err == ""
    path.write_text(good)
    assert tm.read_cached_bandwidth(path, key) == (40.0, "copy (cached)")
