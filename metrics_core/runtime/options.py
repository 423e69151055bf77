"""``AnalysisOptions``: how to analyse a model (batch size, per-sample input shape, dtype, engine, cache)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from metrics_core.common.dtypes import DTYPES
from metrics_core.common.errors import UsageError

ENGINES: tuple[str, ...] = ("meta", "fvcore")


@dataclass(frozen=True)
class AnalysisOptions:
    """How to analyse: batch size, per-sample input shape (None: the model's native one), dtype, engine."""

    batch_size: int = 1
    dtype: str = "fp32"
    input_shape: tuple[int, ...] | None = None
    engine: str = "meta"
    use_cache: bool = True

    def validated(self) -> AnalysisOptions:
        """These options, checked; ``UsageError`` with a one-line message otherwise."""
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"batch size must be a positive integer, got {self.batch_size!r}")
        if self.dtype not in DTYPES:
            raise UsageError(f"unknown dtype {self.dtype!r}; choose one of {', '.join(DTYPES)}")
        if self.engine not in ENGINES:
            raise UsageError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.input_shape is not None:
            shape = tuple(self.input_shape)
            if not 2 <= len(shape) <= 4 or any(not isinstance(d, int) or d < 1 for d in shape):
                raise UsageError(
                    f"input shape must be 2 to 4 positive integers per sample (e.g. 3 224 224), got {shape}"
                )
            return replace(self, input_shape=shape)
        return self
