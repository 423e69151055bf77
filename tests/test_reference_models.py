"""Whole torchvision models against published references (torchvision weights metadata, the seed)."""

from __future__ import annotations

import pytest

from metrics_core.runtime.analyze import AnalysisOptions, analyze_many
from metrics_core.sources.catalog import get_spec

MODELS = [
    "resnet18",
    "mobilenet_v2",
    "efficientnet_b0",
    "vit_b_16",
    "swin_t",
    "convnext_tiny",
    "densenet121",
    "squeezenet1_0",
]


@pytest.fixture(scope="module")
def reports():
    return {r.model: r for r in analyze_many(MODELS, AnalysisOptions(use_cache=False))}


@pytest.mark.parametrize("name", MODELS)
def test_params_exact_and_macs_within_half_percent_of_published(reports, name):
    ref = get_spec(name).reference
    m = reports[name].metrics
    assert reports[name].coverage.uncovered == {}
    assert m.params == ref["num_params"]
    # torchvision's "GFLOPS" (_ops) are GMACs, rounded to 3 decimals
    assert m.macs / 1e9 == pytest.approx(ref["gmacs"], rel=0.005)
    assert m.flops >= 2 * m.macs  # FLOPs = 2 x MACs + the per-element ops


def test_seed_case_study(reports):
    r18, mv2 = reports["resnet18"].metrics, reports["mobilenet_v2"].metrics
    # The seed: ResNet-18 11.69M params, 1.81 GMACs, max width 512, ~117 MB memory, ~311 FLOPs/param
    assert (round(r18.params / 1e6, 2), round(r18.macs / 1e9, 2), r18.max_width) == (11.69, 1.81, 512)
    assert round(r18.memory_bytes / 1e6) == 117
    assert round(r18.flops_per_param) == 312  # seed 311 = 2 x MACs / params; we add BN/ReLU/add FLOPs
    # MobileNet-V2 3.50M params, 300M MACs, max width 1280, ~173 MB memory, ~183 FLOPs/param
    assert (round(mv2.params / 1e6, 2), round(mv2.macs / 1e6), mv2.max_width) == (3.50, 301, 1280)
    assert round(mv2.memory_bytes / 1e6) == 173
    assert round(mv2.flops_per_param) == 183
    assert mv2.classification == "memory-bound" and r18.classification == "balanced"


def test_vit_attention_is_counted(reports):
    """ViT-B/16: 17.56 GMACs published; without attention (as fvcore/calflops) it would be ~11.27."""
    vit = reports["vit_b_16"]
    attention = sum(r.macs for r in vit.records if r.category == "attention")
    # 12 layers x 12 heads x 197 x 197 x (64 + 64) = 715,327,488 MACs (QK^T and AV)
    assert attention == 12 * 12 * 197 * 197 * 128
    assert vit.metrics.max_width == 3072


def test_resnet18_peak_memory(reports):
    mem = reports["resnet18"].extras["memory"]
    # Peak right after bn1: conv1's output and bn1's output, each 64x112x112 fp32 = 3,211,264 bytes
    # (the 3x224x224 input died after conv1 read it).
    assert (mem["peak_op"], mem["peak_activation_bytes"]) == ("native_batch_norm", 2 * 64 * 112 * 112 * 4)
    # Weights resident: 11,689,512 params + BN buffers (running mean/var: 2 x 4,800 floats; 20 int64
    # num_batches_tracked) = (11,689,512 + 9,600) x 4 + 20 x 8
    assert mem["weight_bytes"] == (11689512 + 9600) * 4 + 20 * 8


def test_a_conv_classifier_head_is_not_the_max_width(reports):
    # SqueezeNet 1.0 classifies with a 1x1 conv to 1,000 channels under ReLU and average pooling (the
    # head, excluded); its widest layer is fire9's output: two 256-channel expand convolutions
    # concatenated on dim 1 = 512 channels (the seed: "maximum number of channels in any layer")
    assert reports["squeezenet1_0"].metrics.max_width == 512
