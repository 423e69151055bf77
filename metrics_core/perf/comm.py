"""Collective-communication time on a GPU interconnect: all-reduce, all-gather, reduce-scatter, all-to-all.

Replaces the single ring formula (0.7 us per step, the full line rate) with an alpha-beta model per
algorithm, fitted to published nccl-tests / rccl-tests curves, and takes the fastest algorithm the
collective library would pick. Every parameter, with its source, is in ``data/links.toml``. No torch here.

Units: bytes, seconds, decimal GB/s (1 GB = 1e9 B). ``message_bytes`` (S) is nccl-tests' "size": the full
tensor each GPU holds (all-reduce input, all-gather output, reduce-scatter input, all-to-all buffer).

Link (``link_for``): ``B_dir`` = the catalog's bidirectional per-GPU ``interconnect_gbps`` / 2 (one
direction). The achievable ring bus bandwidth is ``B = B_dir x bus_efficiency`` (NCCL's own figures: an
NVLink lane of 25 GB/s carries ~20 GB/s of payload, ``SM80_NVLINK_BW`` / ``SM90_NVLINK_BW`` in NCCL's
``src/graph/topo.h``; PCIe Gen3 x16 12 of 16 GB/s, ``PCI_BW``).

Per algorithm, with ``f`` the bus factor (nccl-tests ``doc/PERFORMANCE.md``: all-reduce ``2 (n-1) / n``,
all-gather / reduce-scatter / all-to-all ``(n-1) / n``) and ``steps`` = ``2 (n-1)`` (all-reduce) or ``n-1``:

- ``ring`` (NCCL ring, Simple / LL128 protocol, the bandwidth algorithm)::

      latency   = launch + ring_base + steps x ring_step
      bandwidth = f x S / busbw(S),   busbw(S) = B x S / (S + S_half)

  The ramp ``busbw(S)`` (achieved bus bandwidth grows with the message: pipeline fill, per-channel chunks)
  is equivalent to ``f x (S + S_half) / B``: a fixed fill cost of ``f x S_half / B`` on top of the step
  latency. ``S_half`` is fitted per link kind to the published curves (see links.toml).
- ``ring-ll`` (NCCL's LL protocol: 8-byte flag/data stores, no pipeline fill, half or less of the bandwidth)::

      latency   = launch + ll_base + steps x ll_step
      bandwidth = f x S / (B_dir x ll_bus_fraction)

- ``nvls`` (NVLink SHARP, all-reduce on Hopper-or-later NVSwitch boards: the switch reduces, each GPU
  moves ~S instead of ``2 (n-1) / n x S``; nccl-tests still reports busbw with the ring factor, ~480 GB/s on
  8 H100)::

      latency   = launch + nvls_latency
      bandwidth = f x (S + nvls_S_half) / (B_dir x nvls_bus_ratio)

- ``custom`` (vLLM / TensorRT-LLM custom all-reduce over P2P-mapped peer buffers, only with
  ``custom_allreduce=True``, on fully-connected links, for ``S <= custom_max_bytes``): vLLM's
  ``csrc/custom_all_reduce.cuh`` runs the one-shot kernel (each GPU reads all n-1 peer buffers and reduces)
  when n == 2, or n <= 4 and S < 512 KiB, or n <= 8 and S < 256 KiB, else the two-shot kernel
  (reduce-scatter + all-gather, the ring's traffic)::

      one-shot: latency = launch + custom_stage,      bandwidth = (n-1) x S / B
      two-shot: latency = launch + 2 x custom_stage,  bandwidth = 2 (n-1) / n x S / B

- all-to-all (NCCL grouped send/recv, every peer at once): latency = launch + ring_base + ring_step,
  bandwidth = ``(n-1) / n x S / busbw(S)``.

Step latencies (``ring_base``, ``ring_step``, ``ll_base``, ``ll_step``, ``nvls_latency``) are NCCL's own
tuning constants (``src/graph/tuning.cc``: base latencies Ring LL 6.6 us / Simple 8.4 us, per-step NVLink
LL 0.6 / Simple 3.4 us, PCI 1.0 / 5.7 us, NVLS 25 us). The library picks the fastest algorithm (NCCL's tuner
minimises exactly ``latency + bytes / bandwidth`` over algorithm x protocol), so the result is the minimum
over the algorithms available on the link. NCCL's tree is not modelled separately: within one node it is a
chain with the same ``2 (n-1)`` hops as the ring and at most the ring's bandwidth (``tuning.cc``), so it is
never strictly faster here.

``nvlink-bridge`` links only pair two GPUs: with n > 2 the ring crosses PCIe between pairs, so the whole
collective runs at the PCIe link (``Link.fallback``), and the algorithm name says so ("ring via pcie").

Validation: ``validation_table()`` compares the model's busbw to the published points in links.toml
(``[[validation]]``); tests/test_comm.py asserts each within 25 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metrics_core.common.errors import UsageError

if TYPE_CHECKING:
    from metrics_core.perf.hardware import HardwareTarget

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

DATA_FILE = Path(__file__).parent / "data" / "links.toml"

#: Collectives, named as nccl-tests names them (``all_reduce_perf`` ...).
OPS: tuple[str, ...] = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all")

_US = 1e-6
_MIB = 1024 * 1024


@lru_cache(maxsize=1)
def _data() -> dict[str, Any]:
    return tomllib.loads(DATA_FILE.read_text(encoding="utf-8"))


def known_kinds() -> tuple[str, ...]:
    """The link kinds of ``data/links.toml`` (the vocabulary of hardware.toml's ``interconnect_kind``)."""
    return tuple(_data()["kind"])


@dataclass(frozen=True)
class Link:
    """One GPU's interconnect and the collective-library parameters fitted for its kind.

    Bandwidths in decimal GB/s, latencies in microseconds, sizes in bytes; fractions in 0..1
    (``nvls_bus_ratio`` may exceed 1: NVLS busbw is reported with the ring factor, each GPU moving less).
    """

    kind: str
    per_direction_gbps: float  #: line rate one direction per GPU (catalog ``interconnect_gbps`` / 2)
    bus_efficiency: float  #: ring plateau busbw / per_direction_gbps
    ramp_half_bytes: float  #: S_half of busbw(S) = B x S / (S + S_half), ring / all-to-all
    launch_us: float  #: kernel launch + host-side cost per collective
    ring_base_us: float
    ring_step_us: float
    ll_base_us: float
    ll_step_us: float
    ll_bus_fraction: float  #: LL-protocol busbw / per_direction_gbps
    nvls: bool  #: NVLink SHARP all-reduce available (Hopper-or-later NVSwitch)
    nvls_bus_ratio: float  #: NVLS plateau busbw (ring-factor convention) / per_direction_gbps
    nvls_latency_us: float
    nvls_ramp_half_bytes: float
    custom: bool  #: a custom (vLLM / TensorRT-LLM) all-reduce can run on this link (P2P, fully connected)
    custom_stage_us: float  #: one barrier + kernel stage of the custom all-reduce
    custom_max_bytes: float  #: largest message the custom all-reduce takes (vLLM: 8 MiB)
    max_peer_gpus: int  #: GPUs the link joins directly (0 = any number); beyond it ``fallback`` is used
    fallback: Link | None = None  #: the link between groups when n > max_peer_gpus (PCIe for bridges)

    @property
    def bus_gbps(self) -> float:
        """Plateau ring bus bandwidth, GB/s: ``per_direction_gbps x bus_efficiency``."""
        return self.per_direction_gbps * self.bus_efficiency


@dataclass(frozen=True)
class CollectiveTime:
    """Estimated time of one collective (seconds) and what it is made of.

    ``time_s = latency_s + bandwidth_s``; ``bus_bandwidth_gbps`` is nccl-tests' busbw of that time (bus
    factor x message / time, GB/s); ``algorithm`` is the one picked ("none" for a single GPU).
    """

    time_s: float
    latency_s: float
    bandwidth_s: float
    algorithm: str
    bus_bandwidth_gbps: float


def _params(kind: str) -> dict[str, Any]:
    kinds = _data()["kind"]
    if kind not in kinds:
        raise ValueError(f"unknown interconnect kind {kind!r}; known kinds: {', '.join(kinds)}")
    return {**_data()["defaults"], **kinds[kind]}


def link_for(
    kind: str, interconnect_gbps: float, *, nvls: bool | None = None, pcie_gbps: float | None = None
) -> Link:
    """The link of one GPU of ``kind`` whose catalog figure is ``interconnect_gbps``.

    ``interconnect_gbps``: hardware.toml's bidirectional per-GPU figure, decimal GB/s (NVLink total both
    ways, PCIe x16 both ways); one direction is half of it. ``nvls``: force NVLink SHARP on / off (default:
    the kind's rule in links.toml: NVSwitch with >= ``nvls_min_per_direction_gbps`` per direction, i.e.
    NVLink 4 or later). ``pcie_gbps``: bidirectional PCIe figure for an ``nvlink-bridge`` link's fallback
    beyond its pair (default: the kind's ``fallback_pcie_gbps``).

    Raises ValueError for an unknown kind (the message lists the known ones) or a non-positive / non-finite
    bandwidth.
    """
    p = _params(kind)
    valid = isinstance(interconnect_gbps, (int, float)) and math.isfinite(interconnect_gbps)
    if not (valid and interconnect_gbps > 0):
        raise ValueError(f"interconnect_gbps must be a positive number of GB/s, got {interconnect_gbps!r}")
    per_direction = float(interconnect_gbps) / 2
    if nvls is None:
        nvls = bool(p["nvls"]) and per_direction >= p["nvls_min_per_direction_gbps"]
    fallback = None
    if p["max_peer_gpus"]:
        fallback_kind = p["fallback_kind"]
        fallback = link_for(fallback_kind, pcie_gbps if pcie_gbps is not None else p["fallback_pcie_gbps"])
    return Link(
        kind=kind,
        per_direction_gbps=per_direction,
        bus_efficiency=p["bus_efficiency"],
        ramp_half_bytes=p["ramp_half_mib"] * _MIB,
        launch_us=p["launch_us"],
        ring_base_us=p["ring_base_us"],
        ring_step_us=p["ring_step_us"],
        ll_base_us=p["ll_base_us"],
        ll_step_us=p["ll_step_us"],
        ll_bus_fraction=p["ll_bus_fraction"],
        nvls=nvls,
        nvls_bus_ratio=p["nvls_bus_ratio"],
        nvls_latency_us=p["nvls_latency_us"],
        nvls_ramp_half_bytes=p["nvls_ramp_half_mib"] * _MIB,
        custom=bool(p["custom"]),
        custom_stage_us=p["custom_stage_us"],
        custom_max_bytes=p["custom_max_mib"] * _MIB,
        max_peer_gpus=int(p["max_peer_gpus"]),
        fallback=fallback,
    )


def domain_gpus(kind: str, stated: int | None = None) -> int | None:
    """GPUs one scale-up domain of link ``kind`` holds: ``stated`` (a target's ``interconnect_max_gpus``)
    or the kind's ``max_gpus`` in links.toml (8: one 8-GPU server); None when unbounded (TPU ICI).
    Beyond it GPUs talk over a scale-out network (InfiniBand / Ethernet) that this model does not have.

    Raises ValueError for an unknown kind.
    """
    if stated:
        return int(stated)
    n = int(_params(kind)["max_gpus"])
    return n or None


#: What one device of a target is called in messages about joining several of them, by the catalog's
#: ``kind``: a TPU is a chip (Google's own word: "TPU v4 chip", its ICI the "inter-chip interconnect"), a
#: Gaudi an accelerator; a kind naming a GPU (datacenter, consumer, laptop ... GPU) is a GPU. Anything else
#: (CPUs, edge SoCs, user kinds): ``device``.
DEVICE_NOUNS: dict[str, str] = {"TPU": "chip", "accelerator": "accelerator"}


def device_noun(target: HardwareTarget) -> str:
    """``GPU``, ``chip`` (TPU), ``accelerator`` (Gaudi) or ``device``: what one of ``target`` is called
    (``DEVICE_NOUNS``)."""
    kind = target.kind or ""
    return DEVICE_NOUNS.get(kind) or ("GPU" if "GPU" in kind.split() else "device")


def no_interconnect_reason(target: HardwareTarget) -> str:
    """Why several devices of ``target`` (which has no ``interconnect_gbps``) cannot be modelled, one phrase:
    a link kind named without a bandwidth (TPU v4: an ICI link, but Google publishes no per-chip ICI
    bandwidth) says so; no link at all is no interconnect of its kind of device."""
    if target.interconnect_kind:
        return f"{target.name}'s {target.interconnect_kind} link has no bandwidth figure (interconnect_gbps)"
    return f"{target.name} has no {device_noun(target)} interconnect figure (interconnect_gbps)"


def check_scale_up(target: HardwareTarget, gpus: int, flag: str) -> None:
    """``UsageError`` (one line) when ``gpus`` > 1 GPUs of ``target`` cannot be modelled: the target has no
    interconnect figure, or ``gpus`` is more than one scale-up domain holds (``domain_gpus``: 8 for an
    8-GPU server, 72 for GB200 NVL72). GPUs across nodes talk over InfiniBand / Ethernet, which this
    collective model does not have, so nothing is estimated for them. ``flag`` names the option."""
    if gpus <= 1:
        return
    if not target.interconnect_gbps:
        raise UsageError(f"{no_interconnect_reason(target)}: {flag} 1 only")
    kind = target.interconnect_kind or "pcie"
    limit = domain_gpus(kind, target.interconnect_max_gpus)
    if limit is not None and gpus > limit:
        noun = device_noun(target)
        raise UsageError(
            f"{flag} {gpus:,}: {target.id} joins at most {limit} {noun}s over its {kind} link (one "
            f"{'NVL72 rack' if limit == 72 else 'server'}); {noun}s on several nodes (InfiniBand / Ethernet) "
            f"are not modelled: choose {flag} {limit} or fewer"
        )


def link_label(target: HardwareTarget, gpus: int) -> str:
    """How ``gpus`` GPUs of ``target`` talk, for a heading: ``nvswitch, 900 GB/s``; a link that joins
    fewer GPUs than asked names what runs the collectives beyond it (``nvlink-bridge pairs, pcie between
    them: 64 GB/s``, as ``collective_time`` times them)."""
    kind = target.interconnect_kind or "pcie"
    link = link_for(kind, target.interconnect_gbps)
    if link.max_peer_gpus and gpus > link.max_peer_gpus and link.fallback is not None:
        return (
            f"{kind} joins {link.max_peer_gpus}, {link.fallback.kind} between them: "
            f"{link.fallback.per_direction_gbps * 2:g} GB/s"
        )
    return f"{kind}, {target.interconnect_gbps:g} GB/s"


def bus_factor(op: str, n: int) -> float:
    """nccl-tests' bus factor: busbw = algbw x factor (all-reduce ``2 (n-1) / n``, others ``(n-1) / n``)."""
    _check_op(op)
    return 2 * (n - 1) / n if op == "all_reduce" else (n - 1) / n


def _check_op(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"unknown collective {op!r}; known: {', '.join(OPS)}")


def _ramped(factor: float, size: float, half: float, bus_gbps: float) -> float:
    """``factor x S / busbw(S)`` with busbw(S) = bus x S / (S + half); 0 for an empty message."""
    if size <= 0:
        return 0.0
    return factor * (size + half) / (bus_gbps * 1e9)


def _candidates(
    op: str, size: float, n: int, link: Link, custom_allreduce: bool
) -> list[tuple[str, float, float]]:
    """(algorithm, latency_s, bandwidth_s) for each algorithm the library could run."""
    f = bus_factor(op, n)
    launch = link.launch_us * _US
    bus = link.bus_gbps
    if op == "all_to_all":
        lat = launch + (link.ring_base_us + link.ring_step_us) * _US
        return [("p2p", lat, _ramped(f, size, link.ramp_half_bytes, bus))]
    steps = 2 * (n - 1) if op == "all_reduce" else n - 1
    out = [
        (
            "ring",
            launch + (link.ring_base_us + steps * link.ring_step_us) * _US,
            _ramped(f, size, link.ramp_half_bytes, bus),
        ),
        (
            "ring-ll",
            launch + (link.ll_base_us + steps * link.ll_step_us) * _US,
            f * size / (link.per_direction_gbps * link.ll_bus_fraction * 1e9),
        ),
    ]
    if op == "all_reduce" and link.nvls:
        nvls_bus = link.per_direction_gbps * link.nvls_bus_ratio
        nvls_bw = _ramped(f, size, link.nvls_ramp_half_bytes, nvls_bus)
        out.append(("nvls", launch + link.nvls_latency_us * _US, nvls_bw))
    if op == "all_reduce" and custom_allreduce and link.custom and size <= link.custom_max_bytes:
        one_shot = n == 2 or (n <= 4 and size < 512 * 1024) or (n <= 8 and size < 256 * 1024)
        if one_shot:
            out.append(("custom-1shot", launch + link.custom_stage_us * _US, (n - 1) * size / (bus * 1e9)))
        else:
            out.append(("custom-2shot", launch + 2 * link.custom_stage_us * _US, f * size / (bus * 1e9)))
    return out


def collective_time(
    op: str, message_bytes: float, n: int, link: Link, custom_allreduce: bool = False
) -> CollectiveTime:
    """Time of one collective ``op`` of ``message_bytes`` (nccl-tests "size", bytes) on ``n`` GPUs.

    ``op``: one of ``OPS``. ``custom_allreduce``: the serving stack has a custom all-reduce (vLLM,
    TensorRT-LLM) it uses for small messages over NVLink / xGMI. Returns the fastest algorithm's time (the
    formulas are in the module docstring); ``n == 1`` is free (algorithm "none").

    Raises ValueError for an unknown op, ``n`` < 1 (or not an integer), or a negative / non-finite size.
    """
    _check_op(op)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an integer >= 1 (GPUs in the group), got {n!r}")
    if not (isinstance(message_bytes, (int, float)) and math.isfinite(message_bytes) and message_bytes >= 0):
        raise ValueError(f"message_bytes must be a finite number >= 0, got {message_bytes!r}")
    if n == 1:
        return CollectiveTime(0.0, 0.0, 0.0, "none", 0.0)
    suffix = ""
    if link.max_peer_gpus and n > link.max_peer_gpus and link.fallback is not None:
        suffix = f" via {link.fallback.kind}"
        link = link.fallback
    candidates = _candidates(op, float(message_bytes), n, link, custom_allreduce)
    name, lat, bw = min(candidates, key=lambda c: c[1] + c[2])
    total = lat + bw
    busbw = bus_factor(op, n) * message_bytes / total / 1e9 if total > 0 else 0.0
    return CollectiveTime(total, lat, bw, name + suffix, busbw)


@dataclass(frozen=True)
class ValidationRow:
    """One published measurement next to the model: sizes in bytes, bandwidths in GB/s."""

    op: str
    kind: str
    n: int
    interconnect_gbps: float
    size_bytes: float
    measured_busbw_gbps: float
    model_busbw_gbps: float
    algorithm: str
    source: str

    @property
    def error(self) -> float:
        """Relative error of the model, (model - measured) / measured."""
        return (self.model_busbw_gbps - self.measured_busbw_gbps) / self.measured_busbw_gbps


def validation_table() -> list[ValidationRow]:
    """The model's busbw at each published nccl-tests / rccl-tests point of links.toml ``[[validation]]``."""
    rows = []
    for v in _data()["validation"]:
        link = link_for(v["kind"], v["interconnect_gbps"])
        got = collective_time(v["op"], v["size_bytes"], v["n"], link)
        rows.append(
            ValidationRow(
                op=v["op"],
                kind=v["kind"],
                n=v["n"],
                interconnect_gbps=v["interconnect_gbps"],
                size_bytes=v["size_bytes"],
                measured_busbw_gbps=v["busbw_gbps"],
                model_busbw_gbps=got.bus_bandwidth_gbps,
                algorithm=got.algorithm,
                source=v["source"],
            )
        )
    return rows
