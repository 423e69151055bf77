"""Plain dataclasses for analysis results: one op record, one model report.

Reports serialise to JSON-compatible dicts and back losslessly (``to_dict`` / ``from_dict``); the CLI,
the TUI, the cache and the exporters all consume these same objects. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: Op categories, in the order they are usually listed.
CATEGORIES: tuple[str, ...] = (
    "conv",
    "matmul",
    "attention",
    "norm",
    "activation",
    "elementwise",
    "pooling",
    "reduction",
    "fft",
    "data-movement",
)


@dataclass
class OpRecord:
    """One aten op of a forward pass with its cost.

    ``input_bytes`` counts activation tensors read, ``weight_bytes`` tensors read that are parameters or
    buffers (or views of them), ``output_bytes`` tensors written. ``covered`` is False when no cost rule
    exists for ``op``: its MACs/FLOPs are then unknown (recorded as 0) and the model's coverage says so.
    """

    index: int
    module: str
    module_type: str
    op: str
    category: str
    input_shapes: list[list[int]]
    output_shape: list[int]
    dtype: str
    macs: int
    flops: int | None
    input_bytes: int
    output_bytes: int
    weight_bytes: int
    covered: bool = True
    #: Bytes of activations alive right after this op (filled by peak-memory analysis; None if not run).
    live_bytes: int | None = None
    #: Dataflow: for each activation tensor read (in argument order), the index of the record that last
    #: wrote its storage, -1 for a model input (``metrics_core.capture.dataflow``; None: not captured).
    reads_from: list[int] | None = None
    #: GPU kernels the op launches when more than one: a multi-tensor ``_foreach_*`` op is one host call
    #: that launches this many chunked kernels (``costs.foreach.multi_tensor_launches``); None: one.
    kernels: int | None = None
    #: Copies the op's eager kernel makes inside itself, which no op trace shows (a non-contiguous input
    #: made contiguous first; one more pass per further dim of a multi-dim roll: ``costs.eager_copies``; a
    #: convolution's operand not in its kernel's memory format: ``capture.layouts.conv_copies``):
    #: the bytes of each, read once and written once, one launch each. Not in the op's own traffic
    #: (``bytes``); the eager execution model adds them. None: none.
    hidden_copies: list[int] | None = None
    #: A convolution (or its ``convolution_backward``) that runs its channels-last (NHWC) kernel: its input
    #: or weight arrives laid out channels-last (``capture.layouts``), so cuDNN runs no NCHW transforms
    #: around it (an operand that is not channels-last is copied to it first: ``hidden_copies``).
    channels_last: bool = False

    @property
    def bytes(self) -> int:
        """Total memory traffic of the op: input + output + weight bytes."""
        return self.input_bytes + self.output_bytes + self.weight_bytes

    @property
    def ai(self) -> float:
        """Arithmetic intensity: FLOPs / (input + output + weight bytes); 0 when the op moves no bytes."""
        total = self.bytes
        return self.flops / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ai"] = self.ai
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OpRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Coverage:
    """Which ops had a cost rule. ``uncovered`` maps aten op name -> number of occurrences;
    ``rule_errors`` maps an op whose user cost rule failed to the rule's error (one line)."""

    uncovered: dict[str, int] = field(default_factory=dict)
    covered_ops: int = 0
    total_ops: int = 0
    rule_errors: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.uncovered

    @property
    def status(self) -> str:
        """``"full"`` when every op has a cost rule, else ``"partial"``."""
        return "full" if self.complete else "partial"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "uncovered": dict(self.uncovered),
            "covered_ops": self.covered_ops,
            "total_ops": self.total_ops,
            **({"rule_errors": dict(self.rule_errors)} if self.rule_errors else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Coverage:
        return cls(
            uncovered=dict(d.get("uncovered", {})),
            covered_ops=d.get("covered_ops", 0),
            total_ops=d.get("total_ops", 0),
            rule_errors=dict(d.get("rule_errors", {})),
        )


@dataclass
class ModelMetrics:
    """The model-level metric set (definitions: ``metrics_core.report.metrics``; README table).

    None means undefined (a ratio over zero) or not measured by the engine (fvcore gives no bytes).
    """

    params: int
    trainable_params: int
    size_mb: float
    size_mb_fp32: float
    size_mb_int8: float
    layers: int | None
    max_width: int | None
    macs: int
    flops: int | None
    flops_per_param: float | None
    params_per_mac: float | None
    input_bytes: int | None
    output_bytes: int | None
    weight_bytes: int | None
    memory_bytes: int | None
    bytes_per_flop: float | None
    avg_ai: float | None
    aggregate_ai: float | None
    compute_bound_pct: float | None
    memory_bound_pct: float | None
    classification: str
    #: Parameters used per token by a mixture-of-experts model (shared + top-k of E experts); None for
    #: dense models (every parameter is active).
    active_params: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelMetrics:
        names = {f.name for f in fields(cls)}
        return cls(**{k: d[k] for k in names if k in d})


METRIC_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ModelMetrics))


