"""The ``this-machine`` hardware target: the CPU modeltui runs on, derived at run time.

- **compute**: physical cores x FLOP per cycle per core (from the ISA flags of ``/proc/cpuinfo``) x clock.
  FLOP/cycle assume two vector FMA pipes per core (Intel client and server cores since Haswell, AMD since
  Zen 2): fp32 ``avx512f`` 64, ``avx2``+``fma`` 32, else 16 (SSE/NEON: 2 x 4 lanes x 2); fp16 2 x fp32 with
  ``avx512_fp16`` (else fp32: converted); bf16 1024 with ``amx_bf16``, 2 x fp32 with ``avx512_bf16`` (else
  fp32); int8 16 x fp32 with ``amx_int8`` (2048 ops/cycle on 64-FLOP cores), 4 x fp32 with ``avx512_vnni`` /
  ``avx_vnni`` (else 2 x fp32). Clock: ``cpuinfo_max_freq`` of cpufreq, else the ``cpu MHz`` of
  ``/proc/cpuinfo`` (the current clock), else 2.5 GHz (marked uncertain).
- **bandwidth**: a measured copy: 4 x 64 MiB arrays copied with NumPy in one thread per core (NumPy
  releases the GIL), best of 5, counting read + write bytes; a single-threaded ``bytearray`` copy without
  NumPy. Measured once and cached in the cache directory (``this-machine.json``, keyed by CPU model, cores
  and flags); ``MODELTUI_NO_MEASURE=1`` skips the measurement (25.6 GB/s, marked uncertain).
- **memory**: ``MemTotal`` of ``/proc/meminfo``.

Every derived figure is listed in ``uncertain`` and explained in ``figure_notes``. No torch here.
"""

from __future__ import annotations

import json
import os
import platform
import re
import threading
import time
from pathlib import Path
from typing import Any

from metrics_core.perf.hardware import HardwareTarget, is_plausible_figure, validate_target

TARGET_ID = "this-machine"
CACHE_NAME = "this-machine.json"
#: Fallbacks when nothing can be read (marked uncertain in the target).
DEFAULT_CLOCK_GHZ = 2.5
DEFAULT_BANDWIDTH_GBPS = 25.6


def read_cpuinfo(text: str | None = None) -> dict[str, Any]:
    """``{"model", "cores", "threads", "flags", "mhz"}`` from ``/proc/cpuinfo`` text (read when None).

    Physical cores = distinct ``(physical id, core id)`` pairs, else ``cpu cores`` x sockets, else the
    logical CPU count."""
    if text is None:
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    model, flags, mhz = "", set(), None
    pairs, logical, cores_per_socket, sockets = set(), 0, None, set()
    phys = core = None
    for line in text.splitlines() + [""]:
        if not line.strip():
            if phys is not None or core is not None:
                pairs.add((phys, core))
            phys = core = None
            continue
        key, _, value = (p.strip() for p in line.partition(":"))
        if key == "processor":
            logical += 1
        elif key == "model name" and not model:
            model = value
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
        elif key == "cpu MHz" and mhz is None:
            mhz = float(value)
        elif key == "physical id":
            phys = value
            sockets.add(value)
        elif key == "core id":
            core = value
        elif key == "cpu cores" and cores_per_socket is None:
            cores_per_socket = int(value)
    if pairs and None not in {c for _, c in pairs}:
        cores = len(pairs)
    elif cores_per_socket:
        cores = cores_per_socket * max(1, len(sockets))
    else:
        cores = logical or os.cpu_count() or 1
    return {
        "model": model or platform.processor() or platform.machine() or "cpu",
        "cores": cores,
        "threads": logical or os.cpu_count() or cores,
        "flags": sorted(flags),
        "mhz": mhz,
    }


def flops_per_cycle(flags: set[str] | list[str]) -> dict[str, float]:
    """Per-core peak FLOP (ops for int8) per cycle for each precision path (rules: module doc)."""
    f = set(flags)
    fp32 = 64.0 if "avx512f" in f else 32.0 if {"avx2", "fma"} <= f else 16.0
    out = {"fp32": fp32}
    out["fp16"] = 2 * fp32 if "avx512_fp16" in f else fp32
    out["bf16"] = 1024.0 if "amx_bf16" in f else 2 * fp32 if "avx512_bf16" in f else fp32
    if "amx_int8" in f:
        out["int8"] = 2048.0
    elif f & {"avx512_vnni", "avx_vnni"}:
        out["int8"] = 4 * fp32
    else:
        out["int8"] = 2 * fp32
    return out


