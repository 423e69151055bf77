"""Model-level metrics: pure functions from op records (+ parameter counts) to ``ModelMetrics``.

Each metric is defined once, here (README has the same table):

============== =====================================================================================
params          number of parameter elements (shared parameters counted once; buffers excluded)
trainable       parameters with ``requires_grad``
size_mb         params x bytes per element of the analysis dtype / 1e6 (decimal MB);
                ``size_mb_fp32`` (4 B) and ``size_mb_int8`` (1 B) alongside
layers          number of recorded ops: every aten op of the forward pass except views/metadata
max_width       largest channel count of any activation: dim 1 of conv and batch/group-norm feature
                maps and of feature maps concatenated along channels (``cat`` on dim 1: SqueezeNet's
                fire modules, DenseNet's blocks), last dim of Linear (mm/addmm, grouped expert GEMMs)
                and layer-norm activations; the op that writes the model's output (the classifier
                head) is excluded
macs            multiply-accumulates of conv, matmul and attention ops
flops           floating-point operations of all ops (2 x MACs for MAC ops, per-element rules for others)
flops_per_param flops / params
params_per_mac  params / macs
*_bytes         input (activations read), output (written), weight (parameters/buffers read) bytes,
                summed over ops; memory_bytes is their sum
bytes_per_flop  memory_bytes / flops
avg_ai          unweighted mean of per-op AI (FLOPs / bytes) over ops with FLOPs > 0 (the seed's)
aggregate_ai    flops / memory_bytes (what a roofline needs)
compute_bound%  share of ops with FLOPs > 0 whose AI > 50
memory_bound%   share of ops with FLOPs > 0 whose AI < 10
classification  from avg_ai: > 50 compute-bound, 10-50 balanced, < 10 memory-bound
============== =====================================================================================
"""

from __future__ import annotations

from collections.abc import Sequence

from metrics_core.common.dtypes import bytes_per_element
from metrics_core.common.records import OpRecord

COMPUTE_BOUND_AI = 50.0
MEMORY_BOUND_AI = 10.0

#: (category, op) -> which dim of which tensor holds the channel count, for ``max_width``.
_WIDTH_FROM_OUTPUT_DIM1 = frozenset({"conv"})
_WIDTH_FROM_INPUT_DIM1_OPS = frozenset(
    {
        "native_batch_norm",
        "_native_batch_norm_legit",
        "_native_batch_norm_legit_no_training",
        "native_group_norm",
    }
)
_WIDTH_FROM_OUTPUT_LAST_OPS = frozenset({"mm", "addmm", "linear", "_grouped_mm"})
_WIDTH_FROM_INPUT_LAST_OPS = frozenset({"native_layer_norm"})
_CONCAT_OPS = frozenset({"cat", "concat", "concatenate"})


def _concat_dim(r: OpRecord) -> int | None:
    """The dim a concatenation joined its inputs on: the one dim where the output differs from its first
    input (None when that is not exactly one dim, e.g. a cat of one tensor)."""
    if not r.input_shapes or len(r.input_shapes[0]) != len(r.output_shape):
        return None
    dims = [d for d, (a, b) in enumerate(zip(r.input_shapes[0], r.output_shape, strict=True)) if a != b]
    return dims[0] if len(dims) == 1 else None


def ratio(num: float, den: float) -> float | None:
    """``num / den``, or None when the denominator is 0 (undefined, not zero)."""
    return num / den if den else None


def classify(avg_ai: float | None) -> str:
    """The seed's classification of a model by its average AI."""
    if avg_ai is None:
        return "n/a"
    if avg_ai > COMPUTE_BOUND_AI:
        return "compute-bound"
    if avg_ai >= MEMORY_BOUND_AI:
        return "balanced"
    return "memory-bound"


def op_width(r: OpRecord) -> int:
    """Channel count of the activation an op reads or writes (0 when the op says nothing about it).

    A concatenation along dim 1 of feature maps (rank >= 3) is a layer whose output has the joined channel
    count: SqueezeNet 1.0's fire modules concatenate two 256-channel expand convolutions into 512 channels,
    the seed's "maximum number of channels in any layer". Concatenations on other dims (tokens, rotary
    halves) say nothing about channels."""
    if r.category in _WIDTH_FROM_OUTPUT_DIM1 and len(r.output_shape) >= 3:
        return r.output_shape[1]
    if r.op in _WIDTH_FROM_INPUT_DIM1_OPS and r.input_shapes and len(r.input_shapes[0]) >= 3:
        return r.input_shapes[0][1]
    if r.op in _WIDTH_FROM_OUTPUT_LAST_OPS and r.output_shape:
        return r.output_shape[-1]
    if r.op in _WIDTH_FROM_INPUT_LAST_OPS and r.input_shapes and r.input_shapes[0]:
        return r.input_shapes[0][-1]
    if r.op in _CONCAT_OPS and len(r.output_shape) >= 3 and _concat_dim(r) == 1:
        return r.output_shape[1]
    return 0


def max_width(records: Sequence[OpRecord], head_index: int | None) -> int:
    """Largest ``op_width`` over the records, excluding the op that writes the model output."""
    return max((op_width(r) for r in records if r.index != head_index), default=0)


def compute_metrics(
    records: Sequence[OpRecord],
    params: int,
    trainable_params: int,
    dtype: str,
    head_index: int | None = None,
) -> dict:
    """All model metrics as a dict keyed by ``ModelMetrics`` field names."""
    macs = sum(r.macs for r in records)
    flops = sum(r.flops for r in records)
    input_bytes = sum(r.input_bytes for r in records)
    output_bytes = sum(r.output_bytes for r in records)
    weight_bytes = sum(r.weight_bytes for r in records)
    memory = input_bytes + output_bytes + weight_bytes
    ais = [r.ai for r in records if r.flops > 0]
    avg_ai = sum(ais) / len(ais) if ais else None
    return {
        "params": params,
        "trainable_params": trainable_params,
        "size_mb": params * bytes_per_element(dtype) / 1e6,
        "size_mb_fp32": params * 4 / 1e6,
        "size_mb_int8": params * 1 / 1e6,
        "layers": len(records),
        "max_width": max_width(records, head_index),
        "macs": macs,
        "flops": flops,
        "flops_per_param": ratio(flops, params),
        "params_per_mac": ratio(params, macs),
        "input_bytes": input_bytes,
        "output_bytes": output_bytes,
        "weight_bytes": weight_bytes,
        "memory_bytes": memory,
        "bytes_per_flop": ratio(memory, flops),
        "avg_ai": avg_ai,
        "aggregate_ai": ratio(flops, memory),
        "compute_bound_pct": 100 * sum(a > COMPUTE_BOUND_AI for a in ais) / len(ais) if ais else None,
        "memory_bound_pct": 100 * sum(a < MEMORY_BOUND_AI for a in ais) / len(ais) if ais else None,
        "classification": classify(avg_ai),
    }
