"""Mixture-of-experts layers that run every expert on every token, priced as top-k routing runs them.

transformers' Llama-4 (``Llama4TextMoe`` / ``Llama4TextExperts``) computes its routed experts as one
batched GEMM over all E experts: each token is copied E times, weighted by its router score (zero for the
experts it was not routed to) and multiplied by every expert's weights (``torch.bmm`` of ``(E, T, d)`` by
``(E, d, f)``). The trace is faithful to that code, but no serving engine runs it: vLLM, SGLang and
TensorRT-LLM gather each token's k routed copies and run only those (fused MoE kernels), so a token costs
k experts' FLOPs, as Mixtral's grouped GEMMs (``torch._grouped_mm``) already trace.

``dense_expert_modules`` finds such modules in a trace: a module whose dotted name has an ``experts``
component (transformers' convention for routed experts, as ``capture.params.active_params`` counts them)
and that runs a ``bmm`` whose weight operand has E leading rows. ``routed_top_k`` scales every op of such
a module (and its submodules, e.g. the activation) to the k routed copies: MACs, FLOPs, activation bytes
read and written x ``k / E``. Weight bytes are left as traced: a prefill of many tokens reads every
expert; a decode step reads only the experts its tokens reach (``perf.llm.moe_decode_records`` scales
the weight bytes of routed-expert GEMMs by the expected distinct experts, ``E (1 - (1 - k/E)^B)``).
The MoE block's own bookkeeping of the dense layout (the token copied E times, the score multiply, the sum
over E) is kept as traced: element-wise ops, small beside the expert GEMMs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from metrics_core.common.records import OpRecord

#: Ops that multiply a token batch by every expert's weights at once (the dense layout's GEMMs).
DENSE_EXPERT_GEMMS = frozenset({"bmm", "baddbmm"})


def is_routed_expert_module(module: str) -> bool:
    """Whether module ``module`` (dotted name) holds routed experts: a component named ``experts``."""
    return "experts" in module.split(".")


def dense_expert_modules(records: Sequence[OpRecord], experts: int) -> set[str]:
    """The modules of ``records`` that run all ``experts`` experts densely (see module docstring): the
    module of a ``bmm``/``baddbmm`` reading weights whose second operand has ``experts`` leading rows,
    inside a routed-experts module."""
    found = set()
    for r in records:
        if (
            r.op in DENSE_EXPERT_GEMMS
            and r.weight_bytes
            and is_routed_expert_module(r.module)
            and len(r.input_shapes) >= 2
            and r.input_shapes[-1][:1] == [experts]
        ):
            found.add(r.module)
    return found


def routed_top_k(records: Sequence[OpRecord], experts: int | None, top_k: int | None) -> list[OpRecord]:
    """``records`` with the ops of dense-expert modules (and their submodules) scaled to top-k routing:
    MACs, FLOPs, input and output bytes x ``top_k / experts`` (rounded); weight bytes unchanged. Records
    unchanged when the model is not a mixture of experts (``experts`` or ``top_k`` None/0) or runs its
    experts routed already (no dense-expert module)."""
    if not experts or not top_k or top_k >= experts:
        return list(records)
    modules = dense_expert_modules(records, experts)
    if not modules:
        return list(records)
    share = top_k / experts

    def inside(name: str) -> bool:
        return any(name == m or name.startswith(m + ".") for m in modules)

    out = []
    for r in records:
        if inside(r.module):
            r = replace(
                r,
                macs=round(r.macs * share),
                flops=None if r.flops is None else round(r.flops * share),
                input_bytes=round(r.input_bytes * share),
                output_bytes=round(r.output_bytes * share),
            )
        out.append(r)
    return out
