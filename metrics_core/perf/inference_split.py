"""Which model needs more than one GPU for inference, and how to split it: a layer-wise (pipeline) split.

The model's units (``capture.params.unit_names``: each repeated block, and each module outside the
blocks, in module order) are split into ``gpus`` contiguous stages minimising the slowest stage's estimated
time (``perf.parallel_plans.split_stages``, the linear-partition programme the training plans use). Per
stage, all estimates:

- ``weight_bytes``: the parameters its units hold (``capture.params.module_table``) at the analysis dtype;
- ``activation_bytes``: the largest activation bytes alive after any of its ops (``OpRecord.live_bytes``:
  the whole forward's live set at that op, so an upper bound where a skip connection crosses a boundary);
- ``memory_bytes``: their sum; it ``fits`` when within the target's memory (``memory_gb``);
- ``time_s``: its ops' estimated times; ops outside every unit (the model's own forward) belong to the
  stage of the next unit (of the last one at the end);
- ``transfer_s``: sending the output of its last op to the next GPU (``point_to_point_time``).

One request passes every stage in turn (``latency_s``: stage times plus transfers); a stream of batches is
pipelined, one per slowest stage (``throughput_per_s``: batch / (slowest stage + its transfer)).
``min_gpus`` is the fewest GPUs whose balanced split fits, searched up to ``MAX_GPUS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from metrics_core.capture.params import block_names, unit_names
from metrics_core.common.dtypes import bytes_per_element
from metrics_core.common.errors import UsageError
from metrics_core.perf.parallel_plans import point_to_point_time, split_stages, target_link

if TYPE_CHECKING:
    from metrics_core.common.records import ModelReport
    from metrics_core.perf.hardware import HardwareTarget
    from metrics_core.perf.roofline import ModelEstimate

#: The most GPUs the search for ``min_gpus`` tries (two nodes of 8).
MAX_GPUS = 16


@dataclass(frozen=True)
class Stage:
    """One GPU's part of the model (module docstring; bytes, seconds)."""

    index: int
    first_unit: str
    last_unit: str
    units: int
    params: int
    weight_bytes: int
    activation_bytes: int
    memory_bytes: int
    fits: bool
    time_s: float
    transfer_s: float


@dataclass(frozen=True)
class InferenceSplit:
    """A model split over ``gpus`` GPUs of ``target`` (module docstring). ``estimate`` is always True."""

    model: str
    target: str
    gpus: int
    stages: tuple[Stage, ...]
    capacity_bytes: int
    fits: bool
    latency_s: float
    throughput_per_s: float
    min_gpus: int | None
    batch_size: int
    units: int
    estimate: bool = True
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stages"] = [asdict(s) for s in self.stages]
        d["notes"] = list(self.notes)
        return d


def _units_of(report: ModelReport) -> list[str]:
    table = report.extras.get("modules")
    if not table:
        raise UsageError(f"{report.model}: the report has no module table (analyse it again with --no-cache)")
    return unit_names(table, block_names(table))


def _unit_index(module: str, units: Sequence[str]) -> int:
    best, best_len = -1, -1
    for i, u in enumerate(units):
        if (module == u or module.startswith(u + ".")) and len(u) > best_len:
            best, best_len = i, len(u)
    return best


def split_inference(
    report: ModelReport, estimate: ModelEstimate, target: HardwareTarget, gpus: int | None = None
) -> InferenceSplit:
    """Split ``report``'s model over ``gpus`` GPUs of ``target`` (None: the fewest that fit, ``min_gpus``).

    ``estimate`` is the report's ``perf.roofline.ModelEstimate`` on ``target`` (its per-op times weigh the
    units). ``UsageError`` when ``gpus`` is not a positive integer, exceeds the model's units, or is above 1
    on a target without an interconnect figure."""
    if gpus is not None and (isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1):
        raise UsageError(f"--gpus must be a positive integer, got {gpus!r}")
    units = _units_of(report)
    table = report.extras["modules"]
    n = len(units)
    # per-unit figures; records outside every unit join the next unit (the last at the end)
    owner = [_unit_index(r.module, units) for r in report.records]
    pending: list[int] = []
    time = [0.0] * n
    act = [0] * n
    last_out = [0] * n
    for i, (r, u) in enumerate(zip(report.records, owner, strict=True)):
        if u < 0:
            pending.append(i)
            continue
        for j in [*pending, i]:
            time[u] += estimate.ops[j].time_s
            act[u] = max(act[u], report.records[j].live_bytes or 0)
        pending = []
        last_out[u] = r.output_bytes
    if pending and n:
        for j in pending:
            time[-1] += estimate.ops[j].time_s
            act[-1] = max(act[-1], report.records[j].live_bytes or 0)
    element = bytes_per_element(report.dtype)
    params = [
        sum(p for name, (_, p) in table.items() if name == u or name.startswith(u + ".")) for u in units
    ]
    root_params = table.get("", [None, 0])[1]
    capacity = int(target.memory_gb * 1e9)

    def build(k: int) -> tuple[Stage, ...]:
        link = target_link(target) if k > 1 else None
        stages = []
        for s, (a, b) in enumerate(split_stages(time, k)):
            p = sum(params[a:b]) + (root_params if s == 0 else 0)
            weights = p * element
            peak = max(act[a:b], default=0)
            out = last_out[b - 1] if s < k - 1 else 0
            transfer = point_to_point_time(out, link) if link is not None and s < k - 1 else 0.0
            stages.append(Stage(s, units[a], units[b - 1], b - a, p, weights, peak, weights + peak,
                                weights + peak <= capacity, sum(time[a:b]), transfer))  # fmt: skip
        return tuple(stages)

    def fits(k: int) -> bool:
        return all(st.fits for st in build(k))

    if n == 0:
        raise UsageError(f"{report.model}: no module units to split")
    min_gpus = next((k for k in range(1, min(n, MAX_GPUS) + 1) if fits(k)), None)
    chosen = gpus if gpus is not None else (min_gpus or 1)
    if chosen > n:
        raise UsageError(f"{report.model} has {n} units to split: --gpus {chosen} is more than it can use")
    stages = build(chosen)
    slowest = max(st.time_s + st.transfer_s for st in stages)
    notes = []
    if min_gpus is None:
        notes.append(
            f"does not fit on {min(n, MAX_GPUS)} GPUs split by layers: shard its layers (tensor parallel)"
        )
    return InferenceSplit(
        model=report.model,
        target=target.id,
        gpus=chosen,
        stages=stages,
        capacity_bytes=capacity,
        fits=all(st.fits for st in stages),
        latency_s=sum(st.time_s + st.transfer_s for st in stages),
        throughput_per_s=report.batch_size / slowest if slowest else 0.0,
        min_gpus=min_gpus,
        batch_size=report.batch_size,
        units=n,
        notes=tuple(notes),
    )
