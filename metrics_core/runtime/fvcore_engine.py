"""The ``fvcore`` engine: fvcore's ``FlopCountAnalysis`` on real CPU tensors, as an independent MAC check.

fvcore's conventions differ from ours, so only MACs are comparable:
- fvcore counts one "flop" per fused multiply-add, i.e. its "flops" are MACs. We report the sum over
  its MAC ops (conv, linear/addmm/matmul/bmm/einsum) as ``macs``; FLOPs, bytes and AI are not given.
- fvcore has no handler for scaled-dot-product attention: attention MACs are missing (ViT-B/16 shows
  ~11.3 GMACs instead of 17.6). Ops it skips are reported as uncovered, never as zero-cost silently.
- Its normalisation/pooling/upsample counts are by its own per-element rules; they are listed in
  ``extras["fvcore"]["by_operator"]`` for reference but not added to ``macs``.
"""

from __future__ import annotations

from typing import Any

from metrics_core.common.records import Coverage, ModelMetrics, ModelReport

#: fvcore operator names whose counts are multiply-accumulates.
FVCORE_MAC_OPS: frozenset[str] = frozenset(
    {"conv", "linear", "addmm", "matmul", "bmm", "einsum", "baddbmm", "mm", "conv_transpose"}
)


def run_fvcore(spec: Any, options: Any, report: ModelReport) -> ModelReport:
    """Analyse ``spec`` with fvcore on CPU tensors; fills ``report`` (MACs, params, fvcore extras)."""
    import logging
    import warnings

    import torch
    from fvcore.nn import FlopCountAnalysis

    from metrics_core.capture.inputs import example_inputs
    from metrics_core.capture.params import count_params
    from metrics_core.sources.build import build_model

    logging.getLogger("fvcore").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch.jit")
    model = build_model(spec, device="cpu", input_shape=options.input_shape, skip_weight_init=False)
    inputs = example_inputs(spec, options.batch_size, options.input_shape, device="cpu")
    with torch.no_grad():
        analysis = FlopCountAnalysis(model, inputs)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        by_op = dict(analysis.by_operator())
        total = int(analysis.total())
        unsupported = dict(analysis.unsupported_ops())
    macs = sum(v for k, v in by_op.items() if k in FVCORE_MAC_OPS)
    params, trainable = count_params(model)
    report.metrics = fvcore_metrics(params, trainable, macs, options.dtype)
    report.coverage = Coverage(
        uncovered={k.removeprefix("aten::"): v for k, v in unsupported.items()},
        covered_ops=0,
        total_ops=0,
    )
    report.extras["fvcore"] = {"total": total, "by_operator": by_op, "unsupported_ops": unsupported}
    return report


def fvcore_metrics(params: int, trainable: int, macs: int, dtype: str) -> ModelMetrics:
    """The metrics fvcore can give: sizes and MACs; everything needing bytes or FLOPs is None."""
    from metrics_core.common.dtypes import bytes_per_element

    return ModelMetrics(
        params=params,
        trainable_params=trainable,
        size_mb=params * bytes_per_element(dtype) / 1e6,
        size_mb_fp32=params * 4 / 1e6,
        size_mb_int8=params / 1e6,
        layers=None,
        max_width=None,
        macs=macs,
        flops=None,
        flops_per_param=None,
        params_per_mac=params / macs if macs else None,
        input_bytes=None,
        output_bytes=None,
        weight_bytes=None,
        memory_bytes=None,
        bytes_per_flop=None,
        avg_ai=None,
        aggregate_ai=None,
        compute_bound_pct=None,
        memory_bound_pct=None,
        classification="n/a",
    )
