"""Bad input to ``modeltui llm`` (issue 21, "How it will be checked"): a config with zero heads, negative
layers, an unknown ``model_type``, a hidden size the heads do not divide, KV heads that do not divide the
heads, more experts per token than experts, a negative window, a draft model with another vocabulary —
each one line on stderr saying what would fix it, exit 2, no traceback, and refused from the config
before any model is built (no worker is needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tui import cli

#: A tiny Llama: 2 layers, hidden 64, 4 heads, 2 KV heads, vocabulary 256.
LLAMA = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 64,
         "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
         "vocab_size": 256, "max_position_embeddings": 4096}  # fmt: skip
MIXTRAL = {**LLAMA, "model_type": "mixtral", "architectures": ["MixtralForCausalLM"], "num_local_experts": 2}
MISTRAL = {**LLAMA, "model_type": "mistral", "architectures": ["MistralForCausalLM"]}

ARGS = ["--hardware", "h100-sxm5-80gb", "--prompt", "16", "--generate", "4"]


def _llm(tmp_path: Path, capsys, config: dict, *extra: str) -> tuple[int, str]:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    code = cli.main(["llm", f"hf:{path}", *ARGS, *extra])
    out, err = capsys.readouterr()
    assert out == ""
    return code, err.replace(str(path), "PATH")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {**LLAMA, "num_attention_heads": 0},
            "hf: PATH: field 'num_attention_heads' is 0; it must be a positive integer",
        ),
        (
            {**LLAMA, "num_hidden_layers": -2},
            "hf: PATH: field 'num_hidden_layers' is -2; it must be a positive integer",
        ),
        (
            {**LLAMA, "text_config": {"num_hidden_layers": 0}},
            "hf: PATH: field 'text_config.num_hidden_layers' is 0; it must be a positive integer",
        ),
        (
            # 65 / 4 heads: the nearest sizes 4 divides are 64 and 68
            {**LLAMA, "hidden_size": 65},
            "hf: PATH: 'hidden_size' 65 is not a multiple of 'num_attention_heads' 4 and no head_dim is "
            "given: set head_dim, or a hidden_size that 4 divides (64 or 68)",
        ),
        (
            # 4 query heads share KV heads in whole groups: 1, 2 or 4 KV heads
            {**LLAMA, "num_key_value_heads": 3},
            "hf: PATH: 'num_key_value_heads' 3 does not divide 'num_attention_heads' 4 (each KV head serves "
            "a whole group of query heads): choose one of 1, 2, 4",
        ),
        (
            {**MIXTRAL, "num_experts_per_tok": 3},
            "hf: PATH: 'num_experts_per_tok' 3 is not between 1 and the 2 experts a token is routed among: "
            "lower it, or give more experts",
        ),
        (
            {**MISTRAL, "sliding_window": -5},
            "hf: PATH: field 'sliding_window' is -5; it must be a positive integer or null",
        ),
    ],
)
def test_a_bad_config_is_one_line_before_any_build(tmp_path, capsys, monkeypatch, config, message):
    from metrics_core.runtime import pool

    def no_worker(*_args, **_kwargs):
        raise AssertionError("a worker was started for a config refused up front")

    monkeypatch.setattr(pool, "run_call", no_worker)
    code, err = _llm(tmp_path, capsys, config)
    assert code == 2
    assert err == f"modeltui: error: {message}\n"


def test_an_unknown_model_type_suggests_close_ones(tmp_path, capsys):
    code, err = _llm(tmp_path, capsys, {**LLAMA, "model_type": "lama"})
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "does not know model_type 'lama'; did you mean 'llama'" in err
    assert err.rstrip().endswith("Else check the config or upgrade transformers")


def test_a_draft_with_another_vocabulary_is_refused_from_the_configs(tmp_path, capsys, monkeypatch):
    from metrics_core.runtime import pool

    monkeypatch.setattr(pool, "run_call", lambda *_a, **_k: pytest.fail("no capture before the refusal"))
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps({**LLAMA, "vocab_size": 512}))
    code, err = _llm(tmp_path, capsys, LLAMA, "--draft", f"hf:{draft}")
    assert code == 2
    assert err == (
        f"modeltui: error: --draft hf:{draft} has a vocabulary of 512 tokens, hf:PATH has 256: a draft model "
        "must share the target's tokenizer\n"
    )


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    # the same refusal through the real entry point (a fresh process)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA, "num_attention_heads": 0}))
    done = subprocess.run(
        [sys.executable, "-m", "tui", "llm", f"hf:{path}", *ARGS],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "field 'num_attention_heads' is 0" in done.stderr
