"""Stage 4 - the hardware model: what a report means on a machine.

Owns: ``hardware`` (the target catalog, ``data/hardware.toml``, user TOML files), ``roofline`` (per-op
and per-model estimates: bound, latency, throughput), ``roofline_plot`` (the ASCII chart), ``sweep``
(batch-size points, what fits in device memory).
May import: ``common``, ``report`` and the stages below. Never ``runtime``: estimates are pure
functions of reports, so they run anywhere (CLI, app, tests) without analysing anything.
"""
