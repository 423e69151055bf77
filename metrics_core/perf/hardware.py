"""Hardware targets for the roofline model: the built-in catalog and user TOML files.

Built-in targets live in ``metrics_core/perf/data/hardware.toml``. Users add targets with TOML files of the
same schema in ``<config dir>/hardware/*.toml`` (the config dir is ``platformdirs.user_config_dir
("modeltui")``, or ``$MODELTUI_CONFIG_DIR`` when set) and with ``--hardware-file PATH``. One validator
checks every file. A broken file in the config dir is skipped with a warning (built-ins keep working);
a broken ``--hardware-file`` raises ``HardwareFileError``. Every error is one line naming the file, the
target and the field.

Units: ``memory_bandwidth_gbps`` is decimal GB/s (1e9 bytes/s); ``peak_tflops`` holds dense peaks in
TFLOP/s (1e12 FLOP/s) per precision path, int8 in TOP/s. No torch here.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from metrics_core.common.errors import HardwareFileError, UnknownHardwareError, UsageError

#: Precision paths a target may define, in display order. ``tf32`` is the tensor-core path for fp32
#: inputs; ``fp16``/``bf16`` the tensor paths with FP32 accumulation (what PyTorch and serving GEMMs use);
#: ``fp8`` (E4M3/E5M2 tensor cores: Ada, Hopper, Blackwell, MI300) and ``fp4`` (NVFP4 / MXFP4 tensor
#: cores: Blackwell, MI355) the low-precision paths; int8 peaks are integer ops/s but share the key space.
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8", "fp4")

#: How a target's GPUs talk to each other (``interconnect_kind``; the collective model per kind is
#: ``metrics_core.perf.comm``): NVSwitch-connected SXM boards, a 2-GPU NVLink bridge, PCIe only, AMD
#: Infinity Fabric (xGMI) meshes, TPU inter-chip interconnect, RDMA over Converged Ethernet (Intel Gaudi).
INTERCONNECT_KINDS: tuple[str, ...] = ("nvswitch", "nvlink-bridge", "pcie", "infinity-fabric", "ici", "roce")

#: DRAM technologies (``memory_type``): stacked HBM, graphics GDDR, low-power LPDDR (unified memory of
#: SoCs and Apple silicon) and DDR (CPUs).
MEMORY_TYPES: tuple[str, ...] = ("hbm", "gddr", "lpddr", "ddr")

#: Environment variable that replaces the user config directory (used by tests).
CONFIG_DIR_ENV = "MODELTUI_CONFIG_DIR"

BUILTIN_ORIGIN = "built-in"

#: The built-in catalog (a data file shipped inside the package).
BUILTIN_FILE = Path(__file__).parent / "data" / "hardware.toml"

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

# field -> (required, kind); each kind is checked by _check()
_FIELDS: dict[str, tuple[bool, str]] = {
    "id": (True, "id"),
    "name": (True, "str"),
    "vendor": (True, "str"),
    "kind": (True, "str"),
    "memory_bandwidth_gbps": (True, "pos"),
    "memory_gb": (True, "pos"),
    "peak_tflops": (True, "peaks"),
    "source": (True, "str"),
    "notes": (False, "text"),
    "uncertain": (False, "fieldlist"),
    "figure_notes": (False, "fieldnotes"),
    "l2_cache_mb": (False, "pos"),
    "tdp_w": (False, "pos"),
    "board_power_w": (False, "pos"),
    "board_power_source": (False, "str"),
    "min_power_limit_w": (False, "pos"),
    "min_power_limit_source": (False, "str"),
    "launch_overhead_us": (False, "nonneg"),
    "interconnect_gbps": (False, "pos"),
    "interconnect_kind": (False, "interconnect"),
    "interconnect_max_gpus": (False, "count"),
    "memory_type": (False, "memtype"),
    "boost_clock_mhz": (False, "pos"),
    "base_clock_mhz": (False, "pos"),
    "sustained_clock_mhz": (False, "pos"),
    "sustained_clock_source": (False, "str"),
    "fp16_accumulate_tflops": (False, "pos"),
    "l2_bandwidth_gbps": (False, "pos"),
    "device_target": (False, "str"),
}

#: Names a figure can be referred to by in ``uncertain`` and ``figure_notes``.
FIGURE_NAMES: tuple[str, ...] = (
    "memory_bandwidth_gbps",
    "memory_gb",
    "l2_cache_mb",
    "tdp_w",
    "board_power_w",
    "min_power_limit_w",
    "launch_overhead_us",
    "interconnect_gbps",
    "interconnect_kind",
    "interconnect_max_gpus",
    "boost_clock_mhz",
    "base_clock_mhz",
    "sustained_clock_mhz",
    "fp16_accumulate_tflops",
    "l2_bandwidth_gbps",
    *(f"peak_tflops.{p}" for p in PRECISIONS),
)


@dataclass(frozen=True)
class HardwareTarget:
    """One machine (or one chip of one) as the roofline model sees it.

    ``peak_tflops`` maps a precision path to its dense peak in TFLOP/s (TOP/s for int8); a path the
    hardware lacks is absent. ``origin`` is ``"built-in"`` or the file the target came from.
    """

    id: str
    name: str
    vendor: str
    kind: str
    memory_bandwidth_gbps: float
    memory_gb: float
    peak_tflops: Mapping[str, float]
    source: str
    notes: str = ""
    uncertain: tuple[str, ...] = ()
    figure_notes: Mapping[str, str] = field(default_factory=dict)
    l2_cache_mb: float | None = None
    tdp_w: float | None = None
    launch_overhead_us: float | None = None
    #: GPU-to-GPU bandwidth per GPU, decimal GB/s, bidirectional total as datasheets print it (NVLink
    #: across all links, PCIe x16 both ways); None for single-device targets (tensor parallel refused).
    interconnect_gbps: float | None = None
    #: Power the board (card, module or socket) may draw at full load, in W, and where that figure comes
    #: from (``board_power_source`` alone says why a target has none). Energy estimates
    #: (``metrics_core.perf.energy``) are this power x the estimated latency: an upper bound.
    board_power_w: float | None = None
    board_power_source: str | None = None
    #: The lowest board power limit the board accepts, in W (NVML ``nvmlDeviceGetPowerManagementLimit
    #: Constraints``' minimum, nvidia-smi's "Min Power Limit": ``nvidia-smi -pl`` refuses anything lower),
    #: and where the figure comes from; None where none is recorded (``--power-limit`` is then not
    #: bounded below, and says so).
    min_power_limit_w: float | None = None
    min_power_limit_source: str | None = None
    #: ``INTERCONNECT_KINDS`` member (None: single-device target, or not stated: PCIe assumed with
    #: ``interconnect_gbps``).
    interconnect_kind: str | None = None
    #: GPUs one scale-up domain of this target holds (GB200 NVL72: 72); None: its link kind's
    #: ``max_gpus`` (links.toml, 8 for an 8-GPU server). Multi-node parallelism is not modelled.
    interconnect_max_gpus: int | None = None
    #: ``MEMORY_TYPES`` member, None when not stated.
    memory_type: str | None = None
    #: The target each device of this package is to software, where the package is several devices (an
    #: MI250X is two GCDs, each its own GPU to ROCm: ``mi250x-gcd``); None: one device. LLM serving runs
    #: a model on devices, so ``llm`` refuses such a package and names its device target.
    device_target: str | None = None
    #: Clocks in MHz: the boost clock the ``peak_tflops`` figures are rated at, the base clock, and a
    #: published sustained clock under dense tensor load (with its source) where one exists; without it
    #: the sustained clock is modelled from the board power (``metrics_core.perf.power``).
    boost_clock_mhz: float | None = None
    base_clock_mhz: float | None = None
    sustained_clock_mhz: float | None = None
    sustained_clock_source: str | None = None
    #: Dense FP16 tensor peak with FP16 accumulation, TFLOP/s, where it differs from ``peak_tflops.fp16``
    #: (FP32 accumulation): GeForce parts run FP32 accumulation at half rate.
    fp16_accumulate_tflops: float | None = None
    #: L2 cache bandwidth, decimal GB/s (reads; the cache-aware roofline's L2 roof).
    l2_bandwidth_gbps: float | None = None
    origin: str = BUILTIN_ORIGIN

    def __hash__(self) -> int:  # the mapping fields are dicts; a target is identified by id and origin
        return hash((self.id, self.origin))

    @property
    def precisions(self) -> tuple[str, ...]:
        """The precision paths this target has, in ``PRECISIONS`` order."""
        return tuple(p for p in PRECISIONS if p in self.peak_tflops)

    @property
    def bandwidth(self) -> float:
        """Peak memory bandwidth in bytes/s: ``memory_bandwidth_gbps * 1e9``."""
        return self.memory_bandwidth_gbps * 1e9

    @property
    def launch_overhead_s(self) -> float:
        """Fixed per-op overhead in seconds (0 when the target defines none)."""
        return (self.launch_overhead_us or 0.0) * 1e-6

    def has(self, precision: str) -> bool:
        return precision in self.peak_tflops

    def peak_flops(self, precision: str) -> float:
        """Dense peak of a precision path in FLOP/s (ops/s for int8): ``peak_tflops[p] * 1e12``.

        ``UsageError`` naming the target and the precisions it has when the path is absent.
        """
        try:
            return self.peak_tflops[precision] * 1e12
        except KeyError:
            raise UsageError(
                f"hardware '{self.id}' ({self.name}) has no {precision} path; "
                f"it has {', '.join(self.precisions)}"
            ) from None

    def ridge_point(self, precision: str) -> float:
        """Ridge point in FLOP/byte: peak FLOP/s of ``precision`` / bandwidth in bytes/s.

        E.g. A100 PCIe 40GB fp32: 19.5e12 / 1555e9 = 12.54 FLOP/byte.
        """
        return self.peak_flops(precision) / self.bandwidth

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``modeltui hardware --format json``."""
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "vendor": self.vendor,
            "kind": self.kind,
            "memory_bandwidth_gbps": self.memory_bandwidth_gbps,
            "memory_gb": self.memory_gb,
            "peak_tflops": {p: self.peak_tflops[p] for p in self.precisions},
            "source": self.source,
            "notes": self.notes,
            "uncertain": list(self.uncertain),
            "figure_notes": dict(self.figure_notes),
            "ridge_points": {p: self.ridge_point(p) for p in self.precisions},
            "l2_cache_mb": self.l2_cache_mb,
            "tdp_w": self.tdp_w,
            "origin": self.origin,
        }
        if self.launch_overhead_us is not None:
            d["launch_overhead_us"] = self.launch_overhead_us
        if self.interconnect_gbps is not None:
            d["interconnect_gbps"] = self.interconnect_gbps
        d["board_power_w"] = self.board_power_w
        d["board_power_source"] = self.board_power_source
        d["min_power_limit_w"] = self.min_power_limit_w
        d["min_power_limit_source"] = self.min_power_limit_source
        for name in ("interconnect_kind", "interconnect_max_gpus", "memory_type", "boost_clock_mhz",
                     "base_clock_mhz", "sustained_clock_mhz", "sustained_clock_source",
                     "fp16_accumulate_tflops", "l2_bandwidth_gbps", "device_target"):  # fmt: skip
            d[name] = getattr(self, name)
        return d


