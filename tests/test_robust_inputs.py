"""Issue 22: every bad input ends in one line and a non-zero exit, never a traceback; every cached file
is validated on read and rebuilt when wrong."""

from __future__ import annotations

import json

import pytest

from metrics_core.sources import timm_source

# A small index of the builder's schema (timm_index.build_index): two architectures, one tag.
GOOD_INDEX = {
    "version": "9.9",
    "models": {
        "resnet50": {"family": "resnet", "input_size": [3, 224, 224], "img_size_arg": False},
        "vit_tiny": {"family": "vision_transformer", "input_size": [3, 224, 224], "img_size_arg": True},
    },
    "tags": {"resnet50.a1_in1k": [3, 288, 288]},
}


@pytest.fixture
def fake_timm(tmp_path, monkeypatch):
    """timm 9.9 "installed", its index built by a counted stand-in for the subprocess."""
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(timm_source, "timm_version", lambda: "9.9")
    builds = []

    def build() -> dict:
        builds.append(1)
        return json.loads(json.dumps(GOOD_INDEX))

    monkeypatch.setattr(timm_source, "_build_index_in_subprocess", build)
    monkeypatch.setattr(timm_source, "_build_index_here", build)
    timm_source.timm_index.cache_clear()
    yield timm_source.index_path("9.9"), builds
    timm_source.timm_index.cache_clear()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[1, 2]", "a JSON list, not an object"),  # was AttributeError
        (json.dumps({**GOOD_INDEX, "models": {"resnet50": [1]}}), "model 'resnet50' malformed"),  # TypeError
        (json.dumps({**GOOD_INDEX, "tags": []}), "a tag table that is not an object"),
        (json.dumps({**GOOD_INDEX, "tags": {"resnet50.x": "224"}}), "tag 'resnet50.x' malformed"),
        (json.dumps({**GOOD_INDEX, "models": {}}), "no model table"),  # was "unknown" until `cache clear`
        (json.dumps({**GOOD_INDEX, "version": "1.0"}), "for timm '1.0', not 9.9"),
        ("[" * 100_000, None),  # not JSON at all (too deep to parse)
    ],
    ids=["list", "entry-type", "tags-list", "tag-size", "empty", "version", "deep"],
)
def test_a_damaged_timm_index_is_rebuilt(fake_timm, content, problem, capsys, monkeypatch):
    from metrics_core.common import cache_warnings

    monkeypatch.setattr(cache_warnings, "_warned", set())
    monkeypatch.setattr(cache_warnings, "_handler", cache_warnings._stderr_handler)
    path, builds = fake_timm
    if problem is not None:
        assert timm_source.index_problem(json.loads(content), "9.9") == problem
    path.parent.mkdir(parents=True)
    path.write_text(content)
    spec = timm_source.get_spec("resnet50.a1_in1k")
    # one warning line, as for every damaged cache file (it was rebuilt silently)
    assert capsys.readouterr().err == (
        "modeltui: warning: ignoring cache file timm-9.9.json (the timm model index): "
        f"{problem or 'unreadable (RecursionError)'}; it will be rebuilt\n"
    )
    assert (spec.name, spec.input_shape) == ("timm:resnet50.a1_in1k", (3, 288, 288))
    assert spec.family == "timm/resnet"
    assert builds == [1]  # rebuilt once ...
    assert json.loads(path.read_text()) == GOOD_INDEX  # ... and the good index replaced the file
    timm_source.timm_index.cache_clear()
    assert timm_source.list_names() == ["resnet50", "vit_tiny"] and builds == [1]  # read back, not rebuilt


def test_an_invalid_built_index_is_one_line(fake_timm, monkeypatch):
    monkeypatch.setattr(timm_source, "_build_index_in_subprocess", lambda: {"version": "9.9", "models": {}})
    monkeypatch.setattr(timm_source, "_build_index_here", lambda: {"version": "9.9", "models": {}})
    from metrics_core.common.errors import UsageError

    with pytest.raises(UsageError) as err:
        timm_source.list_names()
    assert str(err.value) == "timm: could not list timm's models: the index built is invalid (no model table)"


def run_cli(argv, capsys):
    from tui import cli

    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


