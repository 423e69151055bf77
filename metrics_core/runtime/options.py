"""``AnalysisOptions``: how to analyse a model (batch size, inputs, dtype, engine, cache, HF options)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from metrics_core.common.dtypes import DTYPES
from metrics_core.common.errors import UsageError
from metrics_core.common.input_spec import (
    MAX_SAMPLE_ELEMENTS,
    InputSpec,
    canonical_memory_format,
    check_input_specs,
    check_sample_size,
)

ENGINES: tuple[str, ...] = ("meta", "fvcore")

#: Attention implementations a Hugging Face model can be built with: ``sdpa`` (one fused attention op,
#: flash-style bytes: the default) or ``eager`` (the score matrix written out as matmuls and softmax).
ATTENTIONS: tuple[str, ...] = ("sdpa", "eager")


#: The largest batch size analysed (2**20): beyond it element counts of large models leave the range the
#: cost rules and byte counts are checked for, and no deployment runs such a batch in one pass.
MAX_BATCH_SIZE = 1 << 20


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse.

    - ``batch_size``: samples per forward pass (prepended to every input's per-sample shape).
    - ``input_shape``: per-sample shape of the one ``float`` input (``--input-shape``); None: native.
    - ``inputs``: explicit ``InputSpec`` list (``--input``), replacing the model's default inputs.
    - ``inputs_fn``: ``pkg.mod:fn`` returning ``(args, kwargs)`` of tensors for a batch size (``--inputs``).
    - ``seq_len``: tokens per sample of token models (``--seq-len``; None: 128).
    - ``dtype``: bytes per floating-point element; ``engine``: ``meta`` capture or ``fvcore``.
    - ``dtype_from_model``: ``dtype`` was not chosen (the CLI without ``--dtype``): a model whose
      floating-point parameters are float16 or bfloat16 is analysed in that dtype (its inputs, bytes and
      report say fp16/bf16), others in ``dtype``. The built-in sources build float32 models, so their
      cached entries are unaffected.
    - ``hf_class``: transformers class to build ``hf:`` models with (None: by config, see
      ``metrics_core.sources.hf_source``); ``attention``: ``sdpa`` or ``eager`` for ``hf:`` models.
    - ``timeout_s``: seconds one model's analysis may take in a worker process before the worker is
      killed and the model's row says "timed out" (``--timeout``; None: no limit). Not part of cache keys.
    - ``rules``: modules of users' cost rules imported before the capture (``--rules pkg.mod``; each
      calls ``metrics_core.register_cost_rule`` when imported). Results with rules are not cached.
    - ``memory_format``: ``contiguous`` (NCHW, as PyTorch builds a model) or ``channels_last``
      (``--memory-format channels-last``): the model's 4-D / 5-D parameters and buffers and its 4-D / 5-D
      floating-point inputs are laid out channels-last before the capture
      (``capture.layouts.to_memory_format``), so convolutions are timed as cuDNN's NHWC kernels. Part of the
      cache key; the meta engine only (fvcore counts FLOPs, which no layout changes).
    """

    batch_size: int = 1
    dtype: str = "fp32"
    dtype_from_model: bool = False
    input_shape: tuple[int, ...] | None = None
    engine: str = "meta"
    use_cache: bool = True
    inputs: tuple[InputSpec, ...] | None = None
    inputs_fn: str | None = None
    seq_len: int | None = None
    hf_class: str | None = None
    attention: str = "sdpa"
    timeout_s: float | None = None
    rules: tuple[str, ...] = ()
    memory_format: str = "contiguous"

    def validated(self) -> AnalysisOptions:
        """These options, checked; ``UsageError`` with a one-line message otherwise."""
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"batch size must be a positive integer, got {self.batch_size!r}")
        if self.batch_size > MAX_BATCH_SIZE:
            raise UsageError(
                f"--batch-size {self.batch_size:,} is above the largest analysed, {MAX_BATCH_SIZE:,}"
            )
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.attention not in ATTENTIONS:
            raise UsageError(f"unknown attention {self.attention!r}; choose one of {', '.join(ATTENTIONS)}")
        if self.seq_len is not None and (
            isinstance(self.seq_len, bool) or not isinstance(self.seq_len, int) or self.seq_len < 1
        ):
            raise UsageError(f"sequence length must be a positive integer, got {self.seq_len!r}")
        if self.seq_len is not None and self.seq_len > MAX_SAMPLE_ELEMENTS:
            raise UsageError(
                f"--seq-len {self.seq_len:,} is above the largest analysed, {MAX_SAMPLE_ELEMENTS:,}"
            )
        if self.timeout_s is not None and not (0 < self.timeout_s < float("inf")):
            raise UsageError(f"--timeout must be a positive number of seconds, got {self.timeout_s!r}")
        rules = (self.rules,) if isinstance(self.rules, str) else tuple(self.rules or ())
        for module in rules:
            if not isinstance(module, str) or not all(part.isidentifier() for part in module.split(".")):
                raise UsageError(
                    f"--rules {module!r}: expected an importable module name such as mypkg.cost_rules"
                )
        given = [
            n
            for n, v in (
                ("--input-shape", self.input_shape),
                ("--input", self.inputs),
                ("--inputs", self.inputs_fn),
            )
            if v
        ]
        if len(given) > 1:
            raise UsageError(f"give one of {', '.join(given)}: each one says what the model is fed")
        memory_format = canonical_memory_format(self.memory_format)
        if memory_format != "contiguous" and self.engine != "meta":
            raise UsageError(
                f"--memory-format {memory_format.replace('_', '-')} applies to the meta capture: "
                f"--engine {self.engine} counts FLOPs on real tensors, which no memory layout changes"
            )
        out = replace(self, rules=rules) if rules != self.rules else self
        if memory_format != self.memory_format:
            out = replace(out, memory_format=memory_format)
        if self.inputs is not None:
            out = replace(out, inputs=check_input_specs(self.inputs) or None)
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
                raise UsageError(
                    f"input shape must be positive integers per sample (e.g. 3 224 224), got {shape}"
                )
            check_sample_size(shape, f"--input-shape {' '.join(map(str, shape))}")
            out = replace(out, input_shape=shape)
        return out