@dataclass
class HardwareCatalog:
    """The targets available now, plus warnings about user files in the config dir that were skipped."""

    targets: list[HardwareTarget]
    warnings: list[str] = field(default_factory=list)

    def ids(self) -> list[str]:
        return [t.id for t in self.targets]

    def get(self, target_id: str) -> HardwareTarget:
        """The target with this id (case-insensitive); ``UnknownHardwareError`` with suggestions."""
        wanted = target_id.strip().lower()
        for t in self.targets:
            if t.id == wanted:
                return t
        if wanted == "this-machine":  # derived at run time (metrics_core/perf/this_machine.py)
            from metrics_core.perf.this_machine import this_machine

            return this_machine()
        hints = suggest(wanted, self.ids()) or by_kind(wanted, self.targets)
        hint = f"; did you mean {', '.join(hints)}?" if hints else ""
        raise UnknownHardwareError(
            f"unknown hardware '{target_id}'{hint} (list targets with `modeltui hardware`)"
        )


def suggest(query: str, ids: list[str], n: int = 3) -> list[str]:
    """Up to ``n`` ids close to ``query``: ids containing it first, then difflib's closest matches."""
    q = query.lower()
    found = [i for i in ids if q and q in i]
    for i in difflib.get_close_matches(q, ids, n=n, cutoff=0.5):
        if i not in found:
            found.append(i)
    return found[:n]