GPT2_TINY = {
    "model_type": "gpt2",
    "architectures": ["GPT2LMHeadModel"],
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 64,
    "vocab_size": 100,
    "n_positions": 128,
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_head": 0}, "field 'n_head' is 0; it must be a positive integer"),  # was ZeroDivisionError
        ({"n_layer": -2}, "field 'n_layer' is -2; it must be a positive integer"),  # was an empty model
        ({"n_layer": 0}, "field 'n_layer' is 0; it must be a positive integer"),
        ({"n_embd": "64"}, "field 'n_embd' is \"64\"; it must be a positive integer"),
        (
            {"text_config": {"num_attention_heads": 0}},
            "field 'text_config.num_attention_heads' is 0; it must be a positive integer",
        ),
        ({"x": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}, "the config nests deeper than 16 levels"),
    ],
    ids=["zero-heads", "negative-layers", "zero-layers", "string-width", "sub-config", "deep"],
)
@pytest.mark.parametrize("verb", [["compare"], ["llm", "--hardware", "h100-sxm5-80gb"], ["layers"]])
def test_a_hostile_hf_config_is_one_line_in_every_verb(tmp_path, capsys, change, message, verb):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**GPT2_TINY, **change}))
    code, out, err = run_cli([verb[0], f"hf:{path}", *verb[1:]], capsys)
    assert (code, out, err) == (2, "", f"modeltui: error: hf: {path}: {message}\n")


def test_a_config_too_deep_to_parse_is_one_line(tmp_path, capsys):
    path = tmp_path / "config.json"
    path.write_text(
        '{"model_type": "gpt2", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )  # was RecursionError
    code, out, err = run_cli(["compare", f"hf:{path}"], capsys)
    assert (code, out, err) == (2, "", f"modeltui: error: hf: cannot read {path}: JSON nested too deeply\n")


def test_every_bundled_hf_config_passes_the_check():
    from metrics_core.sources import hf_source

    refused = []
    for mid, entry in hf_source.bundled().items():
        try:
            hf_source.check_config(entry["config"], mid)
        except Exception as exc:  # noqa: BLE001 - listed below
            refused.append(str(exc))
    assert refused == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        # 3 x 99999999999999999999 x 2 = 599,999,999,999,999,999,994 elements (was "Overflow when unpacking
        # long long" from torch)
        (
            ["--input", "float:3x99999999999999999999x2"],
            "modeltui compare: error: argument --input: 599,999,999,999,999,999,994 elements per sample is "
            "above the largest analysed, 68,719,476,736 (see --help)",
        ),
        # 3 x 2**40 x 2**40 = 3 x 2**80 = 3,626,777,458,843,887,524,118,528 (was "Storage size calculation
        # overflowed")
        (
            ["--input-shape", "3", "1099511627776", "1099511627776"],
            "modeltui: error: --input-shape 3 1099511627776 1099511627776: 3,626,777,458,843,887,524,118,528 "
            "elements per sample is above the largest analysed, 68,719,476,736",
        ),
        # 2**36 + 1 elements: one above the limit
        (
            ["--input-shape", "68719476737"],
            "modeltui: error: --input-shape 68719476737: 68,719,476,737 elements per sample is above the "
            "largest analysed, 68,719,476,736",
        ),
    ],
    ids=["input", "input-shape", "one-above"],
)
def test_huge_inputs_are_refused_up_front(capsys, argv, message):
    code, out, err = run_cli(["compare", "resnet18", *argv], capsys)
    assert (code, out, err) == (2, "", message + "\n")


def test_the_sample_limit_is_2_to_the_36():
    from metrics_core.common.input_spec import MAX_SAMPLE_ELEMENTS, check_sample_size

    assert MAX_SAMPLE_ELEMENTS == 68_719_476_736
    check_sample_size((1 << 18, 1 << 18), "x")  # exactly 2**36: accepted (returns None)


def test_a_timm_name_with_an_empty_tag_is_refused_with_suggestions(fake_timm):
    from metrics_core.common.errors import UnknownModelError

    with pytest.raises(UnknownModelError) as err:  # was accepted as a model of its own
        timm_source.get_spec("resnet50.")
    assert str(err.value) == (
        "timm model 'resnet50.' has an empty tag after the dot; did you mean timm:resnet50, "
        "timm:resnet50.a1_in1k?"
    )
    with pytest.raises(UnknownModelError) as err:
        timm_source.get_spec("resnet5.")
    assert str(err.value) == "unknown timm model 'resnet5.'; did you mean timm:resnet50?"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("timm", "unknown task 'bogus' for --source timm; choose one of classification"),
        (
            "hf",
            "unknown task 'bogus' for --source hf; choose one of causal-lm, classification, encoder, "
            "image-text-to-text, seq2seq-lm, speech-seq2seq",
        ),
        (
            "torchvision",
            "unknown task 'bogus'; choose one of classification, segmentation, detection, video, "
            "optical_flow, quantized",
        ),
    ],
)
def test_models_refuses_an_unknown_task_for_every_source(fake_timm, capsys, source, message):
    code, out, err = run_cli(["models", "--source", source, "--task", "bogus"], capsys)
    assert (code, out, err) == (2, "", f"modeltui: error: {message}\n")


