"""GPUs beyond one scale-up domain are refused, not estimated over a link they cannot share; a link that
joins fewer GPUs than asked says what runs the collectives beyond it (``perf.comm``)."""

from __future__ import annotations

import pytest

from metrics_core.common.errors import UsageError
from metrics_core.perf.comm import check_scale_up, domain_gpus, link_label
from metrics_core.perf.hardware import load_catalog
from tui.cli import main


@pytest.fixture(scope="module")
def catalog():
    return load_catalog([])


def test_domain_sizes():
    # links.toml: one 8-GPU server for every kind but TPU ICI; a target's own figure wins (NVL72)
    assert [domain_gpus(k) for k in ("nvswitch", "nvlink-bridge", "pcie", "infinity-fabric")] == [8, 8, 8, 8]
    assert domain_gpus("ici") is None
    assert domain_gpus("nvswitch", 72) == 72


def test_check_scale_up(catalog):
    h100, gb200 = catalog.get("h100-sxm5-80gb"), catalog.get("gb200")
    check_scale_up(h100, 8, "--gpus")  # one HGX board: fine
    check_scale_up(gb200, 72, "--gpus")  # one NVL72 rack
    with pytest.raises(UsageError, match=r"^--gpus 16: h100-sxm5-80gb joins at most 8 GPUs over"):
        check_scale_up(h100, 16, "--gpus")
    with pytest.raises(UsageError, match=r"^--tp 73: gb200 joins at most 72 GPUs .* \(one NVL72 rack\)"):
        check_scale_up(gb200, 73, "--tp")
    with pytest.raises(UsageError, match="has no device interconnect figure"):
        check_scale_up(catalog.get("jetson-agx-orin-64gb"), 2, "--tp")


def test_a_link_without_a_bandwidth_is_named_for_what_it_is(catalog):
    # TPU v4 has an ICI link (hardware.toml interconnect_kind = "ici") but Google publishes no per-chip ICI
    # bandwidth: the refusal said "no GPU interconnect"; it names the link and the missing figure
    with pytest.raises(UsageError) as info:
        check_scale_up(catalog.get("tpu-v4"), 2, "--tp")
    assert str(info.value) == (
        "Google TPU v4 (per chip)'s ici link has no bandwidth figure (interconnect_gbps): --tp 1 only"
    )
    # a kind of device that is no GPU is called what it is: Gaudi 2 (kind "accelerator", an 8-device
    # roce server: links.toml's default max_gpus), a CPU (no link at all)
    with pytest.raises(UsageError) as info:
        check_scale_up(catalog.get("gaudi2"), 16, "--gpus")
    assert str(info.value).startswith("--gpus 16: gaudi2 joins at most 8 accelerators over its roce link")
    with pytest.raises(UsageError, match=r"^AMD EPYC 9654 \(per socket\) has no device interconnect figure"):
        check_scale_up(catalog.get("epyc-9654"), 2, "--gpus")


def test_cli_names_the_tpu_link(capsys):
    argv = ["llm", "hf:gpt2", "--hardware", "tpu-v4", "--tp", "2"]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "modeltui: error: Google TPU v4 (per chip)'s ici link has no bandwidth figure (interconnect_gbps): "
        "--tp 1 only\n"
    )


def test_link_label(catalog):
    a100_pcie = catalog.get("a100-pcie-40gb")
    assert link_label(a100_pcie, 2) == "nvlink-bridge, 600 GB/s"
    # beyond the bridged pair NCCL's ring crosses PCIe: links.toml's fallback, Gen4 x16 64 GB/s both ways
    assert link_label(a100_pcie, 8) == "nvlink-bridge joins 2, pcie between them: 64 GB/s"
    assert link_label(catalog.get("h100-sxm5-80gb"), 8) == "nvswitch, 900 GB/s"


def test_cli_refuses_gpus_beyond_a_server(capsys):
    assert main(["train", "resnet18", "--hardware", "h100-sxm5-80gb", "--gpus", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("modeltui: error: --gpus 100,000: h100-sxm5-80gb joins at most 8 GPUs")
    assert err.count("\n") == 1