def max_clock_ghz(cpuinfo_mhz: float | None) -> tuple[float, str]:
    """(clock in GHz, where it came from): cpufreq's maximum, else cpuinfo's current clock, else a default."""
    try:
        khz = int(Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq").read_text().strip())
        return khz / 1e6, "cpufreq cpuinfo_max_freq"
    except (OSError, ValueError):
        pass
    if cpuinfo_mhz:
        return cpuinfo_mhz / 1e3, "/proc/cpuinfo cpu MHz (current clock)"
    return DEFAULT_CLOCK_GHZ, "default (no clock readable)"


def memory_gb() -> float:
    """Installed memory in decimal GB (``MemTotal``), else 8."""
    try:
        text = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
        return round(kb * 1024 / 1e9, 1)
    except (OSError, AttributeError, ValueError):
        return 8.0


def measure_bandwidth_gbps(threads: int, mib: int = 64, repeat: int = 5) -> tuple[float, str]:
    """(GB/s, method) of a copy: ``threads`` threads each copying its own ``mib`` MiB array, best of
    ``repeat``; read + write bytes counted. NumPy when importable, else one thread of ``bytearray`` copies."""
    n = mib * 1024 * 1024
    try:
        import numpy as np
    except ImportError:
        src, dst = bytearray(n), bytearray(n)
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            dst[:] = src
            best = min(best, time.perf_counter() - t)
        return 2 * n / best / 1e9, f"bytearray copy, 1 thread, {mib} MiB, best of {repeat}"
    srcs = [np.ones(n, dtype=np.uint8) for _ in range(threads)]
    dsts = [np.zeros(n, dtype=np.uint8) for _ in range(threads)]
    best = float("inf")
    for _ in range(repeat):
        barrier = threading.Barrier(threads + 1)

        def work(i: int, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            np.copyto(dsts[i], srcs[i])

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        t = time.perf_counter()
        barrier.wait()
        for w in workers:
            w.join()
        best = min(best, time.perf_counter() - t)
    return 2 * n * threads / best / 1e9, f"NumPy copy, {threads} threads x {mib} MiB, best of {repeat}"


def this_machine(cache_dir: Path | None = None, measure: bool | None = None) -> HardwareTarget:
    """The ``this-machine`` target (module doc); the bandwidth is cached in ``cache_dir`` (default: the
    modeltui cache directory)."""
    info = read_cpuinfo()
    ghz, clock_src = max_clock_ghz(info["mhz"])
    per_cycle = flops_per_cycle(info["flags"])
    cores = info["cores"]
    peaks = {p: round(cores * v * ghz / 1e3, 4) for p, v in per_cycle.items()}
    if measure is None:
        measure = os.environ.get("MODELTUI_NO_MEASURE") != "1"
    bw, bw_src = _cached_bandwidth(info, cores, cache_dir, measure)
    notes = {
        f"peak_tflops.{p}": f"derived: {cores} cores x {v:g} per cycle x {ghz:.3g} GHz ({clock_src})"
        for p, v in per_cycle.items()
    }
    notes["memory_bandwidth_gbps"] = f"measured: {bw_src}"
    entry = {
        "id": TARGET_ID,
        "name": f"This machine: {info['model']} ({cores} cores)",
        "vendor": "(detected)",
        "kind": "CPU",
        "memory_bandwidth_gbps": round(bw, 2),
        "memory_gb": memory_gb(),
        "peak_tflops": peaks,
        "source": "derived at run time from /proc/cpuinfo (ISA flags, cores), cpufreq and a measured copy",
        "notes": "Peaks assume two vector FMA pipes per core; see metrics_core/perf/this_machine.py.",
        "uncertain": list(notes),
        "figure_notes": notes,
    }
    # the same validator as a user's hardware file: a figure read back from the cache or derived from an
    # odd /proc is refused in one line, never divided by
    return validate_target(entry, "hardware derived at run time: target #1", "run time")


def read_cached_bandwidth(path: Path, key: dict[str, Any]) -> tuple[float, str] | None:
    """(GB/s, method) from the cache file at ``path`` when it is valid for ``key``; None when it is missing,
    unreadable, for another CPU, or malformed (not an object, a bandwidth that is not a number in the
    hardware validator's plausible range, a method that is not text): then it is measured again, after one
    warning line when the file was there but damaged (``common.cache_warnings``)."""
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:  # not measured yet: no warning
        return None
    except (OSError, ValueError, RecursionError) as exc:
        return _damaged(path, f"unreadable ({type(exc).__name__})")
    if not isinstance(d, dict):
        return _damaged(path, f"a JSON {type(d).__name__}, not an object")
    if d.get("key") != key:  # measured on another CPU (or its core count changed): measured again, quietly
        return None
    gbps, method = d.get("gbps"), d.get("method")
    # rounded to 2 decimals in the target, so below 0.01 GB/s it would read 0
    if not is_plausible_figure(gbps) or gbps < 0.01 or not isinstance(method, str):
        return _damaged(path, f"no plausible bandwidth in it (gbps {gbps!r}, method {method!r})")
    return float(gbps), method + " (cached)"


def _damaged(path: Path, why: str) -> None:
    """A warning line for a damaged bandwidth cache (``common.cache_warnings``); None: measured again."""
    from metrics_core.common.cache_warnings import ignoring

    ignoring(path.name, "this machine's measured bandwidth", why, "it will be measured again")


def _cached_bandwidth(
    info: dict[str, Any], cores: int, cache_dir: Path | None, measure: bool
) -> tuple[float, str]:
    key = {"model": info["model"], "cores": cores, "flags": len(info["flags"])}
    path = None
    if cache_dir is None:
        from metrics_core.common.paths import cache_root

        cache_dir = cache_root()
    path = Path(cache_dir) / CACHE_NAME
    cached = read_cached_bandwidth(path, key)
    if cached is not None:
        return cached
    if not measure:
        return DEFAULT_BANDWIDTH_GBPS, "not measured (MODELTUI_NO_MEASURE=1): a default"
    gbps, method = measure_bandwidth_gbps(max(1, cores))
    try:
        from metrics_core.common.paths import write_atomic

        write_atomic(path, json.dumps({"key": key, "gbps": gbps, "method": method}))
    except OSError:
        pass
    return gbps, method
