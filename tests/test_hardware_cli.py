"""``modeltui hardware``: JSON figures against the reference CSV, the table, user-file warnings."""

from __future__ import annotations

import json

import pytest

from tui.cli import main


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


def _json(capsys, *argv: str) -> list[dict]:
    assert main(["hardware", "--format", "json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_json_matches_reference_csv_for_two_targets(capsys):
    rows = {r["id"]: r for r in _json(capsys)}
    a100 = rows["a100-pcie-40gb"]
    # reference/hardware_specs.csv: 1555 GB/s, 40 GB, 19.5 / 156 / 312 / 312 / 624
    assert {k: a100[k] for k in ("name", "vendor", "kind", "memory_bandwidth_gbps", "memory_gb")} == {
        "name": "NVIDIA A100 PCIe 40GB",
        "vendor": "NVIDIA",
        "kind": "datacenter GPU",
        "memory_bandwidth_gbps": 1555,
        "memory_gb": 40,
    }
    assert a100["peak_tflops"] == {"fp32": 19.5, "tf32": 156, "fp16": 312, "bf16": 312, "int8": 624}
    assert a100["source"] == "NVIDIA A100 Tensor Core GPU datasheet"
    assert a100["ridge_points"]["fp32"] == pytest.approx(12.540, rel=1e-4)  # 19.5e12 / 1555e9
    t4 = rows["t4"]
    # CSV: 320 GB/s, 16 GB, fp32 8.1, fp16 65, int8 130, no TF32/BF16 -> keys absent
    assert (t4["memory_bandwidth_gbps"], t4["memory_gb"]) == (320, 16)
    assert t4["peak_tflops"] == {"fp32": 8.1, "fp16": 65, "int8": 130}
    assert len(rows) == 49


def test_table_lists_ridge_points_and_marks_uncertain_figures(capsys):
    assert main(["hardware"]) == 0
    out = capsys.readouterr().out
    # a narrow terminal splits the table into column blocks: join the target's rows of every block
    a100 = [f for line in out.splitlines() if line.startswith("a100-pcie-40gb ") for f in line.split()[1:]]
    a100 = ["a100-pcie-40gb", *a100]
    # bandwidth, memory, fp32 tf32 fp16 bf16 fp8 int8 fp4, ridge fp32 (12.5), ridge fp16 (312e12/1555e9 =
    # 200.6), board W, clock: Ampere 1.28 pJ/FLOP x 312 = 399.4 W over 250 W -> sqrt(250 / 399.36) = 0.79
    assert a100[:15] == [
        "a100-pcie-40gb",
        "1555",
        "40",
        "19.5",
        "156",
        "312",
        "312",
        "-",
        "624",
        "-",
        "12.5",
        "200.6",
        "250",
        "0.79M",
        "-",
    ]
    rpi = next(line for line in out.splitlines() if line.startswith("raspberry-pi-5 "))
    assert rpi.split()[:5] == ["raspberry-pi-5", "17.1", "8", "0.154~", "-"]
    assert "'~' = derived or uncertain figure" in out


def test_hardware_file_option_and_broken_user_file_warning(config_dir, tmp_path, capsys):
    (config_dir / "hardware").mkdir(parents=True)
    (config_dir / "hardware" / "broken.toml").write_text("[[target]\n")
    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[[target]]\nid = "my-npu"\nname = "My NPU"\nvendor = "Acme"\nkind = "NPU"\n'
        'memory_bandwidth_gbps = 50\nmemory_gb = 4\nsource = "Acme"\n[target.peak_tflops]\nint8 = 10\n'
    )
    assert main(["hardware", "--format", "json", "--hardware-file", str(extra)]) == 0
    captured = capsys.readouterr()
    rows = {r["id"]: r for r in json.loads(captured.out)}
    assert rows["my-npu"]["peak_tflops"] == {"int8": 10.0}
    assert rows["my-npu"]["ridge_points"] == {"int8": 200.0}  # 10e12 / 50e9
    assert rows["my-npu"]["origin"] == str(extra)
    warning_lines = captured.err.splitlines()
    assert len(warning_lines) == 1
    assert warning_lines[0].startswith(
        f"modeltui: warning: hardware file {config_dir / 'hardware' / 'broken.toml'}: "
    )
    assert warning_lines[0].endswith("(file skipped)")


def test_broken_hardware_file_option_is_an_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[target]]\nid = "x"\nname = "X"\nvendor = "V"\nkind = "CPU"\nmemory_gb = 1\nsource = "s"\n'
        "[target.peak_tflops]\nfp32 = 1\n"
    )
    assert main(["hardware", "--hardware-file", str(bad)]) == 2
    assert capsys.readouterr().err == (
        f"modeltui: error: hardware file {bad}: target 'x': field 'memory_bandwidth_gbps' is missing\n"
    )


def test_the_table_says_the_order_its_rows_are_in(tmp_path, capsys):
    # the heading said "catalog order (vendor, then kind)" over rows that are in neither order (rtx-5090
    # after raspberry-pi-5); the rows are the built-in file's order, then the user's files
    from metrics_core.perf.hardware import builtin_targets

    extra = tmp_path / "mine.toml"
    extra.write_text(
        '[[target]]\nid = "my-npu"\nname = "My NPU"\nvendor = "Acme"\nkind = "NPU"\n'
        'memory_bandwidth_gbps = 50\nmemory_gb = 4\nsource = "Acme"\n[target.peak_tflops]\nint8 = 10\n'
    )
    assert main(["hardware", "--hardware-file", str(extra)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "rows in catalog order (built-in hardware.toml order, then your hardware files)"
    ids = [t.id for t in builtin_targets()] + ["my-npu"]
    first_block = out[3 : 3 + len(ids)]  # the heading, the header and its rule, then one row per target
    assert [line.split()[0] for line in first_block] == ids
    # the file's first three, and its last two: a laptop part after the EPYC 9755 (no vendor grouping)
    assert ids[:3] == ["a100-sxm4-80gb", "a100-pcie-40gb", "h100-sxm5-80gb"]
    assert ids[-4:] == ["epyc-9755", "rtx-4090-laptop", "rtx-4060-laptop", "my-npu"]
