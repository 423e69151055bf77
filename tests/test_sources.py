"""Model sources: timm:NAME and hf:ID (no network: timm builds with pretrained=False, HF from configs)."""

from __future__ import annotations

import json

import pytest

timm = pytest.importorskip("timm")  # imported here: the timm index is then built in-process
transformers = pytest.importorskip("transformers")

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from metrics_core.common.errors import UnknownModelError, UsageError  # noqa: E402
from metrics_core.runtime.engines import analyze_spec  # noqa: E402
from metrics_core.runtime.options import AnalysisOptions  # noqa: E402
from metrics_core.sources import hf_source  # noqa: E402
from metrics_core.sources.build import build_model, skip_init  # noqa: E402
from metrics_core.sources.resolve import get_spec  # noqa: E402

# 20 architectures of different families (convnets, vision transformers, hybrids, MLPs)
TIMM_ARCHS = (
    "resnet50",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_base_patch16_224",
    "swin_tiny_patch4_window7_224",
    "mobilenetv3_large_100",
    "regnety_016",
    "densenet121",
    "inception_v3",
    "coatnet_0_rw_224",
    "levit_128",
    "mixer_b16_224",
    "poolformer_s12",
    "beit_base_patch16_224",
    "eva02_tiny_patch14_224",
    "ghostnet_100",
    "mobilevit_s",
    "fastvit_t8",
    "xcit_tiny_12_p16_224",
    "nfnet_l0",
)


def _independent_macs(name: str, shape: tuple[int, ...]) -> tuple[int, int]:
    """(parameter count, MACs) of ``timm.create_model(name)`` by PyTorch's own ``FlopCounterMode``."""
    with skip_init(), torch.device("meta"):
        model = timm.create_model(name, pretrained=False).eval()
    counter = FlopCounterMode(display=False)
    with counter:
        model(torch.empty(1, *shape, device="meta"))
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    return params, counter.get_total_flops() // 2


@pytest.mark.parametrize("name", TIMM_ARCHS)
def test_timm_params_and_macs_equal_an_independent_count(name):
    spec = get_spec(f"timm:{name}")
    report = analyze_spec(spec, AnalysisOptions())
    assert report.error is None and report.coverage.complete
    assert (report.metrics.params, report.metrics.macs) == _independent_macs(name, spec.input_shape)


def test_timm_spec_from_the_pretrained_cfg():
    spec = get_spec("timm:inception_v3")
    assert (spec.input_shape, spec.family, spec.source) == ((3, 299, 299), "timm/inception_v3", "timm")
    tagged = get_spec("timm:vit_base_patch16_384.augreg_in21k_ft_in1k")
    assert tagged.input_shape == (3, 384, 384)
    assert tagged.builder_kwargs == {
        "model_name": "vit_base_patch16_384.augreg_in21k_ft_in1k",
        "pretrained": False,
    }


def test_unknown_timm_names_get_suggestions():
    with pytest.raises(UnknownModelError) as err:
        get_spec("timm:resnet51")
    assert (
        str(err.value)
        == "unknown timm model 'resnet51'; did you mean timm:resnet51q, timm:resnet50, timm:resnet18?"
    )
    with pytest.raises(UsageError, match=r"^timm: needs a model name after the colon"):
        get_spec("timm:")


