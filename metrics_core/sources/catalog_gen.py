"""Generate ``metrics_core/sources/data/catalog.json`` from the installed torchvision.

Run ``python -m metrics_core.sources.catalog_gen`` after upgrading torchvision (``--check`` only compares).
Everything model-specific is in the tables below; the rest is read from torchvision itself:

- the models: ``torchvision.models.list_models`` over each task module;
- the builder: the registered builder function (``"torchvision.models.resnet:resnet18"``);
- the native input: the DEFAULT weights' transforms (``crop_size``, else ``resize_size``), so vit_h_14
  is 518, efficientnet_b7 600, inception_v3 299; segmentation at ``resize_size`` (520, square);
- the published figures: the DEFAULT weights' ``meta`` (see ``catalog`` for the fields).

The builders run with ``weights=None``; ``builder_kwargs`` restore what torchvision's builders set when
they load weights, so the built architecture is the published one (parameter counts equal
``num_params`` for every supported model).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import inspect
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from metrics_core.sources.catalog import DATA_PATH, TASKS, ModelSpec, natural_key, shape_kwargs

#: torchvision module holding each task's builders.
TASK_MODULES: dict[str, str] = {
    "classification": "torchvision.models",
    "segmentation": "torchvision.models.segmentation",
    "detection": "torchvision.models.detection",
    "video": "torchvision.models.video",
    "optical_flow": "torchvision.models.optical_flow",
    "quantized": "torchvision.models.quantization",
}

#: What each task's forward takes (see ``catalog.INPUT_DIMS``).
TASK_INPUT_KIND: dict[str, str] = {
    "classification": "image",
    "segmentation": "image",
    "detection": "image_list",
    "video": "video",
    "optical_flow": "image_pair",
    "quantized": "image",
}

#: Why a task cannot be analysed on the meta device (verified: detection stops at aten::nonzero,
#: torchvision::nms or aten::_unique2; quantized builders call ``Tensor.item()`` while quantizing).
UNSUPPORTED_TASKS: dict[str, str] = {
    "detection": "detection models run data-dependent post-processing (NMS, top-k over scores) "
    "that cannot be traced on the meta device",
    "quantized": "quantized models are quantized with real data while being built (packed int8 weights), "
    "which the meta device cannot do; analyse the float model {float_model} with --dtype int8",
}

#: Family of a model: the longest matching name prefix (quantized models: that of their float model).
FAMILY_PREFIXES: dict[str, str] = {
    "alexnet": "alexnet",
    "convnext": "convnext",
    "densenet": "densenet",
    "efficientnet_v2": "efficientnet_v2",
    "efficientnet": "efficientnet",
    "googlenet": "googlenet",
    "inception": "inception",
    "maxvit": "maxvit",
    "mnasnet": "mnasnet",
    "mobilenet": "mobilenet",
    "regnet": "regnet",
    "resnext": "resnext",
    "resnet": "resnet",
    "wide_resnet": "wide_resnet",
    "shufflenet": "shufflenet",
    "squeezenet": "squeezenet",
    "swin3d": "swin3d",
    "swin": "swin",
    "vgg": "vgg",
    "vit": "vit",
    "deeplabv3": "deeplabv3",
    "fcn": "fcn",
    "lraspp": "lraspp",
    "fasterrcnn": "faster_rcnn",
    "fcos": "fcos",
    "keypointrcnn": "keypoint_rcnn",
    "maskrcnn": "mask_rcnn",
    "retinanet": "retinanet",
    "ssdlite": "ssdlite",
    "ssd": "ssd",
    "r3d": "video_resnet",
    "mc3": "video_resnet",
    "r2plus1d": "video_resnet",
    "s3d": "s3d",
    "mvit": "mvit",
    "raft": "raft",
}

#: Builder arguments that follow the input size (dimension names of ``catalog.INPUT_DIMS``), by name
#: prefix; their native values (ViT: the weights' ``min_size``) come from the input shape.
SHAPE_KWARGS: dict[str, dict[str, Any]] = {
    "vit_": {"image_size": "H"},
    "maxvit_": {"input_size": ["H", "W"]},
}

#: Arguments torchvision's builders force when loading weights, by model name. inception_v3 keeps its
#: auxiliary head (counted in num_params, not run in eval); googlenet drops it.
MODEL_KWARGS: dict[str, dict[str, Any]] = {
    "googlenet": {"transform_input": True, "aux_logits": False, "init_weights": False},
    "inception_v3": {"transform_input": True, "aux_logits": True, "init_weights": False},
}

#: Arguments for every builder of a task that accepts them: no backbone weights download; segmentation
#: weights include the auxiliary classifier.
TASK_KWARGS: dict[str, dict[str, Any]] = {
    "segmentation": {"weights_backbone": None, "aux_loss": True},
    "detection": {"weights_backbone": None},
}

#: Video clip length: torchvision's published video GFLOPS are for 16-frame clips (all 9 reproduce).
VIDEO_FRAMES = 16

#: Optical flow image size: torchvision's published RAFT GFLOPS reproduce at 512x512 (12 flow updates).
OPTICAL_FLOW_SIZE = 512


def generate() -> dict[str, Any]:
    """The catalog document for the installed torchvision (imports it)."""
    import torchvision.models as tvm

    models = []
    for task in TASKS:
        module = importlib.import_module(TASK_MODULES[task])
        names = sorted(tvm.list_models(module=module), key=natural_key)
        models += [_spec(tvm, task, name).to_dict() for name in names]
    return {
        "generator": "python -m metrics_core.sources.catalog_gen",
        "torchvision": importlib.metadata.version("torchvision"),
        "models": models,
    }


def _spec(tvm: Any, task: str, name: str) -> ModelSpec:
    builder = tvm.get_model_builder(name)
    weights = tvm.get_model_weights(name).DEFAULT
    base = name.removeprefix("quantized_") if task == "quantized" else name
    kind = TASK_INPUT_KIND[task]
    spec = ModelSpec(
        name=name,
        family=_family(base),
        task=task,
        input_shape=_input_shape(task, name, weights, builder),
        input_kind=kind,
        builder=f"{builder.__module__}:{builder.__name__}",
        shape_kwargs=next((v for p, v in SHAPE_KWARGS.items() if name.startswith(p)), {}),
        reference=_reference(weights),
    )
    kwargs: dict[str, Any] = {"weights": None}
    params = inspect.signature(builder).parameters
    for arg, value in TASK_KWARGS.get(task, {}).items():
        if arg in params:
            kwargs[arg] = value
    kwargs.update(MODEL_KWARGS.get(name, {}))
    kwargs.update(shape_kwargs(spec, spec.input_shape))
    reason = UNSUPPORTED_TASKS.get(task)
    if reason is None:
        return replace(spec, builder_kwargs=kwargs)
    return replace(spec, builder_kwargs=kwargs, supported=False, reason=reason.format(float_model=base))


def _family(name: str) -> str:
    for prefix in sorted(FAMILY_PREFIXES, key=len, reverse=True):
        if name.startswith(prefix):
            return FAMILY_PREFIXES[prefix]
    raise ValueError(f"no family for torchvision model {name!r}: add its prefix to FAMILY_PREFIXES")


def _input_shape(task: str, name: str, weights: Any, builder: Any) -> tuple[int, ...]:
    if task == "optical_flow":
        return (3, OPTICAL_FLOW_SIZE, OPTICAL_FLOW_SIZE)
    if task == "detection":
        size = _detection_size(builder)
        return (3, size, size)
    preset = weights.transforms()
    size = getattr(preset, "crop_size", None) or preset.resize_size
    h, w = (size[0], size[0]) if len(size) == 1 else size
    if task == "video":
        return (3, VIDEO_FRAMES, h, w)
    return (3, h, w)


def _detection_size(builder: Any) -> int:
    """Short side a detection model resizes images to (its ``transform.min_size``), read from the model."""
    import torch

    from metrics_core.sources.build import skip_init

    with skip_init(), torch.device("meta"):
        model = builder(weights=None, weights_backbone=None)
    return int(model.transform.min_size[0])


def _reference(weights: Any) -> dict[str, Any]:
    meta = weights.meta
    ref: dict[str, Any] = {
        "weights": f"{type(weights).__name__}.{weights.name}",
        "num_params": meta["num_params"],
        "gmacs": meta.get("_ops"),
        "file_size_mb": meta.get("_file_size"),
    }
    metrics = meta.get("_metrics", {})
    for values in metrics.values():
        for key in ("acc@1", "acc@5"):
            if key in values:
                ref[key] = values[key]
    ref["metrics"] = metrics
    return {k: v for k, v in ref.items() if v is not None}


def render(doc: dict[str, Any]) -> str:
    """The catalog document as stored: JSON with one model per line (diffs show which models changed)."""
    head = {k: v for k, v in doc.items() if k != "models"}
    lines = [f" {json.dumps(k)}: {json.dumps(v)}," for k, v in head.items()]
    models = ",\n".join(f"  {json.dumps(m)}" for m in doc["models"])
    return "{\n" + "\n".join(lines) + '\n "models": [\n' + models + "\n ]\n}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metrics_core.sources.catalog_gen",
        description="Regenerate the model catalog data file.",
    )
    parser.add_argument("--output", type=Path, default=DATA_PATH, help="file to write (default: shipped one)")
    parser.add_argument("--check", action="store_true", help="only report whether the file is up to date")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        up_to_date = current == text
        print(f"{args.output}: {'up to date' if up_to_date else 'out of date'}")
        return 0 if up_to_date else 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=args.output.parent, prefix=".catalog-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.output)
    except BaseException:
        os.unlink(tmp)
        raise
    count = len(json.loads(text)["models"])
    print(f"wrote {count} models to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
