"""Calibration (``metrics_core.perf.calibrate``), the user efficiency file, bench's saved measurements and the
``calibrate`` verb — on hand-built op records, never a real model analysis, no timings."""

from __future__ import annotations

import hashlib
import json

import pytest

from metrics_core.common.records import OpRecord
from metrics_core.perf import calibrate as cal
from metrics_core.perf import efficiency
from metrics_core.perf.hardware import get_target
from metrics_core.perf.roofline import estimate_records
from tui.cli import main

GPU = get_target("rtx-4090")


def rec(i, op, cat, inb, outb, wb=0, flops=0, macs=0, shapes=None, out_shape=None):  # noqa: ANN001
    return OpRecord(
        index=i, module=f"m{i}", module_type="M", op=op, category=cat, input_shapes=shapes or [[1]],
        output_shape=out_shape or [1], dtype="fp16", macs=macs, flops=flops, input_bytes=inb,
        output_bytes=outb, weight_bytes=wb, reads_from=[i - 1],
    )  # fmt: skip


def matmul(i, n):  # noqa: ANN001
    """An n x n x n fp16 GEMM: 2 n^3 FLOPs, compute-bound on the 4090 (a whole number of 128-tile waves)."""
    return rec(i, "mm", "matmul", 2 * n * n * 2, n * n * 2, flops=2 * n**3, macs=n**3,
               shapes=[[n, n], [n, n]], out_shape=[n, n])  # fmt: skip


