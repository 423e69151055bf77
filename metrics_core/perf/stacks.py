"""Serving stacks: how a runtime (vLLM, TensorRT-LLM, SGLang, llama.cpp, torch.compile, transformers eager)
changes the LLM estimate on a target.

Each stack is a small set of per-stack parameters in ``data/stacks.toml`` (with their sources and fit there),
never per model or per GPU:

- its kernels: ``execution`` (one kernel per aten op, or fused kernels: ``perf.fusion``), ``cuda_graphs``
  (no per-kernel host issue time), ``kernel_gap_us``, the share of the DRAM bandwidth its decode kernels
  reach per memory type (``bandwidth``: llama.cpp's GEMV kernels stream GDDR near its peak but reach half
  of HBM), its GEMM efficiency per compute precision (``gemm_scale`` x the generation's ``gemm``) and its
  attention kernels' (``attention_scale``): applied as ``perf.efficiency.Tuning`` to every kernel;
- its runtime: ``step_overhead_us`` per forward step (scheduling, sampling, detokenisation, Python: added to
  each decode step and to prefill) and ``request_overhead_us`` per request (added to TTFT);
- its collectives: ``custom_allreduce`` (one-shot / two-shot all-reduce for small messages, ``perf.comm``);
- ``max_batch``: the default largest batch (a max-throughput estimate takes the smaller of it and what fits).

``DEFAULT_STACK`` (vLLM) is what ``modeltui llm`` assumes unless told otherwise; every output names it. No
torch here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from metrics_core.common.errors import UsageError
from metrics_core.perf.efficiency import EXECUTIONS_OF_STACKS, Tuning, params_for
from metrics_core.perf.hardware import HardwareTarget

DATA_FILE = Path(__file__).parent / "data" / "stacks.toml"

#: The stack ``modeltui llm`` and the app's LLM view assume by default: a modern serving engine.
DEFAULT_STACK = "vllm"


@dataclass(frozen=True)
class Stack:
    """One serving stack's parameters (fields as in ``data/stacks.toml``; times in microseconds)."""

    id: str
    name: str
    execution: str
    cuda_graphs: bool
    kernel_gap_us: float
    step_overhead_us: float
    request_overhead_us: float
    custom_allreduce: bool
    max_batch: int
    source: str
    bandwidth: dict[str, float] = field(default_factory=dict)
    gemm_scale: dict[str, float] = field(default_factory=dict)
    attention_scale: float = 1.0

    def __hash__(self) -> int:
        return hash(self.id)

    @property
    def step_overhead_s(self) -> float:
        return self.step_overhead_us * 1e-6

    @property
    def request_overhead_s(self) -> float:
        return self.request_overhead_us * 1e-6

    def tuning(
        self, target: HardwareTarget, precision: str, dequant_flops_per_weight_byte: float = 0.0
    ) -> Tuning:
        """The ``Tuning`` of this stack's kernels on ``target`` computing in ``precision``: its kernel gap,
        bandwidth share on the target's memory type, GEMM and attention fractions (the generation's x its
        scales), CUDA graphs, and the weight format's dequantisation work."""
        p = params_for(target)
        overrides: dict[str, float] = {"kernel_gap_us": self.kernel_gap_us}
        if target.memory_type in self.bandwidth:
            overrides["bandwidth"] = self.bandwidth[target.memory_type]
        scale = self.gemm_scale.get(precision, 1.0)
        if scale != 1.0:
            overrides["gemm"] = min(1.0, p.gemm * scale)
        if self.attention_scale != 1.0:
            overrides["attention"] = min(1.0, p.attention * self.attention_scale)
        return Tuning(
            overrides=tuple(sorted(overrides.items())),
            host_issue=not self.cuda_graphs,
            dequant_flops_per_weight_byte=dequant_flops_per_weight_byte,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of the stack an estimate assumed."""
        return {
            "id": self.id,
            "name": self.name,
            "execution": self.execution,
            "cuda_graphs": self.cuda_graphs,
            "step_overhead_us": self.step_overhead_us,
            "request_overhead_us": self.request_overhead_us,
            "custom_allreduce": self.custom_allreduce,
            "max_batch": self.max_batch,
        }


def _fractions(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 2 for v in value.values()
    ):
        raise ValueError(f"{where}: must be a table of name = number in (0, 2]")
    return {str(k): float(v) for k, v in value.items()}


def _stack(sid: str, e: dict[str, Any]) -> Stack:
    where = f"{DATA_FILE.name}: stack '{sid}'"
    if e.get("execution") not in EXECUTIONS_OF_STACKS:
        raise ValueError(f"{where}: execution must be one of {', '.join(EXECUTIONS_OF_STACKS)}")
    return Stack(
        id=sid,
        name=str(e["name"]),
        execution=str(e["execution"]),
        cuda_graphs=bool(e["cuda_graphs"]),
        kernel_gap_us=float(e["kernel_gap_us"]),
        step_overhead_us=float(e["step_overhead_us"]),
        request_overhead_us=float(e["request_overhead_us"]),
        custom_allreduce=bool(e["custom_allreduce"]),
        max_batch=int(e["max_batch"]),
        source=str(e["source"]),
        bandwidth=_fractions(e.get("bandwidth", {}), f"{where}: bandwidth"),
        gemm_scale=_fractions(e.get("gemm_scale", {}), f"{where}: gemm_scale"),
        attention_scale=float(e.get("attention_scale", 1.0)),
    )


@lru_cache(maxsize=1)
def stacks() -> dict[str, Stack]:
    """Every stack of the data file, by id, in file order."""
    data = tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))
    return {sid: _stack(sid, e) for sid, e in data["stack"].items()}


#: The stack ids, in the data file's order.
def stack_ids() -> tuple[str, ...]:
    return tuple(stacks())


def get_stack(stack_id: str) -> Stack:
    """The stack ``stack_id`` (case-insensitive; ``llama.cpp`` = ``llama-cpp``); ``UsageError`` (one line,
    with suggestions and the known ids) otherwise."""
    key = stack_id.strip().lower().replace(".", "-").replace("_", "-")
    known = stacks()
    if key in known:
        return known[key]
    close = difflib.get_close_matches(key, list(known), n=2, cutoff=0.5)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise UsageError(f"unknown serving stack {stack_id!r}{hint} (choose one of {', '.join(known)})")
