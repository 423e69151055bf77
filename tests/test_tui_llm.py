"""The app's LLM view (m): real captures of a small decoder, keys that change the settings."""

from __future__ import annotations

import pytest
import tui_fakes as fakes
from tui_fakes import settle, sync

pytest.importorskip("transformers")


@pytest.fixture(autouse=True)
def in_process(monkeypatch):
    """The captures in this process (the fake backend does not start the pool's resource tracker)."""
    monkeypatch.setenv("MODELTUI_JOBS", "0")


@sync
async def test_llm_view_shows_phases_and_follows_its_keys():
    from tui.app.screens.llm import LlmScreen

    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.action_llm("hf:gpt2")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LlmScreen)
        text = screen.text
        # GPT-2: 2 x 12 layers x 768 x 2 bytes of KV per token (fp16), on the session's target
        assert "== hf:gpt2 on NVIDIA A100 PCIe 40GB ==" in text
        # the default stack (vLLM) runs its own (compiled) kernels; the fake session is ideal
        assert "estimates: vLLM stack (compiled kernels, ideal efficiency)" in text
        assert "decoder · prompt 512 + generate 128 tokens · TP 1" in text
        assert "weights fp16 (16 bits/weight) · activations fp16 · KV fp16 · compute fp16" in text
        assert "decode tokens/s (aggregate) by batch size:" in text
        assert "phase (batch 1)" in text and "prefill (512 tokens)" in text
        await pilot.press("b")  # the phase table of batch 4
        assert "phase (batch 4)" in screen.text
        assert "phases on NVIDIA A100 PCIe 40GB" in text
        await pilot.press("p")  # prompt 512 -> 2048 would pass GPT-2's 1,024 positions: wraps to 128
        await settle(pilot)
        assert screen.scenario.prompt_tokens == 128
        assert "prompt 128 + generate 128 tokens" in screen.text
        await pilot.press("W")  # weights fp16 -> bf16
        await settle(pilot)
        assert "weights bf16" in screen.text
        await pilot.press("escape")
        assert not isinstance(app.screen, LlmScreen)


@sync
async def test_llm_view_refuses_a_non_decoder():
    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.action_llm("resnet18")
        await settle(pilot)
        assert type(app.screen).__name__ == "ComparisonScreen"


@sync
async def test_llm_view_takes_an_encoder_decoder():
    from tui.app.screens.llm import LlmScreen

    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.action_llm("hf:t5-base")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LlmScreen)
        # T5-base: the encoder over the 512-token prompt, then the decoder from its start token; KV of
        # 2 x 12 layers x 12 heads x 64 x 2 bytes per decoder token and per encoder position
        assert "encoder-decoder · encoder" in screen.text
        assert "encoder 512 positions + decoder start token, generate 128 · TP 1" in screen.text
        assert "KV 36,864 B per decoder token + 36,864 B per encoder position" in screen.text
        assert "prefill (encoder 512 + 1)" in screen.text and "decode @ 129" in screen.text
        screen.compute = lambda: None  # the setting only from here: no more captures
        await pilot.press("p")  # T5's relative positions have no bound: 512 -> 2048
        assert screen.scenario.prompt_tokens == 2048


@sync
async def test_llm_view_keeps_whispers_fixed_window(monkeypatch):
    from tui.app.screens.llm import LlmScreen

    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monkeypatch.setattr(LlmScreen, "compute", lambda self: None)  # the settings only: no captures
        app.action_llm("hf:openai/whisper-large-v3")
        await settle(pilot)
        screen = app.screen
        assert screen.scenario.prompt_tokens == 1500  # 3,000 mel frames through the stride-2 convolution
        await pilot.press("p")
        assert screen.scenario.prompt_tokens == 1500
        await pilot.press("n")  # generate 128 -> 512 would pass the decoder's 448 positions: wraps to 32
        assert screen.scenario.generate_tokens == 32
        assert "prompt 1500 (fixed)" in screen.settings_text()
        # a result computed for earlier settings that arrives after newer ones started is dropped
        screen.generation = 2
        screen._show([], "stale", 1)
        assert screen.text != "stale"
        screen._show([], "current", 2)
        assert screen.text == "current"


@sync
async def test_llm_header_is_whole_at_80_columns():
    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.action_llm("hf:gpt2")
        await settle(pilot)
        text = str(app.screen.query_one("#status-text").render())
        options = str(app.screen.query_one("#status-options").render())
        # the short form (target id, fp16 compute, W(eights), KV) and the stack with its efficiency, whole
        assert (text, options) == (
            " llm  a100-pcie-40gb (default) · fp16 · W fp16 · KV fp16",
            " │ vllm, ideal ",
        )


