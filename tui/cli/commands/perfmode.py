"""``--execution`` and ``--efficiency``: which performance model the estimates of a verb use.

``--execution eager|compiled`` (default eager): one kernel per aten op, or the fused kernels of default
``torch.compile`` (``metrics_core.perf.fusion``). ``--efficiency ideal|calibrated`` (default calibrated):
the datasheet roofline, or achievable efficiency with launch costs (``metrics_core.perf.efficiency``).
Every output that carries estimates says which (``execution`` / ``efficiency`` in JSON, a label in text).
"""

from __future__ import annotations

import argparse

EXECUTIONS = ("eager", "compiled")
EFFICIENCIES = ("ideal", "calibrated")
DEFAULT_EXECUTION = "eager"
DEFAULT_EFFICIENCY = "calibrated"


def add_mode_args(p: argparse.ArgumentParser) -> None:
    """Add ``--execution`` and ``--efficiency`` to a verb's parser."""
    p.add_argument(
        "--execution",
        choices=EXECUTIONS,
        default=None,  # modes_of: the default; None tells "not given" (estimates without --hardware)
        help="eager: one kernel per op; compiled: torch.compile's fused kernels (default eager)",
    )
    p.add_argument(
        "--efficiency",
        choices=EFFICIENCIES,
        default=None,
        help="ideal: datasheet roofline; calibrated: achievable efficiency, launch costs (default)",
    )


def modes_of(args: argparse.Namespace) -> dict[str, str]:
    """``{"execution": ..., "efficiency": ...}`` of parsed arguments (the defaults when absent)."""
    return {
        "execution": getattr(args, "execution", None) or DEFAULT_EXECUTION,
        "efficiency": getattr(args, "efficiency", None) or DEFAULT_EFFICIENCY,
    }


def mode_label(modes: dict[str, str]) -> str:
    """``"eager, calibrated efficiency"`` — the label text outputs carry."""
    return f"{modes['execution']}, {modes['efficiency']} efficiency"


def provenance_label(
    target,  # noqa: ANN001 (perf.hardware.HardwareTarget)
    efficiency: str,
    execution: str | None = None,
    precision: str | None = None,
) -> str:
    """``"validated on this target"``, ``"physical estimate, not validated on this target"`` or, when
    calibrated estimates use the user efficiency file, ``"calibrated to your measurements (PATH (names)),
    not validated on this target"`` (``report.context.unvalidated_label``) — what a
    text title says beside the execution and efficiency (``metrics_core.perf.efficiency.provenance``)."""
    from metrics_core.perf.efficiency import provenance
    from metrics_core.report.context import unvalidated_label

    p = provenance(target, efficiency, execution=execution, precision=precision)
    if p["validated"]:
        return "validated on this target"
    return unvalidated_label(p.get("efficiency_source")) + " on this target"
