"""Stage 3 - from op records to the numbers a user reads.

Owns: ``metrics`` (every model-level metric, one definition each), ``coverage`` (uncovered ops by name),
``rankings`` (the seed's efficiency rankings), ``sorting`` (sort keys), ``columns`` (the column tables
shared by CLI and app), ``export`` (JSON/CSV/Markdown writers).
May import: ``metrics_core.common`` (and the stages below it). Never ``perf``, ``runtime`` or UI code.
"""
