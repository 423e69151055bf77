"""``modeltui hardware``: list the hardware targets of the roofline model (built-in and user files)."""

from __future__ import annotations

import argparse
import json
import sys

from metrics_core.common import units
from metrics_core.common.errors import UsageError
from metrics_core.common.textable import text_table
from metrics_core.perf.hardware import PRECISIONS, HardwareCatalog, HardwareTarget, load_catalog

FORMATS = ("table", "json")

#: Ridge points shown in the table (FLOP/byte).
TABLE_RIDGES = ("fp32", "fp16")

UNCERTAIN_MARK = "~"

#: How the table's rows are ordered: as ``load_catalog`` returns them (the built-in file's order, then the
#: user hardware directory's files by name, then ``--hardware-file``s), not sorted by any column.
ORDER_NOTE = "rows in catalog order (built-in hardware.toml order, then your hardware files)"

#: The run-time target of the CPU modeltui runs on (metrics_core/perf/this_machine.py).
THIS_ID = "this-machine"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("hardware", help="list hardware targets (peaks, bandwidth, ridge points, sources)")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument(
        "--hardware-file",
        metavar="PATH",
        action="append",
        default=[],
        help="extra hardware TOML (repeatable)",
    )
    p.add_argument(
        "--filter",
        metavar="TEXT",
        default=None,
        help="only targets matching it, as the app's hardware search: words that start a token of the id, "
        "name, vendor or kind ('h100', 'nvidia datacenter'), or a glob on the id ('a100*')",
    )
    p.add_argument("query", nargs="?", default=None, metavar="TEXT", help="the same as --filter TEXT")


def run(args: argparse.Namespace) -> int:
    from metrics_core.common.name_filter import name_matches

    if args.query is not None:
        if args.filter is not None and args.filter != args.query:
            raise UsageError(f"give one filter: {args.query!r} or --filter {args.filter!r}, not both")
        args.filter = args.query
    catalog = load_catalog_with_warnings(args.hardware_file)
    targets = [t for t in catalog.targets if name_matches(args.filter, t.id, t.name, t.vendor, t.kind)]
    # this-machine is derived at run time (a measured copy the first time): listed only when a filter asks
    # for it ('this', 'machine', 'cpu'), never on the plain listing, which stays instant
    with_this = bool(args.filter) and name_matches(args.filter, THIS_ID, "this machine", "detected", "cpu")
    if with_this:
        from metrics_core.perf.this_machine import this_machine

        targets.append(this_machine())
    if not targets and args.filter:
        raise UsageError(
            f"no hardware target matches --filter {args.filter!r} (list them with modeltui hardware)"
        )
    if args.format == "json":
        print(json.dumps([target_json(t) for t in targets], indent=2))
    else:
        print(hardware_table(targets))
        if not with_this:
            print(
                "\nAlso: this-machine, the CPU modeltui runs on, derived at run time (cores x FLOP/cycle x "
                "clock; a measured copy for bandwidth): --hardware this-machine (--filter this lists it); "
                "bench uses it on the CPU."
            )
    return 0


def target_json(t: HardwareTarget) -> dict:
    """A target's JSON object plus what the performance model makes of it: the sustained tensor-load
    clock (``clock_ratio``, ``clock_source``, ``tensor_demand_w``, ``clock_note``), ``validated`` (the
    published measurements its estimates were held against, or null: a physical estimate), ``generation``
    (the architecture generation whose calibrated parameters apply: ``data/efficiency.toml``),
    ``bandwidth_share`` (the fraction of the DRAM peak its streaming kernels reach, a published stream
    figure per generation, user calibration included) and ``efficiency_source`` (``built-in`` or the user
    file's overrides)."""
    from metrics_core.perf.efficiency import (
        builtin_params_for,
        clock_for,
        efficiency_source,
        llm_validations,
        params_for,
        validation_for,
    )

    d = t.to_dict()
    d.update(clock_for(t).to_dict())
    d["generation"] = builtin_params_for(t).generation
    d["bandwidth_share"] = params_for(t).bandwidth
    d["efficiency_source"] = efficiency_source(t)
    builtin = d["efficiency_source"] == "built-in"  # the user's own values are not what was validated
    d["validated"] = builtin and validation_for(t) is not None
    d["validation"] = validation_for(t) if builtin else None
    d["validated_llm"] = llm_validations(t) if builtin else {}
    return d


