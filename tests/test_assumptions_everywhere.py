"""Every output says what it assumes: the hardware table's validation column (vision and LLM), the
``llm`` CSV's three-regime shares and validation, the analysing verbs' validation and parameter source."""

from __future__ import annotations

import csv
import io
import json

import pytest

from tui.cli import main


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "config"


def _valid_cells(capsys) -> dict[str, str]:
    assert main(["hardware", "--wide"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("ID "))
    start = header.index("Valid.")
    end = header.index("Mem ", start)
    rows = [line for line in lines[2:] if line[:1].isalnum() and "  " in line]
    return {line.split()[0]: line[start:end].strip() for line in rows}


def test_hardware_valid_column_names_llm_validations(capsys):
    """``data/efficiency.toml``: the RTX 4090 has vision files ([validated]) and llama.cpp rows
    ([validated_llm]); the H100 SXM only TensorRT-LLM / vLLM rows; the T4 neither. The column said ``-`` for
    the H100 (read: physical estimates only) though 42 of its published LLM points were held out."""
    cells = _valid_cells(capsys)
    assert (cells["rtx-4090"], cells["h100-sxm5-80gb"], cells["t4"]) == ("vision+llm", "llm", "-")


def _tiny_gpt2(tmp_path) -> str:
    from transformers import GPT2Config

    cfg = GPT2Config(vocab_size=1000, n_embd=64, n_layer=2, n_head=4, n_positions=4096).to_dict()
    cfg["architectures"] = ["GPT2LMHeadModel"]
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "config.json").write_text(json.dumps(cfg))
    return "hf:tiny/config.json"


def test_llm_csv_carries_every_regime_share_and_the_validation(tmp_path, monkeypatch, capsys):
    """README: the CSV's ``prefill_*`` / ``decode_*`` are the JSON phase's fields — the compute, overhead and
    communication shares were missing, so a CSV could not tell an overhead-bound decode from a memory-bound
    one by share — and the row says whether the stack was validated on the target (``validated``: vLLM on
    the H100 SXM is, ``data/efficiency.toml``'s ``[validated_llm]``; nothing on the T4) and its sustained
    clock ratio (T4 70 W: x0.67, README's power model figure)."""
    monkeypatch.chdir(tmp_path)
    model = _tiny_gpt2(tmp_path)
    rows = {}
    for hw, tp in (("h100-sxm5-80gb", "2"), ("t4", "1")):
        argv = ["llm", model, "--hardware", hw, "--prompt", "16", "--generate", "4", "--tp", tp]
        assert main([*argv, "--format", "csv"]) == 0
        (rows[hw],) = csv.DictReader(io.StringIO(capsys.readouterr().out))
        assert main([*argv, "--format", "json"]) == 0
        (js,) = json.loads(capsys.readouterr().out)
        for phase in ("prefill", "decode"):
            regimes = ("compute", "memory", "overhead", "communication")
            shares = [f"{phase}_{r}_bound_time_pct" for r in regimes]
            assert [float(rows[hw][k]) for k in shares] == pytest.approx(
                [js[phase][k.removeprefix(f"{phase}_")] for k in shares]
            )
            assert sum(float(rows[hw][k]) for k in shares) == pytest.approx(100.0)
    assert float(rows["h100-sxm5-80gb"]["decode_communication_bound_time_pct"]) > 0.0  # TP 2 all-reduces
    assert (rows["h100-sxm5-80gb"]["validated"], rows["t4"]["validated"]) == ("True", "False")
    assert (float(rows["h100-sxm5-80gb"]["clock_ratio"]), float(rows["t4"]["clock_ratio"])) == pytest.approx(
        (1.0, 0.67), abs=0.005
    )


