"""Errors with one-line, user-facing messages. The CLI prints ``str(err)`` and exits with ``exit_code``."""

from __future__ import annotations


class ModeltuiError(Exception):
    """Base class: a problem the user can fix; its message is one line."""

    exit_code = 2


class UsageError(ModeltuiError):
    """Bad option value (batch size, shape, dtype, format ...)."""


class UnknownModelError(ModeltuiError):
    """A model name not in the catalog and not a ``module:factory`` path."""


class UnknownHardwareError(ModeltuiError):
    """A hardware id not in the catalog or user files."""


class HardwareFileError(ModeltuiError):
    """A malformed or incomplete hardware file; the message names the file, the target and the field."""


class UnsupportedModelError(ModeltuiError):
    """A catalog model that cannot be analysed (the message says why)."""

    exit_code = 1


class DataDependentOpError(UnsupportedModelError):
    """An op needs tensor values the meta-device analysis does not have: its output size or the model's
    control flow depends on values computed from weights or activations (the message names the aten op,
    the module and what to do)."""


def one_line_error(exc: BaseException) -> str:
    """``'TypeError: first line of the message'`` (never a traceback)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")
