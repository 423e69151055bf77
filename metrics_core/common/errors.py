"""Errors with one-line, user-facing messages. The CLI prints ``str(err)`` and exits with ``exit_code``."""

from __future__ import annotations


class ModeltuiError(Exception):
    """Base class: a problem the user can fix; its message is one line.

    ``kind`` classifies it for a report's ``error_kind`` (``usage``: a bad name or option, exit 2;
    ``unsupported``: a model the analysis cannot run, exit 1)."""

    exit_code = 2
    kind = "usage"


class UsageError(ModeltuiError):
    """Bad option value (batch size, shape, dtype, format ...)."""


class UnknownModelError(ModeltuiError):
    """A model name not in the catalog and not a ``module:factory`` path."""


class UnknownHardwareError(ModeltuiError):
    """A hardware id not in the catalog or user files."""


class HardwareFileError(ModeltuiError):
    """A malformed or incomplete hardware file; the message names the file, the target and the field."""


class WriteError(ModeltuiError):
    """Writing a result failed once the work was done (a full disk, a folder removed meanwhile, standard
    output closed or full): exit 1, as a run that failed, never 2 (the arguments were right: a path that
    cannot be written at all is a ``UsageError`` before any work)."""

    exit_code = 1
    kind = "write"


class UnsupportedModelError(ModeltuiError):
    """A model that cannot be analysed (the message says why)."""

    exit_code = 1
    kind = "unsupported"


class DataDependentOpError(UnsupportedModelError):
    """An op needs tensor values the meta-device analysis does not have: its output size or the model's
    control flow depends on values computed from weights or activations (the message names the aten op,
    the module and what to do)."""

    kind = "data-dependent"


class ModelCodeError(UnsupportedModelError):
    """The model's own code failed while it was built or run (the message says what it was fed)."""

    kind = "model"


#: Longest error message kept (libraries' messages can list hundreds of names).
MAX_ERROR_CHARS = 400
#: Longest message of our own errors (``ModeltuiError``) kept: their text is bounded (names, a hint, a
#: library's message already cut at ``MAX_ERROR_CHARS``), and its advice comes last, so it must not be cut
#: at the library limit (the data-dependent refusal's hint ends with what to write instead).
MAX_OWN_ERROR_CHARS = 1000


def one_line_error(exc: BaseException) -> str:
    """One line, never a traceback: our own errors (``ModeltuiError``) by their message alone, others as
    ``'TypeError: first line of the message'``; ``SystemExit`` as what the code called. A message that
    says nothing useful is followed by its cause's; the result is cut at ``MAX_ERROR_CHARS``
    (``MAX_OWN_ERROR_CHARS`` for our own)."""
    if isinstance(exc, SystemExit):
        return f"the model's code called sys.exit({exc.code!r})"
    lines = str(exc).strip().splitlines()
    text = lines[0].rstrip(":") if lines else ""
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not isinstance(exc, ModeltuiError) and ("error" in text.lower() or not text):
        text = f"{text}: {one_line_error(cause)}" if text else one_line_error(cause)
    if not isinstance(exc, ModeltuiError):
        text = f"{type(exc).__name__}: {text}".rstrip(": ")
    limit = MAX_OWN_ERROR_CHARS if isinstance(exc, ModeltuiError) else MAX_ERROR_CHARS
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_kind(exc: BaseException) -> str:
    """``usage`` | ``unsupported`` | ``data-dependent`` | ``model``: ``ModeltuiError.kind``, else ``model``
    (the model's own code raised it)."""
    return exc.kind if isinstance(exc, ModeltuiError) else "model"


def row_error(model: str, error: str) -> str:
    """``error`` as it follows ``"{model}: "`` in a list of failed models: without a leading ``model`` name
    of its own (build errors start with the model's name so that a lone error says which model), so the
    name is printed once: ``json:nosuch: module 'json' has no 'nosuch'``."""
    prefix = f"{model}: "
    return error[len(prefix) :] if error.startswith(prefix) else error


def model_error(model: str, error: str) -> str:
    """``"{model}: {error}"`` with the model named once (``row_error``): the line a verb or the app prints
    for a model that failed, ``mypkg.tiny:bad: failed to build: RuntimeError: boom`` whether or not the
    error (a build or capture error names its model) starts with the name."""
    return f"{model}: {row_error(model, error)}"
