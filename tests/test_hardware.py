"""Hardware catalog: built-in figures, ridge points, user files and their error messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metrics_core.common.errors import HardwareFileError, UnknownHardwareError, UsageError
from metrics_core.perf.hardware import (
    get_target,
    hardware_targets,
    load_catalog,
    user_hardware_dir,
)


@pytest.fixture(autouse=True)
def config_dir(tmp_path, monkeypatch) -> Path:
    """Every test gets an empty config dir; user hardware files go in <config>/hardware."""
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))
    return tmp_path / "config"


# The 23 rows of reference/hardware_specs.csv: bandwidth GB/s, memory GB,
# (fp32, tf32, fp16, bf16, int8) dense peaks with None where the CSV cell is empty.
CSV = {
    "a100-sxm4-80gb": (2039, 80, (19.5, 156, 312, 312, 624)),
    "a100-pcie-40gb": (1555, 40, (19.5, 156, 312, 312, 624)),
    "h100-sxm5-80gb": (3350, 80, (66.9, 494.7, 989.4, 989.4, 1978.9)),
    "h100-pcie-80gb": (2000, 80, (51.2, 378, 756, 756, 1513)),
    "h200-sxm-141gb": (4800, 141, (66.9, 494.7, 989.4, 989.4, 1978.9)),
    "b200-hgx-180gb": (7700, 180, (75, 1100, 2250, 2250, 4500)),
    "l4": (300, 24, (30.3, 60, 121, 121, 242.5)),
    "l40s": (864, 48, (91.6, 183, 362, 362, 733)),
    "t4": (320, 16, (8.1, None, 65, None, 130)),
    "v100-sxm2-32gb": (900, 32, (15.7, None, 125, None, 62.7)),
    "a10": (600, 24, (31.2, 62.5, 125, 125, 250)),
    "rtx-4090": (1008, 24, (82.6, 82.6, 165.2, 165.2, 660.6)),
    "rtx-3090": (936, 24, (35.6, 35.6, 71, 71, 284)),
    "jetson-agx-orin-64gb": (204.8, 64, (5.3, 21.3, 42.6, 42.6, 85)),
    "jetson-orin-nano-8gb": (68, 8, (1.28, 5.1, 10.2, 10.2, 20)),
    "mi300x": (5300, 192, (163.4, 653.7, 1307.4, 1307.4, 2614.9)),
    "mi250x": (3276.8, 128, (47.9, None, 383, 383, 383)),
    "tpu-v4": (1200, 32, (None, None, None, 275, 275)),
    "tpu-v5e": (819, 16, (None, None, None, 197, 393)),
    # The CSV has no fp16 for the M2; the catalog adds 3.6 (same rate as fp32, see its notes).
    "apple-m2-gpu": (100, 24, (3.6, None, 3.6, None, None)),
    "xeon-8480-plus": (307.2, 4096, (7.17, None, 14.3, 114.7, 229.4)),
    "epyc-9654": (460.8, 6144, (7.37, None, None, 14.7, 29.5)),
    "raspberry-pi-5": (17.1, 8, (0.154, None, 0.307, None, 0.614)),
}


def test_builtin_catalog_matches_reference_csv():
    targets = {t.id: t for t in hardware_targets()}
    assert set(CSV) <= set(targets)
    for tid, (bw, mem, peaks) in CSV.items():
        t = targets[tid]
        assert (t.memory_bandwidth_gbps, t.memory_gb) == (bw, mem), tid
        csv_paths = ("fp32", "tf32", "fp16", "bf16", "int8")  # the CSV's columns (fp8/fp4 came later)
        assert {p: t.peak_tflops.get(p) for p in csv_paths} == dict(zip(csv_paths, peaks, strict=True)), tid
        assert t.source and t.origin == "built-in"


def test_every_builtin_target_is_complete_and_sourced():
    targets = hardware_targets()
    assert len(targets) == 49  # the 23 CSV rows + jetson-orin-nano-8gb-super + 5 of issue 12 + 20 of issue 19
    assert len({t.id for t in targets}) == len(targets)
    for t in targets:
        assert t.source.strip() and t.notes.strip(), t.id
        assert t.launch_overhead_us is None  # built-ins define no launch overhead
        # every figure marked uncertain has a note saying why (derived or disputed)
        assert set(t.uncertain) <= set(t.figure_notes), t.id


@pytest.mark.parametrize(
    ("tid", "precision", "ridge"),
    [
        ("a100-pcie-40gb", "fp32", 12.540),  # 19.5e12 / 1555e9 = 12.540 FLOP/byte (the seed's 12.5)
        ("a100-pcie-40gb", "tf32", 100.32),  # 156e12 / 1555e9
        ("h100-sxm5-80gb", "bf16", 295.34),  # 989.4e12 / 3350e9
        ("rtx-4090", "fp16", 163.89),  # 165.2e12 / 1008e9
        ("raspberry-pi-5", "fp32", 9.0058),  # 0.154e12 / 17.1e9
        ("tpu-v5e", "int8", 479.85),  # 393e12 / 819e9
    ],
)
def test_ridge_points(tid, precision, ridge):
    assert get_target(tid).ridge_point(precision) == pytest.approx(ridge, rel=1e-4)


def test_peak_flops_and_bandwidth_units():
    t = get_target("a100-pcie-40gb")
    assert t.peak_flops("fp16") == 312e12  # TFLOP/s -> FLOP/s
    assert t.bandwidth == 1555e9  # GB/s -> bytes/s


def test_missing_precision_names_target_and_what_it_has():
    with pytest.raises(UsageError, match=r"'t4' \(NVIDIA T4\) has no bf16 path; it has fp32, fp16, int8"):
        get_target("t4").peak_flops("bf16")
    with pytest.raises(UsageError, match="it has bf16, int8"):
        get_target("tpu-v4").ridge_point("fp32")


def test_unknown_id_suggests_close_ids():
    with pytest.raises(UnknownHardwareError, match="did you mean rtx-4090, rtx-5090, rtx-4080"):
        get_target("rtx4090")
    with pytest.raises(UnknownHardwareError, match="did you mean a100-sxm4-80gb, a100-pcie-40gb"):
        get_target("a100")
    assert get_target("A100-PCIE-40GB").id == "a100-pcie-40gb"  # ids are case-insensitive
    # no id resembles "cpu-generic": the targets whose kind names "cpu" (the catalog's first three)
    with pytest.raises(UnknownHardwareError, match="did you mean xeon-8480-plus, epyc-9654, core-i7-12700h"):
        get_target("cpu-generic")


def test_config_dir_env_override(config_dir):
    assert user_hardware_dir() == config_dir / "hardware"


# ------------------------------------------------------------------------------------ user files

GOOD = """
[[target]]
id = "my-gpu"
name = "My GPU"
vendor = "Acme"
kind = "consumer GPU"
memory_bandwidth_gbps = 500
memory_gb = 12
source = "Acme spec sheet"
launch_overhead_us = 5
[target.peak_tflops]
fp32 = 10
fp16 = 40
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_in_config_dir_adds_a_target(config_dir):
    path = _write(config_dir / "hardware" / "mine.toml", GOOD)
    t = get_target("my-gpu")
    assert (t.name, t.memory_bandwidth_gbps, dict(t.peak_tflops)) == (
        "My GPU",
        500.0,
        {"fp32": 10.0, "fp16": 40.0},
    )
    assert t.ridge_point("fp16") == 80.0  # 40e12 / 500e9
    assert t.launch_overhead_s == pytest.approx(5e-6)
    assert t.origin == str(path)
    assert len(hardware_targets()) == 50


