"""Build the timm index (names, families, native input sizes): ``python -m metrics_core.sources.timm_index``
prints it as JSON. Imports timm (and torch); run in a subprocess or a worker, never in the CLI process."""

from __future__ import annotations

import json
import sys
from typing import Any


def build_index() -> dict[str, Any]:
    """``{"version", "models": {name: {"family", "input_size", "img_size_arg"}}, "tags": {name.tag: size}}``.

    ``input_size`` is the default pretrained config's ``(C, H, W)``; ``img_size_arg`` is True when the
    model's builder takes ``img_size`` (then another ``--input-shape`` rebuilds it for that size).
    """
    import timm
    from timm.models import get_pretrained_cfg, model_entrypoint

    models: dict[str, Any] = {}
    for name in timm.list_models():
        cfg = get_pretrained_cfg(name, allow_unregistered=True)
        fn = model_entrypoint(name)
        models[name] = {
            "family": fn.__module__.rsplit(".", 1)[-1],
            "input_size": list(cfg.input_size) if cfg is not None else [3, 224, 224],
            "img_size_arg": _takes_img_size(cfg),
        }
    tags: dict[str, list[int]] = {}
    for tagged in timm.list_pretrained():
        cfg = get_pretrained_cfg(tagged, allow_unregistered=True)
        if cfg is not None and "." in tagged:
            tags[tagged] = list(cfg.input_size)
    return {"version": timm.__version__, "models": models, "tags": tags}


def _takes_img_size(cfg: Any) -> bool:
    """Models with a fixed input size (vision transformers, MLP-mixers) are built for a given size with
    ``img_size``; convnets take any size and need no argument."""
    return bool(cfg is not None and getattr(cfg, "fixed_input_size", False))


def main() -> int:
    import warnings

    from metrics_core.common.watchdog import exit_with_parent, expected_parent

    exit_with_parent(parent=expected_parent())  # the CLI or app that wants the index: never outlived
    warnings.filterwarnings("ignore")
    json.dump(build_index(), sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