@dataclass
class ModelReport:
    """Everything known about one model analysed with one set of options.

    ``error`` is set (and ``metrics`` is None) when the model could not be analysed; reports with an
    error are still returned so that a comparison can show the failure in the model's row.
    """

    model: str
    input_shape: list[int]
    batch_size: int
    dtype: str
    engine: str = "meta"
    task: str = "classification"
    family: str = ""
    metrics: ModelMetrics | None = None
    coverage: Coverage = field(default_factory=Coverage)
    reference: dict[str, Any] | None = None
    records: list[OpRecord] = field(default_factory=list)
    error: str | None = None
    #: Extra results by later analyses (e.g. peak memory); JSON-compatible values only.
    extras: dict[str, Any] = field(default_factory=dict)
    #: What the forward pass was fed: ``[{"name", "dtype", "shape"}]``, full (batched) shapes; ``name``
    #: is None for a positional argument.
    inputs: list[dict[str, Any]] = field(default_factory=list)
    #: With ``error``: ``usage`` (a bad name or option), ``unsupported`` (a model the analysis refuses),
    #: ``data-dependent`` (an op needs tensor values), ``model`` (the model's own code failed).
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.metrics is not None

    def summary_dict(self) -> dict[str, Any]:
        """The flat JSON object of ``modeltui compare --format json`` (metric names as keys)."""
        d: dict[str, Any] = {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "inputs": self.inputs,
        }
        if self.metrics is not None:
            d.update(self.metrics.to_dict())
        else:
            d.update({name: None for name in METRIC_NAMES})
        d["coverage"] = self.coverage.to_dict() if self.error is None else None
        d["reference"] = self.reference
        if self.error is not None:
            d["error"] = self.error
            d["error_kind"] = self.error_kind
        return d

    def to_dict(self) -> dict[str, Any]:
        """Lossless serialisation (records included), used by the cache."""
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "batch_size": self.batch_size,
            "dtype": self.dtype,
            "engine": self.engine,
            "task": self.task,
            "family": self.family,
            "metrics": self.metrics.to_dict() if self.metrics is not None else None,
            "coverage": self.coverage.to_dict(),
            "reference": self.reference,
            "records": [_record_row(r) for r in self.records],
            "record_fields": list(_RECORD_FIELDS),
            "error": self.error,
            "extras": self.extras,
            "inputs": self.inputs,
            "error_kind": self.error_kind,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelReport:
        fields_ = d.get("record_fields", list(_RECORD_FIELDS))
        return cls(
            model=d["model"],
            input_shape=list(d["input_shape"]),
            batch_size=d["batch_size"],
            dtype=d["dtype"],
            engine=d.get("engine", "meta"),
            task=d.get("task", "classification"),
            family=d.get("family", ""),
            metrics=ModelMetrics.from_dict(d["metrics"]) if d.get("metrics") is not None else None,
            coverage=Coverage.from_dict(d.get("coverage", {})),
            reference=d.get("reference"),
            records=[OpRecord(**dict(zip(fields_, row, strict=True))) for row in d.get("records", [])],
            error=d.get("error"),
            extras=d.get("extras", {}),
            inputs=d.get("inputs", []),
            error_kind=d.get("error_kind"),
        )


_RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(OpRecord))


def _record_row(r: OpRecord) -> list[Any]:
    """Records are stored as rows (not dicts) to keep cached reports compact."""
    return [getattr(r, name) for name in _RECORD_FIELDS]