def test_models_hf_task_filters_rows(capsys):
    code, out, _ = run_cli(
        ["models", "--source", "hf", "--task", "speech-seq2seq", "--format", "json"], capsys
    )
    rows = json.loads(out)
    # the bundled speech model: Whisper large-v3 (data/hf_configs.json)
    assert (code, [(r["name"], r["task"]) for r in rows]) == (
        0,
        [("hf:openai/whisper-large-v3", "speech-seq2seq")],
    )


PICK = ["pick", "--input-shape", "1", "16", "--by", "latency", "--hardware", "h100-sxm5-80gb"]


@pytest.mark.parametrize(
    ("bad", "code", "note"),
    [
        # a factory that does not exist: a usage error (exit 2, as compare), its name printed once
        ("perf_models:nosuch", 2, "  perf_models:nosuch: ERROR module 'perf_models' has no 'nosuch'"),
        # a model whose code fails: exit 1 (was 0)
        ("fault_models:base_factory", 1, "  fault_models:base_factory: ERROR ModelQuit: model gave up"),
    ],
    ids=["missing-factory", "failing-model"],
)
def test_pick_exits_non_zero_when_a_named_model_was_not_analysed(capsys, bad, code, note):
    got, out, _ = run_cli([*PICK, bad, "perf_models:tiny_mlp"], capsys)
    assert got == code
    assert out.endswith(f"Not analysed:\n{note}\n")


def test_compare_prints_a_missing_factory_name_once(capsys):
    code, out, _ = run_cli(
        ["compare", "perf_models:nosuch", "perf_models:tiny_mlp", "--input-shape", "1", "16"], capsys
    )
    assert code == 2
    assert (
        "  perf_models:nosuch: ERROR module 'perf_models' has no 'nosuch'\n" in out
    )  # was "nosuch: ... nosuch"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("llama-3.1-8b", "did you mean hf:meta-llama/Llama-3.1-8B, hf:meta-llama/Llama-3.1-70B?"),
        ("qwen2.5-7b", "did you mean hf:Qwen/Qwen2.5-7B, hf:Qwen/Qwen2.5-72B?"),
        ("resnet19", "did you mean resnet18, resnet101?"),  # catalog names as before
    ],
)
def test_a_bare_llm_name_suggests_the_bundled_hf_model(capsys, name, message):
    code, out, err = run_cli(["llm", name, "--hardware", "h100-sxm5-80gb"], capsys)
    assert (code, out, err) == (2, "", f"modeltui: error: unknown model {name!r}; {message}\n")


def test_the_app_cell_table_keeps_one_cell_per_character():
    from tui.cli.ascii_out import CellTable

    text = "┌─┬─┐│╭━╮▏█▁⣿⠀…✓→×µ漢a"
    # box lines by their names (horizontal -, vertical |, corners and joints +), block elements #, Braille
    # dots * (blank: space), one-character look-alikes, a wide CJK character ?? (two cells), ASCII as is
    assert text.translate(CellTable("ascii")) == "+-+-+|+-+|##* .v>xu??a"
    # Latin-1 shows ×, µ itself: only what the encoding lacks is replaced
    assert text.translate(CellTable("latin-1")) == "+-+-+|+-+|##* .v>×µ??a"


@pytest.mark.skipif(not __import__("pathlib").Path("/proc").is_dir(), reason="needs a pty")
def test_the_app_draws_ascii_where_the_terminal_encoding_has_no_box_lines():
    """The app in a pseudo-terminal whose encoding is ASCII (PYTHONIOENCODING=ascii; a Latin-1 or C
    locale without UTF-8 mode alike): the screen is plain ASCII with | - + lines, never \\u2502 escapes."""
    import os
    import pty
    import select
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if k not in ("MODELTUI_JOBS", "MODELTUI_IN_PROCESS")}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30", PYTHONIOENCODING="ascii")
    master, slave = pty.openpty()
    argv = [sys.executable, "-m", "tui.cli", "resnet18"]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
    os.close(slave)
    screen = b""

    def read_until(done, seconds: float) -> None:  # noqa: ANN001 - keep draining: a full pty blocks the app
        nonlocal screen
        deadline = time.monotonic() + seconds
        while not done() and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                try:
                    screen += os.read(master, 65536)
                except OSError:
                    return

    try:
        read_until(lambda: b"resnet18" in screen, 60)
        read_until(lambda: False, 1)
        os.write(master, b"q")
        read_until(lambda: proc.poll() is not None, 30)
        assert proc.wait(timeout=5) == 0
        assert b"\x1b[?1049h" in screen  # the app drew
        assert b"\\u25" not in screen and max(screen) < 0x80  # no escapes, nothing but ASCII
        assert b"|" in screen  # the column separators, as ASCII
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)


