"""Stage 5 - running analyses: options, engines, worker processes, the result cache.

Owns: ``options`` (``AnalysisOptions``), ``engines`` (one spec + options -> ``ModelReport``, in the
calling process: the meta capture or fvcore), ``fvcore_engine``, ``pool`` / ``pool_server`` (the fork
server and worker processes where model code runs), ``metamemo`` (memoised meta kernels in workers),
``cache`` (the on-disk result cache), ``analyze`` (``analyze`` / ``analyze_many``: cache, then pool),
``sweeps`` (analyses over batch sizes).
May import: every stage below. Never ``measure`` or UI code.
"""
