"""Write ``metrics_core/report/data/timm_accuracy.json`` from timm's published ImageNet-1k results.

``python -m metrics_core.report.accuracy_gen [CSV [BENCHMARK_CSV]]`` (defaults: ``../shared/reference/
accuracy/timm-results-imagenet.csv`` and ``../shared/reference/measured/timm-benchmark-infer-amp-nchw-
pt291-cu128-4090.csv`` next to the repository). Input: ``results/results-imagenet.csv`` of
huggingface/pytorch-image-models (Apache-2.0), one row per pretrained tag (``architecture.tag``) with its
evaluation resolution ``img_size``, ``top1``/``top5`` in percent and ``param_count`` in millions; and the
same repository's inference benchmark CSV, rows per architecture and image size with ``infer_gmacs``
(fvcore's count at batch 1, at ``infer_img_size``) and ``param_count`` (millions). Output: every row's
result by tag, each tag's published parameter count (``params_m``), each architecture's published
``gmacs`` as ``[gmacs, img_size, params_m]`` (the benchmark row at the default weights' input size, else
its smallest size), and for each architecture of the installed timm its default pretrained tag (the
first of its ``pretrained_cfg`` tags, ``timm.models._registry._model_default_cfgs[arch].tags[0]``) when
that tag has a result. Imports timm (and torch): a maintenance script, never imported by the CLI or the app.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

#: The derived data file (shipped in the package).
DATA_PATH = Path(__file__).parent / "data" / "timm_accuracy.json"
#: Where the reference CSV sits in this project's checkout.
DEFAULT_CSV = (
    Path(__file__).resolve().parents[3] / "shared" / "reference" / "accuracy" / "timm-results-imagenet.csv"
)
DEFAULT_BENCHMARK_CSV = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "reference"
    / "measured"
    / "timm-benchmark-infer-amp-nchw-pt291-cu128-4090.csv"
)
GMACS_SOURCE = (
    "huggingface/pytorch-image-models results/benchmark-infer-amp-nchw-pt291-cu128-4090.csv (Apache-2.0), "
    "commit aa4b5850c154: infer_gmacs, fvcore's count at batch 1 (adds norm/pool element counts to "
    "conv/matmul MACs) at infer_img_size"
)
SOURCE = (
    "huggingface/pytorch-image-models results/results-imagenet.csv (Apache-2.0), commit aa4b5850c154: "
    "ImageNet-1k validation top-1/top-5 (%) per pretrained tag at img_size"
)


def build(csv_path: Path, benchmark_path: Path | None = None) -> dict:
    """The data file's content (see the module doc)."""
    from timm.models import _registry

    raw = csv_path.read_bytes()
    results: dict[str, list] = {}
    params_m: dict[str, float] = {}
    for row in csv.DictReader(raw.decode("utf-8").splitlines()):
        result = [float(row["top1"]), float(row["top5"]), int(row["img_size"])]
        results.setdefault(row["model"], []).append(result)
        if row.get("param_count"):
            params_m[row["model"]] = float(row["param_count"].replace(",", ""))  # "1,014.45"
    bench: dict[str, list] = {}  # an architecture may be benchmarked at several sizes
    bench_raw = benchmark_path.read_bytes() if benchmark_path is not None else b""
    for row in csv.DictReader(bench_raw.decode("utf-8").splitlines()):
        if row.get("infer_gmacs"):
            params = float(row["param_count"].replace(",", "")) if row.get("param_count") else None
            gm = float(row["infer_gmacs"].replace(",", ""))
            bench.setdefault(row["model"], []).append([gm, int(row["infer_img_size"]), params])
    defaults = {}
    for arch, cfg in sorted(_registry._model_default_cfgs.items()):
        for tag, pretrained in cfg.cfgs.items():  # a tag's result at its own input size first
            size = pretrained.input_size[-1] if pretrained.input_size else None
            rows = results.get(f"{arch}.{tag}" if tag else arch)
            if rows:
                rows.sort(key=lambda r, size=size: r[2] != size)
        if cfg.tags:
            tagged = f"{arch}.{cfg.tags[0]}" if cfg.tags[0] else arch
            if tagged in results:
                defaults[arch] = tagged
    gmacs: dict[str, list] = {}
    for arch, rows in bench.items():  # the row at the default weights' input size, else the smallest
        cfg = _registry._model_default_cfgs.get(arch)
        default = cfg.cfgs.get(cfg.tags[0]) if cfg is not None and cfg.tags else None
        side = default.input_size[-1] if default is not None and default.input_size else None
        gmacs[arch] = next((r for r in rows if r[1] == side), min(rows, key=lambda r: r[1]))
    import timm

    return {
        "source": SOURCE,
        "csv_sha256": hashlib.sha256(raw).hexdigest(),
        "generator": "python -m metrics_core.report.accuracy_gen",
        "timm": timm.__version__,
        "dataset": "ImageNet-1k validation",
        "columns": ["top1", "top5", "img_size"],
        "order": "a tag's results at several img_size: the one at its pretrained_cfg input size first",
        "defaults": defaults,
        "results": dict(sorted(results.items())),
        "params_m_source": "param_count (millions) of the same CSV, per tag",
        "params_m": dict(sorted(params_m.items())),
        "gmacs_source": GMACS_SOURCE,
        "gmacs_sha256": hashlib.sha256(bench_raw).hexdigest() if bench_raw else None,
        "gmacs": dict(sorted(gmacs.items())),
    }


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore")
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_CSV
    benchmark = Path(args[1]) if len(args) > 1 else DEFAULT_BENCHMARK_CSV
    data = build(path, benchmark)
    text = json.dumps(data, indent=0, separators=(",", ":")) + "\n"
    DATA_PATH.write_text(text, encoding="utf-8")
    print(f"{DATA_PATH}: {len(data['results'])} results, {len(data['defaults'])} architectures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