# Published parameter counts (model cards / the papers): GPT-2 124M, BERT-base 110M, T5-base 223M,
# Llama-2-7B 6.74B, Llama-3.1-8B 8.03B, Llama-3.1-70B 70.6B, Mistral-7B 7.24B, Mixtral-8x7B 46.7B,
# Qwen2.5-7B 7.62B, phi-2 2.78B, Whisper large-v3 1.55B, ViT-B/16 86.6M; exact values of the checkpoints.
HF_PARAMS = {
    "gpt2": 124_439_808,
    "bert-base-uncased": 109_482_240,
    "google-t5/t5-base": 222_903_552,
    "meta-llama/Llama-2-7b-hf": 6_738_415_616,
    "meta-llama/Llama-3.1-8B": 8_030_261_248,
    "meta-llama/Llama-3.1-70B": 70_553_706_496,
    "mistralai/Mistral-7B-v0.1": 7_241_732_096,
    "mistralai/Mixtral-8x7B-v0.1": 46_702_792_704,
    "Qwen/Qwen2.5-7B": 7_615_616_512,
    "microsoft/phi-2": 2_779_683_840,
    "openai/whisper-large-v3": 1_543_490_560,
    "google/vit-base-patch16-224": 86_567_656,
    # issue 21's configs, as the model pages give them: Llama-3.2-1B 1.24B, Qwen3-8B 8.19B, Qwen3-30B-A3B
    # 30.5B, Gemma-2-9B 9.24B, Gemma-3-1B 1.00B, Phi-3-mini 3.82B, Phi-4 14.7B, Mistral-7B-v0.3 7.25B,
    # gpt-oss-20b 20.9B, Mamba-2.8B 2.77B
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "Qwen/Qwen3-8B": 8_190_735_360,
    "Qwen/Qwen3-30B-A3B": 30_532_122_624,
    "google/gemma-2-9b": 9_241_705_984,
    "google/gemma-3-1b-pt": 999_885_952,
    "microsoft/Phi-3-mini-4k-instruct": 3_821_079_552,
    "microsoft/phi-4": 14_659_507_200,
    "mistralai/Mistral-7B-v0.3": 7_248_023_552,
    "openai/gpt-oss-20b": 20_914_757_184,
    "state-spaces/mamba-2.8b-hf": 2_768_345_600,
    # Llama-3.2-3B 3.21B, Llama-3.3-70B 70.6B, Qwen2.5-72B 72.7B, Qwen3-235B-A22B 235B, Gemma-2-27B 27.2B,
    # gpt-oss-120b 117B, LLaVA-1.5-7B 7.06B (CLIP ViT-L/14-336 + projector + Vicuna-7B); DeepSeek-V3 671B
    # (the main model: the 14B multi-token-prediction module is not built) and Jamba-v0.1 51.6B agree to
    # the published rounding
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
    "meta-llama/Llama-3.3-70B-Instruct": 70_553_706_496,
    "Qwen/Qwen2.5-72B": 72_706_203_648,
    "Qwen/Qwen3-235B-A22B": 235_093_634_560,
    "google/gemma-2-27b": 27_227_128_320,
    "openai/gpt-oss-120b": 116_829_156_672,
    "llava-hf/llava-1.5-7b-hf": 7_063_427_072,
    "deepseek-ai/DeepSeek-V3": 671_026_404_352,
    "ai21labs/Jamba-v0.1": 51_570_323_328,
    # Qwen2-VL-7B-Instruct and Qwen2.5-VL-7B-Instruct: 8.29B each (the vision towers' shares are derived in
    # tests/test_llm_qwen_vl.py)
    "Qwen/Qwen2-VL-7B-Instruct": 8_291_375_616,
    "Qwen/Qwen2.5-VL-7B-Instruct": 8_292_166_656,
}


@pytest.mark.parametrize("model_id", sorted(HF_PARAMS))
def test_bundled_hf_configs_build_to_their_published_parameter_counts(model_id):
    model = build_model(get_spec(f"hf:{model_id}"), attn_implementation="sdpa")
    params = sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
    assert params == HF_PARAMS[model_id]


def _analyse(model_id: str, **options):
    report = analyze_spec(get_spec(f"hf:{model_id}"), AnalysisOptions(**options))
    assert report.error is None, report.error
    assert report.coverage.complete, report.coverage.uncovered
    return report


def test_gpt2_macs_equal_the_transformer_formula():
    # tokens x matmul weights + attention: per layer c_attn 768x2304, c_proj 768x768, c_fc 768x3072,
    # mlp c_proj 3072x768; head 768 x 50257 (tied); scores and weighted sum 2 x T^2 x 768 per layer
    t, d, layers = 128, 768, 12
    weights = layers * (d * 3 * d + d * d + 2 * d * 4 * d) + d * 50257
    r = _analyse("gpt2")
    assert r.metrics.macs == t * weights + layers * 2 * t * t * d == 16_114_089_984
    assert r.inputs == [{"name": "input_ids", "dtype": "int64", "shape": [1, 128]}]
    # the embedding reads 128 rows of the 50257 x 768 table, the tied head the whole table
    embed = next(x for x in r.records if x.op == "embedding")
    assert embed.weight_bytes == 128 * 768 * 4


def test_bert_macs_equal_the_transformer_formula():
    # 12 layers x (4 d^2 + 8 d^2) per token, attention 2 x T^2 x d per layer, pooler d^2 on one token
    t, d = 128, 768
    r = _analyse("bert-base-uncased")
    assert r.metrics.macs == t * 12 * 12 * d * d + 12 * 2 * t * t * d + d * d == 11_174_215_680


