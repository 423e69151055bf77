"""Building models on the meta device (with the CPU fallback) and their example inputs."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from metrics_core.capture.inputs import example_inputs
from metrics_core.common.errors import ModeltuiError, UnsupportedModelError, UsageError
from metrics_core.sources.build import build_model, skip_init
from metrics_core.sources.catalog import get_spec


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_resnet18_builds_on_meta_in_eval_mode_with_the_published_parameter_count():
    model = build_model(get_spec("resnet18"))
    assert n_params(model) == 11689512  # ResNet18_Weights.IMAGENET1K_V1 num_params
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert not model.training
    (x,) = example_inputs(get_spec("resnet18"), batch_size=2)
    with torch.enable_grad():
        out = model(x)
    assert (out.shape, out.device.type) == (torch.Size([2, 1000]), "meta")


def test_regnet_cannot_build_on_meta_so_it_falls_back_to_cpu_then_meta():
    import torchvision.models

    with torch.device("meta"), pytest.raises(NotImplementedError):
        torchvision.models.regnet_y_400mf(weights=None)  # BlockParams computes with real tensors
    model = build_model(get_spec("regnet_y_400mf"))
    assert n_params(model) == 4344144  # RegNet_Y_400MF_Weights.IMAGENET1K_V2 num_params
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert {b.device.type for b in model.buffers()} == {"meta"}
    assert not model.training


def test_vit_h_14_is_built_for_its_518_pixel_weights():
    # ViT_H_14_Weights.IMAGENET1K_SWAG_E2E_V1 num_params (its position embedding covers 37 x 37 patches + 1)
    assert n_params(build_model(get_spec("vit_h_14"))) == 633470440


def test_vit_follows_another_input_shape():
    # vit_b_16 at 224 has 86567656 parameters with a (1, 14*14 + 1, 768) position embedding; at 384 it is
    # (1, 24*24 + 1, 768): 86567656 + (577 - 197) * 768 = 86859496, the published count of the 384-pixel
    # ViT_B_16_Weights.IMAGENET1K_SWAG_E2E_V1.
    spec = get_spec("vit_b_16")
    model = build_model(spec, input_shape=(3, 384, 384))
    assert n_params(model) == 86859496
    with torch.enable_grad():
        out = model(*example_inputs(spec, 1, input_shape=(3, 384, 384)))
    assert out.shape == torch.Size([1, 1000])


def test_inception_v3_keeps_the_published_aux_head():
    assert n_params(build_model(get_spec("inception_v3"))) == 27161264


def test_video_model_forward_on_meta():
    spec = get_spec("r3d_18")
    model = build_model(spec)
    assert n_params(model) == 33371472
    (x,) = example_inputs(spec)
    assert x.shape == torch.Size([1, 3, 16, 112, 112])
    with torch.enable_grad():
        assert model(x).shape == torch.Size([1, 400])


def test_optical_flow_takes_two_distinct_images():
    first, second = example_inputs(get_spec("raft_small"), batch_size=3)
    assert first.shape == second.shape == torch.Size([3, 3, 512, 512])
    assert first is not second


def test_example_inputs_device_and_dtype():
    (x,) = example_inputs(get_spec("mobilenet_v2"), device="cpu", dtype=torch.float16)
    assert (x.device.type, x.dtype, tuple(x.shape)) == ("cpu", torch.float16, (1, 3, 224, 224))


@pytest.mark.parametrize("batch", [0, -1, 1.5, True])
def test_bad_batch_size(batch):
    with pytest.raises(UsageError) as err:
        example_inputs(get_spec("resnet18"), batch_size=batch)
    assert str(err.value) == f"batch size must be a positive integer, got {batch!r}"


def test_wrong_rank_input_shape():
    with pytest.raises(UsageError) as err:
        example_inputs(get_spec("resnet18"), input_shape=[224, 224])
    assert str(err.value) == "resnet18 takes an input shape of 3 numbers (C H W), got [224, 224]"


def test_unsupported_models_are_refused_in_one_line():
    reason = (
        "detection models run data-dependent post-processing (NMS, top-k over scores) "
        "that cannot be traced on the meta device"
    )
    spec = get_spec("fasterrcnn_resnet50_fpn")
    for call in (lambda: build_model(spec), lambda: example_inputs(spec)):
        with pytest.raises(UnsupportedModelError) as err:
            call()
        assert str(err.value) == f"fasterrcnn_resnet50_fpn: {reason}"
        assert err.value.exit_code == 1


def test_custom_factory_builds_on_meta():
    spec = get_spec("build_test_models:tiny_cnn", input_shape=(3, 32, 32))
    model = build_model(spec)
    assert n_params(model) == 314  # see tiny_cnn's docstring
    assert {p.device.type for p in model.parameters()} == {"meta"}
    (x,) = example_inputs(spec, batch_size=4)
    assert model(x).shape == torch.Size([4, 10])


def test_custom_factory_with_real_tensor_math_uses_the_fallback():
    model = build_model(get_spec("build_test_models:real_math_at_init"))
    assert n_params(model) == 42  # Linear(6, 6)
    assert model.weight.device.type == "meta"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "build_test_models.nested:net",
            "build_test_models.nested:net: cannot import module 'build_test_models.nested': "
            "ModuleNotFoundError: No module named 'build_test_models.nested'; 'build_test_models' is not a "
            "package",
        ),
        (
            "build_test_models:missing",
            "build_test_models:missing: module 'build_test_models' has no 'missing'",
        ),
        (
            "build_test_models:NOT_CALLABLE",
            "build_test_models:NOT_CALLABLE: 'build_test_models:NOT_CALLABLE' is not callable",
        ),
        (
            "build_test_models:raises",
            "build_test_models:raises: failed to build: ValueError: bad configuration",
        ),
        (
            "build_test_models:not_a_module",
            "build_test_models:not_a_module: the factory returned int, not a torch.nn.Module",
        ),
    ],
)
def test_custom_factory_errors_are_one_line(path, message):
    with pytest.raises(ModeltuiError) as err:
        build_model(get_spec(path))
    assert str(err.value) == message
    # a module or name that cannot be imported is the user's to fix (exit 2); a factory that fails is
    # the model's failure (exit 1)
    assert err.value.exit_code == (2 if "cannot import" in message or "has no" in message else 1)


def test_skip_init_makes_init_a_no_op_only_inside_and_only_for_this_thread():
    original_constant = nn.init.constant_
    original_reset = nn.Linear.reset_parameters
    other_thread_sum: list[float] = []

    def other_thread() -> None:
        t = torch.zeros(3)
        nn.init.constant_(t, 5.0)
        other_thread_sum.append(float(t.sum()))

    t = torch.zeros(3)
    with skip_init():
        nn.init.constant_(t, 5.0)
        assert float(t.sum()) == 0.0  # skipped
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join()
    assert other_thread_sum == [15.0]  # 3 x 5.0: initialised normally
    nn.init.constant_(t, 5.0)
    assert float(t.sum()) == 15.0
    assert nn.init.constant_ is original_constant
    assert nn.Linear.reset_parameters is original_reset
