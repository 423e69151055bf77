"""Imported once by the analysis fork server (``metrics_core.runtime.pool``), never by the caller.

It prepares the process that every worker is forked from:

- workers do not re-run the caller's ``__main__`` (``multiprocessing`` would, to find functions defined
  there; ours live in ``metrics_core.runtime.pool``): the caller may be the ``modeltui`` script, the app, or a
  user's script without an ``if __name__ == "__main__"`` guard;
- torch, torchvision's model zoo and the analysis modules are imported here, once, so a forked worker
  starts analysing at once and shares these pages with its siblings; torch's compiler (``torch._dynamo``,
  a third of that import) is replaced by a stand-in, since nothing here compiles (see
  ``_stand_in_for_dynamo``), and what was imported is frozen out of the garbage collector's sight
  (``gc.freeze``) before the first fork;
- its output goes to ``/dev/null`` (so do its workers'): they speak only through the pool, and a model
  that prints, a library warning or a child failing at start-up must not reach the caller's terminal
  (it would corrupt ``--format json`` output or the app's screen).

An import failure here is not fatal: the worker then fails the same way, and reports it as the model's
row error.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import multiprocessing.spawn as _spawn
import os
import signal

# Ctrl+C in the terminal reaches the whole process group; the caller handles it and ends the workers.
# Ignore it from the first moment (the fork server itself ignores it only after this import), and the
# workers forked from here inherit that.
signal.signal(signal.SIGINT, signal.SIG_IGN)

from metrics_core.common.watchdog import expected_parent  # noqa: E402

# Who started the server, read before the seconds of imports below: a caller killed meanwhile is noticed
# by the watch started at the end (metrics_core.common.watchdog). Workers forked from here watch SERVER_PID.
_PARENT = expected_parent()
SERVER_PID = os.getpid()

_devnull = os.open(os.devnull, os.O_WRONLY)
os.dup2(_devnull, 1)
os.dup2(_devnull, 2)
os.close(_devnull)

#: Preparation keys that make a spawned/forkserver child import the parent's ``__main__``.
_MAIN_KEYS = ("init_main_from_path", "init_main_from_name")

_prepare = _spawn.prepare


def _prepare_without_main(data: dict) -> None:
    _prepare({k: v for k, v in data.items() if k not in _MAIN_KEYS})


_spawn.prepare = _prepare_without_main


ENV_SHIM = "MODELTUI_DYNAMO_SHIM"


def _stand_in_for_dynamo() -> None:
    """Put light stand-ins for ``torch._dynamo`` (the compiler, ~1 s and ~0.2 GB to import) in
    ``sys.modules``; the analysis never compiles, but two things import it:

    - ``torchvision.ops`` (imported by ``torchvision.models``) takes ``is_compile_supported`` from
      ``torch._dynamo.utils`` at import time: the stand-in's forwards to the real one when called
      (only detection models call it, and the catalog refuses them);
    - every dispatch mode's ``__torch_dispatch__`` and many reference kernels are wrapped by
      ``torch._disable_dynamo``, which on first call asks ``torch._dynamo.disable`` to exclude the
      function from compilation: the stand-in's ``disable`` returns the function itself, which is the
      same outside compilation (and skips a wrapper on every call);
    - transformers decorates functions with ``torch._dynamo.assume_constant_result`` and
      ``allow_in_graph`` when imported (an ``hf:`` model): marks for the compiler, the stand-ins return
      the function itself.

    Any other attribute, and any submodule, comes from the real ``torch._dynamo``, imported on first
    use in place of the stand-ins. ``benchmarks/check_equivalence.py`` checks that reports are
    identical. ``MODELTUI_DYNAMO_SHIM=0`` turns this off."""
    import sys
    import types

    if "torch._dynamo" in sys.modules or os.environ.get(ENV_SHIM, "1") == "0":
        return
    import importlib.util

    import torch

    spec = importlib.util.find_spec("torch._dynamo")
    if spec is None or spec.submodule_search_locations is None:
        return
    package = types.ModuleType("torch._dynamo", "modeltui stand-in for torch._dynamo (workers only)")
    utils = types.ModuleType("torch._dynamo.utils", "modeltui stand-in for torch._dynamo.utils")
    real: list[types.ModuleType] = []

    def load() -> types.ModuleType:
        if not real:
            for name, stand_in in (("torch._dynamo.utils", utils), ("torch._dynamo", package)):
                if sys.modules.get(name) is stand_in:
                    del sys.modules[name]
            if torch.__dict__.get("_dynamo") is package:
                del torch.__dict__["_dynamo"]
            real.append(importlib.import_module("torch._dynamo"))
            importlib.import_module("torch._dynamo.utils")
        return real[0]

    def forward(target):  # noqa: ANN001, ANN202
        def __getattr__(name: str):  # noqa: ANN202 (PEP 562 module attribute hook)
            if name.startswith("__") and name.endswith("__"):  # inspect/pickle probing dunders
                raise AttributeError(name)
            return getattr(target(), name)

        return __getattr__

    def disable(fn=None, recursive=True, **_kwargs):  # noqa: ANN001, ANN202
        return fn if fn is not None else (lambda f: f)

    def as_is(fn):  # noqa: ANN001, ANN202
        return fn

    def is_compile_supported(device_type):  # noqa: ANN001, ANN202
        return load().utils.is_compile_supported(device_type)

    package.__path__ = list(spec.submodule_search_locations)
    package.__getattr__ = forward(load)
    package.disable = disable
    # decorators transformers applies at import time (integrations.deepgemm): marks for the compiler only,
    # the function itself outside compilation (the real ones would import the compiler, ~0.6 s)
    package.assume_constant_result = as_is
    package.allow_in_graph = as_is
    package.utils = utils
    utils.__getattr__ = forward(lambda: load().utils)
    utils.is_compile_supported = is_compile_supported
    sys.modules["torch._dynamo"] = package
    sys.modules["torch._dynamo.utils"] = utils


#: What the workers need, heaviest first.
MODULES: tuple[str, ...] = (
    "torch",
    "torchvision.models",
    "metrics_core.sources.catalog",
    "metrics_core.sources.build",
    "metrics_core.capture.inputs",
    "metrics_core.capture.trace",
    "metrics_core.costs.rules",
    "metrics_core.report.metrics",
    "metrics_core.capture.peak_memory",
    "metrics_core.capture.params",
    "metrics_core.report.coverage",
    "metrics_core.runtime.engines",
    "metrics_core.runtime.analyze",
    "metrics_core.runtime.cache",
    "metrics_core.runtime.pool",
    "metrics_core.runtime.metamemo",
)

for _name in MODULES:
    with contextlib.suppress(Exception):  # a failure shows again, as a row error, in the worker
        importlib.import_module(_name)
        if _name == "torch":
            _stand_in_for_dynamo()

# Move everything imported so far out of the garbage collector's sight: workers inherit it frozen, so a
# full collection no longer walks torch's ~300,000 module-level objects (measured: collections took a
# quarter of the analysis time without this), and the pages holding them stay shared with the server.
gc.collect()
gc.freeze()

# The server ends when the process that started it does (its workers follow: they watch the server).
# Started after the imports: a thread alive at fork time does not survive into the forked workers.
from metrics_core.common.watchdog import exit_with_parent  # noqa: E402

exit_with_parent(parent=_PARENT)