def test_llama2_macs_equal_the_transformer_formula():
    # every weight but the embedding and the 65 RMSNorm weights is a matmul weight, once per token
    t, d, layers = 128, 4096, 32
    matmul_weights = HF_PARAMS["meta-llama/Llama-2-7b-hf"] - 32000 * d - (2 * layers + 1) * d
    r = _analyse("meta-llama/Llama-2-7b-hf", seq_len=t)
    assert r.metrics.macs == t * matmul_weights + layers * 2 * t * t * d == 850_000_871_424
    assert sum(x.op == "scaled_dot_product_attention" for x in r.records) == layers


def test_mixtral_counts_the_active_experts_and_active_params():
    # per token: attention 4096 x (4096 + 1024 + 1024 + 4096), router 4096 x 8, 2 of 8 experts of
    # 3 x 4096 x 14336, per layer; head 4096 x 32000; grouped GEMMs (transformers' default experts path)
    t, d, layers = 16, 4096, 32
    per_token = layers * (d * (2 * d + 2 * 1024) + d * 8 + 2 * 3 * d * 14336) + d * 32000
    r = _analyse("mistralai/Mixtral-8x7B-v0.1", seq_len=t)
    assert r.metrics.macs == t * per_token + layers * 2 * t * t * d
    expert_params = layers * 8 * 3 * d * 14336
    assert r.metrics.active_params == HF_PARAMS["mistralai/Mixtral-8x7B-v0.1"] - expert_params * 6 // 8
    assert r.metrics.active_params == 12_879_925_248


def test_hf_inputs_follow_the_head():
    whisper = get_spec("hf:openai/whisper-large-v3")
    assert (whisper.input_kind, whisper.input_shape, whisper.task) == (
        "speech_seq2seq",
        (128, 3000),
        "speech-seq2seq",
    )
    t5 = get_spec("hf:t5-base")
    assert (t5.input_kind, t5.builder_kwargs["model_class"]) == ("tokens_seq2seq", "AutoModelForSeq2SeqLM")
    vit = get_spec("hf:google/vit-base-patch16-224")
    assert (vit.input_kind, vit.input_shape) == ("pixels", (3, 224, 224))
    bert = get_spec("hf:bert-base-uncased")
    assert bert.builder_kwargs["model_class"] == "AutoModel"


def test_hf_id_resolution_order(tmp_path, monkeypatch):
    config = dict(hf_source.bundled()["openai-community/gpt2"]["config"], n_layer=2)
    model_dir = tmp_path / "my-gpt"
    model_dir.mkdir()
    (model_dir / "config.json").write_text(json.dumps(config))
    assert get_spec(f"hf:{model_dir}").builder_kwargs["config"]["n_layer"] == 2
    assert get_spec(f"hf:{model_dir / 'config.json'}").origin == str(model_dir / "config.json")
    # the local hub cache, newest snapshot
    hub = tmp_path / "hf-home" / "hub" / "models--acme--tiny-gpt" / "snapshots" / "abc123"
    hub.mkdir(parents=True)
    (hub / "config.json").write_text(json.dumps(dict(config, n_layer=3)))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    spec = get_spec("hf:acme/tiny-gpt")
    assert spec.builder_kwargs["config"]["n_layer"] == 3 and spec.family == "hf/gpt2"
    r = analyze_spec(spec, AnalysisOptions(seq_len=8))
    assert r.metrics.params == 124_439_808 - 9 * 7_087_872  # 9 fewer blocks of 7,087,872 parameters
    assert r.input_shape == [8]


def test_hf_errors_are_one_line(tmp_path):
    with pytest.raises(UnknownModelError) as err:
        get_spec("hf:gtp2")
    assert str(err.value).startswith("unknown Hugging Face model 'gtp2': not a path to a config.json")
    assert str(err.value).endswith("did you mean hf:gpt2?")
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match=r"^hf: cannot read .*config.json: JSONDecodeError"):
        get_spec(f"hf:{bad}")
    bad.write_text(json.dumps({"model_type": "x", "auto_map": {"AutoModel": "x.Y"}}))
    with pytest.raises(UsageError, match=r"needs the model's own code \(auto_map / trust_remote_code\)"):
        get_spec(f"hf:{bad}")
    bad.write_text(json.dumps({"hidden_size": 8}))
    with pytest.raises(UsageError, match=r'is not a transformers config.json \(no "model_type"\)$'):
        get_spec(f"hf:{bad}")