@sync
async def test_llm_view_takes_typed_values_and_answers_from_the_step_model(tmp_path, monkeypatch):
    """Typed prompt / generate / batch / users / TP (``i``); once the step model is captured a change is
    priced from it at once (then captured); users add the continuous-batching view, ``L`` the layers."""
    import json

    from transformers import GPT2Config

    from tui.app.screens.llm import LlmScreen

    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    cfg = GPT2Config(vocab_size=1000, n_embd=64, n_layer=2, n_head=4, n_positions=4096, bos_token_id=0,
                     eos_token_id=0).to_dict()  # fmt: skip
    cfg["architectures"] = ["GPT2LMHeadModel"]
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text(json.dumps(cfg))
    monkeypatch.chdir(tmp_path)
    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.action_llm("hf:tiny/config.json")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LlmScreen)
        assert "phase (batch 1)" in screen.text and len(screen.steps) == 1  # the step model, once
        fast: list = []
        shown = screen._show_fast
        monkeypatch.setattr(screen, "_show_fast", lambda est, gen: (fast.append(est), shown(est, gen)))
        assert screen.apply_typed("prompt 40 generate 4 batch 3 users 8 rate 50") is None
        await settle(pilot)
        # priced at once from the step model for batch 3, then the captured estimates for every batch
        assert [(e.scenario.batch_size, e.derived_from) for e in fast] == [(3, "step model")]
        assert (screen.batch, screen.users, screen.rate, screen.batches) == (
            3,
            8,
            50.0,
            (1, 3, 4, 16, 64, 256),
        )
        text = screen.text
        assert "prompt 40 + generate 4 tokens" in text and "phase (batch 3)" in text
        assert "concurrency under continuous batching (est.)" in text and "model: continuous batching" in text
        assert "requests at a rate, open loop" in text and "model: continuous batching, open loop" in text
        assert (
            screen.apply_typed("rate fast")
            == "rate takes requests per second (e.g. rate 2 or rate 0.5), got 'fast'"
        )
        assert screen.apply_typed("rate 0") == "rate must be above 0 and at most 1,000,000 requests/s, got 0"
        assert screen.apply_typed("rate 1,50") == (
            "'50' is not a setting: one value each, e.g. rate 2 (the llm verb takes lists)"
        )
        assert screen.apply_typed("batch zero") == "batch must be a positive whole number, got 'zero'"
        assert screen.apply_typed("seq 3") == (
            "'seq' is not a setting: prompt, generate, batch, users, rate, tp or stack"
        )
        assert (
            screen.apply_typed("tp 3") == "tp 3: hf:tiny/config.json's 4 attention heads do not split 3 ways"
        )
        await pilot.press("i")
        field = screen.query_one("#llm-input")
        assert field.has_class("editing")
        field.value = "tp 2"
        await pilot.press("enter")
        await settle(pilot)
        assert screen.scenario.tp == 2 and "TP 2" in screen.text
        await pilot.press("L")
        assert "decode @ 40 per layer" in screen.text
        # another precision: priced at once from the step model repriced at its bits, then captured
        fast.clear()
        await pilot.press("W")  # fp16 -> bf16: the same 16-bit bytes
        await settle(pilot)
        await pilot.press("W")  # bf16 -> fp8 weights: 8 bits per weight
        await settle(pilot)
        assert screen.scenario.weights == "fp8"
        est = fast[-1]
        assert (est.scenario.weights, est.derived_from) == ("fp8", "step model")
        captured = next(r for r in screen.results if r.scenario.batch_size == screen.batch)
        # 1 byte a weight, TP 2, but the output head (wte, tied: 1,000 x 64) and the position table (wpe)
        # at 2 bytes (vLLM keeps them 16-bit)
        head, positions = 1_000 * 64, 4_096 * 64
        assert est.weight_bytes == captured.weight_bytes == (captured.params + head + positions) // 2


