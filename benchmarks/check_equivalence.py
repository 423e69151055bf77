"""Check that the workers' speed-ups change no result: every catalog model analysed in this process,
plainly, then (1) in this process under ``metrics_core.runtime.metamemo.MetaMemo`` and (2) by the worker pool
(``metrics_core.runtime.pool``: fork server with the ``torch._dynamo`` stand-in, memoised meta kernels), must
give identical reports (``to_dict``: every metric and every op record). Prints the memo's hit rate and
the CPU time of the in-process passes.

    python benchmarks/check_equivalence.py [--all-tasks] [MODEL ...]
"""

from __future__ import annotations

import os
import sys
import time


def main(argv: list[str]) -> int:
    all_tasks = "--all-tasks" in argv
    names = [a for a in argv if not a.startswith("--")]
    from metrics_core.runtime.analyze import AnalysisOptions, analyze_many, analyze_spec
    from metrics_core.runtime.metamemo import MetaMemo
    from metrics_core.sources.catalog import catalog, classification_models, get_spec

    if names:
        specs = [get_spec(n) for n in names]
    else:
        specs = [s for s in catalog() if s.supported] if all_tasks else classification_models()
    options = AnalysisOptions(use_cache=False)
    analyze_spec(specs[0], options)  # first-use costs paid before timing either pass

    t = time.process_time()
    plain = {s.name: analyze_spec(s, options).to_dict() for s in specs}
    plain_s = time.process_time() - t
    memo = MetaMemo()
    t = time.process_time()
    with memo:
        memoised = {s.name: analyze_spec(s, options).to_dict() for s in specs}
    memo_s = time.process_time() - t
    os.environ["MODELTUI_JOBS"] = "2"  # this process has torch: force the worker pool
    pooled = {r.model: r.to_dict() for r in analyze_many([s.name for s in specs], options)}

    errors = [name for name, d in plain.items() if d["error"]]
    calls = memo.hits + memo.misses
    print(f"{len(specs)} models, {len(errors)} with errors: {', '.join(errors) or 'none'}")
    print(f"MetaMemo: {memo.hits} of {calls} functional meta-op calls answered from {len(memo.memo)} entries")
    print(f"CPU time in one process: {plain_s:.2f} s plain, {memo_s:.2f} s with MetaMemo")
    ok = True
    for label, other in (("MetaMemo in-process", memoised), ("worker pool", pooled)):
        differ = [name for name in plain if plain[name] != other[name]]
        if differ:
            ok = False
            print(f"DIFFERENT with {label}: {', '.join(differ)}")
        else:
            print(f"identical reports with {label}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