def stream(i, nbytes):  # noqa: ANN001
    """A pointwise op moving ``nbytes`` (memory-bound at this size)."""
    return rec(i, "relu", "activation", nbytes // 2, nbytes // 2)


def tiny(i):  # noqa: ANN001
    """A pointwise op on 4 bytes: its time is the host's issue time per eager op."""
    return rec(i, "relu", "activation", 2, 2)


def rows_from(truth: dict[str, float]) -> list[cal.PreparedRow]:
    """Synthetic models mixing GEMMs, streaming ops and tiny ops, 'measured' with the ``truth`` values."""
    mixes = [
        [matmul(0, 4096)],
        [matmul(0, 8192), stream(1, 200_000_000)],
        [stream(0, 400_000_000)],
        [stream(0, 100_000_000), *(tiny(i) for i in range(1, 200))],
        [tiny(i) for i in range(300)],
        [matmul(0, 2048), *(tiny(i) for i in range(1, 50))],
    ]
    out = []
    for n, records in enumerate(mixes):
        m = cal.Measurement(f"synthetic{n}", records, GPU, "fp16", "eager", 8, 1.0)
        row = cal.prepare(m)
        measured = cal.estimate(row, truth)
        out.append(cal.prepare(cal.Measurement(m.model, records, GPU, "fp16", "eager", 8, measured)))
    return out


@pytest.fixture(autouse=True)
def _clean_config(tmp_path, monkeypatch):
    """No user efficiency file unless a test writes one; a fresh cache dir (bench's saved results)."""
    monkeypatch.setenv("MODELTUI_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path / "cache"))


# ---------------------------------------------------------------------------------------------- fit


def test_terms_reproduce_kernel_time():
    # the fit evaluates time_from_terms over cached terms: the same number estimate_records gives
    records = [matmul(0, 1024), stream(1, 10_000_000), tiny(2)]
    m = cal.Measurement("x", records, GPU, "fp16", "eager", 4, 1.0)
    e = estimate_records(records, GPU, "fp16", 4, "x", "eager", "calibrated")
    assert cal.estimate(cal.prepare(m)) == pytest.approx(e.throughput_per_s, rel=1e-12)


def test_fit_recovers_known_parameters():
    # rows generated with gemm 0.8, bandwidth 0.7, eager_op_us 9 are fitted back from the built-in values
    # (Ada: 1.0, 0.88, 6 us) to within 2 %
    truth = {"gemm": 0.8, "bandwidth": 0.7, "eager_op_us": 9.0}
    rows = rows_from(truth)
    res = cal.fit(rows, ["gemm", "bandwidth", "eager_op_us"], prior_weight=0.0)
    assert res.start == {"gemm": 1.0, "bandwidth": 0.88, "eager_op_us": 6.0}
    for name, value in truth.items():
        assert res.fitted[name] == pytest.approx(value, rel=0.02), name
    assert res.loss_after < 0.01 < res.loss_before


def test_fit_keeps_unconstrained_parameters_and_stays_in_range():
    # no row has a convolution: conv_eager keeps its start value; values never leave their ranges
    rows = rows_from({"gemm": 0.8, "bandwidth": 0.7, "eager_op_us": 9.0})
    res = cal.fit(rows, ["conv_eager", "gemm"], rounds=3)
    assert res.fitted["conv_eager"] == res.start["conv_eager"] == 0.7
    lo, hi = efficiency.PARAM_RANGES["gemm"]
    assert lo <= res.fitted["gemm"] <= hi


def test_fit_refuses_bad_input():
    rows = rows_from({})
    with pytest.raises(ValueError, match="unknown parameter 'tiles'"):
        cal.fit(rows, ["tiles"])
    with pytest.raises(ValueError, match="no measurement rows"):
        cal.fit([], ["gemm"])
    with pytest.raises(ValueError, match="unknown loss"):
        cal.fit(rows, ["gemm"], loss="max")


def test_losses_by_hand():
    ratios = [1.0, 2.0, 0.5, 1.1]
    logs = [0.0, 0.6931471805599453, 0.6931471805599453, 0.09531017980432493]
    assert cal.loss_of(ratios, "mean") == pytest.approx(sum(logs) / 4)
    assert cal.loss_of(ratios, "median") == pytest.approx((0.09531017980432493 + 0.6931471805599453) / 2)
    assert cal.loss_of(ratios, "mse") == pytest.approx(sum(x * x for x in logs) / 4)


def test_held_out_split_is_deterministic():
    # SHA-256 of the name, first 8 hex digits / 2^32 < fraction
    h = int(hashlib.sha256(b"resnet50").hexdigest()[:8], 16) / 2**32
    assert cal.held_out("resnet50", 0.25) == (h < 0.25)
    names = [f"model{i}" for i in range(400)]
    first = [cal.held_out(n, 0.25) for n in names]
    assert first == [cal.held_out(n, 0.25) for n in names]
    assert 0.18 < sum(first) / len(names) < 0.32  # about 1 in 4
    assert not any(cal.held_out(n, 0.0) for n in names)
    rows = rows_from({})
    fit_rows, held = cal.split(rows, 0.5)
    assert sorted(r.model for r in fit_rows + held) == sorted(r.model for r in rows)
    assert all(cal.held_out(r.model, 0.5) for r in held)


def test_calibrate_reports_both_splits():
    rows = rows_from({"gemm": 0.8, "bandwidth": 0.7, "eager_op_us": 9.0})
    c = cal.calibrate(rows, ["gemm", "bandwidth", "eager_op_us"], holdout=0.0, prior_weight=0.0)
    assert c.held_before["n"] == 0 and c.fit_before["n"] == 6
    assert c.fit_after["median_abs_error"] < 0.01 < c.fit_before["median_abs_error"]
    d = c.to_dict()
    assert d["after"] == c.result.fitted and d["fit_rows"]["after"] == c.fit_after


# ------------------------------------------------------------------------------------ the user file


def user_file(tmp_path):  # noqa: ANN001
    path = tmp_path / "config" / "efficiency.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_user_file_overrides_params_for(tmp_path):
    assert efficiency.user_efficiency_file() == tmp_path / "config" / "efficiency.toml"
    base = efficiency.params_for(GPU)
    assert efficiency.efficiency_source(GPU) == "built-in"
    path = user_file(tmp_path)
    path.write_text("# fitted\n[target.rtx-4090]\ngemm = 0.8\neager_op_us = 9\n", encoding="utf-8")
    p = efficiency.params_for(GPU)
    assert (p.gemm, p.eager_op_us, p.conv_eager, p.units) == (0.8, 9.0, base.conv_eager, base.units)
    assert efficiency.builtin_params_for(GPU) == base
    assert efficiency.efficiency_source(GPU) == f"user: {path} (eager_op_us, gemm)"
    other = get_target("rtx-3090")
    assert efficiency.params_for(other) == efficiency.builtin_params_for(other)
    e = estimate_records([tiny(0)], GPU, "fp16", 1, "t", "eager", "calibrated")
    assert (
        e.efficiency_source.startswith("user: ") and e.to_dict()["efficiency_source"] == e.efficiency_source
    )
    assert e.latency_s == pytest.approx(9e-6)  # the host's issue time of one eager op, from the user file
    ideal = estimate_records([tiny(0)], GPU, "fp16", 1, "t", "eager", "ideal")
    assert ideal.efficiency_source is None


@pytest.mark.parametrize(
    "text, why",
    [
        ("[target.rtx-4090\ngemm = 0.8\n", "not valid TOML"),
        ("[target.rtx-4090]\ntiles = 1\n", "not a calibratable parameter"),
        (
            "[target.rtx-4090]\ngem = 0.8\n",
            "[target.rtx-4090] gem: not a calibratable parameter; did you mean gemm? (one",
        ),
        ("[target.rtx-4090]\ngemm = 1.5\n", "outside its range"),
        ('[target.rtx-4090]\ngemm = "x"\n', "expected a number"),
        ("gemm = 0.5\n", "only [target.ID] tables"),
        # a helper's fresh-user run: these raised AttributeError (a traceback from every verb)
        ("target = 5\n", "'target' is not a table of [target.ID] tables"),
        ("target = [1]\n", "'target' is not a table of [target.ID] tables"),
        ('target = "rtx-4090"\n', "'target' is not a table of [target.ID] tables"),
    ],
)
def test_broken_user_file_is_ignored_with_one_warning(tmp_path, capsys, text, why):
    user_file(tmp_path).write_text(text, encoding="utf-8")
    assert efficiency.params_for(GPU) == efficiency.builtin_params_for(GPU)
    efficiency.params_for(GPU)  # warned once per file version
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and why in err and "user efficiency file ignored" in err
    assert err.startswith("modeltui: warning: ")
    assert efficiency.efficiency_source(GPU) == "built-in"


MY_GPU = """[[target]]
id = "my-gpu"
name = "My GPU"
vendor = "Acme"
kind = "consumer GPU"
memory_bandwidth_gbps = 500
memory_gb = 12
source = "Acme spec sheet"
[target.peak_tflops]
fp32 = 10
fp16 = 40
"""


def test_a_table_of_an_unknown_target_is_one_warning_and_the_rest_applies(tmp_path, capsys):
    """``[target.h100-sxm]`` (no such id) used to be silently ignored: each such table is one warning line
    naming it, with the closest ids (those containing it first, then difflib's), and the other tables
    apply. A user-dir target, a ``--hardware-file`` target and ``this-machine`` are known ids."""
    from metrics_core.perf.hardware import load_catalog

    path = user_file(tmp_path)
    path.write_text(
        "[target.h100-sxm]\ngemm = 0.8\n[target.rtx-4090]\ngemm = 0.8\n[target.my-gpu]\ngemm = 0.7\n"
        "[target.extra-gpu]\ngemm = 0.6\n[target.this-machine]\ngemm = 0.9\n[target.zzzz]\ngemm = 0.5\n",
        encoding="utf-8",
    )
    (tmp_path / "config" / "hardware").mkdir()
    (tmp_path / "config" / "hardware" / "mine.toml").write_text(MY_GPU, encoding="utf-8")
    extra = tmp_path / "extra.toml"
    extra.write_text(MY_GPU.replace("my-gpu", "extra-gpu"), encoding="utf-8")
    where = f"{path}: [target."
    tail = " (this table applies to no target; `modeltui hardware` lists them)"
    assert efficiency.unknown_target_warnings(load_catalog([str(extra)]).ids()) == [
        f"{where}h100-sxm]: unknown hardware target; did you mean h100-sxm5-80gb, v100-sxm2-32gb, "
        f"h200-sxm-141gb?{tail}",
        f"{where}zzzz]: unknown hardware target{tail}",
    ]
    assert efficiency.params_for(GPU).gemm == 0.8  # the rest of the file applies
    # without --hardware-file, extra-gpu is unknown too; the CLI warns on stderr, each line once
    assert main(["hardware", "--format", "json"]) == 0
    assert main(["hardware", "--format", "json"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [e.split("[target.")[1].split("]")[0] for e in err] == ["h100-sxm", "extra-gpu", "zzzz"]
    assert all(e.startswith(f"modeltui: warning: {path}: ") for e in err)


def test_merge_user_file_keeps_other_tables():
    text = cal.merge_user_file("", "rtx-4090", {"gemm": 0.9}, ["first fit"])
    assert text.startswith(cal.USER_FILE_HEADER)
    text = cal.merge_user_file(text, "rtx-3090", {"gemm": 0.8, "eager_op_us": 7.5}, ["3090 fit"])
    text = cal.merge_user_file(text, "rtx-4090", {"bandwidth": 0.8}, ["second fit", "error 5 % -> 4 %"])
    assert efficiency.parse_user_efficiency(text, "f") == {
        "rtx-4090": {"gemm": 0.9, "bandwidth": 0.8},  # merged over the earlier values
        "rtx-3090": {"gemm": 0.8, "eager_op_us": 7.5},
    }
    assert "first fit" not in text and "# second fit\n# error 5 % -> 4 %\n[target.rtx-4090]" in text
    assert "# 3090 fit\n[target.rtx-3090]" in text


# -------------------------------------------------------------------------------- bench's saved results


def test_bench_results_are_appended_and_read_back(tmp_path):
    from metrics_core.measure.bench import BenchResult, load_saved, results_path, save_results
    from metrics_core.runtime.options import AnalysisOptions

    assert results_path() == tmp_path / "cache" / "bench" / "results.jsonl"
    ok = BenchResult("resnet18", "cuda", "NVIDIA GeForce RTX 4090", "fp16", 8, [3, 224, 224], 1, 4,
                     times_s=[0.02, 0.01, 0.03, 0.01], target="rtx-4090", precision="fp16")  # fmt: skip
    failed = BenchResult("bad", "cuda", "-", "fp16", 8, [], 1, 4, error="boom")
    options = AnalysisOptions(batch_size=8, dtype="fp16", input_shape=(3, 224, 224))
    assert save_results([ok, failed], options)[1] == 1
    assert save_results([ok], options)[1] == 1
    saved, bad = load_saved()
    assert bad == 0 and len(saved) == 2
    r = saved[0]
    assert (r["model"], r["target"], r["device_name"], r["execution"], r["batch_size"]) == (
        "resnet18", "rtx-4090", "NVIDIA GeForce RTX 4090", "eager", 8
    )  # fmt: skip
    assert r["median_s"] == pytest.approx(0.015) and r["throughput_per_s"] == pytest.approx(8 / 0.015)
    assert r["analysis"]["input_shape"] == [3, 224, 224] and r["torch"] and r["date"]


# ------------------------------------------------------------------------------------------- the verb


def one_line_exit_2(capsys, argv) -> str:  # noqa: ANN001
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("modeltui")
    return err


def test_cli_unknown_target(capsys):
    assert "unknown hardware 'nope'" in one_line_exit_2(
        capsys, ["calibrate", "--hardware", "nope", "--from-bench"]
    )


def test_cli_no_measurements(capsys, tmp_path):
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "rtx-4090"])
    assert "no measurements: give --from-bench" in err
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "rtx-4090", "--from-bench"])
    assert "no measurements for rtx-4090 (eager)" in err
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "rtx-4090", "--measurements", "/nope.csv"])
    assert "--measurements /nope.csv" in err
    llm = tmp_path / "llm.csv"
    llm.write_text("model,prompt,generate,tokens_per_s\nx,1,2,3\n", encoding="utf-8")
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "rtx-4090", "--measurements", str(llm)])
    assert "not a vision benchmark CSV" in err and "LLM measurements go in --llm FILE.csv" in err


