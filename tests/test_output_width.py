"""Every verb's default table fits an 80-column terminal (tables stacked, long text folded, prose wrapped);
``--wide`` keeps the full width; table folding and prose wrapping on hand-made tables."""

from __future__ import annotations

import pytest

from metrics_core.common.textable import text_table, wrap_prose
from tui.cli import main

HW = ["--hardware", "a100-pcie-40gb"]
VERBS = [
    ["compare", "resnet18", "vit_b_16", *HW],
    ["layers", "resnet18", *HW],
    ["models"],
    ["models", "--source", "hf"],
    ["hardware"],
    ["roofline", "resnet18", "mobilenet_v2", *HW],
    ["roofline", "resnet18", *HW, "--per-op"],
    ["sweep", "resnet18", *HW],
    ["llm", "hf:meta-llama/Llama-3.1-8B", "--hardware", "h100-sxm5-80gb", "--batch-size", "1,8"],
    ["train", "resnet18", "--hardware", "h100-sxm5-80gb", "--batch-size", "32", "--gpus", "8"],
    ["bench", "perf_models:tiny_mlp", "--input-shape", "16", "--warmup", "0", "--iters", "2"],
    ["cache", "info"],
    ["pareto", "resnet18", "mobilenet_v2", "vit_b_16", *HW],
    ["pick", "resnet18", "mobilenet_v2", "vit_b_16", *HW, "--max-latency", "2ms"],
]


@pytest.mark.parametrize("argv", VERBS, ids=lambda a: " ".join(a[:2]))
def test_default_output_fits_80_columns(argv, capsys):
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) >= 3


def test_wide_keeps_the_full_width(capsys):
    assert main(["models", "--wide"]) == 0
    # detection models' "unsupported: ..." reason is one line of 190 characters or more
    assert max(len(line) for line in capsys.readouterr().out.splitlines()) > 190


def test_a_wide_table_is_stacked_with_the_key_column_repeated():
    rows = [["a", "1", "22", "333"], ["bb", "4444", "5", "6"]]
    # widths 2, 4, 2, 3 with gaps of 2: 2+2+4+2+2+2+3 = 17 > 12 -> blocks [0, 1, 2] (12) and [0, 3] (7)
    assert text_table(["K", "A", "B", "C"], rows, [False, True, True, True], width=12).splitlines() == [
        "K      A   B",
        "--  ----  --",
        "a      1  22",
        "bb  4444   5",
        "",
        "K     C",
        "--  ---",
        "a   333",
        "bb    6",
    ]
    # unlimited: one block
    assert (
        text_table(["K", "A"], [r[:2] for r in rows], [False, True], width=None).splitlines()[0] == "K      A"
    )


def test_a_long_text_column_folds_within_the_width():
    text = "alpha beta gamma delta epsilon"  # 30 characters
    out = text_table(["Model", "Why"], [["m1", text]], [False, False], width=25)
    # "m1" column 5 wide + gap 2: 18 left for the text, folded at spaces
    assert out.splitlines() == [
        "Model  Why",
        "-----  ------------------",
        "m1     alpha beta gamma",
        "       delta epsilon",
    ]


def test_prose_wraps_but_tables_and_charts_do_not():
    prose = "== Roofline on NVIDIA H100 SXM5 80GB, fp32 (estimates: eager, calibrated efficiency) =="
    table_row = "resnet18  1.54 ms  647.4  2.36 TFLOP/s  3.5%  18.3%  compute  and a long tail of cells"
    out = wrap_prose(f"{prose}\n{table_row}", 40).splitlines()
    assert out == [
        "== Roofline on NVIDIA H100 SXM5 80GB,",
        "  fp32 (estimates: eager, calibrated",
        "  efficiency) ==",
        table_row,
    ]
