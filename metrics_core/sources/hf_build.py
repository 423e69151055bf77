"""Build a transformers model from a config dict (called by ``build.build_model`` on the meta device,
weight initialisation skipped). Imports transformers; runs in the analysis workers only."""

from __future__ import annotations

from typing import Any

from metrics_core.common.errors import UnsupportedModelError, UsageError, one_line_error


def build(config: dict[str, Any], model_class: str, attn_implementation: str = "sdpa") -> Any:
    """``model_class`` (a transformers Auto class or any model class name) built from ``config``.

    The KV cache is switched off (``use_cache=False``): a forward pass is one pass over the sequence, with
    no cache tensors. ``attn_implementation`` ``sdpa`` routes attention through
    ``F.scaled_dot_product_attention`` (one fused op); ``eager`` writes it out. ``UnsupportedModelError``
    for a model type or class this transformers does not know.
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
        raise UsageError(
            f"transformers {transformers.__version__} does not know model_type {model_type!r}; check the "
            "config or upgrade transformers"
        )
    try:
        cfg = transformers.AutoConfig.for_model(model_type, **fields)
    except Exception as exc:  # transformers validates the architecture fields (head counts ...)
        raise UsageError(f"invalid {model_type} config: {one_line_error(exc)}") from None
    cfg.use_cache = False
    cls = getattr(transformers, model_class, None)
    if not isinstance(cls, type) or not hasattr(cls, "from_config") and not hasattr(cls, "config_class"):
        raise UsageError(f"transformers has no model class {model_class!r} (--hf-class)")
    if hasattr(cls, "from_config"):
        return cls.from_config(cfg, attn_implementation=attn_implementation)
    cfg._attn_implementation = attn_implementation
    return cls(cfg)
