"""One name filter for the app and the CLI (``metrics_core.common.name_filter``): words start tokens."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from metrics_core.common.name_filter import name_matches
from tui.app.screens.catalog import spec_matches
from tui.app.screens.comparison import matches as comparison_matches
from tui.cli import main


@pytest.mark.parametrize(
    ("query", "name", "hit"),
    [
        ("vit_b", "vit_b_16", True),
        ("vit_b", "timm:vit_base_patch16_224", True),  # after the prefix's ':'
        ("vit_b", "timm:convit_base", False),  # 'vit' inside the word 'convit'
        ("vit_b", "timm:davit_base", False),
        ("vit_b", "timm:efficientvit_b0", False),
        ("resnet", "wide_resnet50_2", True),  # after '_'
        ("50", "resnet50", True),  # letters turn to digits
        ("net", "resnet18", False),
        ("RES 18", "resnet18", True),  # every word, any case
        ("resnet*", "resnet18", True),  # a glob on the name
        ("resnet*", "wide_resnet50_2", False),
        ("", "anything", True),
    ],
)
def test_words_start_tokens(query, name, hit):
    assert name_matches(query, name) is hit


def test_the_app_filters_use_it():
    convit = SimpleNamespace(name="timm:convit_base", family="timm/convit", task="classification")
    vit = SimpleNamespace(name="timm:vit_base_patch16_224", family="timm/vision_transformer", task="x")
    assert (spec_matches(convit, "vit_b"), spec_matches(vit, "vit_b")) == (False, True)
    assert spec_matches(convit, "convit classification")  # family and task words count
    assert (comparison_matches("timm:davit_base", "vit_b"), comparison_matches("vit_b_16", "vit_b")) == (
        False,
        True,
    )


def test_models_filter_matches_as_the_app(capsys):
    assert main(["models", "--filter", "vit_b", "--format", "json"]) == 0
    assert [m["name"] for m in json.loads(capsys.readouterr().out)] == ["vit_b_16", "vit_b_32"]
    assert main(["models", "--filter", "resnet*", "--format", "json"]) == 0  # a glob: not wide_resnet
    names = [m["name"] for m in json.loads(capsys.readouterr().out)]
    assert names == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def test_hardware_filter(capsys):
    assert main(["hardware", "--filter", "h100", "--format", "json"]) == 0
    assert [t["id"] for t in json.loads(capsys.readouterr().out)] == ["h100-sxm5-80gb", "h100-pcie-80gb"]
    assert main(["hardware", "--filter", "zzz"]) == 2
    assert capsys.readouterr().err.startswith("modeltui: error: no hardware target matches --filter 'zzz'")


def test_hardware_filter_as_a_word(capsys):
    """``modeltui hardware mi300x`` is ``--filter mi300x``; its JSON names the calibrated model's generation
    and streaming share (CDNA 3: 0.77, data/efficiency.toml)."""
    assert main(["hardware", "mi300x", "--format", "json"]) == 0
    (t,) = json.loads(capsys.readouterr().out)
    assert (t["id"], t["generation"], t["bandwidth_share"]) == ("mi300x", "cdna3", 0.77)
    assert main(["hardware", "mi300x", "--filter", "h100"]) == 2
    assert "give one filter" in capsys.readouterr().err


def test_hardware_filter_finds_this_machine(capsys, monkeypatch):
    """this-machine is derived at run time: listed when a filter asks for it, never on the plain listing."""
    monkeypatch.setenv("MODELTUI_NO_MEASURE", "1")  # no copy measured in a unit test
    assert main(["hardware", "--filter", "this", "--format", "json"]) == 0
    assert [t["id"] for t in json.loads(capsys.readouterr().out)] == ["this-machine"]
    assert main(["hardware", "--format", "json"]) == 0
    assert "this-machine" not in [t["id"] for t in json.loads(capsys.readouterr().out)]


def test_timm_names_filter_the_same_way(monkeypatch):
    from metrics_core.sources import timm_source

    index = {
        "models": {
            "convit_base": {"family": "convit"},
            "davit_base": {"family": "davit"},
            "vit_base_patch16_224": {"family": "vision_transformer"},
        }
    }
    monkeypatch.setattr(timm_source, "timm_index", lambda: index)
    assert timm_source.list_names("vit_b") == ["vit_base_patch16_224"]
    assert timm_source.list_names("*vit_b*") == ["convit_base", "davit_base", "vit_base_patch16_224"]


def test_timm_rows_show_published_figures():
    from metrics_core.report.accuracy import timm_published
    from tui.app.screens.catalog import spec_cells

    # results-imagenet.csv: resnet50.a1_in1k,224,80.382,...,94.598,...,25.56 (param_count, millions);
    # the benchmark CSV: resnet50 at 224 px (its default weights' size): 4.11 GMACs
    assert timm_published("resnet50") == {
        "weights": "resnet50.a1_in1k",
        "num_params": 25_560_000,
        "acc@1": 80.382,
        "acc@5": 94.598,
        "gmacs": 4.11,
        "gmacs_resolution": 224,
    }
    # no ImageNet-1k result: the benchmark's param_count (38.32M) and GMACs (6.14 at 224)
    assert timm_published("resnet50_clip") == {
        "num_params": 38_320_000,
        "gmacs": 6.14,
        "gmacs_resolution": 224,
    }
    spec = SimpleNamespace(
        name="timm:resnet50", source="timm", reference=None, input_shape=(3, 224, 224), supported=True
    )
    assert spec_cells(spec, False)[3:6] == ["25.56M", "4.11", "80.4%"]
