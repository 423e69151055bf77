"""The shared vocabulary of every stage: errors, dtypes, units and the record types.

Owns: ``errors`` (the exception classes and the one-line error text), ``dtypes`` (analysis dtypes and
bytes per element), ``units`` (formatting of counts, bytes, times), ``records`` (``OpRecord``,
``ModelMetrics``, ``ModelReport``, ``Coverage``: what a capture produces and every later stage reads).
May import: the standard library only. Never torch, never another ``metrics_core`` package.
"""
