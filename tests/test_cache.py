"""The result cache: keys, hits and misses, corrupt and foreign entries, atomic writes, clear, no-cache."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from metrics_core.common.records import ModelReport
from metrics_core.report.accuracy import accuracy_fields
from metrics_core.runtime import analyze as analyze_mod
from metrics_core.runtime import cache
from metrics_core.runtime import engines as engines_mod
from metrics_core.runtime.analyze import AnalysisOptions, analyze_many
from metrics_core.sources.catalog import get_spec
from tui.cli import main as cli_main

# Published by torchvision (weights meta ``num_params``) and reproduced exactly by the analysis.
RESNET18_PARAMS = 11_689_512
MOBILENET_V2_PARAMS = 3_504_872


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """An empty cache of our own, in-process analysis, and fresh warning bookkeeping."""
    d = tmp_path / "cache"
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(d))
    monkeypatch.setenv("MODELTUI_JOBS", "0")
    from metrics_core.common import cache_warnings

    monkeypatch.setattr(cache_warnings, "_warned", set())
    monkeypatch.setattr(cache_warnings, "_pending", [])
    seen: list[str] = []
    monkeypatch.setattr(cache_warnings, "_handler", seen.append)
    return d / "reports"


def entries(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def key_for(name: str, **options) -> dict:
    return cache.report_key(get_spec(name), AnalysisOptions(**options).validated())


@pytest.fixture(scope="module")
def resnet18() -> ModelReport:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODELTUI_JOBS", "0")
        (report,) = analyze_many(["resnet18"], AnalysisOptions(use_cache=False))
    assert report.metrics.params == RESNET18_PARAMS
    return report


def no_analysis(monkeypatch) -> None:
    """Make any real analysis fail loudly: what follows must come from the cache."""

    def fail(*_args, **_kwargs):
        raise AssertionError("analysed although a cached result exists")

    monkeypatch.setattr(analyze_mod, "analyze_spec", fail)


# -- keys ---------------------------------------------------------------------------------------------


def test_key_holds_every_input_of_a_report():
    key = key_for("resnet18")
    versions = cache.versions()
    assert key == {
        "model": "resnet18",
        "input_shape": [3, 224, 224],  # the catalog's native shape, resolved
        "batch_size": 1,
        "dtype": "fp32",
        "engine": "meta",
        "torch": versions["torch"],
        "torchvision": versions["torchvision"],
        "metrics_core": versions["modeltui"],
        "source": cache.source_hash(),
        "memory_format": "contiguous",  # NCHW; channels-last runs are other entries
    }
    # An explicit native shape is the same analysis, hence the same entry.
    assert key_for("resnet18", input_shape=(3, 224, 224)) == key


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 2},
        {"dtype": "fp16"},
        {"input_shape": (3, 160, 160)},
        {"engine": "fvcore"},
        {"memory_format": "channels_last"},
    ],
)
def test_option_changes_give_another_entry(change):
    assert cache.entry_path(key_for("resnet18", **change)) != cache.entry_path(key_for("resnet18"))


@pytest.mark.parametrize("dist", ["torch", "torchvision", "modeltui"])
def test_version_change_gives_another_entry(monkeypatch, dist):
    before = cache.entry_path(key_for("resnet18"))
    changed = {**cache.versions(), dist: "999.0"}
    monkeypatch.setattr(cache, "versions", lambda: changed)
    assert cache.entry_path(key_for("resnet18")) != before


def test_source_change_gives_another_entry(monkeypatch):
    before = cache.entry_path(key_for("resnet18"))
    monkeypatch.setattr(cache, "source_hash", lambda: "0" * 16)
    assert cache.entry_path(key_for("resnet18")) != before


def test_custom_refused_and_no_cache_models_have_no_key():
    assert cache.report_key(get_spec("pool_models:tiny"), AnalysisOptions()) is None
    assert cache.report_key(get_spec("fasterrcnn_resnet50_fpn"), AnalysisOptions()) is None
    assert cache.report_key(get_spec("resnet18"), AnalysisOptions(use_cache=False)) is None


# -- store / load -------------------------------------------------------------------------------------


def test_store_then_load_is_lossless_and_records_load_lazily(cache_dir, resnet18):
    key = key_for("resnet18")
    path = cache.store(key, resnet18)
    assert entries(cache_dir) == [path.name]
    loaded = cache.load(key)
    assert isinstance(loaded.records, cache.LazyRecords) and not loaded.records.loaded
    assert loaded.metrics == resnet18.metrics  # the header alone gives every metric
    assert not loaded.records.loaded
    assert loaded.to_dict() == resnet18.to_dict()
    assert loaded.records.loaded and len(loaded.records) == len(resnet18.records)
    assert type(pickle.loads(pickle.dumps(loaded.records))) is list


def test_analyze_many_miss_then_hit(cache_dir, resnet18, monkeypatch):
    (first,) = analyze_many(["resnet18"])
    assert len(entries(cache_dir)) == 1
    no_analysis(monkeypatch)
    (second,) = analyze_many(["resnet18"])
    assert isinstance(second.records, cache.LazyRecords)
    assert second.to_dict() == first.to_dict() == resnet18.to_dict()


def test_batch_size_and_dtype_changes_miss(cache_dir):
    analyze_many(["mobilenet_v2"])
    (b2,) = analyze_many(["mobilenet_v2"], AnalysisOptions(batch_size=2))
    (half,) = analyze_many(["mobilenet_v2"], AnalysisOptions(dtype="fp16"))
    assert len(entries(cache_dir)) == 3
    assert (b2.batch_size, half.dtype) == (2, "fp16")
    # Parameters do not depend on batch size; fp16 halves the size: 3,504,872 x 2 B = 7.009744 MB.
    assert b2.metrics.params == MOBILENET_V2_PARAMS
    assert half.metrics.size_mb == pytest.approx(7.009744)


def test_version_change_misses(cache_dir, monkeypatch):
    analyze_many(["squeezenet1_0"])
    changed = {**cache.versions(), "torch": "999.0"}
    monkeypatch.setattr(cache, "versions", lambda: changed)
    analyze_many(["squeezenet1_0"])
    assert len(entries(cache_dir)) == 2


def test_corrupt_entry_is_ignored_reported_once_and_rebuilt(cache_dir, resnet18):
    analyze_many(["resnet18"])
    (path,) = cache_dir.iterdir()
    path.write_text('{"schema": "modeltui.report", "form')  # truncated mid-write by another tool
    (report,) = analyze_many(["resnet18"])
    (warning,) = cache.take_warnings()
    assert path.name in warning and "rebuilt" in warning
    assert report.to_dict() == resnet18.to_dict()
    assert cache.load(key_for("resnet18")).to_dict() == resnet18.to_dict()  # rebuilt entry is valid
    (again,) = analyze_many(["resnet18"])
    assert cache.take_warnings() == [] and again.to_dict() == resnet18.to_dict()


@pytest.mark.parametrize(
    "content",
    [
        '{"hello": "world"}\n',  # some other program's JSON
        "[1, 2, 3]\n",
        '{"schema": "modeltui.report", "format": 99, "key": {}, "n_records": 0, "report": {}}\n',
    ],
)
def test_foreign_json_is_ignored(cache_dir, resnet18, content):
    path = cache.entry_path(key_for("resnet18"))
    path.parent.mkdir(parents=True)
    path.write_text(content)
    (report,) = analyze_many(["resnet18"])
    assert len(cache.take_warnings()) == 1
    assert report.to_dict() == resnet18.to_dict()


def test_entry_of_another_key_is_ignored(cache_dir):
    analyze_many(["squeezenet1_0"])
    (src,) = cache_dir.iterdir()
    dst = cache.entry_path(key_for("squeezenet1_1"))
    dst.write_bytes(src.read_bytes())  # a squeezenet1_0 entry under squeezenet1_1's name
    (report,) = analyze_many(["squeezenet1_1"])
    (warning,) = cache.take_warnings()
    assert "key does not match" in warning
    assert report.model == "squeezenet1_1"
    # torchvision's published parameter count of squeezenet1_1, not squeezenet1_0's 1,248,424.
    assert report.metrics.params == 1_235_496


def test_damaged_records_are_reanalysed_on_first_use(cache_dir, resnet18):
    analyze_many(["resnet18"])
    (path,) = cache_dir.iterdir()
    header = path.read_text().splitlines()[0]
    path.write_text(header + "\n" + '{"record_fields": ["index"], "rows": [[0]')  # records cut short
    (report,) = analyze_many(["resnet18"])
    assert cache.take_warnings() == []  # the header is fine: nothing to report yet
    assert report.records == resnet18.records  # first use: unreadable, warned, analysed again
    (warning,) = cache.take_warnings()
    assert "records unreadable" in warning
    assert cache.load(key_for("resnet18")).to_dict() == resnet18.to_dict()


def test_atomic_write_leaves_no_temporary_files(cache_dir, resnet18, monkeypatch):
    cache.store(key_for("resnet18"), resnet18)
    assert [n for n in entries(cache_dir) if n.startswith(".tmp-")] == []

    def refuse(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    key = key_for("resnet18", batch_size=4)
    with pytest.raises(OSError):
        cache.store(key, replace(resnet18, batch_size=4))
    assert len(entries(cache_dir)) == 1  # the earlier entry only: the failed one left nothing
    assert "No space left on device" in cache.try_store(key, replace(resnet18, batch_size=4))


def test_write_failure_is_a_warning_not_an_error(cache_dir, resnet18, monkeypatch):
    monkeypatch.setattr(cache, "store", lambda *a: (_ for _ in ()).throw(PermissionError(13, "denied")))
    (report,) = analyze_many(["resnet18"])
    assert report.to_dict() == resnet18.to_dict()
    (warning,) = cache.take_warnings()
    assert "could not write the result cache" in warning


def test_no_cache_neither_reads_nor_writes(cache_dir, resnet18):
    path = cache.entry_path(key_for("resnet18"))
    path.parent.mkdir(parents=True)
    path.write_text("not json\n")
    (report,) = analyze_many(["resnet18"], AnalysisOptions(use_cache=False))
    assert report.to_dict() == resnet18.to_dict()
    assert cache.take_warnings() == []  # the corrupt entry was not even read
    assert path.read_text() == "not json\n" and entries(cache_dir) == [path.name]


def test_reports_with_errors_are_not_cached(cache_dir, monkeypatch):
    def fail(*_args):
        raise RuntimeError("trace failed")

    monkeypatch.setattr(engines_mod, "_run_meta", fail)
    (report,) = analyze_many(["resnet18"])
    assert report.error == "RuntimeError: trace failed"
    assert entries(cache_dir) == []


def test_custom_models_are_not_cached(cache_dir):
    (report,) = analyze_many(["pool_models:tiny"])
    assert report.metrics.macs == 12  # Linear(3, 4) at batch 1: 3 x 4
    assert entries(cache_dir) == []


# -- CLI: cache info / path / clear -------------------------------------------------------------------


def test_cache_cli_info_path_clear(cache_dir, resnet18, capsys, tmp_path):
    cache.store(key_for("resnet18"), resnet18)
    cache.store(key_for("resnet18", batch_size=2), replace(resnet18, batch_size=2))
    stray = tmp_path / "cache" / "someone-elses.json"
    stray.write_text("{}")
    size = sum(p.stat().st_size for p in cache_dir.iterdir())

    assert cli_main(["cache", "path"]) == 0
    assert capsys.readouterr().out.strip() == str(cache_dir)
    assert cli_main(["cache", "info", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["entries"], info["bytes"], info["directory"]) == (2, size, str(cache_dir))
    assert cli_main(["cache", "clear"]) == 0
    # (a line longer than 80 columns folds at a space: compare the words)
    assert " ".join(capsys.readouterr().out.split()).startswith(f"{cache_dir} removed 2 cached reports")
    assert not cache_dir.exists() and stray.exists()  # only cache entries are ever deleted
    assert cli_main(["cache", "info", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == 0


# -- warm CLI: no torch -------------------------------------------------------------------------------

WARM_MODELS = ["resnet18", "mobilenet_v2", "efficientnet_b0"]

WARM_SCRIPT = """
import contextlib, io, json, sys
from tui.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    rc = main(["compare", *sys.argv[1:], "--format", "json"])
print(json.dumps({"rc": rc, "torch": "torch" in sys.modules, "torchvision": "torchvision" in sys.modules,
                  "rows": json.loads(out.getvalue())}))