def test_cli_rows_all_refused_say_why(capsys, tmp_path):
    """A CSV whose every row is refused said only "no measurements ... check the CSV's model names", though
    the names were right: a negative or NaN throughput, batch 0 or a non-number. The first reason is in
    the line, with how many more rows were skipped."""
    bad = tmp_path / "bad.csv"
    header = "model,infer_img_size,infer_batch_size,infer_samples_per_sec\n"
    bad.write_text(header + "resnet18,224,1,-5\nresnet18,abc,1,500\nnobody,224,1,5\n", encoding="utf-8")
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "l4", "--measurements", str(bad)])
    assert err == (
        f"modeltui: error: no measurements for l4 (eager) in {bad} (skipped: {bad}:2: 'resnet18' has no "
        "positive finite throughput, batch and size (and 2 more)); run `modeltui bench ... --hardware` on "
        "it or check the CSV's model names\n"
    )


def test_cli_binary_measurements_file_is_one_line(capsys, tmp_path):
    """A file that is not UTF-8 text (a binary picked by mistake) was a UnicodeDecodeError traceback."""
    binary = tmp_path / "results.csv"
    binary.write_bytes(b"model,\xf0\x28\x8c\x28\n")  # an invalid 4-byte UTF-8 sequence in the header
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "l4", "--measurements", str(binary)])
    assert err == f"modeltui: error: --measurements {binary}: not UTF-8 text (a vision benchmark CSV is)\n"