def load_catalog_with_warnings(extra_files: list[str]) -> HardwareCatalog:
    """The catalog; skipped user-dir files are reported once on stderr, and so is each ``[target.ID]`` table
    of the user efficiency file that names none of its targets (``perf.efficiency.warn_unknown_targets``)."""
    from metrics_core.perf.efficiency import warn_unknown_targets

    catalog = load_catalog(extra_files)
    for warning in catalog.warnings:
        print(f"modeltui: warning: {warning}", file=sys.stderr)
    warn_unknown_targets(catalog.ids())
    return catalog


def _figure(t: HardwareTarget, name: str, value: float | None) -> str:
    """The figure, followed by the uncertainty mark or a space (keeps digits aligned)."""
    return units.plain(value) + (UNCERTAIN_MARK if value is not None and name in t.uncertain else " ")


def _clock(c) -> str:  # noqa: ANN001 (perf.power.ClockModel)
    """``0.75M`` (power model), ``0.69P`` (published clock) or ``1`` (rated)."""
    if c.source == "rated":
        return "1 "
    return f"{c.ratio:.2f}{'P' if c.source == 'published' else 'M'}"


def _ridge(t: HardwareTarget, precision: str) -> str:
    return units.fixed(t.ridge_point(precision), 1) if t.has(precision) else "-"


def validated_label(t: HardwareTarget) -> str:
    """The table's ``Valid.`` cell: ``vision`` when the target's vision estimates were held against published
    measurements (``validated``), ``llm`` when some serving stack's were (``validated_llm``), both joined by
    ``+``, ``-`` (physical estimates only) or ``user`` (the user efficiency file's ``[target.ID]`` values
    replace the built-in ones: calibrated to the user's measurements, not the validated values)."""
    from metrics_core.perf.efficiency import efficiency_source, llm_validations, validation_for

    if efficiency_source(t) != "built-in":
        return "user"
    kinds = [k for k, v in (("vision", validation_for(t)), ("llm", llm_validations(t))) if v]
    return "+".join(kinds) or "-"


def hardware_table(targets: list[HardwareTarget]) -> str:
    """Targets as a text table: bandwidth, memory, dense peaks, fp32/fp16 ridge points, name."""
    headers = [
        "ID",
        "GB/s",
        "Mem GB",
        *(p.upper() for p in PRECISIONS),
        *(f"Ridge {p}" for p in TABLE_RIDGES),
        "Board W",
        "Clock x",
        "Valid.",
        "Mem",
        "Link",
        "Name",
    ]
    from metrics_core.perf.efficiency import clock_for

    rows = [
        [
            t.id,
            _figure(t, "memory_bandwidth_gbps", t.memory_bandwidth_gbps),
            _figure(t, "memory_gb", t.memory_gb),
            *(_figure(t, f"peak_tflops.{p}", t.peak_tflops.get(p)) for p in PRECISIONS),
            *(_ridge(t, p) for p in TABLE_RIDGES),
            _figure(t, "board_power_w", t.board_power_w),
            _clock(clock_for(t)),
            validated_label(t),
            t.memory_type or "-",
            t.interconnect_kind or ("pcie" if t.interconnect_gbps else "-"),
            t.name,
        ]
        for t in targets
    ]
    numeric = [
        False,
        True,
        True,
        *(True for _ in PRECISIONS),
        *(True for _ in TABLE_RIDGES),
        True,
        True,
        False,
        False,
        False,
        False,
    ]
    legend = (
        "Dense peaks in TFLOP/s (INT8: TOP/s); '-' = no such path; bandwidth GB/s = 1e9 bytes/s;\n"
        f"ridge = peak / bandwidth in FLOP/byte; '{UNCERTAIN_MARK}' = derived or uncertain figure "
        "(notes, sources: --format json);\n"
        "Board W = board power, the W of energy estimates (an upper bound);\n"
        "Clock x = sustained tensor-load clock / boost under the board power (P = published, M = power "
        "model);\nValid. = estimates held against published measurements: vision (compare, layers, "
        "roofline ...), llm (for the stacks\n  --format json's validated_llm names); - = physical estimates "
        "only; user = your calibrated parameters;\n"
        "Mem = memory type; Link = how its devices talk (interconnect_kind; --format json for the rest)."
    )
    return ORDER_NOTE + "\n" + text_table(headers, rows, numeric) + "\n\n" + legend
