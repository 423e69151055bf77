"""Build a transformers model from a config dict (called by ``build.build_model`` on the meta device,
weight initialisation skipped). Imports transformers; runs in the analysis workers only."""

from __future__ import annotations

from typing import Any

from metrics_core.common.errors import UnsupportedModelError, UsageError, one_line_error

#: The attention implementation modeltui registers with transformers for model classes that refuse
#: ``sdpa`` (Gemma-2: logit soft-capping; gpt-oss: attention sinks; Mamba: no attention at all). It runs
#: attention as ONE fused ``scaled_dot_product_attention`` op, as serving engines' fused kernels do
#: (FlashAttention-2 and FlashInfer apply the soft cap, FlashAttention-3 / vLLM the sinks, inside the
#: kernel). The soft cap's element-wise work is added to the attention op's FLOPs by ``llm``
#: (``runtime.llm_capture.SOFTCAP_FLOPS_PER_SCORE``); the sinks' one extra softmax term per query row is
#: not counted (1 / keys of the softmax work).
FUSED_ATTENTION = "modeltui_fused"

#: Keyword arguments transformers' attention callers pass that ``sdpa_attention_forward`` refuses or
#: ignores: the soft cap (Gemma-2), the sinks (gpt-oss ``s_aux``).
_FUSED_ONLY_KWARGS: tuple[str, ...] = ("softcap", "s_aux", "sinks")


def _fused_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> Any:
    """transformers' SDPA attention, with the keywords only a fused kernel takes dropped (see
    ``FUSED_ATTENTION``). Shapes as ``sdpa_attention_forward``: ``(B, H, L, E)`` in, ``(B, L, H, Ev)`` out."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    for name in _FUSED_ONLY_KWARGS:
        kwargs.pop(name, None)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def _register_fused(transformers: Any) -> None:
    interface = transformers.AttentionInterface
    if FUSED_ATTENTION not in interface._global_mapping:
        interface.register(FUSED_ATTENTION, _fused_attention)


def build(config: dict[str, Any], model_class: str, attn_implementation: str = "sdpa") -> Any:
    """``model_class`` (a transformers Auto class or any model class name) built from ``config``.

    The KV cache is switched off (``use_cache=False``): a forward pass is one pass over the sequence, with
    no cache tensors. ``attn_implementation`` ``sdpa`` routes attention through
    ``F.scaled_dot_product_attention`` (one fused op; for a class that refuses ``sdpa``, the same op
    through ``FUSED_ATTENTION``); ``eager`` writes it out. ``UsageError`` for a model type or class this
    transformers does not know, or a config it refuses (one line).
    """
    try:
        import transformers
    except ImportError:
        raise UnsupportedModelError(
            "hf: models need the transformers package; install it with: pip install 'modeltui[hf]'"
        ) from None
    fields = dict(config)
    model_type = fields.pop("model_type")
    fields.pop("transformers_version", None)
    if model_type not in transformers.CONFIG_MAPPING:
        import difflib

        close = difflib.get_close_matches(
            model_type, list(transformers.CONFIG_MAPPING.keys()), n=3, cutoff=0.6
        )
        hint = f"did you mean {', '.join(repr(c) for c in close)}? Else " if close else ""
        raise UsageError(
            f"transformers {transformers.__version__} does not know model_type {model_type!r}; {hint}check "
            "the config or upgrade transformers"
        )
    try:
        cfg = transformers.AutoConfig.for_model(model_type, **fields)
    except Exception as exc:  # transformers validates the architecture fields (head counts ...)
        raise UsageError(f"invalid {model_type} config: {_validation_message(exc)}") from None
    cfg.use_cache = False
    cls = getattr(transformers, model_class, None)
    if not isinstance(cls, type) or not hasattr(cls, "from_config") and not hasattr(cls, "config_class"):
        raise UsageError(f"transformers has no model class {model_class!r} (--hf-class)")
    if attn_implementation == "sdpa" and not _supports_sdpa(transformers, cls, cfg):
        _register_fused(transformers)
        attn_implementation = FUSED_ATTENTION
    if hasattr(cls, "from_config"):
        return cls.from_config(cfg, attn_implementation=attn_implementation)
    cfg._attn_implementation = attn_implementation
    return cls(cfg)


def _validation_message(exc: BaseException) -> str:
    """The reason in one of transformers' config validation errors, without the wrapper classes' text
    (``StrictDataclassClassValidationError: Class validation error for validator 'x': ValueError: ...``)."""
    import re

    text = one_line_error(exc)
    match = re.search(r"validator '[^']+': (?:\w+Error: )?(.*)$", text)
    return match.group(1) if match else text


def _supports_sdpa(transformers: Any, cls: type, cfg: Any) -> bool:
    """Whether the class ``cls`` (an Auto class resolved through ``cfg``) accepts ``sdpa``: its
    ``_supports_sdpa``. True when it cannot be told (transformers then decides)."""
    target = cls
    mapping = getattr(cls, "_model_mapping", None)
    if mapping is not None:
        try:
            target = mapping[type(cfg)]
        except (KeyError, ValueError):
            return True
    return bool(getattr(target, "_supports_sdpa", True))
