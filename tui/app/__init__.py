"""The Textual app: ``application`` (``ModeltuiApp``), ``screens/``, ``widgets/``, the view state
(``session``, ``tables``, ``layerdata``), the bridge to the worker processes (``backend``, ``benchrun``),
``messages``, ``palette`` and ``exporting``.

May import: ``metrics_core`` (its public stages) and textual. Never ``tui.cli``. Screens and widgets
import ``application`` for typing only. Analysis never runs on the UI thread: ``backend`` hands it to
``metrics_core.runtime`` worker processes.
"""
