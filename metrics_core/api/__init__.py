"""The Python API: analyse a model by name or as an ``nn.Module`` instance, and work with the result.

- ``analyze`` (``metrics_core.api.analyze``): a name or an instance -> ``Report``.
- ``Report`` (``metrics_core.api.report``): totals, ``by_module(depth)``, ``by_op()``, coverage, memory,
  estimates on a target, ``to_json`` / ``to_csv`` / ``to_pandas``, text and Jupyter display, ``diff``.
- ``ReportDiff`` (``metrics_core.api.diff``): totals and per-module deltas of two reports.
- ``record`` (``metrics_core.api.recording``): the ops of any block of code (``generate()``, a training
  step) as a ``Report``.
- ``register_cost_rule`` (``metrics_core.costs.registry``): a user's cost rule for an op without one.

It sits above ``runtime`` and ``measure`` (it uses the capture, the metrics, the performance model and
the catalog path) and below the UI, which it never imports. Importing it imports no torch.
"""
