"""The open-loop view (``modeltui llm --rate``, ``perf.request_rate.at_rate``) held against the published
measurements taken at a request rate: the rows of benchmarks/measured/llm_serving.csv whose notes give a
finite ``QPS=`` (TensorRT-LLM's online serving through Triton, 2 requests/s, mean TTFT and mean inter-token
latency; sources in benchmarks/measured/README.md).

Each row is estimated as a user would ask it: ``llm MODEL --hardware GPU --tp N --prompt P --generate O
--weights/--activations/--kv ... --stack STACK --rate QPS`` (the step model of the model, the stack's
calibrated parameters as shipped), and the table prints measured, estimated and estimate / measured as a
speed (> 1: optimistic), with the requests in the engine the view found. For comparison, the last column is
``validate_llm.py``'s estimate of the same row (the captured phases at the row's Little's-law batch, plus
the same arrival wait). These rows are in TensorRT-LLM's fit (its request overhead), so this is an in-sample
check of the open-loop view, not a held-out error.

    python benchmarks/validate_rate.py
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import validate_llm  # noqa: E402

from metrics_core.perf.hardware import hardware_targets  # noqa: E402
from metrics_core.perf.request_rate import at_rate  # noqa: E402
from metrics_core.runtime.llm_cache import step_model  # noqa: E402


def main() -> int:
    targets = {t.id: t for t in hardware_targets()}
    rows, _ = validate_llm.read_rows(validate_llm.MEASURED / "llm_serving.csv", targets)
    rows = [r for r in rows if r.qps and r.metric in ("ttft_ms", "tpot_ms")]
    print(f"{'row':<52} {'measured':>9} {'--rate':>9} {'est/meas':>9} {'in engine':>10} {'validate_llm':>13}")
    ratios = []
    for r in rows:
        target = validate_llm.target_of(r, targets)
        s = validate_llm.scenario_of(r, 1).validated(target)
        model = step_model(r.model, s.bits, "sdpa")
        load = at_rate(model, target, s, r.qps)
        est = 1e3 * (load.ttft_s if r.metric == "ttft_ms" else load.tpot_s)
        old = validate_llm.estimate_row(r, targets, validate_llm.batch_of(r, targets))
        speed = r.value / est  # times: a speed ratio is measured / estimated
        ratios.append(speed)
        print(f"{r.id:<52} {r.value:>8.1f}  {est:>8.2f}  {speed:>8.2f}  {load.in_engine:>9.2f}  {old:>12.2f}")
    errors = sorted(abs(x - 1) for x in ratios)
    n = len(errors)
    median = (errors[(n - 1) // 2] + errors[n // 2]) / 2 if n else float("nan")
    geomean = math.exp(sum(math.log(x) for x in ratios) / n) if n else float("nan")
    print(f"\n{n} rows: geomean est/meas (speed) {geomean:.2f}, median |error| {100 * median:.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
