"""Capture one training step on the meta device: forward + loss, backward (from autograd), optimizer step
(from the real ``torch.optim`` class), each op an ``OpRecord`` costed by the same rules as inference.

How the step is captured (``capture_step``):

- The model runs in training mode (dropout, batch statistics) with autograd on, under the same dispatch
  mode as inference (``capture.dispatch.OpCapture``), so the backward ops autograd dispatches are recorded
  like the forward's (their cost rules: ``costs.backward``; SDPA's backward is one fused op).
- The loss (``LOSSES``) is computed from the model's first output tensor with targets made on meta:
  ``cross-entropy`` (classes on dimension 1, or the last dimension of a ``(B, T, V)`` output: every token),
  ``next-token`` (a causal LM: positions 0..T-2 predict tokens 1..T-1), ``mse`` (against a target of the
  output's shape). Its ops belong to the forward phase.
- The optimizer (``OPTIMIZERS``) is the real ``torch.optim`` class (8-bit Adam / AdamW:
  ``capture.optim8bit``, bitsandbytes' state layout and fused kernels re-created for meta tensors). Its
  state is created by one unrecorded step first, so the recorded step is a steady-state one (no state
  initialisation). ``optimizer_impl`` (``OPTIMIZER_IMPLS``) picks PyTorch's implementation:
  ``foreach`` (the default of SGD / Adam / AdamW / Adafactor when the parameters are CUDA tensors, torch's
  ``optim.optimizer._default_to_fused_or_foreach``): one ``_foreach_*`` op per step of the update over
  every parameter tensor at once, one host call each launching a few multi-tensor kernels (the record's
  ``kernels``: ``costs.foreach.multi_tensor_launches``); ``for-loop`` (the default on CPU tensors):
  one op per step of the update per parameter tensor, one kernel each. The 8-bit optimizers have no
  ``foreach`` argument (bitsandbytes launches one fused kernel per tensor) and ignore it.
- Precision (``PRECISIONS``): ``fp32``; ``bf16`` (everything in bf16, no master weights); ``bf16-mixed`` /
  ``fp16-mixed`` (forward and backward in 16-bit, fp32 master weights and optimizer state: the optimizer
  step reads the 16-bit gradients, updates the fp32 master weights and state, and writes the 16-bit model
  weights back; the cast is recorded as one ``_to_copy`` per parameter tensor). Bytes follow the tensor's
  class: in the forward/backward capture every float tensor is at the compute precision; in the
  optimizer capture master weights and state are fp32 and gradients at the compute precision.
  ``fp16-mixed`` adds dynamic loss scaling with the ops ``torch.amp.GradScaler`` runs (``LOSS_SCALING``):
  the loss multiplied by the scale (forward phase), then in the optimizer phase one
  ``_amp_foreach_non_finite_check_and_unscale_`` over the gradients (per element: a multiply by 1/scale
  and a finiteness check, each gradient read and written in place) before the step and one
  ``_amp_update_scale_`` after it. GradScaler's host sync (``found_inf.item()``) and the step it skips on
  an overflow are not device work. (GradScaler itself refuses fp16 gradients: it is made for autocast's
  fp32 parameters; Megatron-LM runs the same op on its fp32 copies of the fp16 gradients. Here it runs on
  the 16-bit gradients the optimizer reads: the same FLOPs per element, 2-byte traffic.)
  Under ``torch.amp.autocast`` (PyTorch's own AMP) the parameters stay fp32 — they are the master weights —
  and so do the gradients, with 16-bit copies of the weights cast in every forward: AdamW then holds
  4 + 4 + 8 = 16 bytes per parameter, the same total as the recipe here (2 + 2 + 4 + 8) split differently.
- ``fp8-mixed`` (Transformer Engine's recipe, ``te.Linear`` in the blocks, ``DelayedScaling`` with the
  HYBRID format): bf16-mixed, with the linear layers inside the blocks (``fp8_linears``; their GEMMs: their
  forward ``addmm`` / ``mm`` and the backward ``mm`` inside the blocks, ``FP8_GEMM_OPS``) in fp8 on the
  target's fp8 path. Each such layer casts
  its input (E4M3) in the forward and its output gradient (E5M2) in the backward with one fused
  cast-transpose (``torch.ops.modeltui.fp8_cast_transpose``: the fp8 tensor and its transpose, the amax),
  and its weight once per optimizer step (the fp8 weight and its transpose are cached across
  micro-batches: 2 bytes per such parameter, in ``weights``, with the scaling state ``FP8_META_BYTES`` per
  layer). The GEMMs read 1-byte operands and write bf16; a saved activation that only those GEMMs read in
  the backward is kept as its fp8 copy (half the bytes). Embeddings, the head, attention (SDPA), norms and
  element-wise ops stay bf16 (TE's default; fp8 attention is not modelled).
- Activation checkpointing (``checkpointing=True``) wraps every block (``find_blocks``) in
  ``torch.utils.checkpoint`` (non-reentrant): the block keeps only its inputs for backward and runs its
  forward again during backward (recorded in the backward phase).
- Backward ops run outside any module's forward, so each is attributed to the *unit* (``find_units``)
  whose output gradient autograd reached last: a pre-hook on the ``grad_fn`` of each unit's output.

What is returned (``StepCapture``) is picklable (no torch objects): records by phase, the parameter
counts, the persistent bytes (weights, master weights, gradients, optimizer state) and the activation
lifetimes by category (``capture.step_memory``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from metrics_core.capture.dataflow import annotate_dataflow
from metrics_core.capture.dispatch import OpCapture
from metrics_core.capture.params import block_names, module_table, unit_names
from metrics_core.capture.peak_memory import peak_memory
from metrics_core.capture.step_memory import StepMemory, categorise, step_memory
from metrics_core.capture.storage import tensors_in
from metrics_core.capture.trace import Trace, _all_tensors
from metrics_core.capture.train_choices import (  # defined there, without torch
    FP8_PRECISIONS,
    LOSSES,
    OPTIMIZER_IMPLS,
    OPTIMIZERS,
    PRECISIONS,
)
from metrics_core.common.dtypes import ElementBits, bytes_per_element
from metrics_core.common.errors import UsageError
from metrics_core.common.records import OpRecord

#: The default loss per ``ModelSpec.task``; tasks not listed use ``mse``.
DEFAULT_LOSS: dict[str, str] = {
    "classification": "cross-entropy",
    "video": "cross-entropy",
    "segmentation": "cross-entropy",
    "causal-lm": "next-token",
    "seq2seq-lm": "cross-entropy",
    "speech-seq2seq": "cross-entropy",
}

#: Tasks a training step cannot be captured for, with the reason.
REFUSED_TASKS: dict[str, str] = {
    "detection": "detection models need box targets in training mode; not modelled",
    "quantized": "quantized models are inference-only",
    "optical_flow": "optical-flow models return a list of flow refinements whose loss is not modelled",
}

#: Transformer Engine's delayed scaling (``transformer_engine.common.recipe.DelayedScaling(margin=0,
#: fp8_format=Format.HYBRID, amax_history_len=1024, amax_compute_algo="max")``, its API docs since 1.x;
#: the amax is taken in the same pass as the cast: one read of the tensor) keeps, per fp8
#: GEMM module, a scale, an inverse scale and an amax history per fp8 tensor: three in the forward (input,
#: weight, output) and two in the backward (output gradient, input gradient), fp32.
FP8_AMAX_HISTORY = 1024
FP8_META_TENSORS = 5
FP8_META_BYTES = FP8_META_TENSORS * (FP8_AMAX_HISTORY + 2) * 4

#: What each ``--precision`` means: the recipe a step is captured under (shown in the output and README).
PRECISION_RECIPES: dict[str, str] = {
    "fp32": "fp32 weights, gradients, optimizer state and compute",
    "bf16": "pure bf16: weights, gradients and optimizer state in bf16, no fp32 master copy",
    "bf16-mixed": "bf16 model weights and gradients, fp32 master weights and optimizer state "
    "(Megatron-LM / DeepSpeed); no loss scaling",
    "fp16-mixed": "fp16 model weights and gradients, fp32 master weights and optimizer state "
    "(Megatron-LM / DeepSpeed), dynamic loss scaling (torch.amp.GradScaler's ops)",
    "fp8-mixed": "bf16-mixed with the blocks' Linear GEMMs in fp8 (Transformer Engine: E4M3 forward, E5M2 "
    "gradients, delayed per-tensor scaling), fp8 weight copies cached per step",
}

PHASES: tuple[str, ...] = ("forward", "backward", "optimizer")


#: GradScaler's defaults (``torch.amp.GradScaler``: ``init_scale=2.**16``, ``growth_factor=2.0``,
#: ``backoff_factor=0.5``, ``growth_interval=2000``): the values of the scale ops (they change no cost).
LOSS_SCALING: dict[str, float] = {
    "init_scale": 2.0**16,
    "growth_factor": 2.0,
    "backoff_factor": 0.5,
    "growth_interval": 2000,
}

#: Op categories a tensor-parallel split divides across GPUs (Megatron-LM's column / row-parallel Linear
#: layers and attention heads), when they run inside a block.
SPLIT_CATEGORIES: frozenset[str] = frozenset({"matmul", "attention"})


@dataclass
class StepCapture:
    """One captured training step (definitions: module docstring). Byte figures are per GPU of one
    replica, at the precisions of ``precision``.

    ``records`` are the forward (loss included), backward and optimizer ops in order; ``phase_ends`` the
    index one past each phase's last record. ``units`` are the pipeline-splittable parts in forward order
    (``find_units``) with ``unit_params`` parameters each; ``record_unit[i]`` is record ``i``'s unit (-1:
    none, e.g. the loss, the optimizer); ``unit_output_bytes[u]`` the activation bytes unit ``u`` hands to
    the next (its last forward op's output). ``optimizer_state_bytes`` counts state tensors on the
    parameters' device (host-side step counters excluded).
    """

    loss: str
    optimizer: str
    precision: str
    compute_dtype: str
    batch_size: int
    records: list[OpRecord]
    phase_ends: tuple[int, int, int]
    params: int
    trainable_params: int
    param_tensors: int
    weight_bytes: int
    master_bytes: int
    grad_bytes: int
    optimizer_state_bytes: int
    memory: StepMemory
    #: Peak bytes of the optimizer step's own temporaries (gradients, weights and state excluded).
    optimizer_temporary_bytes: int = 0
    units: list[str] = field(default_factory=list)
    unit_params: list[int] = field(default_factory=list)
    unit_output_bytes: list[int] = field(default_factory=list)
    record_unit: list[int] = field(default_factory=list)
    #: Activations saved for backward by the unit whose forward op wrote them (model inputs: unit 0).
    unit_saved_bytes: list[int] = field(default_factory=list)
    #: Tensor-parallel candidates (``perf.parallel_plans``): the records of matmul and attention ops
    #: inside blocks (forward and backward), the parameters those forward ops read, and the activations
    #: saved for backward they wrote.
    split_records: list[int] = field(default_factory=list)
    split_params: int = 0
    split_saved_bytes: int = 0
    #: Indices of the backward records that recompute checkpointed blocks.
    recomputed: list[int] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    checkpointing: bool = False
    #: Micro-batches per optimizer step the memory was simulated for (gradients held through forwards).
    accumulation: int = 1
    #: Whether the step scales the loss and unscales the gradients (``fp16-mixed``: ``LOSS_SCALING``).
    loss_scaling: bool = False
    #: What a tensor-parallel split must divide (``tensor_parallel_dims``; None: not found): the attention
    #: heads, the key/value heads (grouped-query attention) and the MLP's hidden width.
    attention_heads: int | None = None
    kv_heads: int | None = None
    mlp_width: int | None = None
    #: PyTorch's optimizer implementation the step ran (``OPTIMIZER_IMPLS``).
    optimizer_impl: str = "foreach"
    #: fp8 training (``fp8-mixed``): the records of the GEMMs that run in fp8 (their operand bytes already
    #: at 1 byte), and the bytes of the cached fp8 weight copies and scaling state (in ``weight_bytes``).
    fp8_records: list[int] = field(default_factory=list)
    fp8_weight_bytes: int = 0
    #: Parameters of the key and value projections inside the blocks (``k_proj`` / ``v_proj`` Linear
    #: layers): what a tensor-parallel group replicates when it is wider than the KV heads.
    kv_params: int = 0

    def phase(self, name: str) -> list[OpRecord]:
        """The records of one phase (``PHASES``)."""
        i = PHASES.index(name)
        lo = self.phase_ends[i - 1] if i else 0
        return self.records[lo : self.phase_ends[i]]

    @property
    def persistent_bytes(self) -> int:
        """Weights + master weights + optimizer state: held across steps."""
        return self.weight_bytes + self.master_bytes + self.optimizer_state_bytes


def check_choices(loss: str | None, optimizer: str, precision: str, optimizer_impl: str = "foreach") -> None:
    """``UsageError`` (one line, with the choices) for an unknown loss, optimizer, precision or optimizer
    implementation."""
    for value, choices, flag in (
        (loss, LOSSES, "--loss"),
        (optimizer, tuple(OPTIMIZERS), "--optimizer"),
        (precision, tuple(PRECISIONS), "--precision"),
        (optimizer_impl, OPTIMIZER_IMPLS, "--optimizer-impl"),
    ):
        if value is not None and value not in choices:
            raise UsageError(f"{flag} {value!r}: choose one of {', '.join(choices)}")


def default_loss(task: str) -> str:
    """The loss a task trains with by default (``DEFAULT_LOSS``; ``mse`` otherwise)."""
    return DEFAULT_LOSS.get(task, "mse")


def find_blocks(model: torch.nn.Module) -> list[str]:
    """The repeated blocks of ``model`` (``capture.params.block_names`` of its module table)."""
    return block_names(module_table(model))


def _inside(name: str, parent: str) -> bool:
    """Whether module ``name`` is ``parent`` or below it (dotted names; "" is the root)."""
    return parent == "" or name == parent or name.startswith(parent + ".")


def find_units(model: torch.nn.Module, blocks: Sequence[str]) -> list[str]:
    """The parts a pipeline splits between (``capture.params.unit_names`` of its module table)."""
    return unit_names(module_table(model), list(blocks))


def unit_of(module: str, units: Sequence[str]) -> int:
    """Index of the unit an op attributed to ``module`` belongs to (-1: none, e.g. the root's own ops)."""
    best, best_len = -1, -1
    for i, u in enumerate(units):
        if _inside(module, u) and len(u) > best_len:
            best, best_len = i, len(u)
    return best


@contextlib.contextmanager
def checkpointed(model: torch.nn.Module, blocks: Sequence[str], on_run: Any = None) -> Iterator[None]:
    """Run each block of ``blocks`` under non-reentrant ``torch.utils.checkpoint`` while active (the
    block's ``forward`` is wrapped on the instance and restored on exit). ``on_run(start)`` is called
    with True before and False after every run of a block's forward (the first, and the recomputation)."""
    from torch.utils.checkpoint import checkpoint

    modules = dict(model.named_modules())
    wrapped: list[torch.nn.Module] = []

    def wrap(block: torch.nn.Module) -> None:
        original = block.forward

        def run(*args: Any, **kwargs: Any) -> Any:
            block.forward = original  # the recomputation goes through the module: hooks, attribution
            if on_run is not None:
                on_run(True)
            try:
                return block(*args, **kwargs)
            finally:
                block.forward = forward
                if on_run is not None:
                    on_run(False)

        def forward(*args: Any, **kwargs: Any) -> Any:
            return checkpoint(run, *args, use_reentrant=False, preserve_rng_state=False, **kwargs)

        block.forward = forward
        wrapped.append(block)

    try:
        for name in blocks:
            wrap(modules[name])
        yield
    finally:
        for block in wrapped:
            block.__dict__.pop("forward", None)


def loss_of(output: Any, loss: str, integer_like: torch.Tensor | None = None) -> torch.Tensor:
    """The scalar loss of a model output (its first tensor; module docstring). ``UsageError`` when the
    output does not fit the loss (no tensor; cross-entropy on a 1-D output; next-token on a non-3-D)."""
    import torch.nn.functional as F

    y = next(iter(_all_tensors(output)), None) if not isinstance(output, torch.Tensor) else output
    if y is None or not y.is_floating_point():
        raise UsageError("the model returned no floating-point tensor to train on")
    shape = "x".join(map(str, y.shape))
    if loss == "mse":
        return F.mse_loss(y, torch.empty_like(y))
    if loss == "next-token":
        if y.dim() != 3 or y.shape[1] < 2:
            raise UsageError(
                f"--loss next-token needs (batch, tokens >= 2, vocab) logits; the output is {shape}"
            )
        logits = y[:, :-1].reshape(-1, y.shape[-1])
        return F.cross_entropy(logits, torch.empty(logits.shape[0], dtype=torch.long))
    if y.dim() < 2:
        raise UsageError(f"--loss cross-entropy needs (batch, classes, ...) logits; the output is {shape}")
    if y.dim() == 3:  # (B, T, V): every token
        logits = y.reshape(-1, y.shape[-1])
        return F.cross_entropy(logits, torch.empty(logits.shape[0], dtype=torch.long))
    target = torch.empty((y.shape[0], *y.shape[2:]), dtype=torch.long)
    return F.cross_entropy(y, target)


def capture_step(
    model: torch.nn.Module,
    args: tuple,
    kwargs: dict[str, Any],
    *,
    batch_size: int,
    loss: str,
    optimizer: str = "adamw",
    precision: str = "bf16-mixed",
    checkpointing: bool = False,
    accumulation: int = 1,
    input_values: Sequence[tuple[torch.Tensor, torch.Tensor]] = (),
    optimizer_impl: str = "foreach",
) -> StepCapture:
    """Capture one training step of ``model`` (on meta) fed ``model(*args, **kwargs)`` (module docstring).

    The model is put in training mode, its parameters converted to ``parameter_dtype(precision)`` (fp32
    master weights: an HF config's bf16 would make the optimizer state bf16) and given ``.grad`` and an
    optimizer; callers pass a model they own (the CLI builds one in a worker). Floating-point inputs are
    cast to the parameters' dtype. ``accumulation``: micro-batches per optimizer step
    (gradients then stay allocated through every forward, ``capture.step_memory``). Raises ``UsageError``
    for an unknown choice or a model without trainable parameters; whatever the model raises otherwise.
    """
    check_choices(loss, optimizer, precision, optimizer_impl)
    if isinstance(accumulation, bool) or not isinstance(accumulation, int) or accumulation < 1:
        raise UsageError(f"gradient accumulation must be a positive integer, got {accumulation!r}")
    compute, mixed = PRECISIONS[precision]
    scaling = uses_loss_scaling(precision)
    fp8 = precision in FP8_PRECISIONS
    stored = parameter_dtype(precision)
    model.to(stored)  # the optimizer's state takes its parameters' dtype (bytes: ElementBits, not this)
    args = _cast_floats(args, stored)
    kwargs = {k: _cast_floats(v, stored) for k, v in kwargs.items()}
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise UsageError(
            f"{type(model).__name__} has no trainable parameters (none with requires_grad): nothing to train"
        )
    blocks = find_blocks(model)
    units = find_units(model, blocks)
    fp8_layers = fp8_linears(model, blocks) if fp8 else []
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        cap, fwd_end, grad_keys, recomputed = _forward_backward(
            model,
            args,
            kwargs,
            loss,
            compute,
            units,
            blocks if checkpointing else (),
            input_values,
            scaling,
            fp8_layers,
        )
        opt = _make_optimizer(optimizer, trainable, optimizer_impl)
        warm_up = OpCapture(model, compute)  # creates the state: the recorded step is a steady-state one
        warm_up.float_scalar_stand_in = 1.0
        with warm_up:
            opt.step()
        opt_records, state_bytes, opt_temporaries = _optimizer_step(
            model, opt, trainable, compute, mixed, scaling, [m.weight for m in fp8_layers]
        )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    st = cap.storage
    n = len(cap.records)
    in_block = {i for i, u in enumerate(units) if u in set(blocks)}
    unit_index = [unit_of(r.module, units) for r in cap.records]
    fp8_ids = {id(layer) for layer in fp8_layers}
    fp8_names = {name for name, m in model.named_modules() if id(m) in fp8_ids}
    fp8_gemms = [
        i
        for i, r in enumerate(cap.records)
        if fp8_names and r.op in FP8_GEMM_OPS and unit_index[i] in in_block
        and (i >= fwd_end or r.module in fp8_names)
    ]  # fmt: skip
    sizes = _fp8_saved_sizes(st.events, st.sizes, fwd_end, set(fp8_gemms)) if fp8 else st.sizes
    trace = Trace(cap.records, None, st.events, sizes, cap.input_keys, tuple(grad_keys))
    memory = step_memory(trace, fwd_end, grad_keys, accumulation > 1)
    annotate_dataflow(cap.records, st.events)
    for r in opt_records:  # numbered after the backward, their data flow too
        r.index += n
        r.reads_from = [j + n if j >= 0 else -1 for j in r.reads_from or []]
    records = [*cap.records, *opt_records]
    per = bytes_per_element(compute)
    n_trainable = sum(p.numel() for p in trainable)
    seen: set[int] = set()
    weights = 0
    for t in (*model.parameters(), *model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            weights += t.numel() * (per if t.is_floating_point() else t.element_size())
    unit_index += [-1] * len(opt_records)
    unit_saved = [0] * len(units)
    split = [unit_index[i] in in_block and r.category in SPLIT_CATEGORIES for i, r in enumerate(records[:n])]
    split_saved = 0
    for key, kind in categorise(trace, fwd_end, grad_keys).items():
        if kind == "saved":
            u = unit_index[st.writer[key]] if key in st.writer else 0
            unit_saved[max(u, 0)] += sizes[key]
            if key in st.writer and split[st.writer[key]]:
                split_saved += sizes[key]
    split_params = sum(r.weight_bytes for r, s in zip(records[:fwd_end], split, strict=False) if s) // per
    for i in fp8_gemms:  # operands read in fp8 (1 byte), the output written in bf16
        r = records[i]
        r.input_bytes, r.weight_bytes, r.dtype = r.input_bytes // 2, r.weight_bytes // 2, "fp8"
    fp8_params = sum(m.weight.numel() for m in fp8_layers)
    weights += 2 * fp8_params + FP8_META_BYTES * len(fp8_layers)  # cached fp8 weight + transpose, scaling
    heads, kv_heads, mlp_width = tensor_parallel_dims(model, blocks)
    return StepCapture(
        loss=loss,
        optimizer=optimizer,
        optimizer_impl="foreach" if opt.defaults.get("foreach") else "for-loop",
        precision=precision,
        compute_dtype=compute,
        batch_size=batch_size,
        records=records,
        phase_ends=(fwd_end, n, len(records)),
        params=sum(p.numel() for p in {id(p): p for p in model.parameters()}.values()),
        trainable_params=n_trainable,
        param_tensors=len(trainable),
        weight_bytes=weights,
        master_bytes=4 * n_trainable if mixed else 0,
        grad_bytes=per * n_trainable,
        optimizer_state_bytes=state_bytes,
        memory=memory,
        optimizer_temporary_bytes=opt_temporaries,
        units=units,
        unit_params=_unit_params(model, units),
        unit_output_bytes=_unit_outputs(records[:fwd_end], unit_index[:fwd_end], len(units)),
        record_unit=unit_index,
        unit_saved_bytes=unit_saved,
        split_records=[i for i, s in enumerate(split) if s],
        split_params=split_params,
        split_saved_bytes=split_saved,
        recomputed=recomputed,
        blocks=blocks,
        checkpointing=checkpointing,
        accumulation=accumulation,
        loss_scaling=scaling,
        attention_heads=heads,
        kv_heads=kv_heads,
        mlp_width=mlp_width,
        kv_params=_kv_projection_params(model, blocks),
        fp8_records=fp8_gemms,
        fp8_weight_bytes=2 * fp8_params + FP8_META_BYTES * len(fp8_layers),
    )


#: The ops of a Linear layer's GEMMs: its forward (``addmm`` / ``mm``) and, in the backward, its input and
#: weight gradients (``mm``); attention's batched matmuls (``bmm``) and SDPA are not fp8 GEMMs.
FP8_GEMM_OPS: frozenset[str] = frozenset({"addmm", "mm"})


def fp8_linears(model: torch.nn.Module, blocks: Sequence[str]) -> list[torch.nn.Module]:
    """The linear layers inside ``blocks`` (what ``te.Linear`` replaces in fp8 training): ``nn.Linear`` and
    transformers' ``Conv1D`` (GPT-2's linear layers, a 2-D ``weight``)."""
    return [
        m
        for name, m in model.named_modules()
        if (isinstance(m, torch.nn.Linear) or type(m).__name__ == "Conv1D")
        and getattr(m, "weight", None) is not None
        and m.weight.dim() == 2
        and any(_inside(name, b) for b in blocks)
    ]


def _fp8_saved_sizes(
    events: Sequence[tuple[tuple[int, ...], tuple[int, ...]]],
    sizes: dict[int, int],
    forward_end: int,
    fp8_gemms: set[int],
) -> dict[int, int]:
    """``sizes`` with every storage written in the forward and read in the backward only by fp8 GEMMs
    halved: Transformer Engine saves the GEMM's fp8 copy (1 byte) for backward, not the bf16 tensor."""
    readers: dict[int, set[int]] = {}
    born: dict[int, int] = {}
    for i, (reads, allocs) in enumerate(events):
        for k in allocs:
            born.setdefault(k, i)
        if i >= forward_end:
            for k in reads:
                readers.setdefault(k, set()).add(i)
    out = dict(sizes)
    for k, who in readers.items():
        if born.get(k, -1) < forward_end and who <= fp8_gemms:
            out[k] = sizes[k] // 2
    return out


#: Attribute names of the attention heads, key/value heads and MLP width (Hugging Face configs, timm and
#: torchvision modules, GPT-2's ``n_head`` / ``n_inner``).
HEAD_ATTRS: tuple[str, ...] = ("num_attention_heads", "num_heads", "n_head", "n_heads")
KV_HEAD_ATTRS: tuple[str, ...] = ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "n_head_kv")
MLP_ATTRS: tuple[str, ...] = ("intermediate_size", "n_inner", "ffn_dim", "d_ff", "ffn_hidden_size", "mlp_dim")


#: Names of the key / value projection Linear layers (Llama, Mistral, Qwen, Gemma ... in transformers).
KV_PROJECTIONS: tuple[str, ...] = ("k_proj", "v_proj")


def _kv_projection_params(model: torch.nn.Module, blocks: Sequence[str]) -> int:
    """Parameters of the ``KV_PROJECTIONS`` Linear layers inside ``blocks``."""
    return sum(
        p.numel()
        for name, m in model.named_modules()
        if name.rsplit(".", 1)[-1] in KV_PROJECTIONS and any(_inside(name, b) for b in blocks)
        for p in m.parameters()
    )


def _int_attr(obj: Any, names: Sequence[str]) -> int | None:
    for name in names:
        value = getattr(obj, name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def tensor_parallel_dims(model: torch.nn.Module, blocks: Sequence[str]) -> tuple[int | None, ...]:
    """``(attention heads, key/value heads, MLP width)`` that a tensor-parallel split of ``model``'s blocks
    must divide (``perf.parallel_plans.tensor_parallel_check``); None where not found.

    From a Hugging Face ``model.config`` first (``num_attention_heads`` / ``n_head``,
    ``num_key_value_heads`` (default: the heads), ``intermediate_size`` / ``n_inner`` (GPT-2's None: 4 x
    ``n_embd``) ...), else from the modules inside the blocks: the ``num_heads`` of an attention module
    (``nn.MultiheadAttention``, timm's ``Attention``) and, as the MLP width, the largest ``out_features`` of
    a ``Linear`` outside the attention modules (the MLP's first layer)."""
    config = getattr(model, "config", None)
    heads = _int_attr(config, HEAD_ATTRS) if config is not None else None
    if heads is not None:
        kv = _int_attr(config, KV_HEAD_ATTRS) or heads
        width = _int_attr(config, MLP_ATTRS)
        if width is None and getattr(config, "n_inner", 0) is None and _int_attr(config, ("n_embd",)):
            width = 4 * config.n_embd  # GPT-2: n_inner None means 4 x n_embd
        return heads, kv, width
    modules = dict(model.named_modules())
    inside = [(n, m) for n, m in modules.items() if any(_inside(n, b) for b in blocks)]
    attention = [n for n, m in inside if _int_attr(m, HEAD_ATTRS) is not None]
    heads = next((_int_attr(modules[n], HEAD_ATTRS) for n in attention), None)
    kv = next((k for n in attention if (k := _int_attr(modules[n], KV_HEAD_ATTRS))), heads)
    widths = [
        m.out_features
        for n, m in inside
        if isinstance(m, torch.nn.Linear) and not any(_inside(n, a) for a in attention)
    ]
    return heads, kv, max(widths, default=None)


def uses_loss_scaling(precision: str) -> bool:
    """Whether ``precision`` trains with dynamic loss scaling: fp16 compute (fp16's 5-bit exponent
    underflows small gradients; bf16 has fp32's range and needs none)."""
    return PRECISIONS[precision][0] == "fp16"


def meta_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` whose parameters and buffers are meta tensors of the same shapes, dtypes and
    ``requires_grad`` (``copy.deepcopy`` with every tensor pre-mapped, so no weight is copied): the
    Python API trains the copy, never the user's model."""
    import copy

    memo: dict[int, Any] = {}
    for p in model.parameters():
        memo[id(p)] = torch.nn.Parameter(torch.empty_like(p, device="meta"), requires_grad=p.requires_grad)
    for b in model.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    return copy.deepcopy(model, memo)


def train_step(
    model: torch.nn.Module,
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    *,
    loss: str = "cross-entropy",
    optimizer: str = "adamw",
    precision: str = "bf16-mixed",
    checkpointing: bool = False,
    accumulation: int = 1,
    optimizer_impl: str = "foreach",
    memory_format: str | None = None,
) -> StepCapture:
    """The Python API: one training step of a user's model instance (any device) fed
    ``model(*args, **kwargs)`` (tensors, batch first). The step runs on a meta copy (``meta_copy``): the
    model, its weights, gradients and training flag are left as they were. Integer inputs of up to
    ``capture.values.MAX_ELEMENTS`` elements keep their values (for code that reads them). Returns the
    ``StepCapture``; ``metrics_core.perf.training.estimate_training`` puts it on a target. ``UsageError``
    for an unknown choice; whatever the model raises otherwise. ``optimizer_impl``: ``OPTIMIZER_IMPLS``
    (default ``foreach``, PyTorch's choice for CUDA parameters). ``memory_format``: ``"channels_last"``
    lays the copy's 4-D / 5-D parameters and the 4-D / 5-D floating-point inputs out channels-last
    (``capture.layouts.to_memory_format``; ``UsageError`` when no input is 4-D / 5-D), as ``modeltui train
    --memory-format channels-last`` does; ``"contiguous"`` or None: as the model and inputs are laid out."""
    from metrics_core.capture.layouts import to_memory_format
    from metrics_core.capture.values import shadowable
    from metrics_core.common.input_spec import canonical_memory_format

    kwargs = kwargs or {}
    values: list[tuple[torch.Tensor, torch.Tensor]] = []

    def to_meta(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            meta = v.detach().to("meta")
            if shadowable(v):
                values.append((meta, v.detach().cpu()))
            return meta
        if isinstance(v, (list, tuple)):
            return type(v)(to_meta(x) for x in v)
        return v

    fmt = canonical_memory_format(memory_format)
    copy = meta_copy(model)
    meta_args = tuple(to_meta(a) for a in args)
    meta_kwargs = {k: to_meta(v) for k, v in kwargs.items()}
    meta_args, meta_kwargs = to_memory_format(copy, meta_args, meta_kwargs, fmt, type(model).__name__)
    first = next(iter(tensors_in([*meta_args, *meta_kwargs.values()])), None)
    return capture_step(
        copy,
        meta_args,
        meta_kwargs,
        batch_size=first.shape[0] if first is not None and first.dim() else 1,
        loss=loss,
        optimizer=optimizer,
        precision=precision,
        checkpointing=checkpointing,
        accumulation=accumulation,
        input_values=values,
        optimizer_impl=optimizer_impl,
    )


def _forward_backward(
    model: torch.nn.Module,
    args: tuple,
    kwargs: dict[str, Any],
    loss: str,
    compute: str,
    units: Sequence[str],
    checkpoint_blocks: Sequence[str],
    input_values: Sequence[tuple[torch.Tensor, torch.Tensor]],
    loss_scaling: bool = False,
    fp8_layers: Sequence[torch.nn.Module] = (),
) -> tuple[OpCapture, int, set[int], list[int]]:
    """Forward, loss and backward under one ``OpCapture``: the capture, the forward phase's end, the
    storage keys of the parameters' gradients and the indices of the records that recompute checkpointed
    blocks. ``loss_scaling``: the loss is multiplied by GradScaler's scale before backward
    (``GradScaler.scale``: ``outputs * scale``). ``fp8_layers``: their input is cast to fp8 before their
    forward and their output gradient in the backward (``fp8_cast_transpose``)."""
    modules = dict(model.named_modules())
    handles = []
    cap = OpCapture(model, compute)
    backward = [False]
    recomputed: list[int] = []
    opened: list[int] = []

    def on_run(start: bool) -> None:  # the records of a block's forward run during backward: recomputed
        if not backward[0]:
            return
        if start:
            opened.append(len(cap.records))
        elif opened:
            recomputed.extend(range(opened.pop(), len(cap.records)))

    def labeller(name: str, module: torch.nn.Module) -> Any:
        def hook(_m: Any, _args: Any, out: Any) -> None:
            first = next((t for t in _all_tensors(out) if t.grad_fn is not None), None)
            if first is not None:
                label = (name, type(module).__name__)
                first.grad_fn.register_prehook(lambda _g: cap.attribution.set_outer(*label))

        return hook

    for name in units:
        handles.append(modules[name].register_forward_hook(labeller(name, modules[name])))
    if fp8_layers:
        from metrics_core.capture import optim8bit  # noqa: F401  (defines torch.ops.modeltui)

        def cast_input(_m: Any, inputs: tuple) -> None:
            torch.ops.modeltui.fp8_cast_transpose(inputs[0], False)

        def cast_gradient(grad: torch.Tensor) -> None:
            torch.ops.modeltui.fp8_cast_transpose(grad, True)

        def on_output(_m: Any, _inputs: Any, out: torch.Tensor) -> None:
            if out.requires_grad:
                out.register_hook(cast_gradient)

        for layer in fp8_layers:
            handles.append(layer.register_forward_pre_hook(cast_input))
            handles.append(layer.register_forward_hook(on_output))
    scale = torch.full((), LOSS_SCALING["init_scale"], device="meta") if loss_scaling else None
    try:
        with torch.device("meta"), checkpointed(model, checkpoint_blocks, on_run), cap:
            for tensor, value in input_values:
                cap.shadows.set(tensor, value)
            feed = [*tensors_in(args), *tensors_in(kwargs.values())]
            cap.input_keys = tuple(cap.storage.key_of(t) for t in feed)
            out = model(*args, **kwargs)
            value = loss_of(out, loss)
            if loss_scaling:
                value = value * scale
            fwd_end = len(cap.records)
            del out
            backward[0] = True
            _run_backward(value)
            cap.attribution.set_outer("", type(model).__name__)
    finally:
        for h in handles:
            h.remove()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    grad_keys = {cap.storage.key_of(g) for g in grads}
    return cap, fwd_end, grad_keys, sorted(set(recomputed))


def parameter_dtype(precision: str) -> torch.dtype:
    """The dtype the parameters the optimizer updates are held in: fp32 for ``fp32`` and the mixed
    precisions (the master weights), bf16 for ``bf16``."""
    compute, mixed = PRECISIONS[precision]
    return torch.float32 if mixed or compute == "fp32" else torch.bfloat16


def _cast_floats(value: Any, dtype: torch.dtype) -> Any:
    """Floating-point tensors of an argument (tensor, or a list / tuple of them) in ``dtype``."""
    if isinstance(value, torch.Tensor):
        return value.to(dtype) if value.is_floating_point() else value
    if isinstance(value, (list, tuple)):
        return type(value)(_cast_floats(v, dtype) for v in value)
    return value


def _run_backward(loss: torch.Tensor) -> None:
    """``loss.backward()`` straight into the autograd engine: through ``Tensor.backward`` the call would
    pass the capture's torch-function mode, which is off while its own handler runs, so the recomputation
    of checkpointed blocks would not see SDPA as one op (torch's ``_engine_run_backward``, what
    ``torch.autograd.backward`` calls, with the same seed gradient: ones)."""
    from torch.autograd.graph import _engine_run_backward

    _engine_run_backward((loss,), (torch.ones_like(loss),), False, False, (), allow_unreachable=True,
                         accumulate_grad=True)  # fmt: skip


def _make_optimizer(
    name: str, params: list[torch.nn.Parameter], impl: str = "foreach"
) -> torch.optim.Optimizer:
    """The optimizer ``name`` (``OPTIMIZERS``) over ``params`` with PyTorch's implementation ``impl``
    (``OPTIMIZER_IMPLS``; set explicitly: on meta tensors PyTorch's own default would be the for-loop)."""
    cls_name, kwargs = OPTIMIZERS[name]
    if hasattr(torch.optim, cls_name):
        cls = getattr(torch.optim, cls_name)
    else:
        from metrics_core.capture import optim8bit

        cls = getattr(optim8bit, cls_name)
    extra = {"foreach": impl == "foreach"} if "foreach" in cls.__init__.__code__.co_varnames else {}
    return cls(params, **kwargs, **extra)


def _optimizer_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    compute: str,
    mixed: bool,
    loss_scaling: bool = False,
    fp8_weights: Sequence[torch.Tensor] = (),
) -> tuple[list[OpRecord], int, int]:
    """One recorded optimizer step: its records, the optimizer state bytes (state tensors on the host,
    PyTorch's step counters, excluded) and the peak bytes of its temporaries. ``loss_scaling``: the
    gradients are unscaled first and the scale updated after (``GradScaler.unscale_`` / ``update``:
    module docstring). ``fp8_weights``: cast to fp8 (with their transposes) once the 16-bit model weights are
    written back (Transformer Engine's weight cache, once per step)."""
    grads = [p.grad for p in params if p.grad is not None]  # unused parameters get none (nor an update)
    # each state tensor once (8-bit Adam's quantisation maps are shared by every parameter)
    unique = {id(t): t for p in params for t in opt.state[p].values() if isinstance(t, torch.Tensor)}
    state = list(unique.values())
    on_device = [t for t in state if t.device == params[0].device]
    state_bytes = sum(t.numel() * t.element_size() for t in on_device)
    grad_bits = 8 * bytes_per_element(compute)
    master_bits = 32 if mixed else grad_bits
    bits = ElementBits(activations=master_bits, weights=master_bits, kv=grad_bits)
    cap = OpCapture(model, compute, bits, kv_tensors=grads)  # the "kv" class prices the gradients here
    cap.skip_host_ops = True  # PyTorch's step counters are CPU tensors: host arithmetic
    cap.float_scalar_stand_in = 1.0  # Adafactor's step size from a parameter norm: a value, not work
    for t in on_device:
        cap.storage.mark_weight(t)
    device = params[0].device
    if loss_scaling:  # GradScaler's scalars, made before the capture (their creation is not step work)
        scale = torch.full((), LOSS_SCALING["init_scale"], device=device)
        inv_scale = torch.full((), 1 / LOSS_SCALING["init_scale"], device=device)
        found_inf = torch.zeros((), device=device)
        tracker = torch.zeros((), dtype=torch.int32, device=device)
    with cap:
        if loss_scaling:  # GradScaler.unscale_: one foreach op per device and dtype of the gradients
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, inv_scale)
            unscale = cap.records[-1]
            unscale.output_bytes = sum(cap.storage.nbytes(g) for g in grads)  # written in place
        opt.step()
        if loss_scaling:  # GradScaler.update
            torch._amp_update_scale_(
                scale, tracker, found_inf, LOSS_SCALING["growth_factor"], LOSS_SCALING["backoff_factor"],
                int(LOSS_SCALING["growth_interval"]),
            )  # fmt: skip
        casts_from = len(cap.records)
        written: dict[int, torch.Tensor] = {}
        if mixed:  # the fp32 master weights written back to the 16-bit model weights
            low = torch.float16 if compute == "fp16" else torch.bfloat16
            for p in params:
                written[id(p)] = p.detach().to(low)
        casts_end = len(cap.records)
        for w in fp8_weights:  # the 16-bit weight cast to fp8 with its transpose, once per step
            torch.ops.modeltui.fp8_cast_transpose(written.get(id(w), w), False)
    per = bytes_per_element(compute)
    for r in cap.records[casts_from:casts_end]:
        n = 1
        for d in r.output_shape:
            n *= d
        r.output_bytes = n * per
        r.dtype = compute
    for r, w in zip(cap.records[casts_end:], fp8_weights, strict=True):
        r.input_bytes = w.numel() * per  # reads the 16-bit model weight
        r.dtype = "fp8"
    st = cap.storage
    grad_keys = {st.key_of(g) for g in grads}
    sizes = {k: (0 if k in grad_keys else v) for k, v in st.sizes.items()}
    temporaries = peak_memory(Trace(cap.records, None, st.events, sizes, (), ())).peak_activation_bytes
    annotate_dataflow(cap.records, st.events)  # reads_from, numbered within the optimizer phase
    return cap.records, state_bytes, temporaries


def _unit_params(model: torch.nn.Module, units: Sequence[str]) -> list[int]:
    """Parameters of each unit (a parameter shared by two units counts in the first)."""
    modules = dict(model.named_modules())
    seen: set[int] = set()
    out = []
    for name in units:
        n = 0
        for p in modules[name].parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        out.append(n)
    return out


def _unit_outputs(records: Sequence[OpRecord], unit_index: Sequence[int], n_units: int) -> list[int]:
    """Output bytes of each unit's last forward op (what a pipeline stage ending there sends on)."""
    out = [0] * n_units
    for r, u in zip(records, unit_index, strict=True):
        if u >= 0:
            out[u] = r.output_bytes
    return out
