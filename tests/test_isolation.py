"""User model code runs only in worker processes: every fault of a model's code (``tests/helpers/
fault_models.py``) becomes that model's row error, its prints never reach the JSON stream, the other
models are reported, and ``--output`` never truncates a file when the run fails. The CLI runs as a child
process here, as a user runs it (worker pool on, ``MODELTUI_IN_PROCESS`` removed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HELPERS = Path(__file__).parent / "helpers"
M = "fault_models"


def run_cli(*argv: str, jobs: str = "1", timeout: float = 240) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "MODELTUI_IN_PROCESS"}
    env.update(MODELTUI_JOBS=jobs, PYTHONPATH=str(HELPERS))
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv], capture_output=True, text=True, env=env, timeout=timeout
    )


EXPECTED_ERRORS = {
    f"{M}:exit_factory": "the model's code called sys.exit(3)",
    f"{M}:exit_none_factory": "the model's code called sys.exit(None)",
    f"{M}:os_exit_factory": (
        "the worker process analysing this model died (crash, os._exit, kill or out of memory)"
    ),
    f"{M}:interrupt_factory": "KeyboardInterrupt",
    f"{M}:base_factory": "ModelQuit: model gave up",
    f"{M}:hang_factory": "timed out after 4 s (--timeout); its worker process was killed",
    f"{M}:exit_forward": "the model's code called sys.exit(4)",
    f"{M}:interrupt_forward": "KeyboardInterrupt",
}
FINE = [f"{M}:ok", f"{M}:print_factory", f"{M}:print_forward"]


def test_every_fault_is_its_rows_error_and_stdout_stays_json():
    names = [f"{M}:ok", *EXPECTED_ERRORS, f"{M}:print_factory", f"{M}:print_forward"]
    out = run_cli("compare", *names, "--input-shape", "4", "--no-cache", "--timeout", "4", "--format", "json")
    assert out.returncode == 1, out.stderr  # some rows failed
    rows = json.loads(out.stdout)  # nothing the models printed is in it
    assert [r["model"] for r in rows] == names
    errors = {r["model"]: r.get("error") for r in rows}
    assert {n: errors[n] for n in EXPECTED_ERRORS} == EXPECTED_ERRORS
    # the well-behaved ones: Linear(4, 2) = 8 MACs, 10 parameters
    assert [(errors[n], rows[names.index(n)]["macs"], rows[names.index(n)]["params"]) for n in FINE] == [
        (None, 8, 10)
    ] * 3
    assert "noise" not in out.stdout + out.stderr


def test_jobs_0_keeps_one_worker_not_the_cli_process():
    names = [f"{M}:print_factory", f"{M}:exit_factory", f"{M}:ok"]
    out = run_cli("layers", names[0], "--input-shape", "4", "--no-cache", "--format", "json", jobs="0")
    assert out.returncode == 0, out.stderr
    ops = json.loads(out.stdout)
    assert [(o["op"], o["macs"]) for o in ops] == [("addmm", 8)]
    out = run_cli("compare", *names, "--input-shape", "4", "--no-cache", "--format", "json", jobs="0")
    assert [r.get("error") for r in json.loads(out.stdout)] == [
        None,
        "the model's code called sys.exit(3)",
        None,
    ]


def test_bench_faults_are_row_errors_and_the_others_are_measured():
    names = [f"{M}:ok", f"{M}:os_exit_factory", f"{M}:exit_forward", f"{M}:print_forward"]
    argv = ["bench", *names, "--input-shape", "4", "--warmup", "0", "--iters", "2", "--format", "json"]
    out = run_cli(*argv)
    assert out.returncode == 1, out.stderr
    rows = json.loads(out.stdout)
    assert [r["model"] for r in rows] == names
    assert [len(r["times_s"]) for r in rows] == [2, 0, 0, 2]  # the healthy models: 2 timed passes each
    assert rows[1]["error"].startswith("the model's code called sys.exit") or "died" in rows[1]["error"]
    assert rows[2]["error"] == "the model's code called sys.exit(4)"


def test_output_is_atomic_and_kept_when_the_run_fails(tmp_path):
    target = tmp_path / "cmp.json"
    target.write_text("precious\n")
    out = run_cli("compare", "no_such_model_xyz", "--output", str(target))
    assert out.returncode == 2 and out.stderr.startswith("modeltui: error: unknown model")
    assert target.read_text() == "precious\n"  # a failed run leaves it as it was
    # a run whose models fail (exit 1) does not replace it either: the output goes to stdout
    out = run_cli("compare", f"{M}:exit_factory", "--format", "json", "--output", str(target))
    assert out.returncode == 1 and target.read_text() == "precious\n"
    assert json.loads(out.stdout)[0]["error"] == "the model's code called sys.exit(3)"
    assert out.stderr == f"modeltui: {target} not written (the run failed, exit 1); the output follows\n"
    out = run_cli("compare", f"{M}:ok", "--input-shape", "4", "--format", "json", "--output", str(target))
    assert out.returncode == 0, out.stderr
    assert (out.stdout, out.stderr) == ("", f"modeltui: wrote {target}\n")
    assert json.loads(target.read_text())[0]["macs"] == 8
    assert [p.name for p in tmp_path.iterdir()] == ["cmp.json"]  # no temporary file left


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("~nosuchuser_xyz/x.csv", "no user 'nosuchuser_xyz'"),
        ("/", "it is a directory"),
        (__file__ + "/y.csv", "is not a folder"),  # under a file
        ("", "no file name given"),
        ("/tmp/no_such_folder_xyz/y.csv", "'/tmp/no_such_folder_xyz' does not exist"),
        ("/dev/full", "not a regular file"),
        ("/tmp/" + "x" * 300 + ".csv", "ile name too long"),
    ],
)
def test_a_bad_output_path_is_one_line_before_any_work(path, why):
    out = run_cli("hardware", "--output", path)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and why in out.stderr


def test_llm_factories_that_exit_or_hang_are_one_line_errors():
    # llm reports a lost configuration on stderr, one line each; stdout stays valid JSON
    out = run_cli("llm", f"{M}:exit_causal_lm", "--hardware", "a100-sxm4-80gb", "--format", "json")
    assert (out.returncode, json.loads(out.stdout)) == (1, [])
    assert out.stderr == (
        f"modeltui: error: {M}:exit_causal_lm (batch 1, prompt 512): the model's code called sys.exit(5)\n"
    )
    argv = [
        "llm",
        f"{M}:hang_causal_lm",
        "--hardware",
        "a100-sxm4-80gb",
        "--timeout",
        "3",
        "--format",
        "json",
    ]
    out = run_cli(*argv)
    assert (out.returncode, json.loads(out.stdout)) == (1, [])
    assert out.stderr.endswith(": timed out after 3 s (--timeout); its worker process was killed\n")
