"""``modeltui train``'s options that only some models take (issue 23): ``--seq-len`` sets the tokens of
token models; a run where no model takes tokens is refused in one line, exit 2 (README: bad arguments are
one line, exit 2), and one where some do warns on stderr naming the models that ignore it."""

from __future__ import annotations

import pytest

from metrics_core.common.errors import UsageError
from metrics_core.sources.resolve import get_spec
from tui.cli.commands.options import check_seq_len


def test_seq_len_on_a_vision_model_is_refused_in_one_line(capsys):
    from tui.cli import main

    assert main(["train", "resnet18", "--hardware", "a100-sxm4-80gb", "--seq-len", "128"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        "modeltui: error: --seq-len 128: resnet18 takes no tokens (image input); --seq-len sets the tokens "
        "of token models (hf: text models): use --input-shape for the others"
    )


def test_seq_len_with_token_and_vision_models_warns_for_the_vision_ones(capsys):
    specs = {"resnet18": get_spec("resnet18"), "hf:gpt2": get_spec("hf:gpt2")}
    check_seq_len(specs, 64)
    assert capsys.readouterr().err.strip() == (
        "modeltui: warning: --seq-len 64 applies to token models only: ignored for resnet18"
    )
    check_seq_len({"hf:gpt2": specs["hf:gpt2"]}, 64)  # a token model alone: nothing to say
    check_seq_len(specs, None)
    assert capsys.readouterr().err == ""
    with pytest.raises(UsageError, match="resnet18, vgg11 take no tokens"):
        check_seq_len({"resnet18": specs["resnet18"], "vgg11": get_spec("vgg11")}, 64)


def test_seq_len_on_image_models_is_refused_by_the_analysis_verbs_too(capsys):
    # compare / layers / roofline share analyze_with_progress: the same one-line refusal as train, before
    # any model is built
    from metrics_core.runtime.options import AnalysisOptions
    from tui.cli.commands.analysis import analyze_with_progress

    with pytest.raises(UsageError, match=r"--seq-len 128: resnet18, vgg11 take no tokens \(image input\)"):
        analyze_with_progress(["resnet18", "vgg11"], AnalysisOptions(seq_len=128))
