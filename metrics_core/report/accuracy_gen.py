"""Write ``metrics_core/report/data/timm_accuracy.json`` from timm's published ImageNet-1k results.

``python -m metrics_core.report.accuracy_gen [CSV]`` (default CSV: ``../shared/reference/accuracy/
timm-results-imagenet.csv`` next to the repository). Input: ``results/results-imagenet.csv`` of
huggingface/pytorch-image-models (Apache-2.0), one row per pretrained tag (``architecture.tag``) with its
evaluation resolution ``img_size`` and ``top1``/``top5`` in percent. Output: every row's result by tag,
and for each architecture of the installed timm its default pretrained tag (the first of its
``pretrained_cfg`` tags, ``timm.models._registry._model_default_cfgs[arch].tags[0]``) when that tag has a
result. Imports timm (and torch): a maintenance script, never imported by the CLI or the app.
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
SOURCE = (
    "huggingface/pytorch-image-models results/results-imagenet.csv (Apache-2.0), commit aa4b5850c154: "
    "ImageNet-1k validation top-1/top-5 (%) per pretrained tag at img_size"
)


def build(csv_path: Path) -> dict:
    """The data file's content (see the module doc)."""
    from timm.models import _registry

    raw = csv_path.read_bytes()
    results: dict[str, list] = {}
    for row in csv.DictReader(raw.decode("utf-8").splitlines()):
        result = [float(row["top1"]), float(row["top5"]), int(row["img_size"])]
        results.setdefault(row["model"], []).append(result)
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
    }


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore")
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_CSV
    data = build(path)
    text = json.dumps(data, indent=0, separators=(",", ":")) + "\n"
    DATA_PATH.write_text(text, encoding="utf-8")
    print(f"{DATA_PATH}: {len(data['results'])} results, {len(data['defaults'])} architectures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
