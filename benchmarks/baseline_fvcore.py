"""Baseline: fvcore's ``FlopCountAnalysis`` the usual way.

For each model: build it on the CPU with torchvision's default initialisation, put it in eval mode,
make a random input at the model's native resolution, and take ``FlopCountAnalysis(model, x).total()``
as fvcore's documentation shows it (a real forward pass traced with ``torch.jit``, in the default grad
mode). ``--no-grad`` wraps that in ``torch.no_grad()``, which fvcore's examples do not do, but which
makes big models 3-5x faster and halves their memory: the benchmarks report both. ``--all`` runs the
80 classification models (minutes and several GB; see ``RESULTS.md``). Prints one JSON object.

    python benchmarks/baseline_fvcore.py [--no-grad] [--all | MODEL ...]   (default: SUBSET)
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings

#: The default subset: the reference models of issue 2, small to mid-sized (so an extrapolation from
#: them to the whole catalog, which also holds vit_h_14 at 518 px and efficientnet_b7 at 600 px,
#: underestimates fvcore's time).
SUBSET: tuple[str, ...] = (
    "resnet18",
    "mobilenet_v2",
    "efficientnet_b0",
    "vit_b_16",
    "swin_t",
    "convnext_tiny",
    "densenet121",
    "squeezenet1_0",
)


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    import torch
    from fvcore.nn import FlopCountAnalysis

    from metrics_core.sources.catalog import get_spec, shape_kwargs

    import_s = time.perf_counter() - t0
    no_grad = "--no-grad" in argv
    argv = [a for a in argv if a != "--no-grad"]
    warnings.filterwarnings("ignore")
    logging.getLogger("fvcore").setLevel(logging.ERROR)
    if argv == ["--all"]:
        from metrics_core.sources.catalog import classification_models

        argv = [s.name for s in classification_models()]
    per_model = {}
    for name in argv or SUBSET:
        spec = get_spec(name)
        t = time.perf_counter()
        module_name, _, attr = spec.builder.partition(":")
        builder = getattr(__import__(module_name, fromlist=[attr]), attr)
        model = builder(**{**spec.builder_kwargs, **shape_kwargs(spec, spec.input_shape)}).eval()
        x = torch.randn(1, *spec.input_shape)
        with torch.set_grad_enabled(not no_grad):
            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            total = analysis.total()
        per_model[name] = {"s": time.perf_counter() - t, "fvcore_flops": int(total)}
        del model, analysis
    total_s = time.perf_counter() - t0
    json.dump({"import_s": import_s, "total_s": total_s, "no_grad": no_grad, "models": per_model}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
