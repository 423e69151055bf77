"""The model catalog: contents, published figures, name lookup, custom paths, staleness (no torch)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metrics_core.common.errors import UnknownModelError, UsageError
from metrics_core.sources import catalog as cat
from metrics_core.sources.catalog import (
    PRESETS,
    ModelSpec,
    catalog,
    classification_models,
    families,
    get_spec,
    resolve_input_shape,
    shape_kwargs,
)

ROOT = Path(__file__).resolve().parents[1]


def test_importing_and_listing_the_catalog_does_not_import_torch():
    code = (
        "import sys, metrics_core.sources.catalog as c; c.catalog(); c.get_spec('resnet18'); "
        "c.catalog_is_stale(); "
        "assert 'torch' not in sys.modules and 'torchvision' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_classification_catalog_is_torchvision_0_29_1s_80_models():
    names = [s.name for s in classification_models()]
    assert len(names) == 80
    assert len(set(names)) == 80
    for name in ("resnet18", "mobilenet_v2", "vit_h_14", "regnet_y_128gf", "efficientnet_v2_l", "maxvit_t"):
        assert name in names
    assert cat.torchvision_version() == "0.29.1"


def test_whole_catalog_counts_per_task():
    # torchvision 0.29.1 list_models(module=...): 80 + 6 + 12 + 9 + 2 + 12 = 121
    counts: dict[str, int] = {}
    for s in catalog():
        counts[s.task] = counts.get(s.task, 0) + 1
    assert counts == {
        "classification": 80,
        "segmentation": 6,
        "detection": 12,
        "video": 9,
        "optical_flow": 2,
        "quantized": 12,
    }


@pytest.mark.parametrize(
    ("name", "num_params", "gmacs"),
    [("resnet18", 11689512, 1.814), ("mobilenet_v2", 3504872, 0.301), ("vit_b_16", 86567656, 17.564)],
)
def test_published_reference_figures(name, num_params, gmacs):
    ref = get_spec(name).reference
    assert ref["num_params"] == num_params
    assert ref["gmacs"] == gmacs


def test_reference_carries_weights_accuracy_and_file_size():
    ref = get_spec("resnet18").reference
    assert ref["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert ref["acc@1"] == 69.758
    assert ref["acc@5"] == 89.078
    assert ref["file_size_mb"] == 44.661
    assert ref["metrics"] == {"ImageNet-1K": {"acc@1": 69.758, "acc@5": 89.078}}
    seg = get_spec("deeplabv3_resnet50").reference
    assert seg["metrics"] == {"COCO-val2017-VOC-labels": {"miou": 66.4, "pixel_acc": 92.4}}
    assert "acc@1" not in seg


@pytest.mark.parametrize(
    ("name", "shape", "kind"),
    [
        ("vit_h_14", (3, 518, 518), "image"),  # SWAG E2E weights: crop 518
        ("efficientnet_b7", (3, 600, 600), "image"),
        ("inception_v3", (3, 299, 299), "image"),
        ("resnet18", (3, 224, 224), "image"),
        ("regnet_y_128gf", (3, 384, 384), "image"),
        ("deeplabv3_resnet50", (3, 520, 520), "image"),  # resize_size 520
        ("r3d_18", (3, 16, 112, 112), "video"),  # 16-frame clips, crop 112
        ("mvit_v2_s", (3, 16, 224, 224), "video"),
        ("raft_large", (3, 512, 512), "image_pair"),
        ("ssd300_vgg16", (3, 300, 300), "image_list"),  # its transform's min_size
        ("fasterrcnn_resnet50_fpn", (3, 800, 800), "image_list"),
    ],
)
def test_native_input_shapes(name, shape, kind):
    spec = get_spec(name)
    assert spec.input_shape == shape
    assert spec.input_kind == kind


def test_builders_and_size_dependent_kwargs():
    vit = get_spec("vit_h_14")
    assert vit.builder == "torchvision.models.vision_transformer:vit_h_14"
    assert vit.builder_kwargs == {"weights": None, "image_size": 518}
    assert shape_kwargs(vit, (3, 224, 224)) == {"image_size": 224}
    assert shape_kwargs(get_spec("maxvit_t"), (3, 256, 320)) == {"input_size": [256, 320]}
    assert get_spec("inception_v3").builder_kwargs == {
        "weights": None,
        "transform_input": True,
        "aux_logits": True,
        "init_weights": False,
    }
    assert get_spec("fcn_resnet50").builder_kwargs == {
        "weights": None,
        "weights_backbone": None,
        "aux_loss": True,
    }


def test_families():
    fam = families()
    assert fam["resnet"] == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert fam["efficientnet_v2"] == [
        "efficientnet_v2_l",
        "efficientnet_v2_m",
        "efficientnet_v2_s",
    ]  # natural order
    assert fam["vit"] == ["vit_b_16", "vit_b_32", "vit_h_14", "vit_l_16", "vit_l_32"]
    assert len(fam["regnet"]) == 15
    assert sum(len(v) for v in fam.values()) == 80
    assert families("video")["video_resnet"] == ["mc3_18", "r2plus1d_18", "r3d_18"]
    assert get_spec("quantized_resnet18").family == "resnet"


def test_unsupported_models_say_why():
    unsupported = {s.name: s for s in catalog() if not s.supported}
    assert {s.task for s in unsupported.values()} == {"detection", "quantized"}
    assert len(unsupported) == 24
    assert unsupported["ssd300_vgg16"].reason == (
        "detection models run data-dependent post-processing (NMS, top-k over scores) "
        "that cannot be traced on the meta device"
    )
    assert unsupported["quantized_resnet18"].reason.endswith(
        "analyse the float model resnet18 with --dtype int8"
    )
    assert all(s.reason is None for s in catalog() if s.supported)


def test_presets_are_the_seeds_recommended_comparisons():
    names = {s.name for s in catalog()}
    assert PRESETS["mobile"].models == (
        "mobilenet_v2",
        "mobilenet_v3_small",
        "squeezenet1_0",
        "efficientnet_b0",
        "mnasnet1_0",
    )
    assert PRESETS["server"].models == ("resnet50", "resnet101", "densenet121", "convnext_base")
    assert PRESETS["vit"].models == ("vit_b_16", "vit_b_32", "vit_l_16")
    assert PRESETS["case-study"].models == ("resnet18", "mobilenet_v2")
    for preset in PRESETS.values():
        assert set(preset.models) <= names


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownModelError) as err:
        get_spec("resnet19")
    assert str(err.value) == "unknown model 'resnet19'; did you mean resnet18, resnet101?"
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("xyz", "unknown model 'xyz'; run 'modeltui models' to list them"),
        ("ResNet18", "unknown model 'ResNet18'; did you mean resnet18?"),
        # efficientnet_b0..b7 are equally similar; the nearest numbers come first
        (
            "efficientnet_b8",
            "unknown model 'efficientnet_b8'; did you mean efficientnet_b7, efficientnet_b6?",
        ),
        ("vit_b16", "unknown model 'vit_b16'; did you mean vit_b_16, vit_l_16?"),
    ],
)
def test_unknown_model_messages(name, message):
    with pytest.raises(UnknownModelError, match="^unknown model") as err:
        get_spec(name)
    assert str(err.value) == message


def test_custom_model_spec():
    spec = get_spec("build_test_models:tiny_cnn", input_shape=[3, 32, 32])
    assert spec == ModelSpec(
        name="build_test_models:tiny_cnn",
        family="custom",
        task="custom",
        input_shape=(3, 32, 32),
        input_kind="tensor",
        builder="build_test_models:tiny_cnn",
        source="custom",
    )
    assert spec.is_custom
    assert get_spec("build_test_models:Factory.create").input_shape == (3, 224, 224)


def test_custom_model_with_literal_keyword_arguments():
    spec = get_spec("build_test_models:tiny_cnn(width=2.5, name='x', flags=(1, None))")
    assert spec.builder == "build_test_models:tiny_cnn"
    assert spec.builder_kwargs == {"width": 2.5, "name": "x", "flags": (1, None)}


@pytest.mark.parametrize(
    "path, message",
    [
        (
            "build_test_models:tiny_cnn(3)",
            "factory arguments in 'build_test_models:tiny_cnn(3)' must be keywords",
        ),
        (
            "build_test_models:tiny_cnn(w=len)",
            "factory argument 'w' in 'build_test_models:tiny_cnn(w=len)' must be a literal",
        ),
        ("build_test_models:tiny_cnn(w=", "invalid factory arguments in 'build_test_models:tiny_cnn(w='"),
    ],
)
def test_bad_factory_arguments(path, message):
    with pytest.raises(UsageError) as err:
        get_spec(path)
    assert str(err.value).startswith(message)


def test_a_missing_custom_module_is_an_unknown_model():
    # find_spec of the top-level name: nothing of the user's runs in the caller's process
    with pytest.raises(UnknownModelError) as err:
        get_spec("no_such_package.models:net")
    assert str(err.value) == (
        "cannot find module 'no_such_package' for 'no_such_package.models:net' (looked in the current "
        "directory and on the Python path); a model is a torchvision name, timm:NAME, hf:ID or "
        "package.module:factory"
    )
    with pytest.raises(UnknownModelError) as err:
        get_spec("tim:resnet50")
    assert str(err.value) == "unknown model source 'tim' in 'tim:resnet50'; did you mean timm:resnet50?"


@pytest.mark.parametrize(
    "path", ["pkg.mod:", ":factory", "pkg..mod:f", "pkg.mod:fac-tory", "1pkg:f", "class:f"]
)
def test_malformed_custom_paths(path):
    with pytest.raises(UsageError) as err:
        get_spec(path)
    assert str(err.value) == (
        f"invalid model path {path!r}; expected package.module:factory or package.module:factory(depth=18)"
    )


@pytest.mark.parametrize("shape", [[3, 0, 32], [], [3, -1], [3.0, 32, 32]])
def test_bad_custom_shapes(shape):
    with pytest.raises(UsageError, match=r"^input shape must be positive integers, got \["):
        get_spec("build_test_models:tiny_cnn", input_shape=shape)


def test_resolve_input_shape_checks_the_rank_of_the_input_kind():
    assert resolve_input_shape(get_spec("resnet18")) == (3, 224, 224)
    assert resolve_input_shape(get_spec("resnet18"), [3, 160, 160]) == (3, 160, 160)
    with pytest.raises(UsageError) as err:
        resolve_input_shape(get_spec("r3d_18"), [3, 112, 112])
    assert str(err.value) == "r3d_18 takes an input shape of 4 numbers (C T H W), got [3, 112, 112]"
    assert resolve_input_shape(get_spec("build_test_models:tiny_cnn"), [16]) == (16,)


def test_spec_dict_round_trip():
    spec = get_spec("vit_h_14")
    d = spec.to_dict()
    assert d["input_shape"] == [3, 518, 518]
    assert ModelSpec.from_dict(d) == spec


def test_stale_catalog_is_flagged_not_refused(monkeypatch):
    monkeypatch.setattr(cat, "installed_torchvision_version", lambda: "0.29.1+cu130")
    assert not cat.catalog_is_stale()
    assert cat.stale_note() is None
    monkeypatch.setattr(cat, "installed_torchvision_version", lambda: "0.30.0")
    assert cat.catalog_is_stale()
    assert cat.stale_note() == (
        "model catalog was generated for torchvision 0.29.1 but 0.30.0 is installed; "
        "run 'python -m metrics_core.sources.catalog_gen' to refresh it"
    )
    assert len(classification_models()) == 80
