"""Layer-wise inference split (``perf.inference_split``, ``modeltui split``, ``Report.split``)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from torch import nn

import metrics_core as mc
from metrics_core.capture.params import block_names, unit_names
from metrics_core.common.errors import UsageError
from metrics_core.perf.hardware import get_target
from metrics_core.perf.inference_split import split_inference
from metrics_core.perf.parallel_plans import target_link


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(64, 64)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


def four_blocks() -> nn.Module:
    return nn.Sequential(*[Block() for _ in range(4)])


def test_blocks_and_units_from_the_module_table() -> None:
    table = {"": ["Sequential", 0], **{f"{i}": ["Block", 0] for i in range(4)}}
    table.update(
        {f"{i}.fc": ["Linear", 4160] for i in range(4)} | {f"{i}.act": ["ReLU", 0] for i in range(4)}
    )
    assert block_names(table) == ["0", "1", "2", "3"]
    assert unit_names(table, ["0", "1", "2", "3"]) == ["0", "1", "2", "3"]


def test_the_fewest_gpus_and_a_balanced_split() -> None:
    # each block: Linear(64, 64) = 64*64 + 64 = 4,160 params = 16,640 B in fp32. A GPU of 40 kB holds two
    # blocks (33,280 B + a few hundred bytes of activations), not four: 2 GPUs, two blocks each (equal times)
    report = mc.analyze(four_blocks(), (1, 64), hardware="a100-sxm4-80gb")
    small = replace(get_target("a100-sxm4-80gb"), memory_gb=40e3 / 1e9)
    s = split_inference(report.raw, report.estimate, small)
    assert (s.min_gpus, s.gpus, s.fits) == (2, 2, True)
    assert [(st.first_unit, st.last_unit, st.params, st.weight_bytes) for st in s.stages] == [
        ("0", "1", 8320, 33280),
        ("2", "3", 8320, 33280),
    ]
    # stage 0 sends its last op's output, 64 fp32 values = 256 B, over the NVLink of an A100 SXM4
    link = target_link(small)
    assert s.stages[0].transfer_s == pytest.approx(256 / (link.bus_gbps * 1e9) + link.launch_us * 1e-6)
    assert s.latency_s == pytest.approx(sum(st.time_s for st in s.stages) + s.stages[0].transfer_s)
    one = split_inference(report.raw, report.estimate, small, gpus=1)
    assert (one.fits, one.stages[0].weight_bytes) == (False, 66560)


def test_report_split_and_cli(capsys) -> None:  # noqa: ANN001
    from tui.cli import main

    r = mc.analyze("resnet50", hardware="h100-sxm5-80gb", dtype="bf16")
    s = r.split()
    # 25,557,032 params at 2 bytes on one 80 GB GPU
    assert (s.min_gpus, s.gpus, s.stages[0].weight_bytes) == (1, 1, 51_114_064)
    assert main(["split", "resnet50", "--hardware", "h100-sxm5-80gb", "--dtype", "bf16", "--gpus", "2",
                 "--format", "json"]) == 0  # fmt: skip
    d = json.loads(capsys.readouterr().out)[0]
    assert d["gpus"] == 2 and d["estimate"] is True
    assert sum(st["params"] for st in d["stages"]) == 25_557_032
    with pytest.raises(UsageError, match="analyse it with hardware= first"):
        mc.analyze("resnet18").split()


def test_split_text_states_its_assumptions(capsys) -> None:  # noqa: ANN001
    """The text said "estimates" but not under which precision, kernels, efficiency, nor whether the target
    was validated, which every other verb's text says: the RTX 4090's fp16 eager estimates are validated
    (data/efficiency.toml [validated], [validated_precision]); bf16 there is a physical estimate."""
    from tui.cli import main

    cases = (
        ("fp16", "validated on this target"),
        ("bf16", "physical estimate, not validated on this target"),
    )
    for dtype, checked in cases:
        assert main(["split", "resnet18", "--hardware", "rtx-4090", "--dtype", dtype, "--gpus", "2"]) == 0
        text = " ".join(capsys.readouterr().out.split())  # lines folded to the width joined back
        assert text.endswith(
            f"estimates on NVIDIA GeForce RTX 4090, {dtype}: eager, calibrated efficiency; {checked}"
        )


def test_split_refuses_more_gpus_than_one_server_joins_and_an_empty_hardware_id(capsys):
    """``split --gpus 16`` on an 8-GPU NVSwitch server ran where ``llm --tp 16`` and ``train --gpus 16`` are
    refused, and ``compare --hardware ""`` gave no estimates with exit 0 (a helper's fresh-user run)."""
    from tui.cli import main

    assert main(["split", "resnet18", "--hardware", "h100-sxm5-80gb", "--gpus", "16"]) == 2
    assert "--gpus 16: h100-sxm5-80gb joins at most 8 GPUs over its nvswitch link" in capsys.readouterr().err
    assert main(["compare", "resnet18", "--hardware", ""]) == 2
    assert capsys.readouterr().err.strip() == (
        "modeltui: error: --hardware '': give a target id (modeltui hardware lists them)"
    )
