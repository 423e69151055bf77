"""``metrics_core.llm`` / ``llm_serving``: ``modeltui llm`` from Python gives the CLI's numbers for the same
options, defaults included; bad options are one-line ``UsageError``s. The tiny GPT-2 of
``tests/test_llm_serving.py`` (2 layers, hidden 64, vocabulary 1,000)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

import metrics_core as mc  # noqa: E402
from metrics_core.common.errors import ModeltuiError, UnknownModelError, UsageError  # noqa: E402
from tests.test_llm_serving import tiny  # noqa: E402, F401 (a fixture)

KEYS = ("ttft_s", "tpot_s", "weight_bytes", "kv_cache_bytes", "max_batch_size", "stack", "execution",
        "efficiency", "validated", "prompt_tokens", "generate_tokens", "activations_precision",
        "weights_precision", "kv_precision", "batch_size", "tp")  # fmt: skip


def _cli_json(capsys, *args: str) -> list[dict]:
    from tui.cli import main

    assert main(["llm", *args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_defaults_match_the_cli(tiny, capsys):  # noqa: F811
    (row,) = _cli_json(capsys, tiny, "--hardware", "h100-sxm5-80gb")
    e = mc.llm(tiny, hardware="h100-sxm5-80gb")
    mine = e.to_dict()
    assert {k: mine[k] for k in KEYS} == {k: row[k] for k in KEYS}
    # the defaults, as the CLI's: prompt 512, generate 128, fp16, vLLM, its compiled kernels, calibrated
    got = [row[k] for k in ("prompt_tokens", "generate_tokens", "stack", "execution", "efficiency")]
    assert got == [512, 128, "vllm", "compiled", "calibrated"]
    # the weights: 2 layers x (qkv 64 x 192 + 192, proj 64 x 64 + 64, fc 64 x 256 + 256, proj 256 x 64 +
    # 64, 2 LayerNorms 4 x 64) + final LayerNorm 128 + wte 1,000 x 64 + wpe 4,096 x 64, at 2 bytes each
    params = 2 * (64 * 192 + 192 + 64 * 64 + 64 + 64 * 256 + 256 + 256 * 64 + 64 + 4 * 64) + 128
    params += 1_000 * 64 + 4_096 * 64
    assert e.weight_bytes == 2 * params


def test_options_match_the_cli(tiny, capsys):  # noqa: F811
    (row,) = _cli_json(capsys, tiny, "--hardware", "a100-sxm4-80gb", "--batch-size", "4", "--prompt", "64",
                       "--generate", "16", "--weights", "int8", "--kv", "fp8", "--tp", "2", "--stack",
                       "tensorrt-llm", "--efficiency", "ideal")  # fmt: skip
    e = mc.llm(tiny, hardware="a100-sxm4-80gb", batch_size=4, prompt=64, generate=16, weights="int8",
               kv="fp8", tp=2, stack="tensorrt-llm", efficiency="ideal")  # fmt: skip
    assert {k: e.to_dict()[k] for k in KEYS} == {k: row[k] for k in KEYS}
    assert (row["weights_precision"], row["kv_precision"], row["tp"], row["efficiency"]) == (
        "int8", "fp8", 2, "ideal")  # fmt: skip


def test_serving_views_match_the_cli(tiny, capsys):  # noqa: F811
    (row,) = _cli_json(capsys, tiny, "--hardware", "h100-sxm5-80gb", "--prompt", "40", "--generate", "4",
                       "--users", "4,8", "--rate", "100", "--max-tpot", "10ms")  # fmt: skip
    v = mc.llm_serving(tiny, hardware="h100-sxm5-80gb", prompt=40, generate=4, users=[4, 8], rate=100,
                       max_tpot_s=0.01)  # fmt: skip
    d = v.to_dict()
    assert sorted(d) == ["concurrency", "max_rate", "max_users", "rates"]
    for key in d:
        assert d[key] == row[key]
    assert [c["users"] for c in d["concurrency"]] == [4, 8] and d["rates"][0]["rate_rps"] == 100.0
    # the rate alone with a target: the largest rate, not the largest number of users (as the CLI)
    only = mc.llm_serving(tiny, hardware="h100-sxm5-80gb", prompt=40, generate=4, rate=100, max_tpot_s=0.01)
    assert sorted(only.to_dict()) == ["max_rate", "rates"]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"prompt": 0}, "prompt must be a positive whole number, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive whole number, got 2.5"),
        ({"hardware": "h100"}, "unknown hardware"),
        ({"hardware": None}, "llm() needs hardware="),
        ({"stack": "vllmm"}, "vllm"),
        ({"power_limit": -5}, "power_limit must be a positive number of watts, got -5"),
        ({"weights": 4}, "weights must be a name (a string, e.g. 'fp8'), got 4"),
        ({"stack": None}, "stack must be a stack name"),
        ({"timeout_s": 0}, "timeout_s must be a positive number of seconds (or None), got 0"),
        ({"attention": "flash"}, "attention must be 'sdpa' or 'eager', got 'flash'"),
    ],
)
def test_bad_options_are_one_line_errors(tiny, kwargs, says):  # noqa: F811
    given = {"hardware": "h100-sxm5-80gb", **kwargs}
    with pytest.raises(ModeltuiError) as err:  # UsageError, UnknownHardwareError
        mc.llm(tiny, **given)
    assert says in str(err.value) and "\n" not in str(err.value)


def test_names_and_views_refused_clearly(tiny):  # noqa: F811
    with pytest.raises(UnknownModelError, match="did you mean hf:openai-community/gpt2"):
        mc.llm("gpt2", hardware="h100-sxm5-80gb")
    with pytest.raises(UsageError, match="takes a model name"):
        mc.llm(object(), hardware="h100-sxm5-80gb")
    with pytest.raises(UsageError, match="needs users=, rate= or max_tpot_s="):
        mc.llm_serving(tiny, hardware="h100-sxm5-80gb")
    with pytest.raises(UsageError, match="--rate must be above 0"):
        mc.llm_serving(tiny, hardware="h100-sxm5-80gb", rate=0)


def test_numpy_numbers_are_numbers(tiny):  # noqa: F811
    np = pytest.importorskip("numpy")
    a = mc.llm(tiny, hardware="h100-sxm5-80gb", batch_size=np.int64(2), prompt=np.int32(40), generate=4)
    b = mc.llm(tiny, hardware="h100-sxm5-80gb", batch_size=2, prompt=40, generate=4)
    assert (a.scenario.batch_size, a.tpot_s) == (2, b.tpot_s)
    v = mc.llm_serving(tiny, hardware="h100-sxm5-80gb", prompt=40, generate=4, rate=np.array([1.0, 2.0]))
    assert [x.rate_rps for x in v.rates] == [1.0, 2.0]