def by_kind(query: str, targets: Iterable[HardwareTarget], n: int = 3) -> list[str]:
    """Up to ``n`` ids of targets whose kind names a word of ``query`` ("cpu-generic" -> the CPU
    targets, "laptop-gpu" -> the GPUs): for a query no id resembles."""
    words = {w for w in query.lower().replace("_", "-").split("-") if len(w) > 2}
    return [t.id for t in targets if words & set(t.kind.lower().split())][:n]


# ------------------------------------------------------------------------------------------ loading


def user_hardware_dir() -> Path:
    """``<config dir>/hardware``; the config dir is ``$MODELTUI_CONFIG_DIR`` or platformdirs' one."""
    base = os.environ.get(CONFIG_DIR_ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_config_dir("modeltui")
    return Path(base) / "hardware"


@lru_cache(maxsize=1)
def builtin_targets() -> tuple[HardwareTarget, ...]:
    """The built-in catalog (parsed once)."""
    text = BUILTIN_FILE.read_text(encoding="utf-8")
    return tuple(parse_hardware_text(text, "built-in hardware.toml", BUILTIN_ORIGIN))


def load_catalog(extra_files: Iterable[str | os.PathLike[str]] = ()) -> HardwareCatalog:
    """Built-in targets, then user-dir files (sorted by name), then ``extra_files``.

    A user-dir file with any error is skipped whole and reported in ``warnings``; an ``extra_files``
    file with an error raises ``HardwareFileError``. An id may be defined once only.
    """
    targets = list(builtin_targets())
    seen = {t.id: t.origin for t in targets}
    warnings: list[str] = []
    user_dir = user_hardware_dir()
    user_files = sorted(user_dir.glob("*.toml")) if user_dir.is_dir() else []
    for path in user_files:
        try:
            targets.extend(_load_file(path, seen))
        except HardwareFileError as exc:
            warnings.append(f"{exc} (file skipped)")
    loaded = {p.resolve() for p in user_files}
    for path in map(Path, extra_files):
        if path.resolve() not in loaded:  # the same file named twice (or also in the user dir) loads once
            loaded.add(path.resolve())
            targets.extend(_load_file(path, seen))
    return HardwareCatalog(targets, warnings)


def hardware_targets(extra_files: Iterable[str | os.PathLike[str]] = ()) -> list[HardwareTarget]:
    """Every available target (built-in, user dir, ``extra_files``); warnings are dropped here."""
    return load_catalog(extra_files).targets


def get_target(target_id: str, extra_files: Iterable[str | os.PathLike[str]] = ()) -> HardwareTarget:
    """One target by id; ``UnknownHardwareError`` with did-you-mean suggestions if absent."""
    return load_catalog(extra_files).get(target_id)


def _load_file(path: Path, seen: dict[str, str]) -> list[HardwareTarget]:
    """Parse one user file; register its ids in ``seen`` only if the whole file is valid."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HardwareFileError(f"hardware file {path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise HardwareFileError(f"hardware file {path}: cannot read (not UTF-8 text)") from None
    targets = parse_hardware_text(text, str(path), str(path))
    for t in targets:
        if t.id in seen:
            where = "a built-in target" if seen[t.id] == BUILTIN_ORIGIN else seen[t.id]
            raise HardwareFileError(
                f"hardware file {path}: target '{t.id}': field 'id' duplicates {where}; choose another id"
            )
    for t in targets:
        seen[t.id] = t.origin
    return targets


# --------------------------------------------------------------------------------------- validation


def parse_hardware_text(text: str, label: str, origin: str) -> list[HardwareTarget]:
    """Parse and validate one hardware TOML document; ``label`` names it in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise HardwareFileError(f"hardware file {label}: invalid TOML: {exc}") from None
    unknown = sorted(set(doc) - {"target"})
    if unknown:
        raise HardwareFileError(
            f"hardware file {label}: unknown top-level key '{unknown[0]}'; targets go in [[target]] tables"
        )
    raw = doc.get("target")
    if not isinstance(raw, list) or not raw:
        raise HardwareFileError(f"hardware file {label}: no targets; define at least one [[target]] table")
    targets: list[HardwareTarget] = []
    ids: set[str] = set()
    for n, entry in enumerate(raw, 1):
        t = validate_target(entry, f"hardware file {label}: target #{n}", origin)
        if t.id in ids:
            raise HardwareFileError(
                f"hardware file {label}: target '{t.id}': field 'id' is defined twice in this file"
            )
        ids.add(t.id)
        targets.append(t)
    return targets


def validate_target(entry: Any, where: str, origin: str) -> HardwareTarget:
    """One target table (a parsed ``[[target]]`` of a file, or the run-time ``this-machine`` target's
    figures) checked field by field; ``where`` starts every message. ``HardwareFileError``: one line naming
    the target and the field (a missing or unknown field, a figure of the wrong type or outside
    :data:`FIGURE_RANGE`)."""
    if not isinstance(entry, dict):
        raise HardwareFileError(f"{where}: must be a table")
    tid = entry.get("id")
    if isinstance(tid, str) and tid:
        where = where.rsplit(": target #", 1)[0] + f": target '{tid}'"

    def fail(name: str, msg: str) -> HardwareFileError:
        return HardwareFileError(f"{where}: field '{name}' {msg}")

    for name in entry:
        if name not in _FIELDS:
            close = difflib.get_close_matches(name, list(_FIELDS), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise fail(name, f"is not a known field{hint}")
    values: dict[str, Any] = {}
    for name, (required, kind) in _FIELDS.items():
        if name not in entry:
            if required:
                raise fail(name, "is missing")
            continue
        values[name] = _check(kind, name, entry[name], fail)
    if "board_power_w" in values and "board_power_source" not in values:
        raise fail("board_power_source", "is missing: say where board_power_w comes from")
    if "min_power_limit_w" in values and "min_power_limit_source" not in values:
        raise fail("min_power_limit_source", "is missing: say where min_power_limit_w comes from")
    if values.get("min_power_limit_w", 0) > values.get("board_power_w", float("inf")):
        raise fail(
            "min_power_limit_w",
            f"is {values['min_power_limit_w']:g}, above board_power_w {values['board_power_w']:g}",
        )
    if "sustained_clock_mhz" in values and "sustained_clock_source" not in values:
        raise fail("sustained_clock_source", "is missing: say where sustained_clock_mhz comes from")
    for low, high in (("base_clock_mhz", "boost_clock_mhz"), ("sustained_clock_mhz", "boost_clock_mhz")):
        if low in values and high in values and values[low] > values[high]:
            raise fail(low, f"is {values[low]:g}, above {high} {values[high]:g}")
    return HardwareTarget(
        id=values["id"],
        name=values["name"],
        vendor=values["vendor"],
        kind=values["kind"],
        memory_bandwidth_gbps=values["memory_bandwidth_gbps"],
        memory_gb=values["memory_gb"],
        peak_tflops=values["peak_tflops"],
        source=values["source"],
        notes=values.get("notes", ""),
        uncertain=tuple(values.get("uncertain", ())),
        figure_notes=values.get("figure_notes", {}),
        l2_cache_mb=values.get("l2_cache_mb"),
        tdp_w=values.get("tdp_w"),
        launch_overhead_us=values.get("launch_overhead_us"),
        interconnect_gbps=values.get("interconnect_gbps"),
        board_power_w=values.get("board_power_w"),
        board_power_source=values.get("board_power_source"),
        min_power_limit_w=values.get("min_power_limit_w"),
        min_power_limit_source=values.get("min_power_limit_source"),
        interconnect_kind=values.get("interconnect_kind"),
        interconnect_max_gpus=values.get("interconnect_max_gpus"),
        memory_type=values.get("memory_type"),
        device_target=values.get("device_target"),
        boost_clock_mhz=values.get("boost_clock_mhz"),
        base_clock_mhz=values.get("base_clock_mhz"),
        sustained_clock_mhz=values.get("sustained_clock_mhz"),
        sustained_clock_source=values.get("sustained_clock_source"),
        fp16_accumulate_tflops=values.get("fp16_accumulate_tflops"),
        l2_bandwidth_gbps=values.get("l2_bandwidth_gbps"),
        origin=origin,
    )


def is_plausible_figure(v: Any) -> bool:
    """True when ``v`` is a finite number inside :data:`FIGURE_RANGE` (for cached figures read back)."""
    return _is_number(v) and FIGURE_RANGE[0] <= v <= FIGURE_RANGE[1]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


#: The range a positive figure must lie in: wide enough for any real device (a microcontroller's MB/s to a
#: datacenter's PB/s), narrow enough that scaling (x 1e9 for GB/s, x 1e12 for TFLOP/s) and the ratios
#: built from them (ridge points, latencies) stay finite and normal floats.
FIGURE_RANGE: tuple[float, float] = (1e-6, 1e9)


def _check_range(name: str, v: float, fail: Any) -> None:
    low, high = FIGURE_RANGE
    if not low <= v <= high:
        raise fail(name, f"is {v:g}, outside the plausible range {low:g} to {high:g}")


def _check(kind: str, name: str, v: Any, fail: Any) -> Any:
    """Validate one field value of the given kind; return it normalised."""
    if kind == "id":
        if not isinstance(v, str) or not _ID_RE.match(v):
            raise fail(name, "must be lowercase kebab-case letters and digits, e.g. 'my-gpu'")
        return v
    if kind in ("str", "text"):
        if not isinstance(v, str) or (kind == "str" and not v.strip()):
            raise fail(name, "must be a non-empty string" if kind == "str" else "must be a string")
        return v
    if kind == "pos":
        if not _is_number(v) or v <= 0:
            raise fail(name, "must be a positive number")
        _check_range(name, v, fail)
        return v  # as written (int or float): JSON output repeats the data file's figures
    if kind == "nonneg":
        if not _is_number(v) or v < 0:
            raise fail(name, "must be a number >= 0")
        return v
    if kind == "peaks":
        if not isinstance(v, dict) or not v:
            raise fail(name, f"must be a table with at least one of {', '.join(PRECISIONS)}")
        peaks: dict[str, float] = {}
        for p, x in v.items():
            if p not in PRECISIONS:
                raise fail(f"{name}.{p}", f"is not a known precision (use {', '.join(PRECISIONS)})")
            if not _is_number(x) or x <= 0:
                raise fail(f"{name}.{p}", "must be a positive number (TFLOP/s; TOP/s for int8)")
            _check_range(f"{name}.{p}", x, fail)
            peaks[p] = x
        return {p: peaks[p] for p in PRECISIONS if p in peaks}
    if kind == "count":
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise fail(name, "must be a whole number >= 1")
        return v
    if kind == "interconnect":
        if v not in INTERCONNECT_KINDS:
            raise fail(name, f"must be one of {', '.join(INTERCONNECT_KINDS)}")
        return v
    if kind == "memtype":
        if v not in MEMORY_TYPES:
            raise fail(name, f"must be one of {', '.join(MEMORY_TYPES)}")
        return v
    if kind == "fieldlist":
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise fail(name, "must be a list of field names")
        for x in v:
            if x not in FIGURE_NAMES:
                raise fail(name, f"names unknown figure '{x}' (use {', '.join(FIGURE_NAMES)})")
        return v
    if kind == "fieldnotes":
        if not isinstance(v, dict) or not all(isinstance(x, str) for x in v.values()):
            raise fail(name, "must be a table of figure name = note string")
        for x in v:
            if x not in FIGURE_NAMES:
                raise fail(name, f"names unknown figure '{x}' (use {', '.join(FIGURE_NAMES)})")
        return dict(v)
    raise AssertionError(kind)  # pragma: no cover
