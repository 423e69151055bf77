"""What a power user expects of the CLI: --version, layers sorted / cut / grouped by module depth, shell
completion for verbs, options, model names and hardware ids."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import metadata

import pytest

from tui import cli


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert (code, out) == (
        0,
        f"modeltui {metadata.version('modeltui')} (torch {metadata.version('torch')})\n",
    )


def test_layers_top_by_macs(capsys):
    code, out, err = run(
        ["layers", "resnet18", "--sort-by", "macs", "--top", "3", "--format", "json"], capsys
    )
    assert code == 0, err
    rows = json.loads(out)
    # conv1: 64 x 112 x 112 outputs x (3 x 7 x 7) = 118,013,952 MACs; then the 3x3 64->64 convolutions
    # of layer1 at 56x56: 64 x 56 x 56 x 64 x 9 = 115,605,504 each, in execution order (a stable sort)
    assert [(r["index"], r["module"], r["macs"]) for r in rows] == [
        (0, "conv1", 118_013_952),
        (4, "layer1.0.conv1", 115_605_504),
        (7, "layer1.0.conv2", 115_605_504),
    ]


def test_layers_by_module_depth(capsys):
    code, out, err = run(["layers", "resnet18", "--by-module", "1", "--format", "json"], capsys)
    assert code == 0, err
    rows = {r["module"]: r for r in json.loads(out)}
    assert list(rows) == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "fc",
    ]
    # layer1: 2 BasicBlocks x (2 conv + 2 bn + 2 relu + 1 add) = 14 ops; 4 convolutions of 115,605,504 MACs
    assert (rows["layer1"]["ops"], rows["layer1"]["macs"]) == (14, 4 * 115_605_504)
    # depth 2: conv1 bn1 relu maxpool, 8 blocks, avgpool fc = 14 modules; the blocks without a downsample
    # have 2 x 115,605,504 MACs (the most): layer1.0 and layer1.1 first (ties keep execution order)
    argv = ["layers", "resnet18", "--by-module", "2", "--sort-by", "macs", "--top", "2", "--wide"]
    code, out, _ = run(argv, capsys)
    lines = out.splitlines()
    assert lines[1] == "rows by MACs, largest first; the first 2 of 14 modules"
    assert [line.split()[0] for line in lines[4:6]] == ["layer1.0", "layer1.1"]


def test_layers_sort_by_time_needs_a_target(capsys):
    code, _, err = run(["layers", "resnet18", "--sort-by", "time"], capsys)
    assert (code, err) == (
        2,
        "modeltui: error: --sort-by time is a roofline estimate: give --hardware ID too\n",
    )


def test_completion_names(capsys):
    code, out, _ = run(["completion", "--names", "hardware"], capsys)
    ids = out.split()
    assert code == 0 and "h100-sxm5-80gb" in ids and ids[-1] == "this-machine"
    code, out, _ = run(["completion", "--names", "models"], capsys)
    names = out.split()
    assert "resnet18" in names and "hf:gpt2" in names
    code, out, _ = run(["completion", "--names", "verbs"], capsys)
    assert out.split()[:2] == ["compare", "layers"] and "completion" in out.split()


def _bash_complete(script: str, words: list[str]) -> list[str]:
    """Run the completion function in bash for ``words`` (the last one being completed), with ``modeltui``
    stubbed so that ``--names`` answers without Python."""
    stub = (
        'modeltui() { case "$3" in models) printf "resnet18\\nresnet50\\nvit_b_16\\ntimm:resnet50\\n'
        'hf:meta-llama/Llama-3.1-8B\\n";; '
        'hardware) printf "a10\\nh100-sxm5-80gb\\nthis-machine\\n";; esac; }\n'
    )
    words_q = " ".join(f"'{w}'" for w in words)
    program = (
        f"{stub}{script}\nCOMP_WORDS=({words_q}); COMP_CWORD={len(words) - 1}; _modeltui; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completion_completes_verbs_options_models_and_hardware(capsys):
    code, script, _ = run(["completion", "bash"], capsys)
    assert code == 0
    assert _bash_complete(script, ["modeltui", "com"]) == ["compare", "completion"]
    assert _bash_complete(script, ["modeltui", "layers", "--so"]) == ["--sort-by"]
    assert _bash_complete(script, ["modeltui", "layers", "--sort-by", "m"]) == ["macs"]
    assert _bash_complete(script, ["modeltui", "compare", "--format", "m"]) == ["markdown"]
    assert _bash_complete(script, ["modeltui", "compare", "resnet"]) == ["resnet18", "resnet50"]
    # bash splits words at ':': timm:res arrives as timm, :, res and only the part after ':' is replaced
    assert _bash_complete(script, ["modeltui", "compare", "timm", ":", "res"]) == ["resnet50"]
    assert _bash_complete(script, ["modeltui", "layers", "hf", ":", "meta-llama/Llama-3"]) == [
        "meta-llama/Llama-3.1-8B"
    ]
    assert _bash_complete(script, ["modeltui", "compare", "timm", ":"]) == [":resnet50"]
    assert _bash_complete(script, ["modeltui", "roofline", "vit_b_16", "--hardware", "h1"]) == [
        "h100-sxm5-80gb"
    ]
    assert _bash_complete(script, ["modeltui", "models", "--format", ""]) == ["table", "json"]


def test_zsh_and_fish_scripts(capsys):
    _, zsh, _ = run(["completion", "zsh"], capsys)
    assert "bashcompinit" in zsh and "complete -o default -F _modeltui modeltui" in zsh
    _, fish, _ = run(["completion", "fish"], capsys)
    lines = fish.splitlines()
    assert (
        "complete -c modeltui -n '__fish_seen_subcommand_from layers' -l sort-by -x -a "
        + ("'time macs flops bytes ai weights live'")
        in lines
    )
    hardware = "-l hardware -x -a '(modeltui completion --names hardware 2>/dev/null)'"
    assert f"complete -c modeltui -n '__fish_seen_subcommand_from roofline' {hardware}" in lines