def test_layers_says_whether_the_target_was_validated_and_whose_parameters(config_dir, capsys):
    """``layers`` (text, JSON, CSV) said neither whether its target's estimates were ever held against
    measurements nor that a user efficiency file replaced the built-in parameters (only ``roofline`` and
    ``compare --format json`` did). The RTX 4090 has timm's vision files ([validated]); the T4 has none; a
    hand-written ``[target.t4]`` table is named with the parameter it sets."""
    argv = ["layers", "resnet18", "--dtype", "fp16", "--top", "1", "--hardware"]
    assert main([*argv, "rtx-4090"]) == 0
    assert "(eager, calibrated efficiency; validated on this target)" in " ".join(
        capsys.readouterr().out.split()
    )
    config_dir.mkdir(parents=True)
    (config_dir / "efficiency.toml").write_text("[target.t4]\ngemm = 0.5\n")
    assert main([*argv, "t4"]) == 0
    title = " ".join(capsys.readouterr().out.split())
    assert (
        f"(eager, calibrated efficiency; calibrated to your measurements ({config_dir / 'efficiency.toml'} "
        "(gemm)), not validated on this target)" in title
    )
    assert main([*argv, "t4", "--format", "json"]) == 0
    context = json.loads(capsys.readouterr().out)[0]["context"]
    assert (context["validated"], context["efficiency_source"]) == (
        False,
        f"user: {config_dir / 'efficiency.toml'} (gemm)",
    )
    assert main([*argv, "rtx-4090", "--format", "csv"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert (row["validated"], row["efficiency_source"]) == ("true", "built-in")


def test_user_parameters_and_the_ideal_roofline_are_not_called_validated(config_dir, capsys):
    """The RTX 4090's [validated] entry holds for the built-in calibrated parameters it was measured with.
    With the user's own ``[target.rtx-4090]`` values (from ``calibrate``) or the ideal roofline (datasheet
    peaks, no overheads) the estimate is not that one: it said "validated" all the same (a helper found it
    for a user-calibrated stack)."""
    argv = ["layers", "resnet18", "--dtype", "fp16", "--top", "1", "--hardware", "rtx-4090"]
    assert main([*argv, "--efficiency", "ideal", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["context"]["validated"] is False
    config_dir.mkdir(parents=True)
    (config_dir / "efficiency.toml").write_text("[target.rtx-4090]\ngemm = 0.5\n")
    assert main([*argv, "--format", "json"]) == 0
    context = json.loads(capsys.readouterr().out)[0]["context"]
    assert (context["validated"], context["efficiency_source"]) == (
        False,
        f"user: {config_dir / 'efficiency.toml'} (gemm)",
    )
    assert main(argv) == 0
    title = " ".join(capsys.readouterr().out.split())
    assert (
        f"(eager, calibrated efficiency; calibrated to your measurements ({config_dir / 'efficiency.toml'} "
        "(gemm)), not validated on this target)" in title
    )


@pytest.mark.parametrize(
    "extra, validated, phrase",
    [
        ([], True, "vllm on this target validated against published measurements"),
        (["--execution", "compiled"], True, "vllm on this target validated against published measurements"),
        (
            ["--execution", "eager"],
            False,
            "is validated with calibrated efficiency, its own kernels, float16 weights only",
        ),
        (
            ["--efficiency", "ideal"],
            False,
            "is validated with calibrated efficiency, its own kernels, float16 weights only",
        ),
    ],
)
def test_llm_is_validated_only_as_the_stack_was_validated(
    tmp_path, monkeypatch, capsys, extra, validated, phrase
):
    """vLLM on the H100 SXM was held against 6 published points ([validated_llm]) with calibrated
    efficiency and its own (compiled) kernels. ``--efficiency ideal`` (datasheet peaks, no stack overheads)
    and ``--execution eager`` (another kernel model) still said "validated against published measurements"
    and carried the 6 % error text: they are physical estimates."""
    monkeypatch.chdir(tmp_path)
    argv = ["llm", _tiny_gpt2(tmp_path), "--hardware", "h100-sxm5-80gb", "--prompt", "16", "--generate", "4"]
    assert main([*argv, *extra, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["validated"], row["validation"] is not None, row["context"]["validated"]) == (validated,) * 3
    assert main([*argv, *extra]) == 0
    assert phrase in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize(
    "table, named",
    [
        ("[stack.vllm]\nstep_overhead_us = 50.0\n", "stack"),
        ("[target.h100-sxm5-80gb]\ngemm = 0.5\n", "target"),
    ],
)
def test_llm_with_the_users_own_parameters_is_not_called_validated(
    tmp_path, monkeypatch, capsys, config_dir, table, named
):
    """vLLM on the H100 SXM is validated with its built-in values; a ``calibrate --llm`` table of the user's
    own (for the stack or for the target) replaces them, and the header still said "validated against
    published measurements (median |error| ...)" (a helper found it). It now says whose parameters these
    are, and JSON has ``validated`` false."""
    monkeypatch.chdir(tmp_path)
    config_dir.mkdir(parents=True)
    (config_dir / "efficiency.toml").write_text(table)
    argv = ["llm", _tiny_gpt2(tmp_path), "--hardware", "h100-sxm5-80gb", "--prompt", "16", "--generate", "4"]
    assert main([*argv, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["validated"], row["validation"], row["context"]["validated"]) == (False, None, False)
    user = f"user: {config_dir / 'efficiency.toml'} (gemm)" if named == "target" else "built-in"
    assert (row["efficiency_source"], row["context"]["efficiency_source"]) == (user, user)
    assert main(argv) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "calibrated to your measurements (the user file), not validated here" in text
    assert f"{named} parameters from the user file: {config_dir / 'efficiency.toml'}" in text


@pytest.mark.parametrize("weights, validated", [("bf16", True), ("q4_k_m", False), ("int4-g128", False)])
def test_llm_is_validated_only_for_the_weight_formats_measured(
    tmp_path, monkeypatch, capsys, weights, validated
):
    """vLLM's six H100 rows ran 16-bit weights ([validated_llm_weights]); a GGUF or int4 estimate there
    runs kernels they never timed and still said "validated ... 6 %" (a helper's fresh-user run)."""
    monkeypatch.chdir(tmp_path)
    argv = ["llm", _tiny_gpt2(tmp_path), "--hardware", "h100-sxm5-80gb", "--prompt", "16", "--generate", "4"]
    assert main([*argv, "--weights", weights, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["validated"], row["context"]["validated"]) == (validated, validated)


def test_validated_weight_formats_are_the_measured_rows():
    """Each [validated_llm] entry names the weight kinds its rows ran, and they are the rows' own
    (benchmarks/measured/llm_serving.csv as validate_llm.py maps it); llama-cpp on GPUs measured with
    pre-June-2024 builds counts those builds' formats too (the same decode kernels)."""
    import importlib.util
    import sys
    from collections import defaultdict
    from pathlib import Path

    from metrics_core.perf import efficiency
    from metrics_core.perf.hardware import hardware_targets

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("validate_llm_w", root / "benchmarks" / "validate_llm.py")
    vl = importlib.util.module_from_spec(spec)
    sys.modules["validate_llm_w"] = vl
    spec.loader.exec_module(vl)
    targets = {t.id: t for t in hardware_targets()}
    rows, _ = vl.read_rows(vl.MEASURED / "llm_serving.csv", targets)
    measured: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        measured[(r.gpu, r.stack)].add(efficiency.weight_kind(r.weights))
    for (gpu, stack), kinds in list(measured.items()):
        if stack == "llama-cpp-2024":
            measured[(gpu, "llama-cpp")] |= kinds
    data = efficiency._data()
    table = data["validated_llm_weights"]
    entries = {(g, st) for g, stacks in data["validated_llm"].items() for st in stacks}
    assert entries == {(g, st) for g, stacks in table.items() for st in stacks}
    for gpu, stack in entries:
        assert set(table[gpu][stack]) == measured[(gpu, stack)], (gpu, stack)


def test_cpu_targets_get_the_cpu_parameters_and_their_core_counts():
    """The Raspberry Pi 5's kind is "edge SoC", so it fell back to the generic GPU (3 us kernel gaps, 8 us
    per eager op, 128 x 128 tensor tiles over 64 "SMs"); the Xeon 8480+ and EPYC 9654 fell back to the
    generic CPU with its default 8 units. Units = cores, as hardware.toml's sources give them."""
    from metrics_core.perf.efficiency import builtin_params_for
    from metrics_core.perf.hardware import get_target

    got = {
        t: (p.generation, p.units, p.eager_op_us, p.kernel_gap_us)
        for t in ("raspberry-pi-5", "xeon-8480-plus", "epyc-9654")
        for p in [builtin_params_for(get_target(t))]
    }
    assert got == {  # data/efficiency.toml [generation.generic-cpu]: 5.0 us per eager op, no kernel gap
        "raspberry-pi-5": ("generic-cpu", 4, 5.0, 0.0),
        "xeon-8480-plus": ("generic-cpu", 56, 5.0, 0.0),
        "epyc-9654": ("generic-cpu", 96, 5.0, 0.0),
    }


def test_hardware_json_names_the_generation_whose_parameters_apply(capsys):
    """Which calibrated parameters a target gets was nowhere in ``hardware --format json``: the AMD parts
    have their own CDNA generations (data/efficiency.toml), Apple GPUs the generic GPU's."""
    assert main(["hardware", "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    got = {t: (rows[t]["generation"], rows[t]["efficiency_source"]) for t in ("mi250x", "mi300x", "mi325x")}
    assert got == {
        "mi250x": ("cdna2", "built-in"),
        "mi300x": ("cdna3", "built-in"),
        "mi325x": ("cdna3", "built-in"),
    }
    assert (rows["h100-sxm5-80gb"]["generation"], rows["apple-m3-max"]["generation"]) == (
        "hopper",
        "generic-gpu",
    )


def test_llm_power_limit_runs_the_power_model_at_that_limit(tmp_path, monkeypatch, capsys):
    """``--power-limit W`` (nvidia-smi -pl; the core had ``perf.power.with_power_limit``, used by the
    benchmark for gpt-fast's 330 W A100 rows, but no option). Ampere: 400 W / 312 TFLOP/s = 1.2821 pJ/FLOP,
    so the A100 SXM's tensor demand at boost is 400 W; held to 330 W its clock is (330 / 400)^(1/2) =
    0.90830 of boost (above the 1275 / 1410 base floor). Above the board's 400 W nothing changes."""
    monkeypatch.chdir(tmp_path)
    argv = ["llm", _tiny_gpt2(tmp_path), "--hardware", "a100-sxm4-80gb", "--prompt", "16", "--generate", "4"]
    ratios = []
    for extra in ([], ["--power-limit", "330"], ["--power-limit", "450W"]):
        assert main([*argv, *extra, "--format", "json"]) == 0
        ratios.append(json.loads(capsys.readouterr().out)[0]["clock_ratio"])
    assert ratios == pytest.approx([1.0, 0.90830, 1.0], abs=1e-5)
    assert main([*argv, "--power-limit", "330"]) == 0
    assert "clock x0.91 (power-limited at 330 W)" in " ".join(capsys.readouterr().out.split())
    assert main([*argv, "--power-limit", "0"]) == 2
    assert "argument --power-limit: expected a positive number of watts, got '0'" in capsys.readouterr().err


def test_llm_power_limit_says_what_the_model_cannot_apply(tmp_path, monkeypatch, capsys):
    """A limit the power model cannot apply was silently ignored or shown as applied: the MI300X's clock
    is AMD's published 1207 of 2100 MHz at 750 W (x0.57 at any limit, labelled "power-limited at 300 W"),
    the TPU v5e has no board power (no effect, nothing said), 5000 W on a 700 W H100 changed nothing
    silently, and any limit under ~529 W on the H100 SXM gave its base-clock floor, 1590 / 1830 = x0.869
    (700 W x 0.869^2 = 528.5 W is where the model reaches it), a floor the vendor guarantees only at the
    rated 700 W: 300 W is (300 / 700)^(1/2) = x0.6547, below it. Now: exit 2 for the first two, a note on
    stderr for the others, and the JSON context records the limit."""
    monkeypatch.chdir(tmp_path)
    argv = ["llm", _tiny_gpt2(tmp_path), "--prompt", "16", "--generate", "4", "--format", "json"]
    assert main([*argv, "--hardware", "mi300x", "--power-limit", "300"]) == 2
    assert capsys.readouterr().err == (
        "modeltui: error: --power-limit 300 W: AMD Instinct MI300X's tensor clock is the published sustained "
        "clock 1207 of 2100 MHz boost at its 750 W board power; a lower limit is not modelled (drop "
        "--power-limit)\n"
    )
    assert main([*argv, "--hardware", "tpu-v5e", "--power-limit", "50"]) == 2
    assert "Google TPU v5e (per chip) has no board power" in capsys.readouterr().err
    cases = {"5000": (1.0, "at or above NVIDIA H100 SXM5 80GB's 700 W board power: no effect"),
             "300": ((300 / 700) ** 0.5, "x0.65 of boost, is below its 1590 MHz base clock"),
             "600": ((600 / 700) ** 0.5, None)}  # fmt: skip
    for watts, (ratio, note) in cases.items():
        assert main([*argv, "--hardware", "h100-sxm5-80gb", "--power-limit", watts]) == 0
        out, err = capsys.readouterr()
        row = json.loads(out)[0]
        assert row["clock_ratio"] == pytest.approx(ratio, abs=1e-9)
        assert row["context"]["power_limit_w"] == float(watts)
        assert (note in err) if note else err == ""
    # Ada: the RTX 4090's tensor demand at boost is 225 W (of its 450 W board): 300 W changes nothing
    assert main([*argv, "--hardware", "rtx-4090", "--power-limit", "300"]) == 0
    assert "modelled tensor demand, 225 W, is within it: no effect" in capsys.readouterr().err


def test_llm_power_limit_below_the_boards_minimum_is_refused(tmp_path, monkeypatch, capsys):
    """``--power-limit 1`` on an H100 ran the power model at 1 W: the tensor clock (1 / 700)^(1/2) = x0.038,
    decode (memory-bound) almost unchanged, a setup no board accepts (nvidia-smi -pl refuses limits below
    its "Min Power Limit": 200 W on a 700 W Hopper SXM board, 100 W on the A100 SXM4 80GB,
    hardware.toml's min_power_limit_w with its source). Now one line naming the range, exit 2; the
    minimum itself runs, (200 / 700)^(1/2) = 0.53452 of boost. A target with no recorded minimum (L4)
    still runs, and its extrapolation note says that no minimum is recorded."""
    monkeypatch.chdir(tmp_path)
    argv = ["llm", _tiny_gpt2(tmp_path), "--prompt", "16", "--generate", "4", "--format", "json"]
    for hw, watts, allowed, name in (
        ("h100-sxm5-80gb", "1", "200-700", "NVIDIA H100 SXM5 80GB"),
        ("h100-sxm5-80gb", "199.5", "200-700", "NVIDIA H100 SXM5 80GB"),
        ("a100-sxm4-80gb", "99", "100-400", "NVIDIA A100 SXM4 80GB"),
    ):
        assert main([*argv, "--hardware", hw, "--power-limit", watts]) == 2
        assert capsys.readouterr().err.splitlines()[-1] == (  # after transformers' config warnings
            f"modeltui: error: --power-limit {watts} W is below {name}'s minimum power limit: it accepts "
            f"{allowed} W (nvidia-smi 'Min Power Limit'; hardware JSON: min_power_limit_source)"
        )
    assert main([*argv, "--hardware", "h100-sxm5-80gb", "--power-limit", "200"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)[0]["clock_ratio"] == pytest.approx((200 / 700) ** 0.5, abs=1e-9)
    assert "no minimum power limit is recorded" not in err
    assert main([*argv, "--hardware", "l4", "--power-limit", "20"]) == 0
    err = capsys.readouterr().err
    assert err.endswith(
        "; no minimum power limit is recorded for NVIDIA L4: a real board refuses limits below its own "
        "(nvidia-smi 'Min Power Limit'), check yours\n"
    )


@pytest.mark.parametrize(
    "target, execution, dtype, validated",
    [
        ("rtx-3090", "eager", "fp16", True),
        ("rtx-3090", "compiled", "fp16", False),
        ("rtx-4090", "compiled", "fp16", True),
        ("rtx-4090", "eager", "fp32", False),
    ],
)
def test_vision_validation_follows_the_mode_and_precision_measured(
    capsys, target, execution, dtype, validated
):
    """README's error table: the RTX 3090's timm files are eager runs (PyTorch 2.4.0), the RTX 4090's eager
    and torch.compile, all AMP fp16. A compiled estimate on the 3090, or an fp32 one on either, said
    "validated" though no such run was ever held against it ([validated_execution] and
    [validated_precision] in data/efficiency.toml)."""
    argv = ["roofline", "resnet18", "--hardware", target, "--execution", execution, "--dtype", dtype]
    argv += ["--format", "json"]
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["validated"], row["context"]["validated"]) == (validated, validated)


def test_hardware_does_not_call_a_target_with_the_users_parameters_validated(config_dir, capsys):
    """After ``calibrate --write`` replaced the RTX 4090's values, ``hardware`` still said "vision+llm" /
    ``validated: true`` while every estimate on it said "not validated" (a helper's fresh-user run): the
    Valid. cell is ``user``, JSON ``validated`` false, no validation text."""
    config_dir.mkdir(parents=True)
    (config_dir / "efficiency.toml").write_text("[target.rtx-4090]\ngemm = 0.8\n")
    assert main(["hardware", "rtx-4090", "--format", "json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    got = rows["rtx-4090"]
    assert (got["validated"], got["validation"], got["validated_llm"]) == (False, None, {})
    assert rows["rtx-4090-laptop"]["efficiency_source"] == "built-in"
    from metrics_core.perf.hardware import get_target
    from tui.cli.commands.hardware import validated_label

    assert (validated_label(get_target("rtx-4090")), validated_label(get_target("rtx-3090"))) == (
        "user",
        "vision+llm",  # timm's files; llama.cpp's 2024 rows
    )
