"""Cache-aware roofline: which activations an op reads back from the on-chip L2 instead of DRAM.

The plain roofline charges every byte at DRAM bandwidth. On a GPU every access goes through the L2 cache,
and an activation a later op reads soon after it was written is often still there (A100: 40 MB; ResNet-50's
largest feature map at batch 1 is 1.6 MB in fp16). The model (the seed's "cache efficiency"):

- **Residency** (LRU with a streaming working set): the output of op j is still in L2 when op i reads it if
  ``output_bytes(j) + traffic(j+1 .. i-1) <= RESIDENT_FRACTION x L2 size`` — everything the ops in between
  read or wrote (``input + output + weight bytes``) passed through the cache and may have evicted it.
  ``RESIDENT_FRACTION`` = 0.5: an LRU cache under a streaming access pattern keeps about half its capacity
  for re-use (the rest holds lines in flight, and set conflicts waste some of it).
- **L2 bytes** of op i = the sum over its producers j (``OpRecord.reads_from``) still resident of
  ``output_bytes(j)``, at most op i's ``input_bytes``. Weights are read from DRAM (one forward pass reads
  each weight once; re-use across passes is not assumed).
- **Time**: those bytes move at ``l2_bandwidth_gbps`` (the target's L2 read bandwidth), the rest at DRAM
  bandwidth: ``memory time = (bytes - l2) / DRAM rate + l2 / L2 rate``. The chart draws the L2 roof (a
  second slope at the L2 bandwidth).
- **Cache efficiency** of a model = L2 bytes / activation bytes read (``l2_hit_pct``); an op whose whole
  working set (inputs, output and weights) fits in L2 is ``on_chip``.

It applies under the calibrated model on targets with both ``l2_cache_mb`` and ``l2_bandwidth_gbps`` (the
ideal roofline stays the DRAM roofline): per op under eager execution (one kernel per op,
``l2_read_bytes``), per kernel under compiled execution (``kernel_l2_read_bytes``: a fused kernel keeps its
intermediates on chip already, so only what it reads from other kernels can come from L2, and the traffic
that may evict it is the kernels' traffic, after fusion). No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate

from metrics_core.common.records import OpRecord
from metrics_core.perf.fusion import Kernel
from metrics_core.perf.hardware import HardwareTarget

#: Share of the L2 an LRU cache keeps for re-use under a streaming access pattern (module doc).
RESIDENT_FRACTION = 0.5


def l2_aware(target: HardwareTarget) -> bool:
    """True when ``target`` has the figures the cache-aware model needs: L2 size and L2 bandwidth."""
    return bool(target.l2_cache_mb and target.l2_bandwidth_gbps)


def l2_read_bytes(records: Sequence[OpRecord], l2_bytes: float) -> list[int]:
    """Per record, the activation bytes it reads from producers whose output is still in an L2 of
    ``l2_bytes`` bytes (module doc); 0 for records without dataflow (``reads_from`` None)."""
    traffic = [r.input_bytes + r.output_bytes + r.weight_bytes for r in records]
    before = [0, *accumulate(traffic)]  # before[i] = traffic of records 0 .. i-1
    budget = RESIDENT_FRACTION * l2_bytes
    out = []
    for i, r in enumerate(records):
        hit = 0
        for j in set(r.reads_from or ()):
            if 0 <= j < i:
                between = before[i] - before[j + 1]
                if records[j].output_bytes + between <= budget:
                    hit += records[j].output_bytes
        out.append(min(hit, r.input_bytes))
    return out


def kernel_l2_read_bytes(
    kernels: Sequence[Kernel], records: Sequence[OpRecord], l2_bytes: float
) -> list[int]:
    """Per kernel, the activation bytes it reads from other kernels' outputs still in an L2 of ``l2_bytes``
    bytes (module doc, at kernel granularity): the sum over the distinct producers j outside the kernel
    (``reads_from`` of its ops) of ``output_bytes(j)`` when ``output_bytes(j)`` + the traffic of the kernels
    between j's kernel and this one fits ``RESIDENT_FRACTION`` x ``l2_bytes``; at most the kernel's read
    bytes less its weights (weights come from DRAM)."""
    owner = {i: n for n, k in enumerate(kernels) for i in k.ops}
    before = [0, *accumulate(k.bytes for k in kernels)]  # before[n] = traffic of kernels 0 .. n-1
    budget = RESIDENT_FRACTION * l2_bytes
    out = []
    for n, k in enumerate(kernels):
        mine = set(k.ops)
        producers = {j for i in k.ops for j in (records[i].reads_from or ()) if j not in mine and j in owner}
        hit = 0
        for j in producers:
            m = owner[j]
            if m < n and records[j].output_bytes + before[n] - before[m + 1] <= budget:
                hit += records[j].output_bytes
        weights = sum(records[i].weight_bytes for i in k.ops)
        out.append(max(0, min(hit, k.read_bytes - weights)))
    return out


def kernel_l2_bytes(
    kernels: Sequence[Kernel], records: Sequence[OpRecord], target: HardwareTarget, execution: str
) -> list[int]:
    """Per kernel, its bytes read from L2 on ``target`` under ``execution`` (module doc): eager, its op's
    ``l2_read_bytes``; compiled, ``kernel_l2_read_bytes``; all 0 on a target without the L2 figures
    (``l2_aware``). The one place the calibrated estimate (``perf.roofline``) and the fit of a user's
    measurements (``perf.calibrate``) get them from."""
    if not l2_aware(target):
        return [0] * len(kernels)
    size = target.l2_cache_mb * 1e6
    if execution == "eager":
        per_op = l2_read_bytes(records, size)
        return [per_op[k.main] for k in kernels]
    return kernel_l2_read_bytes(kernels, records, size)


def on_chip(record: OpRecord, l2_bytes: float) -> bool:
    """Whether the op's whole working set (inputs, output, weights) fits in an L2 of ``l2_bytes``."""
    return record.input_bytes + record.output_bytes + record.weight_bytes <= l2_bytes
