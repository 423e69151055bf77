"""Dataflow between recorded ops: which op wrote each activation an op reads (``OpRecord.reads_from``).

From the storage events of a capture (``Trace.events[i] = (reads, allocs)``: storage keys read and newly
allocated by record ``i``), the last writer of every storage is tracked in program order: an op that
allocates a storage writes it; an op that allocates nothing but has an output (an in-place op such as
``relu_`` or ``add_``) writes its first activation input's storage. ``reads_from[j]`` of a record is the
last writer of its ``j``-th activation read, or -1 when no recorded op wrote it (a model input, a tensor
made by a free view/metadata op). The perf model's fusion pass (``metrics_core.perf.fusion``) uses it to
tell a fused group's internal tensors from those it must read from, or write to, memory. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence

from metrics_core.common.records import OpRecord


def annotate_dataflow(
    records: Sequence[OpRecord], events: Sequence[tuple[tuple[int, ...], tuple[int, ...]]]
) -> None:
    """Fill ``reads_from`` of each record (in place) from the capture's storage events."""
    last_writer: dict[int, int] = {}
    for i, (record, (reads, allocs)) in enumerate(zip(records, events, strict=True)):
        record.reads_from = [last_writer.get(k, -1) for k in reads]
        for k in allocs:
            last_writer[k] = i
        if not allocs and reads and record.output_bytes:
            last_writer[reads[0]] = i  # in place: the op rewrote its first input
