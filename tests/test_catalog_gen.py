"""The shipped catalog data file is exactly what the generator makes from the installed torchvision."""

from __future__ import annotations

import json

import pytest

from metrics_core.sources import catalog_gen
from metrics_core.sources.catalog import DATA_PATH, catalog_is_stale


@pytest.mark.skipif(catalog_is_stale(), reason="installed torchvision differs from the catalog's")
def test_shipped_catalog_matches_installed_torchvision():
    # A full regeneration takes about 3 s here (mostly importing torchvision), so compare everything.
    generated = catalog_gen.render(catalog_gen.generate())
    shipped = DATA_PATH.read_text(encoding="utf-8")
    if generated != shipped:
        new = {m["name"]: m for m in json.loads(generated)["models"]}
        old = {m["name"]: m for m in json.loads(shipped)["models"]}
        changed = sorted(n for n in new.keys() | old.keys() if new.get(n) != old.get(n))
        pytest.fail(f"catalog.json is stale for {changed}; run 'python -m metrics_core.sources.catalog_gen'")


def test_rendering_is_one_model_per_line_and_valid_json():
    doc = {"torchvision": "9.9", "models": [{"name": "a", "input_shape": [3, 2, 2]}, {"name": "b"}]}
    text = catalog_gen.render(doc)
    assert json.loads(text) == doc
    assert text.splitlines()[3] == '  {"name": "a", "input_shape": [3, 2, 2]},'


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("efficientnet_v2_s", "efficientnet_v2"),
        ("efficientnet_b0", "efficientnet"),
        ("swin3d_t", "swin3d"),
        ("swin_v2_t", "swin"),
        ("ssdlite320_mobilenet_v3_large", "ssdlite"),
        ("wide_resnet50_2", "wide_resnet"),
        ("resnext50_32x4d", "resnext"),
        ("r2plus1d_18", "video_resnet"),
    ],
)
def test_family_is_the_longest_matching_prefix(name, family):
    assert catalog_gen._family(name) == family


def test_unknown_family_fails_loudly():
    with pytest.raises(ValueError, match="add its prefix to FAMILY_PREFIXES"):
        catalog_gen._family("brandnewnet_s")