def test_cli_bad_params_and_holdout(capsys):
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "rtx-4090", "--from-bench", "--params", "x"])
    assert "--params: unknown parameter 'x'" in err
    err = one_line_exit_2(capsys, ["calibrate", "--hardware", "rtx-4090", "--from-bench", "--holdout", "1"])
    assert "--holdout" in err


def test_cli_fits_bench_results_and_writes_the_user_file(capsys, tmp_path, monkeypatch):
    # bench's saved rows for the 4090 (the analysis replaced by hand-built records); --write stores the fit
    from tui.cli.commands import calibrate as verb

    truth = {"gemm": 0.8, "bandwidth": 0.7, "eager_op_us": 9.0}
    rows = rows_from(truth)
    saved = tmp_path / "cache" / "bench" / "results.jsonl"
    saved.parent.mkdir(parents=True)
    lines = [
        {"model": r.model, "target": "rtx-4090", "dtype": "fp16", "precision": "fp16", "batch_size": 8,
         "execution": "eager", "throughput_per_s": r.measurement.samples_per_s, "analysis": {}}
        for r in rows
    ]  # fmt: skip
    lines.append(
        {"model": "other", "target": "rtx-3090", "dtype": "fp16", "batch_size": 8, "throughput_per_s": 1}
    )
    saved.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    by_name = {r.model: r.measurement for r in rows}
    monkeypatch.setattr(verb, "analyse", lambda wanted, target, args: ([by_name[w[0]] for w in wanted], []))
    argv = ["calibrate", "--hardware", "rtx-4090", "--from-bench", "--holdout", "0"]
    argv += ["--params", "gemm,bandwidth,eager_op_us", "--format", "json"]
    assert main([*argv, "--dry-run"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows"] == 6 and doc["written"] is None and doc["before"]["gemm"] == 1.0
    assert doc["after"]["gemm"] == pytest.approx(0.8, rel=0.05)
    assert not efficiency.user_efficiency_file().exists()
    assert main([*argv, "--write"]) == 0
    doc = json.loads(capsys.readouterr().out)
    path = efficiency.user_efficiency_file()
    assert doc["written"] == str(path)
    text = path.read_text(encoding="utf-8")
    assert "fitted by `modeltui calibrate`" in text and "[target.rtx-4090]" in text
    assert efficiency.params_for(GPU).gemm == doc["after"]["gemm"]
    assert efficiency.efficiency_source(GPU).startswith(f"user: {path}")
    # a user file that is not UTF-8 (an editor's UTF-16 save) was a UnicodeDecodeError traceback on --write;
    # now the reader's warning and one error line, and the file is left as it was
    path.write_bytes(b"\xff\xfe[\x00t\x00")
    capsys.readouterr()
    assert main([*argv, "--write"]) == 2
    warning, err = capsys.readouterr().err.splitlines(keepends=True)
    assert warning.startswith(f"modeltui: warning: {path}: 'utf-8' codec can't decode byte 0xff")
    assert err == (
        f"modeltui: error: the user efficiency file {path} is not UTF-8 text (byte 0): fix or move it; "
        "it was not changed\n"
    )
    assert path.read_bytes() == b"\xff\xfe[\x00t\x00"


def test_damaged_bench_results_are_skipped_and_counted(tmp_path):
    """Hand-edited or damaged lines of the saved results are skipped (counted), never a traceback in
    ``calibrate --from-bench``: wrong types, a JSON list, a line too deep to parse, bytes not UTF-8."""
    from metrics_core.measure.bench import load_saved

    good = {"model": "resnet18", "dtype": "fp16", "batch_size": 8, "throughput_per_s": 533.3, "target": "x"}
    lines = [
        json.dumps(good),
        json.dumps({**good, "batch_size": "8"}),
        json.dumps({**good, "batch_size": 0}),
        json.dumps({**good, "throughput_per_s": -1}),
        json.dumps({**good, "dtype": ["fp16"]}),  # unhashable: was a TypeError in the row key
        json.dumps({**good, "analysis": [1]}),
        json.dumps({**good, "target": 5}),
        json.dumps([good]),
        "[" * 100_000,
    ]
    path = tmp_path / "results.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe{}\n")
    saved, bad = load_saved(path)
    assert (saved, bad) == ([good], 9)  # 8 bad lines above and the non-UTF-8 one


def test_an_undecodable_user_file_is_named_in_its_warning(tmp_path, capsys):
    """A file that is not UTF-8 (an editor's UTF-16 save) warned ``'utf-8' codec can't decode byte 0xff
    ...`` without saying which file: the warning names it like every other broken-file warning."""
    path = user_file(tmp_path)
    path.write_bytes(b"\xff\xfe[\x00t\x00")  # UTF-16 LE: BOM then "[t"
    assert efficiency.params_for(GPU) == efficiency.builtin_params_for(GPU)
    err = capsys.readouterr().err
    assert err.startswith(f"modeltui: warning: {path}: 'utf-8' codec can't decode byte 0xff in position 0")
    assert err.count("\n") == 1 and err.rstrip().endswith("(user efficiency file ignored)")


def test_vision_csv_rows_without_a_finite_throughput_are_skipped_by_name(tmp_path):
    """``calibrate --measurements``: ``nan`` passed the ``rate <= 0`` check and the whole run ended in
    ``modeltui: error: math domain error``; ``inf`` too. Both are skipped and named, as a zero is."""
    from tui.cli.commands.calibrate import read_vision_csv

    path = tmp_path / "timm.csv"
    path.write_text(
        "model,infer_img_size,infer_batch_size,infer_samples_per_sec\n"
        "resnet18,224,64,9800\nresnet34,224,64,nan\nresnet50,224,64,inf\n",
        encoding="utf-8",
    )
    skipped: list[str] = []
    rows = read_vision_csv(str(path), {}, "fp16", skipped)
    assert rows == [("resnet18", "fp16", None, 64, {"input_shape": [3, 224, 224]}, 9800.0, "timm.csv:2")]
    assert skipped == [
        f"{path}:3: 'resnet34' has no positive finite throughput, batch and size",
        f"{path}:4: 'resnet50' has no positive finite throughput, batch and size",
    ]


def test_throughputs_that_are_not_physical_are_named():
    """A batch takes 1 us to one day: batch 64 runs at most 64 / 1e-6 = 6.4e7 samples/s and at least
    64 / 86,400 = 7.41e-4; batches above 2**20 are never analysed."""
    assert cal.throughput_problem(64, 6.4e7) is None and cal.throughput_problem(64, 64 / 86_400) is None
    assert cal.throughput_problem(64, 1e308) == (
        "throughput 1e+308 samples/s is outside 0.000741-6.4e+07 for batch 64 (a batch of 1 us to one day)"
    )
    assert cal.throughput_problem(1, 1e-6) == (
        "throughput 1e-06 samples/s is outside 1.16e-05-1e+06 for batch 1 (a batch of 1 us to one day)"
    )
    assert (
        cal.throughput_problem(10**9, 1e3) == "batch 1,000,000,000 is above the largest analysed, 1,048,576"
    )


def test_absurd_vision_rows_are_skipped_by_name(tmp_path, monkeypatch):
    """``calibrate --measurements`` and ``--from-bench``: a throughput of 1e308 or a batch of 1e9 is
    skipped with its row named, not fitted (the fit would drive every parameter to a bound)."""
    import argparse

    from tui.cli.commands.calibrate import collect, read_vision_csv

    path = tmp_path / "timm.csv"
    path.write_text(
        "model,infer_img_size,infer_batch_size,infer_samples_per_sec\n"
        "resnet18,224,64,9800\nresnet34,224,64,1e308\nresnet50,224,1e9,1000\n",
        encoding="utf-8",
    )
    skipped: list[str] = []
    rows = read_vision_csv(str(path), {}, "fp16", skipped)
    assert [r[0] for r in rows] == ["resnet18"]
    assert skipped == [
        f"{path}:3: 'resnet34': throughput 1e+308 samples/s is outside 0.000741-6.4e+07 for batch 64 "
        "(a batch of 1 us to one day)",
        f"{path}:4: 'resnet50': batch 1,000,000,000 is above the largest analysed, 1,048,576",
    ]
    saved = tmp_path / "cache" / "bench" / "results.jsonl"
    saved.parent.mkdir(parents=True)
    good = {
        "model": "resnet18",
        "target": "rtx-4090",
        "dtype": "fp16",
        "batch_size": 8,
        "throughput_per_s": 900,
    }
    bad = {**good, "model": "resnet34", "throughput_per_s": 1e308}
    saved.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    args = argparse.Namespace(from_bench=True, execution="eager", pairs=None, measurements=[], dtype="fp16")
    rows, _, skipped = collect(args, GPU)
    assert [r[0] for r in rows] == ["resnet18"]
    assert skipped == [
        f"{saved}: resnet34 (fp16): throughput 1e+308 samples/s is outside 9.26e-05-8e+06 for batch 8 "
        "(a batch of 1 us to one day)"
    ]


def test_calibrate_needs_two_fit_rows_per_parameter():
    """6 fit rows inform at most 3 parameters (2 rows each): 4 is refused in one line that says how many."""
    rows = rows_from({"gemm": 0.8, "bandwidth": 0.7, "eager_op_us": 9.0})
    with pytest.raises(ValueError, match=r"^6 fit rows inform at most 3 parameters \(2 rows each\), not 4"):
        cal.calibrate(rows, ["gemm", "bandwidth", "eager_op_us", "vector"], holdout=0.0)
    # one fit row informs no parameter: the message does not suggest the --params just given (a helper
    # found "pass --params with fewer (e.g. gemm)" for --params gemm)
    with pytest.raises(
        ValueError, match=r"^1 fit row informs no parameter \(2 rows each\), not 1: measure more models$"
    ):
        cal.calibrate(rows[:1], ["gemm"], holdout=0.0)


# ------------------------------------------------------------------------------------- what "changed" is


def test_changed_means_the_written_value_differs_and_improved_means_the_loss_fell():
    # a value is changed when it moves by more than half the last digit it is written with: 3 decimals for
    # fractions (0.0005), 2 for microseconds (0.005); the loss must fall by more than half of its 4th
    # printed decimal (0.00005)
    assert (cal.param_tolerance("gemm"), cal.param_tolerance("eager_op_us")) == (0.0005, 0.005)
    assert not cal.is_changed(0.7, 0.7004, 0.0005) and cal.is_changed(0.7, 0.701, 0.0005)
    assert not cal.is_changed(6.0, 6.004, 0.005) and cal.is_changed(6.0, 6.01, 0.005)
    assert cal.is_changed(None, 0.5, 0.0005) and not cal.is_changed(0.5, None, 0.0005)
    assert not cal.is_improved(0.2670, 0.26996) and cal.is_improved(0.2670, 0.2669)
    # a fit of gemm and conv_eager on rows without a convolution, measured at gemm 0.8: gemm moves
    # (1.0 -> ~0.8), conv_eager keeps its 0.7 (nothing informs it): one changed, one not, the loss fell
    rows = rows_from({"gemm": 0.8})
    c = cal.calibrate(rows, ["gemm", "conv_eager"], holdout=0.0)
    assert c.changed == {"gemm": True, "conv_eager": False} and c.improved
    d = c.to_dict()
    assert (d["changed"], d["improved"]) == ({"gemm": True, "conv_eager": False}, True)


def test_cli_a_fit_that_moves_nothing_says_no_and_writes_nothing(capsys, tmp_path, monkeypatch):
    # rows measured exactly at the built-in values (the 4090's Ada gemm 1.0, bandwidth 0.88): the Changed
    # column said "yes" for any after != before; now "no" for both, the loss line "not improved", and
    # --write leaves the user file alone
    from tui.cli.commands import calibrate as verb

    rows = rows_from({})
    saved = tmp_path / "cache" / "bench" / "results.jsonl"
    saved.parent.mkdir(parents=True)
    lines = [
        {"model": r.model, "target": "rtx-4090", "dtype": "fp16", "precision": "fp16", "batch_size": 8,
         "execution": "eager", "throughput_per_s": r.measurement.samples_per_s, "analysis": {}}
        for r in rows
    ]  # fmt: skip
    saved.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    by_name = {r.model: r.measurement for r in rows}
    monkeypatch.setattr(verb, "analyse", lambda wanted, target, args: ([by_name[w[0]] for w in wanted], []))
    argv = [
        "calibrate",
        "--hardware",
        "rtx-4090",
        "--from-bench",
        "--holdout",
        "0",
        "--params",
        "gemm,bandwidth",
    ]
    assert main([*argv, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["before"] == doc["after"] == {"gemm": 1.0, "bandwidth": 0.88}
    assert (doc["changed"], doc["improved"]) == ({"gemm": False, "bandwidth": False}, False)
    assert main([*argv, "--write", "--wide"]) == 0
    out = capsys.readouterr().out.splitlines()
    table = out[out.index(next(line for line in out if line.startswith("Parameter"))) :][:4]
    assert [line.split() for line in table[2:]] == [
        ["gemm", "0.3-1", "1", "1", "no"], ["bandwidth", "0.5-0.95", "0.88", "0.88", "no"]
    ]  # fmt: skip
    loss = next(line for line in out if line.startswith("Loss"))
    assert "0.0000 -> 0.0000" in loss and ": not improved (the values in use fit these rows as well)." in loss
    assert "Nothing written: no parameter changed." in out
    assert not efficiency.user_efficiency_file().exists()
