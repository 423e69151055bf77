"""The figures README.md quotes from modeltui's own output, regenerated from that output.

README marks each generated figure with HTML comments (invisible when rendered)::

    <!-- figure:NAME -->text the FIGURES[NAME] function writes<!-- /figure -->

Each function runs the command README names (in this process, ``tui.cli.main`` with ``--format json``)
and writes the sentence from its output, so a figure can never disagree with what the command prints:

    python benchmarks/readme_figures.py            # check: exit 1 and a diff when a figure is stale
    python benchmarks/readme_figures.py --write    # rewrite the marked figures in README.md

``tests/test_readme_figures.py`` runs the check for every marked figure (none needs a GPU or the network;
the Pareto figure analyses the 80 classification models, about a minute cold). Figures measured on GPUs
(the published error tables) come from ``validate_estimates.py`` / ``validate_llm.py`` and are not here.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MARKED = re.compile(r"<!-- figure:(?P<name>[a-z0-9-]+) -->(?P<text>.*?)<!-- /figure -->", re.S)


def cli_json(*argv: str):  # noqa: ANN201
    """``modeltui ARGV --format json`` run in this process: its parsed output (exit 0 required)."""
    sys.path.insert(0, str(ROOT))
    from tui import cli

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main([*argv, "--format", "json"])
    if code != 0:
        raise RuntimeError(f"modeltui {' '.join(argv)} exited {code}")
    return json.loads(out.getvalue())


def _ms(seconds: float) -> str:
    """Milliseconds with 2 decimals below 100 ms, 1 above (0.62 ms, 171.7 ms)."""
    ms = seconds * 1e3
    return f"{ms:.2f} ms" if ms < 100 else f"{ms:.1f} ms"


def pareto_latency() -> str:
    """``modeltui pareto --all --hardware a100-pcie-40gb`` (accuracy vs latency): the frontier's size and
    four of its points (first, a third of the way, two thirds, last)."""
    doc = cli_json("pareto", "--all", "--hardware", "a100-pcie-40gb")
    points = {p["model"]: p for p in doc["points"]}
    front = doc["frontier"]
    picks = [front[0], front[len(front) // 3], front[(2 * len(front)) // 3], front[-1]]
    a, b, c, d = (f"{m} ({_ms(points[m]['latency_s'])}, {points[m]['acc1']:.3f} %)" for m in picks)
    return (
        f"On the torchvision catalog ({len(doc['points']) + len(doc['missing']) + len(doc['failed'])} "
        f"classification models, fp32, batch {doc['batch_size']}) on `{doc['target']}` ({doc['execution']}, "
        f"{doc['efficiency']} efficiency), {len(front)} models are on the accuracy-vs-latency frontier, from "
        f"{a} through {b} and {c} to {d}."
    )


def case_study() -> str:
    """``modeltui compare resnet18 mobilenet_v2``: the seed's case-study figures (the seed's avg AI
    quoted beside ours)."""
    rows = {r["model"]: r for r in cli_json("compare", "resnet18", "mobilenet_v2")}
    r18, mv2 = rows["resnet18"], rows["mobilenet_v2"]
    return (
        f"ResNet-18 {r18['params'] / 1e6:.2f}M params, {r18['macs'] / 1e9:.2f} GMACs, width "
        f"{r18['max_width']}, {r18['memory_bytes'] / 1e6:.0f} MB, avg AI {r18['avg_ai']:.1f} (seed 24.76); "
        f"MobileNet-V2 {mv2['params'] / 1e6:.2f}M, {mv2['macs'] / 1e6:.0f}M MACs, width {mv2['max_width']}, "
        f"{mv2['memory_bytes'] / 1e6:.0f} MB, avg AI {mv2['avg_ai']:.2f} (seed 4.68)."
    )


def conv1_overhead() -> str:
    """``modeltui layers resnet18 --hardware a100-sxm4-80gb --dtype fp16``: conv1's estimate and how many
    ops share its bound."""
    rows = cli_json("layers", "resnet18", "--hardware", "a100-sxm4-80gb", "--dtype", "fp16")
    conv1 = rows[0]
    bound = conv1["bound"]
    same = Counter(r["bound"] for r in rows)[bound]
    return (
        "`modeltui layers resnet18 --hardware a100-sxm4-80gb --dtype fp16`: conv1 is "
        f"{conv1['est_time_s'] * 1e6:.2f} µs of which {conv1['est_compute_s'] * 1e6:.2f} µs compute and "
        f"{conv1['est_memory_s'] * 1e6:.2f} µs memory — `{bound}`, as {same} of its {len(rows)} ops at "
        "batch 1."
    )


#: (target id, the name README gives it), in README's order; targets at x1 are listed together last.
CLOCK_TARGETS = (
    ("t4", "T4"),
    ("l4", "L4"),
    ("h100-pcie-80gb", "H100 PCIe"),
    ("rtx-pro-6000-blackwell-max-q", "RTX PRO 6000 Max-Q"),
    ("a100-pcie-40gb", "A100 PCIe 40GB"),
    ("mi300x", "MI300X"),
    ("mi325x", "MI325X"),
    ("rtx-4090", "RTX 4090"),
    ("h100-sxm5-80gb", "H100 SXM"),
    ("a100-sxm4-80gb", "A100 SXM"),
)


def clock_ratios() -> str:
    """``modeltui hardware``: the sustained tensor-clock ratio under each board's power limit."""
    targets = {t["id"]: t for t in cli_json("hardware")}
    held, full = [], []
    for tid, name in CLOCK_TARGETS:
        t = targets[tid]
        if t["clock_ratio"] < 1:
            how = ", AMD's published GEMM clock" if t["clock_source"] == "published" else ""
            held.append(f"{name} ({t['board_power_w']:g} W{how}): ×{t['clock_ratio']:.2f}")
        else:
            full.append(name)
    return "; ".join(held) + (f"; {', '.join(full)}: ×1." if full else ".")


