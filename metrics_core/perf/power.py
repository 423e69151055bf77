"""Sustained clocks under load: why a power-limited part computes below its datasheet peaks.

Datasheet tensor peaks are rated at the boost clock. A board held to its power limit cannot run its tensor
cores at that clock: dense GEMMs draw the most power of any workload, and the GPU's power manager lowers
the clock (and voltage) until the board's draw fits its limit. T4 (70 W), L4 (72 W), H100 PCIe (350 W),
laptop and Max-Q parts are all in this class. The model, per target:

- **Demand at boost** ``D = e_gen x peak_tensor``: the board power that running the dense FP16 tensor path
  (``peak_tflops.fp16``, else bf16) at its rated peak would take, with ``e_gen`` the board-level energy per
  dense tensor FLOP of the architecture generation (``tensor_pj_per_flop`` in ``data/efficiency.toml``).
  ``e_gen`` is derived, never fitted: it is the thermal design power of the generation's highest-power board
  over its dense FP16 tensor peak — that board is the one the vendor sized to hold its boost clock at full
  tensor load (A100 SXM4: 400 W / 312 TFLOP/s = 1.28 pJ/FLOP; derivations in the data file).
- **Sustained clock ratio** ``r = min(1, (P / D) ^ (1 / alpha))`` for a board power limit ``P``
  (``board_power_w``), with ``alpha`` the DVFS exponent of dynamic power in the clock (``P ~ C V^2 f``;
  with the voltage rising along the V/f curve the power grows as f^2 to f^3 near the top of the curve and
  as f at its floor: ``alpha = 2``, ``[power] dvfs_exponent``). At the board's own rated power ``r`` is
  never below ``base_clock_mhz / boost_clock_mhz`` where both are known (the clock the vendor guarantees
  at that power). Under a lower limit set for a run (``with_power_limit``: ``nvidia-smi -pl``) that
  guarantee does not hold and the clock follows the power model below the base clock.
- A published sustained clock under dense load (``sustained_clock_mhz`` with its source) replaces the model:
  ``r = sustained / boost``.

``r`` scales the tensor-path compute rates (GEMM, convolution, attention) of the calibrated model; memory
bandwidth and the vector units are not scaled (a memory-bound or pointwise kernel does not draw the power
that lowers the clock). A target without a board power, without a tensor path or without a generation
energy keeps ``r = 1`` and says so (``source``). No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from metrics_core.perf.hardware import HardwareTarget

#: alpha of the module doc, the default of ``[power] dvfs_exponent`` in ``data/efficiency.toml``.
DVFS_EXPONENT = 2.0

#: Where a clock ratio comes from (``ClockModel.source``).
CLOCK_SOURCES: tuple[str, ...] = ("published", "power model", "rated")


@dataclass(frozen=True)
class ClockModel:
    """The tensor-load clock of one target relative to the boost clock its peaks are rated at.

    ``ratio`` in (0, 1]; ``demand_w`` the modelled board power at the rated tensor peak (None when not
    modelled); ``source`` one of ``CLOCK_SOURCES``: a published sustained clock, the power model, or the
    rated (boost) clock when nothing limits it or nothing is known; ``note`` says why in words."""

    ratio: float
    source: str
    demand_w: float | None
    note: str

    def to_dict(self) -> dict[str, object]:
        return {
            "clock_ratio": self.ratio,
            "clock_source": self.source,
            "tensor_demand_w": self.demand_w,
            "clock_note": self.note,
        }


def tensor_peak_tflops(target: HardwareTarget) -> float | None:
    """The dense FP16 (else BF16) tensor peak in TFLOP/s the power demand is priced at; None without one."""
    for p in ("fp16", "bf16"):
        if p in target.peak_tflops:
            return float(target.peak_tflops[p])
    return None


def clock_model(target: HardwareTarget, pj_per_flop: float | None, exponent: float) -> ClockModel:
    """The sustained tensor-load clock ratio of ``target`` (module doc), with ``pj_per_flop`` the
    generation's board-level energy per dense tensor FLOP (pJ; None: not modelled) and ``exponent`` the DVFS
    exponent ``alpha`` (> 0). ``ValueError`` for a non-positive exponent."""
    if exponent <= 0:
        raise ValueError(f"dvfs exponent must be positive, got {exponent!r}")
    boost, base = target.boost_clock_mhz, target.base_clock_mhz
    if target.sustained_clock_mhz and boost:
        ratio = min(1.0, target.sustained_clock_mhz / boost)
        note = f"published sustained clock {target.sustained_clock_mhz:g} of {boost:g} MHz boost"
        return ClockModel(ratio, "published", None, note)
    peak = tensor_peak_tflops(target)
    if not pj_per_flop or not peak or not target.board_power_w:
        return ClockModel(1.0, "rated", None, "rated clock (no board power or generation energy to model)")
    demand = pj_per_flop * peak  # pJ/FLOP x TFLOP/s = W
    if demand <= target.board_power_w * (1 + 1e-9):  # the derivation's own board sits exactly at its limit
        note = f"rated clock: tensor demand {demand:.0f} W within the {target.board_power_w:g} W board power"
        return ClockModel(1.0, "rated", demand, note)
    ratio = (target.board_power_w / demand) ** (1.0 / exponent)
    floor = base / boost if base and boost and not below_rating(target) else 0.0
    ratio = max(ratio, floor)
    note = (
        f"power-limited: tensor demand {demand:.0f} W at boost over the {target.board_power_w:g} W board "
        f"power; clock x{ratio:.2f}"
    )
    return ClockModel(ratio, "power model", demand, note)


def below_rating(target: HardwareTarget) -> bool:
    """True when ``target`` runs under a board power limit below its rated power (``tdp_w``: a limit set
    for a run, ``with_power_limit``), where the base clock the vendor guarantees at its rating is no floor."""
    return bool(target.tdp_w and target.board_power_w and target.board_power_w < target.tdp_w)


def with_power_limit(target: HardwareTarget, watts: float | None) -> HardwareTarget:
    """``target`` run under a board power limit of ``watts`` (``nvidia-smi -pl``: a setup of a measured
    run, e.g. gpt-fast's A100s held to 330 W), the lower of it and the target's own ``board_power_w``; the
    target itself for None. The power model (``clock_model``) then derives the sustained tensor clock at
    that limit. ``ValueError`` for a limit that is not a positive number."""
    if watts is None:
        return target
    if not watts > 0:
        raise ValueError(f"board power limit must be a positive number of watts, got {watts!r}")
    if target.board_power_w and target.board_power_w <= watts:
        return target
    source = f"board power limited to {watts:g} W (a setup of the run, not the part's rating)"
    rating = target.tdp_w or target.board_power_w  # kept: the base clock is a floor only at the rating
    return replace(target, board_power_w=float(watts), board_power_source=source, tdp_w=rating)


def power_limit_note(target: HardwareTarget, watts: float, limited: ClockModel) -> str | None:
    """What a board power limit of ``watts`` does to ``target`` (its own ratings, before
    ``with_power_limit``), given ``limited``, the clock model of the limited target: None when the power
    model applies it as it is, else a note for the user (a limit at or above the board power changes
    nothing; a clock below the base clock, which the vendor guarantees only at the rated power, is the
    power model's extrapolation, and on a target without a recorded ``min_power_limit_w`` the note adds
    that it cannot tell whether a board accepts so low a limit). ``ValueError`` for a limit below the
    target's minimum power limit (the board refuses it: ``nvidia-smi -pl``), and where the power model
    cannot apply a limit: a target
    without a board power, tensor path or generation energy (its rated clock is used), or one whose clock
    is a published sustained clock measured at its own board power (MI300X, MI325X)."""
    name = target.name or target.id
    board = target.board_power_w
    floor = target.min_power_limit_w
    if floor and watts < floor:  # nvidia-smi -pl refuses it: no board runs there
        top = f"{floor:g}-{board:g} W" if board else f"{floor:g} W or more"
        raise ValueError(
            f"--power-limit {watts:g} W is below {name}'s minimum power limit: it accepts {top} "
            "(nvidia-smi 'Min Power Limit'; hardware JSON: min_power_limit_source)"
        )
    if board and watts >= board:
        return (
            f"--power-limit {watts:g} W is at or above {name}'s {board:g} W board power: no effect "
            "(the board's own limit is modelled)"
        )
    if limited.source == "published":
        raise ValueError(
            f"--power-limit {watts:g} W: {name}'s tensor clock is the {limited.note} at its {board:g} W "
            "board power; a lower limit is not modelled "
            "(drop --power-limit)"
        )
    if limited.source == "rated" and limited.demand_w is None:
        if not tensor_peak_tflops(target):
            missing = "FP16/BF16 tensor peak"
        elif not board:
            missing = "board power"
        else:  # a board and a tensor path, so the generation's energy per tensor FLOP is what is unknown
            missing = "energy per tensor FLOP for its architecture generation"
        raise ValueError(
            f"--power-limit {watts:g} W: {name} has no {missing} to model a "
            "power limit with (drop --power-limit)"
        )
    if limited.source == "rated":  # a demand within the limit
        return (
            f"--power-limit {watts:g} W: {name}'s modelled tensor demand, {limited.demand_w:.0f} W, is "
            "within it: no effect"
        )
    base, boost = target.base_clock_mhz, target.boost_clock_mhz
    unbounded = (
        ""
        if floor
        else f"; no minimum power limit is recorded for {name}: a real board refuses limits below its "
        "own (nvidia-smi 'Min Power Limit'), check yours"
    )
    if base and boost and limited.ratio < base / boost:
        return (
            f"--power-limit {watts:g} W: {name}'s tensor clock, x{limited.ratio:.2f} of boost, is below its "
            f"{base:g} MHz base clock (guaranteed only at its rated power): the power model's P ~ f^alpha "
            f"curve is extrapolated there, an estimate with no measurement behind it{unbounded}"
        )
    return None