@sync
async def test_llm_view_typed_refusals_give_the_llm_verbs_reason(monkeypatch, capsys):
    """A typed TP or prompt the model cannot take says why, as ``modeltui llm`` does (one function:
    ``runtime.llm_capture.check_model_limits``); ``stack NAME`` is taken typed, an unknown one refused with
    suggestions."""
    from tui.app.screens.llm import LlmScreen
    from tui.cli import main

    model = "hf:meta-llama/Llama-3.2-1B"  # bundled config: 32 heads, max_position_embeddings 131,072
    capsys.readouterr()
    assert main(["llm", model, "--hardware", "h100-sxm5-80gb", "--tp", "3"]) == 2
    cli_tp = capsys.readouterr().err.strip()
    assert main(["llm", model, "--hardware", "h100-sxm5-80gb", "--prompt", "999999"]) == 2
    cli_prompt = capsys.readouterr().err.strip()
    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monkeypatch.setattr(LlmScreen, "compute", lambda self: None)  # the settings only: no captures
        app.action_llm(model)
        await settle(pilot)
        screen = app.screen
        before = screen.scenario
        tp = screen.apply_typed("tp 3")
        assert tp == f"tp 3: {model}'s 32 attention heads do not split 3 ways"
        assert cli_tp == f"modeltui: error: --{tp}"
        # the view generates 128 tokens: 999,999 + 128 = 1,000,127 positions > 131,072
        prompt = screen.apply_typed("prompt 999999")
        assert prompt == (
            f"{model} takes at most 131,072 tokens (max_position_embeddings); prompt + generate = 1,000,127 "
            "is longer"
        )
        assert cli_prompt == f"modeltui: error: {prompt}"
        assert screen.apply_typed("stack foo") == (
            "unknown serving stack 'foo' (choose one of hf-eager, torch-compile, vllm, vllm-2024, "
            "tensorrt-llm, sglang, llama-cpp, llama-cpp-2024)"
        )
        assert screen.apply_typed("stack sglan").startswith(
            "unknown serving stack 'sglan'; did you mean sglang?"
        )
        assert screen.scenario == before  # nothing refused changed a setting
        # typed stacks as the CLI spells them (llama.cpp = llama-cpp), the S key's choices
        assert screen.apply_typed("stack llama.cpp") is None
        assert screen.scenario.stack == "llama-cpp"
        assert screen.apply_typed("stack TensorRT-LLM tp 2") is None
        assert (screen.scenario.stack, screen.scenario.tp) == ("tensorrt-llm", 2)
        # typed in the input line: a refusal keeps it open; Enter (taken) and Esc give the keys back to the
        # report, as in the training view
        field, scroll = screen.query_one("#llm-input"), screen.query_one("#llm-scroll")
        for typed, closing in (("stack vllm", "enter"), ("tp 3", "escape")):
            await pilot.press("i")
            field.value = typed
            await pilot.press("enter")
            await pilot.pause()
            assert field.has_class("editing") is (typed == "tp 3") and app.focused is (
                field if typed == "tp 3" else scroll
            )
            if closing == "escape":
                await pilot.press("escape")
                assert not field.has_class("editing") and app.focused is scroll
        assert (screen.scenario.stack, screen.scenario.tp) == ("vllm", 2)


@sync
async def test_llm_view_shows_the_phases_when_the_step_model_cannot_serve(tmp_path, monkeypatch):
    """Where the step model cannot be made, the captured phases stand alone with a one-line note that
    names the model once; a failed capture names it once too."""
    import json

    from metrics_core.common.errors import UsageError
    from tests.test_llm_architectures import LLAVA
    from tui.app.screens.llm import LlmScreen

    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "llava.json").write_text(json.dumps(LLAVA))
    name = "hf:llava.json"
    from dataclasses import replace

    from tui.app.application import ModeltuiApp

    def refuse(model, bits):
        raise UsageError(f"{model}: its decode step runs other ops at batch 1 and 2")

    backend, _ = fakes.fake_backend()
    app = ModeltuiApp(models=["resnet18"], backend=replace(backend, llm_steps=refuse))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.action_llm(name)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LlmScreen)
        # the tiny LLaVA's image is 16 tokens: the default prompt is 16 + 512, as the llm verb's
        assert screen.scenario.prompt_tokens == 528
        text = screen.text
        assert "prompt 528 + generate 128 tokens" in text and "phase (batch 1)" in text
        note = (
            "step model unavailable (captured estimate only, no fast answers or concurrency view): "
            f"{name}: its decode step runs other ops at batch 1 and 2"
        )
        assert note in text and text.count(f"{name}: {name}") == 0
        assert screen._named(UsageError(f"{name}: no")) == f"{name}: no"
        # a prompt without room for text after the image is refused with the llm verb's reason
        assert screen._refusal("prompt_tokens", 16) == (
            f"{name}: the prompt holds one image of 16 tokens; give --prompt above 16"
        )
        assert screen._refusal("prompt_tokens", 17) is None
        assert screen._named("no") == f"{name}: no"


@sync
async def test_llm_view_wraps_a_refusal_to_the_screen():
    """An MI250X is two devices to software: the view says so, in lines no wider than the screen (the
    body scrolls sideways for tables, so a message is wrapped by hand)."""
    from metrics_core.perf.hardware import get_target

    app, _ = fakes.make_app(models=["resnet18"])
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.session.set_target(get_target("mi250x"))
        app.action_llm("hf:gpt2")
        await settle(pilot)
        screen = app.screen
        assert "mi250x is several devices to software (each a mi250x-gcd)" in " ".join(screen.text.split())
        body = str(screen.query_one("#llm-body").render())
        assert max(len(line) for line in body.splitlines()) <= 78
        assert "--hardware mi250x-gcd" in body
