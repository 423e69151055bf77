"""Measured energy of forward passes on a CUDA GPU, from NVML's total-energy counter.

``nvmlDeviceGetTotalEnergyConsumption`` counts the millijoules the GPU board has used since the driver
loaded (Volta and newer). ``measure_energy`` reads it, runs forward passes back to back until at least
``MIN_WINDOW_S`` (1 s) of wall time has passed (and at least ``min_passes``), waits for the GPU, reads it
again: energy per pass = counter difference / passes (J), mean power = difference / window (W). The
counter is updated every few milliseconds, so a window of at least a second keeps its granularity under
1%. Idle power of the board during the window is included (it is part of what an inference costs).

Needs the ``nvidia-ml-py`` package (``pip install 'modeltui[gpu]'``); without it, on a CPU, or on a GPU
whose driver does not count energy, no figure is made and ``EnergyMeasurement.note`` says why. The NVML
module is passed in (``nvml=``) so the arithmetic is tested with a fake counter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

#: Shortest measuring window, seconds.
MIN_WINDOW_S = 1.0

#: Passes launched between waits for the device inside the window (the GPU stays busy between them).
SYNC_EVERY = 8

NOT_ON_CPU = "energy is not measured on CPU (no board energy counter); see the estimate on a target"


@dataclass(frozen=True)
class EnergyMeasurement:
    """Measured energy over a window of back-to-back passes; ``energy_j`` None with a ``note`` when
    nothing was measured."""

    energy_j: float | None = None
    passes: int = 0
    window_s: float = 0.0
    batch_size: int = 1
    note: str | None = None

    @property
    def energy_per_pass_j(self) -> float | None:
        """Joules per forward pass of one batch."""
        return self.energy_j / self.passes if self.energy_j is not None and self.passes else None

    @property
    def energy_per_sample_j(self) -> float | None:
        per_pass = self.energy_per_pass_j
        return per_pass / self.batch_size if per_pass is not None else None

    @property
    def mean_power_w(self) -> float | None:
        """Average board power over the window: energy / window."""
        return self.energy_j / self.window_s if self.energy_j is not None and self.window_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["energy_per_pass_j"] = self.energy_per_pass_j
        d["energy_per_sample_j"] = self.energy_per_sample_j
        d["mean_power_w"] = self.mean_power_w
        d["measured"] = self.energy_j is not None
        return d


def load_nvml() -> Any:
    """The ``pynvml`` module of ``nvidia-ml-py``, initialised; ``RuntimeError`` with a one-line reason."""
    try:
        import pynvml
    except ImportError:
        raise RuntimeError(
            "energy not measured: install nvidia-ml-py (pip install 'modeltui[gpu]')"
        ) from None
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError and its subclasses: one line
        raise RuntimeError(f"energy not measured: NVML unavailable ({exc})") from None
    return pynvml


def device_handle(nvml: Any, uuid: str | None, index: int) -> Any:
    """The NVML handle of the CUDA device: by UUID (``GPU-...``; CUDA_VISIBLE_DEVICES-proof), else by
    index."""
    if uuid:
        text = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
        try:
            return nvml.nvmlDeviceGetHandleByUUID(text)
        except Exception:  # noqa: BLE001 - fall back to the index
            pass
    return nvml.nvmlDeviceGetHandleByIndex(index)


def measure_energy(
    run_pass: Callable[[], None],
    synchronize: Callable[[], None],
    handle: Any,
    nvml: Any,
    batch_size: int = 1,
    min_passes: int = 1,
    min_window_s: float = MIN_WINDOW_S,
    clock: Callable[[], float] = time.perf_counter,
) -> EnergyMeasurement:
    """Run ``run_pass`` back to back for at least ``min_window_s`` and ``min_passes``; the energy the
    counter saw (J). ``synchronize`` waits for the device before each counter read."""
    try:
        synchronize()
        start_mj = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:  # noqa: BLE001 - NVMLError_NotSupported on older GPUs
        return EnergyMeasurement(
            batch_size=batch_size, note=f"energy not measured: NVML energy counter ({exc})"
        )
    t0 = clock()
    passes = 0
    while passes < min_passes or clock() - t0 < min_window_s:
        run_pass()
        passes += 1
        if passes % SYNC_EVERY == 0:
            synchronize()  # bound the launch queue: the clock then follows the device's time
    synchronize()
    window = clock() - t0
    end_mj = nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    return EnergyMeasurement((end_mj - start_mj) / 1e3, passes, window, batch_size)
