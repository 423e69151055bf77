"""Baseline: a plain ``torch.utils.flop_counter.FlopCounterMode`` loop over the classification catalog.

What a user would write without modeltui: for each model, build it on the meta device with
``torch.device("meta")`` (default weight initialisation, run on meta), falling back to building it on the
CPU (initialised) and moving it to meta when the builder needs real tensors (RegNet), then count one
forward pass of a meta input at the model's native resolution. Same models and input shapes as
``modeltui compare --all`` (read from modeltui's catalog data file). Prints one JSON object on stdout.

    python benchmarks/baseline_flopcounter.py [MODEL ...]
"""

from __future__ import annotations

import json
import sys
import time
import warnings


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from metrics_core.sources.catalog import classification_models, get_spec, shape_kwargs

    import_s = time.perf_counter() - t0
    specs = [get_spec(n) for n in argv] if argv else classification_models()
    warnings.filterwarnings("ignore")
    per_model = {}
    for spec in specs:
        t = time.perf_counter()
        module_name, _, attr = spec.builder.partition(":")
        builder = getattr(__import__(module_name, fromlist=[attr]), attr)
        kwargs = {**spec.builder_kwargs, **shape_kwargs(spec, spec.input_shape)}
        try:
            with torch.device("meta"):
                model = builder(**kwargs)
        except Exception:
            model = builder(**kwargs).to("meta")
        model.eval()
        x = torch.empty(1, *spec.input_shape, device="meta")
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        per_model[spec.name] = {"s": time.perf_counter() - t, "flops": counter.get_total_flops()}
        del model
    total = time.perf_counter() - t0
    json.dump({"import_s": import_s, "total_s": total, "models": per_model}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
