"""Published ImageNet-1k accuracy of a model: ``acc1`` / ``acc5`` (top-1 / top-5, percent), with the
weights (or timm tag) they belong to and the resolution they were measured at.

Sources, nothing measured here:

- torchvision models: the DEFAULT weights' ``meta`` (``ModelSpec.reference``, from the shipped catalog:
  ``metrics["ImageNet-1K"]["acc@1"/"acc@5"]``), measured at the catalog's native input (the weights'
  evaluation crop, e.g. 224 for resnet50, 518 for vit_h_14). resnet50: 80.858 / 95.434
  (``ResNet50_Weights.IMAGENET1K_V2``); mobilenet_v3_small: 67.668 / 87.402.
- ``timm:`` models: the bundled ``data/timm_accuracy.json``, derived by ``accuracy_gen`` from timm's
  ``results-imagenet.csv`` (its ``source`` field says which commit). ``timm:ARCH`` gets the result of its
  default pretrained tag, ``timm:ARCH.TAG`` that tag's. A tag evaluated at several resolutions gives the
  result at the analysed resolution when there is one, else the one at the tag's own input size.
- anything else (``hf:``, custom factories, torchvision models of other tasks): none (``None``; tables
  show "-").

``resolution_note`` says when the analysed input differs from the resolution of the accuracy: the two
are never mixed silently. No torch here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: The bundled timm results (written by ``python -m metrics_core.report.accuracy_gen``).
TIMM_DATA_PATH = Path(__file__).parent / "data" / "timm_accuracy.json"
#: The dataset every accuracy here is on.
DATASET = "ImageNet-1k"
TORCHVISION_SOURCE = "torchvision weights meta (ImageNet-1K)"
_TV_DATASET = "ImageNet-1K"


@dataclass(frozen=True)
class Accuracy:
    """Published top-1 / top-5 accuracy (percent, 0-100) of one set of weights on ImageNet-1k val.

    ``weights`` names the weights (``ResNet50_Weights.IMAGENET1K_V2``) or timm tag
    (``resnet50.a1_in1k``); ``resolution`` is the evaluation image side in pixels (square crops);
    ``source`` where the figure comes from.
    """

    acc1: float
    acc5: float | None
    weights: str
    resolution: int | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def timm_data() -> dict[str, Any]:
    """The bundled timm results: ``{"source", "defaults": {arch: "arch.tag"}, "results": {"arch.tag":
    [[top1, top5, img_size], ...]}, ...}``."""
    return json.loads(TIMM_DATA_PATH.read_text(encoding="utf-8"))


def timm_accuracy(name: str, resolution: int | None = None) -> Accuracy | None:
    """The published result of ``arch`` (its default tag) or ``arch.tag``; None when timm publishes none.

    With several results for the tag, the one at ``resolution`` (the analysed image side) if any.
    E.g. ``timm_accuracy("resnet50")`` -> 80.382 / 94.598 at 224 (tag ``resnet50.a1_in1k``).
    """
    data = timm_data()
    tagged = name if "." in name else data["defaults"].get(name)
    rows = data["results"].get(tagged) if tagged else None
    if not rows:
        return None
    row = next((r for r in rows if resolution is not None and r[2] == resolution), rows[0])
    top1, top5, size = row
    return Accuracy(top1, top5, tagged, size, f"timm results-imagenet.csv ({tagged})")


def timm_published(name: str) -> dict[str, Any] | None:
    """The published figures of a timm architecture (``arch`` or ``arch.tag``, without ``timm:``) in the
    catalog's ``reference`` keys, for the catalog lists: ``weights`` (the tag), ``num_params`` (timm's
    ``param_count`` of the tag's result, else of the benchmark row; millions to 2 decimals, as an
    integer count), ``acc@1`` / ``acc@5`` (ImageNet-1k at
    the tag's resolution), ``gmacs`` with ``gmacs_resolution`` (the image side timm's benchmark counted
    them at, with fvcore: it adds norm/pool element counts to the MACs). Each key only where timm
    publishes it; None when it publishes nothing. E.g. ``resnet50``: tag ``resnet50.a1_in1k``, 25.56M
    params, 80.382 % top-1, 6.8 GMACs at 288 px."""
    data = timm_data()
    arch = name.partition(".")[0]
    tagged = name if "." in name else data["defaults"].get(name)
    out: dict[str, Any] = {}
    if tagged:
        out["weights"] = tagged
        if (m := data.get("params_m", {}).get(tagged)) is not None:
            out["num_params"] = round(m * 1e6)
        acc = timm_accuracy(tagged)
        if acc is not None:
            out["acc@1"], out["acc@5"] = acc.acc1, acc.acc5
    if (g := data.get("gmacs", {}).get(arch)) is not None:
        out["gmacs"], out["gmacs_resolution"] = g[0], g[1]
        if "num_params" not in out and len(g) > 2 and g[2] is not None:  # the benchmark's count
            out["num_params"] = round(g[2] * 1e6)
    return out or None


def torchvision_accuracy(reference: dict[str, Any] | None, resolution: int | None) -> Accuracy | None:
    """The ImageNet-1K accuracy in a torchvision catalog ``reference`` (None for other datasets)."""
    if not reference:
        return None
    scores = (reference.get("metrics") or {}).get(_TV_DATASET) or {}
    if scores.get("acc@1") is None:
        return None
    return Accuracy(
        float(scores["acc@1"]),
        None if scores.get("acc@5") is None else float(scores["acc@5"]),
        str(reference.get("weights") or ""),
        resolution,
        TORCHVISION_SOURCE,
    )


def accuracy_of(
    model: str, reference: dict[str, Any] | None = None, input_shape: Sequence[int] | None = None
) -> Accuracy | None:
    """The published accuracy of a model by its spec name (``resnet50``, ``timm:convnext_tiny``).

    ``reference`` is the report's published figures (torchvision; read from the catalog when None);
    ``input_shape`` the analysed per-sample shape, which picks a timm tag's result at that resolution.
    """
    side = int(input_shape[-1]) if input_shape and len(input_shape) >= 2 else None
    if model.startswith("timm:"):
        try:
            return timm_accuracy(model.removeprefix("timm:"), side)
        except (OSError, ValueError):  # a damaged install: no figure rather than a crash
            return None
    if ":" in model:
        return None
    from metrics_core.sources.catalog import _by_name

    spec = _by_name().get(model)
    if spec is None:
        return None
    if reference is None:
        reference = spec.reference
    native = spec.input_shape[-1] if spec.input_kind == "image" and len(spec.input_shape) == 3 else None
    return torchvision_accuracy(reference, native)


def report_accuracy(report: Any) -> Accuracy | None:
    """``accuracy_of`` for a ``ModelReport`` (its name, reference and analysed input shape)."""
    return accuracy_of(report.model, report.reference, report.input_shape)


def resolution_note(accuracy: Accuracy | None, input_shape: Sequence[int] | None) -> str | None:
    """``"acc measured at 224x224, analysed at 160x160"`` when the analysed image differs from the
    accuracy's resolution; None when they agree or either is unknown."""
    if accuracy is None or accuracy.resolution is None or not input_shape or len(input_shape) < 2:
        return None
    h, w = int(input_shape[-2]), int(input_shape[-1])
    r = accuracy.resolution
    if (h, w) == (r, r):
        return None
    return f"acc measured at {r}x{r}, analysed at {h}x{w}"


def accuracy_fields(report: Any) -> dict[str, Any]:
    """The flat fields every report row carries: ``acc1``, ``acc5`` (percent or None),
    ``acc_weights``, ``acc_resolution`` (px), ``acc_note`` (a resolution mismatch, or None)."""
    acc = report_accuracy(report) if getattr(report, "error", None) is None else None
    return {
        "acc1": acc.acc1 if acc else None,
        "acc5": acc.acc5 if acc else None,
        "acc_weights": acc.weights if acc else None,
        "acc_resolution": acc.resolution if acc else None,
        "acc_note": resolution_note(acc, report.input_shape) if acc else None,
    }