def test_hardware_file_option_adds_a_target(tmp_path):
    path = _write(tmp_path / "extra.toml", GOOD)
    assert get_target("my-gpu", extra_files=[path]).memory_gb == 12.0
    with pytest.raises(UnknownHardwareError):
        get_target("my-gpu")


def _replace(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


BROKEN = {
    "bad syntax": (
        _replace('name = "My GPU"', 'name = "My GPU'),
        r"hardware file .*bad\.toml: invalid TOML: .*line 4",
    ),
    "missing field": (
        _replace("memory_bandwidth_gbps = 500\n", ""),
        r"bad\.toml: target 'my-gpu': field 'memory_bandwidth_gbps' is missing$",
    ),
    "wrong type": (
        _replace("memory_gb = 12", 'memory_gb = "12"'),
        r"target 'my-gpu': field 'memory_gb' must be a positive number$",
    ),
    "negative number": (
        _replace("memory_bandwidth_gbps = 500", "memory_bandwidth_gbps = -500"),
        r"^hardware file .*bad\.toml: target 'my-gpu': "
        r"field 'memory_bandwidth_gbps' must be a positive number$",
    ),
    "unknown precision": (
        _replace("fp16 = 40", "fp6 = 80"),
        r"target 'my-gpu': field 'peak_tflops\.fp6' is not a known precision "
        r"\(use fp32, tf32, fp16, bf16, fp8, int8, fp4\)",
    ),
    "negative peak": (
        _replace("fp16 = 40", "fp16 = 0"),
        r"target 'my-gpu': field 'peak_tflops\.fp16' must be a positive number",
    ),
    "tiny bandwidth (overflows once scaled)": (
        _replace("memory_bandwidth_gbps = 500", "memory_bandwidth_gbps = 1e-320"),
        r"field 'memory_bandwidth_gbps' is 9\.99989e-321, outside the plausible range 1e-06 to 1e\+09$",
    ),
    "huge peak": (
        _replace("fp16 = 40", "fp16 = 1e300"),
        r"field 'peak_tflops\.fp16' is 1e\+300, outside the plausible range 1e-06 to 1e\+09$",
    ),
    "duplicate id in file": (GOOD + GOOD, r"target 'my-gpu': field 'id' is defined twice in this file"),
    "duplicate of built-in": (
        _replace('id = "my-gpu"', 'id = "a100-pcie-40gb"'),
        r"target 'a100-pcie-40gb': field 'id' duplicates a built-in target",
    ),
    "misspelt field": (
        _replace("memory_gb = 12", "memory_gb = 12\nmemory_bandwith_gbps = 1"),
        r"field 'memory_bandwith_gbps' is not a known field \(did you mean 'memory_bandwidth_gbps'\?\)",
    ),
    "bad id": (
        _replace('id = "my-gpu"', 'id = "My GPU"'),
        r"target 'My GPU': field 'id' must be lowercase kebab-case",
    ),
    "no targets": ('title = "nothing"\n', r"unknown top-level key 'title'"),
    "minimum power limit without its source": (
        _replace("memory_gb = 12", "memory_gb = 12\nmin_power_limit_w = 100"),
        r"field 'min_power_limit_source' is missing: say where min_power_limit_w comes from$",
    ),
    "minimum power limit above the board power": (
        _replace(
            "memory_gb = 12",
            'memory_gb = 12\nboard_power_w = 300\nboard_power_source = "s"\nmin_power_limit_w = 350\n'
            'min_power_limit_source = "s"',
        ),
        r"field 'min_power_limit_w' is 350, above board_power_w 300$",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_hardware_file_raises_one_line_error(tmp_path, case):
    text, pattern = BROKEN[case]
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(HardwareFileError, match=pattern) as info:
        load_catalog([path])
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_missing_hardware_file_is_an_error(tmp_path):
    with pytest.raises(HardwareFileError, match=r"nope\.toml: cannot read"):
        load_catalog([tmp_path / "nope.toml"])


def test_broken_user_file_is_skipped_with_a_warning_and_builtins_work(config_dir):
    _write(config_dir / "hardware" / "a-broken.toml", _replace("memory_gb = 12", "memory_gb = -1"))
    _write(config_dir / "hardware" / "b-good.toml", _replace('id = "my-gpu"', 'id = "other-gpu"'))
    catalog = load_catalog()
    assert catalog.warnings == [
        f"hardware file {config_dir / 'hardware' / 'a-broken.toml'}: target 'my-gpu': "
        "field 'memory_gb' must be a positive number (file skipped)"
    ]
    assert catalog.get("a100-pcie-40gb").ridge_point("fp32") == pytest.approx(12.540, rel=1e-4)
    assert catalog.get("other-gpu").memory_gb == 12.0
    with pytest.raises(UnknownHardwareError):
        catalog.get("my-gpu")


def test_duplicate_across_user_files_is_reported(config_dir, tmp_path):
    _write(config_dir / "hardware" / "one.toml", GOOD)
    extra = _write(tmp_path / "two.toml", GOOD)
    with pytest.raises(
        HardwareFileError, match=r"two\.toml: target 'my-gpu': field 'id' duplicates .*one\.toml"
    ):
        load_catalog([extra])


def test_hardware_modules_import_without_torch_or_plotext():
    code = (
        "import sys, metrics_core.perf.hardware, metrics_core.perf.roofline, metrics_core.perf.roofline_plot;"
        "metrics_core.perf.hardware.hardware_targets();"
        "print(' '.join(sorted(m for m in ('torch', 'plotext', 'textual') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_same_file_named_twice_loads_once(config_dir, tmp_path):
    path = _write(tmp_path / "mine.toml", GOOD)
    assert [t.id for t in hardware_targets([path, path])].count("my-gpu") == 1
    user = _write(config_dir / "hardware" / "mine.toml", GOOD)
    assert [t.id for t in hardware_targets([user])].count("my-gpu") == 1


def test_target_without_id_is_named_by_position(tmp_path):
    path = _write(tmp_path / "bad.toml", GOOD + _replace('id = "my-gpu"\n', ""))
    with pytest.raises(HardwareFileError, match=r"bad\.toml: target #2: field 'id' is missing$"):
        load_catalog([path])


def test_non_utf8_user_file_is_skipped(config_dir):
    (config_dir / "hardware").mkdir(parents=True)
    (config_dir / "hardware" / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    catalog = load_catalog()
    assert catalog.warnings == [
        f"hardware file {config_dir / 'hardware' / 'latin1.toml'}: "
        "cannot read (not UTF-8 text) (file skipped)"
    ]
    assert len(catalog.targets) == 49


def test_a_multi_device_package_names_its_device_and_llm_refuses_the_package():
    """An MI250X is two GCDs to ROCm, each its own GPU (``mi250x-gcd``: half the package's 3276.8 GB/s
    and 128 GB): ``llm`` on the package would price one 3.3 TB/s GPU that no software sees."""
    from metrics_core.perf.llm import Scenario

    targets = {t.id: t for t in hardware_targets()}
    packages = {t.id: t.device_target for t in targets.values() if t.device_target}
    assert packages == {"mi250x": "mi250x-gcd"}
    assert all(d in targets for d in packages.values())
    with pytest.raises(UsageError, match=r"use --hardware mi250x-gcd \(--tp N across several\)"):
        Scenario(stack="vllm").validated(targets["mi250x"])
    assert Scenario(stack="vllm").validated(targets["mi250x-gcd"]).stack == "vllm"