def test_output_to_a_full_disk_is_one_line_exit_1_and_nothing_is_lost(tmp_path, capsys, monkeypatch):
    """The one rule for write errors (README): a write that fails once the work is done exits 1 with one
    line, as a failed write to standard output does (tests/test_cli.py: /dev/full); it was exit 2 here.
    The results go to standard output instead, and an existing file stays as it was."""
    import errno

    from metrics_core.report import export

    target = tmp_path / "out.json"
    target.write_text("earlier results\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export.os, "fsync", full)
    code, out, err = run_cli(["models", "--format", "json", "--output", str(target)], capsys)
    assert (code, err) == (
        1,
        f"modeltui: error: cannot write '{target}': No space left on device; the output follows\n",
    )
    assert json.loads(out)[0]["name"] == "alexnet"  # the catalog, first by name: the output, not lost
    assert target.read_text() == "earlier results\n" and [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_an_output_path_that_cannot_be_written_is_refused_before_any_work(tmp_path, capsys):
    missing = tmp_path / "missing"
    code, out, err = run_cli(["models", "--output", str(missing / "out.txt")], capsys)
    assert (code, out) == (2, "")
    assert err == f"modeltui: error: cannot write '{missing / 'out.txt'}': '{missing}' does not exist\n"


def test_closed_standard_output_is_a_write_error_exit_1():
    import subprocess
    import sys

    done = subprocess.run(
        f"{sys.executable} -m tui.cli models >&-", shell=True, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (
        1,
        "modeltui: error: cannot write the output: standard output is closed\n",
    )


def test_a_hostile_config_in_the_local_hub_cache_is_refused_alike(tmp_path, monkeypatch, capsys):
    snapshot = tmp_path / "models--acme--tiny" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps({**GPT2_TINY, "n_head": 0}))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    code, out, err = run_cli(["compare", "hf:acme/tiny"], capsys)
    assert (code, out) == (2, "")
    config = snapshot / "config.json"
    assert err == f"modeltui: error: hf: {config}: field 'n_head' is 0; it must be a positive integer\n"


def test_cancelling_the_timm_index_build_ends_it_at_once(tmp_path, monkeypatch):
    """The app quits while the index is built (timm and torch importing, seconds): the builder is killed
    and the caller's wait ends with one line instead of waiting for the imports."""
    import threading
    import time

    from metrics_core.common.errors import UsageError

    pytest.importorskip("timm")
    monkeypatch.setenv("MODELTUI_CACHE_DIR", str(tmp_path))
    outcome = []

    def build() -> None:
        try:
            timm_source._build_index_in_subprocess()
        except UsageError as exc:
            outcome.append(str(exc))

    thread = threading.Thread(target=build)
    thread.start()
    deadline = time.monotonic() + 30
    while not timm_source._builders and time.monotonic() < deadline:
        time.sleep(0.01)
    (proc,) = timm_source._builders
    timm_source.cancel_index_builds()
    thread.join(30)
    assert outcome == ["timm: could not list timm's models: no output"]
    assert (proc.returncode, timm_source._builders) == (-9, set())  # killed and reaped


H100 = ["--hardware", "h100-sxm5-80gb"]


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        # a model whose factory raises: the build error names the model, the verb does not again
        (
            ["compare", "build_test_models:raises"],
            "build_test_models:raises: failed to build: ValueError: bad configuration",
        ),
        (
            ["layers", "build_test_models:raises"],
            "build_test_models:raises: failed to build: ValueError: bad configuration",
        ),
        (
            ["train", "build_test_models:raises", *H100],
            "build_test_models:raises: failed to build: ValueError: bad configuration",
        ),
        (
            ["llm", "build_test_models:raises", *H100],
            "build_test_models:raises (batch 1, prompt 512): failed to build: ValueError: bad configuration",
        ),
        # a task train refuses (runtime.train_capture: detection needs box targets)
        (
            ["train", "fasterrcnn_resnet50_fpn", *H100],
            "fasterrcnn_resnet50_fpn: detection models run data-dependent post-processing",
        ),
    ],
    ids=["compare", "layers", "train", "llm", "train-refused-task"],
)
def test_a_failed_model_is_named_once(capsys, argv, line):
    code, _, err = run_cli(argv, capsys)
    assert code != 0
    (said,) = [x for x in err.splitlines() if x.startswith("modeltui: error: ")]
    assert said.startswith(f"modeltui: error: {line}"), said
    name = argv[1]
    assert said.count(name) == 1
