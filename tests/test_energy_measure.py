"""Measured energy (NVML total-energy counter) with a fake NVML, and the bench's energy lines."""

from __future__ import annotations

import pytest

from metrics_core.measure.bench import BenchResult
from metrics_core.measure.nvml_energy import NOT_ON_CPU, device_handle, measure_energy


class FakeNvml:
    """A counter in millijoules that grows 150 mJ per forward pass; each pass takes 0.25 s."""

    def __init__(self, supported: bool = True) -> None:
        self.mj = 1_000
        self.t = 0.0
        self.supported = supported
        self.synced = 0

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):  # noqa: N802 - NVML's name
        if not self.supported:
            raise RuntimeError("Not Supported")
        return self.mj

    def nvmlDeviceGetHandleByUUID(self, uuid):  # noqa: N802
        if uuid != "GPU-1234":
            raise RuntimeError("not found")
        return ("uuid", uuid)

    def nvmlDeviceGetHandleByIndex(self, index):  # noqa: N802
        return ("index", index)

    def run_pass(self) -> None:
        self.mj += 150
        self.t += 0.25

    def clock(self) -> float:
        return self.t

    def sync(self) -> None:
        self.synced += 1


def test_energy_over_a_window_of_at_least_one_second():
    nvml = FakeNvml()
    m = measure_energy(nvml.run_pass, nvml.sync, "h", nvml, batch_size=2, min_passes=1, clock=nvml.clock)
    # 4 passes reach 1.0 s; 4 x 150 mJ = 0.6 J: 0.15 J per pass, 0.075 J per sample, 0.6 W on average
    assert m.passes == 4 and m.window_s == pytest.approx(1.0)
    assert m.energy_j == pytest.approx(0.6)
    assert m.energy_per_pass_j == pytest.approx(0.15)
    assert m.energy_per_sample_j == pytest.approx(0.075)
    assert m.mean_power_w == pytest.approx(0.6)
    assert m.to_dict()["measured"] is True


def test_energy_runs_at_least_min_passes():
    nvml = FakeNvml()
    m = measure_energy(nvml.run_pass, nvml.sync, "h", nvml, min_passes=10, clock=nvml.clock)
    assert m.passes == 10 and m.energy_j == pytest.approx(1.5) and m.window_s == pytest.approx(2.5)


def test_unsupported_counter_is_a_note():
    nvml = FakeNvml(supported=False)
    m = measure_energy(nvml.run_pass, nvml.sync, "h", nvml, clock=nvml.clock)
    assert m.energy_j is None and m.energy_per_pass_j is None
    assert m.note.startswith("energy not measured: NVML energy counter")


def test_device_handle_by_uuid_then_index():
    nvml = FakeNvml()
    assert device_handle(nvml, "1234", 0) == ("uuid", "GPU-1234")
    assert device_handle(nvml, "GPU-9", 3) == ("index", 3)
    assert device_handle(nvml, None, 1) == ("index", 1)


def test_bench_energy_lines():
    from tui.cli.commands.bench import energy_lines

    cpu = BenchResult("m", "cpu", "x", "fp32", 2, [3, 8, 8], 1, 3, times_s=[0.01, 0.01, 0.01])
    cpu.estimated_energy_j, cpu.board_power_w, cpu.energy_note = 0.5, 250, NOT_ON_CPU
    assert cpu.estimated_energy_per_sample_j == pytest.approx(0.25)
    text = "\n".join(energy_lines([cpu]))
    assert "500.00 mJ" in text and "250.00 mJ" in text
    assert "250 W board power x estimated latency: an upper bound" in text
    assert "Energy is not measured on CPU" in text
    gpu = BenchResult("m", "cuda", "x", "fp32", 1, [3, 8, 8], 1, 3, times_s=[0.01])
    gpu.measured_energy_j, gpu.energy_passes, gpu.energy_window_s, gpu.measured_power_w = 0.02, 120, 1.2, 2.0
    text = "\n".join(energy_lines([gpu]))
    assert "20.00 mJ" in text and "120 passes" in text