FIGURES: dict[str, Callable[[], str]] = {
    "pareto-latency": pareto_latency,
    "case-study": case_study,
    "conv1-overhead": conv1_overhead,
    "clock-ratios": clock_ratios,
}


def marked(text: str) -> dict[str, str]:
    """Figure name -> the text README has between its markers (whitespace as written)."""
    return {m["name"]: m["text"] for m in MARKED.finditer(text)}


def normalise(text: str) -> str:
    """A figure's words, line breaks and runs of spaces as one space (README wraps its lines)."""
    return " ".join(text.split())


def stale(names: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """Name -> (README's text, the fresh text) of every marked figure that differs."""
    quoted = marked(README.read_text(encoding="utf-8"))
    out = {}
    for name in names or list(quoted):
        fresh = FIGURES[name]()
        if normalise(quoted[name]) != normalise(fresh):
            out[name] = (quoted[name], fresh)
    return out


def write() -> list[str]:
    """Rewrite every marked figure in README.md with its fresh text; the names that changed."""
    text = README.read_text(encoding="utf-8")
    changed = []

    def fresh(m: re.Match) -> str:
        new = FIGURES[m["name"]]()
        if normalise(new) == normalise(m["text"]):
            return m[0]  # up to date: README's line breaks kept
        changed.append(m["name"])
        return f"<!-- figure:{m['name']} -->{new}<!-- /figure -->"

    text = MARKED.sub(fresh, text)
    README.write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--write" in args:
        changed = write()
        print(
            f"README.md: {len(changed)} figure(s) rewritten {changed}" if changed else "README.md: up to date"
        )
        return 0
    bad = stale()
    for name, (old, new) in bad.items():
        print(f"STALE {name}:")
        print(
            "\n".join(difflib.unified_diff([normalise(old)], [normalise(new)], "README", "now", lineterm=""))
        )
    print("FAIL" if bad else f"PASS: {len(marked(README.read_text(encoding='utf-8')))} figures up to date")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
