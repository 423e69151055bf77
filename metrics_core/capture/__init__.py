"""Stage 2 - one forward pass on the meta device, recorded op by op.

Owns: ``inputs`` (example inputs for a spec), ``attribution`` (which module is running),
``storage`` (which activation storage each tensor lives in, weights vs activations), ``dispatch``
(the ``TorchDispatchMode`` that records and costs every aten op), ``trace`` (``capture(model, inputs)``
-> ``Trace``), ``peak_memory`` (peak live activation bytes from storage lifetimes), ``params``.
May import: ``metrics_core.common``, ``metrics_core.sources``, ``metrics_core.costs``.
"""