"""


def test_warm_cli_compare_does_not_import_torch(cache_dir):
    reports = analyze_many(WARM_MODELS)  # fills the cache (in this process)
    env = {**os.environ, "MODELTUI_CACHE_DIR": str(cache_dir.parent)}
    env.pop("MODELTUI_JOBS")
    proc = subprocess.run(
        [sys.executable, "-c", WARM_SCRIPT, *WARM_MODELS], env=env, capture_output=True, text=True, check=True
    )
    result = json.loads(proc.stdout)
    assert (result["rc"], result["torch"], result["torchvision"]) == (0, False, False)
    assert proc.stderr == ""
    assert [row["model"] for row in result["rows"]] == WARM_MODELS
    assert {row.pop("context")["dtype"] for row in result["rows"]} == {"fp32"}  # what the rows assume
    # compare adds peak memory and the published accuracy
    expected = [{**r.summary_dict(), **accuracy_fields(r), "memory": r.extras["memory"]} for r in reports]
    assert result["rows"] == json.loads(json.dumps(expected))
    assert result["rows"][0]["params"] == RESNET18_PARAMS


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("batch_size", 0),  # was ZeroDivisionError in compare
        ("coverage", None),  # was AttributeError
        ("reference", [1]),
        ("extras", 7),  # was TypeError
        ("error", [1]),  # unhashable
        ("metrics", {"params": "many"}),
    ],
)
def test_an_edited_report_field_is_ignored_and_rebuilt(cache_dir, resnet18, field, value):
    """Any value of the header changed since it was written (the digest no longer matches) is a corrupt
    entry: warned once, rebuilt, never read into a report."""
    analyze_many(["resnet18"])
    (path,) = cache_dir.iterdir()
    header, records = path.read_text().splitlines()
    h = json.loads(header)
    h["report"][field] = value
    path.write_text(json.dumps(h) + "\n" + records + "\n")
    (report,) = analyze_many(["resnet18"])
    assert cache.take_warnings() == [
        f"ignoring cache entry {path.name}: its report was changed since it was written; it will be rebuilt"
    ]
    assert report.to_dict() == resnet18.to_dict()


def test_an_edited_record_is_reanalysed_on_first_use(cache_dir, resnet18):
    analyze_many(["resnet18"])
    (path,) = cache_dir.iterdir()
    header, records = path.read_text().splitlines()
    body = json.loads(records)
    body["rows"][0][body["record_fields"].index("flops")] = "lots"  # a well-formed row of the wrong type
    path.write_text(header + "\n" + json.dumps(body, separators=(",", ":")) + "\n")
    (report,) = analyze_many(["resnet18"])
    assert report.records == resnet18.records  # first use: the digest differs, analysed again
    assert cache.take_warnings() == [
        f"ignoring cache entry {path.name}: records unreadable (damaged or changed since they were written); "
        "it will be rebuilt"
    ]
