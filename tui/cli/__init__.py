"""The ``modeltui`` console script: headless verbs (``compare``, ``layers`` ...) or, without a verb, the app.

Start-up stays light: torch and torchvision are imported only by the verbs that analyse, never here.

This package owns the console entry point (``main``), the verbs (``commands/``), the plain-text tables
(``textable``) and the app launch (``launch``). May import: ``metrics_core`` and ``tui.app`` (lazily).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from metrics_core.common.errors import ModeltuiError, WriteError
from tui.cli.commands import VERBS
from tui.cli.parser import OneLineParser


def _verb_modules(only: str | None = None) -> dict[str, object]:
    mods = {}
    for verb in VERBS if only is None else (only,):
        try:
            mods[verb] = importlib.import_module(f"tui.cli.commands.{verb}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tui.cli.commands.{verb}":
                raise
    return mods


def build_parser(only: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, object]]:
    """The ``modeltui`` parser and the verb modules; ``only``: just that verb's (a command line naming a
    verb parses it alone: the other verbs' modules are not imported, a warm ``llm`` starts faster)."""
    parser = OneLineParser(
        prog="modeltui",
        description="Compare DNN models by size, compute, memory traffic and arithmetic intensity, "
        "and place them on a hardware roofline.",
        epilog="Without a verb, opens the terminal app: modeltui [MODEL...] [--hardware ID] [--dtype D] "
        "[--batch-size N] [--input-shape C H W] [--tf32] [--hardware-file PATH] [--no-cache]. "
        "'modeltui VERB --help' describes a verb.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show program's version number and exit")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=OneLineParser)
    mods = _verb_modules(only)
    for mod in mods.values():
        mod.register(sub)  # type: ignore[attr-defined]
    for verb_parser in sub.choices.values():
        verb_parser.add_argument(
            "--output",
            metavar="FILE",
            help="write what would be printed to FILE instead (atomically: a failed run leaves an existing "
            "file as it was)",
        )
        verb_parser.add_argument(
            "--wide",
            action="store_true",
            help="tables at their full width (default: folded to the terminal's width, 80 columns when the "
            "output is not a terminal)",
        )
    return parser, mods


class _Version(argparse.Action):
    """``--version``: the version line, read from the installed metadata only when asked."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        print(version_line())
        parser.exit()


def version_line() -> str:
    """``modeltui 0.1.0 (torch 2.14.1)``: the installed distributions' versions (metadata, no import), as
    every JSON output's ``context`` records them."""
    from metrics_core.report.context import installed_version

    torch = installed_version("torch")
    return f"modeltui {installed_version('modeltui') or 'unknown'}" + (f" (torch {torch})" if torch else "")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: the same clean path as Ctrl+C (workers ended, one line), exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> None:
    raise Terminated(signum)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``modeltui`` command line; returns the exit status (errors are one line on stderr)."""
    import signal

    args = list(sys.argv[1:] if argv is None else argv)
    saved = {}
    if args and args[0] in VERBS and threading_is_main():  # a verb: SIGTERM/SIGHUP take the Ctrl+C path
        saved = {sig: signal.signal(sig, _terminate) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _main(args)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _main(argv: list[str]) -> int:
    try:
        if not argv or (argv[0] not in VERBS and argv[0] not in ("-h", "--help", "--version")):
            check_not_a_misspelt_verb(argv)
            from tui.cli.launch import main as launch_app

            return launch_app(argv)
        if sys.stdout is None:  # a write failure (exit 1), as a full disk is
            raise WriteError("cannot write the output: standard output is closed")
        from tui.cli.ascii_out import ensure_printable

        ensure_printable()
        parser, mods = build_parser(argv[0] if argv[0] in VERBS and argv[0] != "completion" else None)
        from tui.cli.parser import attach_negative_values

        args = parser.parse_args(attach_negative_values(argv))
        if args.verb is None:
            parser.print_help()
            return 0
        from metrics_core.runtime import pool

        with pool.isolation():  # user model code runs in worker processes only, whatever the verb
            return _run_verb(mods[args.verb], args)
    except BrokenPipeError:  # `| head`: the reader has what it wanted
        _silence_stdout()
        return 0
    except OSError as exc:
        if exc.filename is None:  # a write to standard output failed (disk full, closed pipe ...)
            _silence_stdout()
            print(f"modeltui: error: cannot write the output: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"modeltui: error: {exc}", file=sys.stderr)
        return 1
    except ModeltuiError as exc:
        print(f"modeltui: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Terminated as exc:
        import signal

        print(f"modeltui: terminated ({signal.Signals(exc.signum).name})", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        _ignore_interrupts()  # a second Ctrl-C (or the group's SIGINT, ms later) must not break the exit
        print("modeltui: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # argparse: --help (0) or a usage error already printed (2)
        return exc.code if isinstance(exc.code, int) else 0


def _ignore_interrupts() -> None:
    """Ignore SIGINT from now on: the process is exiting, and the worker pool's exit hook
    (``runtime.pool``) must end the workers without a second interrupt printing a traceback (``timeout -s
    INT`` signals the process and then its group, about a millisecond apart)."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Collected:
    """Standard output of a verb, collected: ``isatty`` answers as the real output would (colours), the
    text is written once the verb has finished."""

    def __init__(self, tty: bool, encoding: str | None) -> None:
        import io

        self._buffer = io.StringIO()
        self._tty = tty
        self.encoding = encoding or "utf-8"

    def write(self, text: str) -> int:
        return self._buffer.write(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return self._tty

    def getvalue(self) -> str:
        return self._buffer.getvalue()


def _run_verb(mod: object, args: argparse.Namespace) -> int:
    """Run a verb with its standard output collected: tables folded to the output width (``--wide``: not
    folded; 80 columns unless the output is a terminal), prose lines wrapped in table output, then the
    text written to standard output or, with ``--output``, to the file atomically. A run that fails
    (any non-zero exit: an error, an interrupt, a model that failed) never replaces the file: what it
    printed goes to standard output, so nothing is lost and nothing is truncated."""
    import contextlib
    import shutil

    from metrics_core.common import textable
    from metrics_core.report.export import check_writable, write_atomic

    if args.output is not None:  # before any work: a bad path is a usage error now, not after the run
        check_writable(args.output, create_folders=False)
    _check_jobs()
    tty = not args.output and _isatty(sys.stdout)
    width = None if args.wide else (max(40, shutil.get_terminal_size((80, 24)).columns) if tty else 80)
    collected = _Collected(tty, getattr(sys.stdout, "encoding", None))
    from tui.cli.commands.analysis import ANALYSED

    ANALYSED.clear()  # what this verb analyses, for its output's context
    textable.set_width(width)
    try:
        with contextlib.redirect_stdout(collected):  # type: ignore[type-var]
            code = int(mod.run(args))  # type: ignore[attr-defined]
    finally:
        textable.set_width(None)
    text = collected.getvalue()
    fmt = getattr(args, "format", "table")
    if fmt in ("table", "text"):  # not json, csv or markdown
        text = textable.wrap_prose(text, width)
    else:
        from metrics_core.report.context import with_context

        context = context_of(args)
        text = with_context(text, fmt, context, per_model_context(context))
    if args.output and code == 0:
        try:
            path = write_atomic(args.output, text)
        except WriteError as exc:  # a full disk after the work: nothing lost, the output goes to stdout
            print(f"modeltui: error: {exc}; the output follows", file=sys.stderr)
            sys.stdout.write(text)
            sys.stdout.flush()
            return exc.exit_code
        print(f"modeltui: wrote {path}", file=sys.stderr)
        return code
    if args.output:  # a failed run never replaces the file: its output goes to standard output instead
        print(
            f"modeltui: {args.output} not written (the run failed, exit {code}); the output follows",
            file=sys.stderr,
        )
    sys.stdout.write(text)
    sys.stdout.flush()  # a write error surfaces here, as one line, not at interpreter exit
    return code


def context_of(args: argparse.Namespace) -> dict:
    """The context of a verb's output (``metrics_core.report.context``) from its arguments."""
    from metrics_core.report.context import run_context

    hardware = getattr(args, "hardware", None)
    if hardware is None and args.verb == "bench" and getattr(args, "device", "cpu") == "cpu":
        hardware = "this-machine"  # what bench estimates on, on the CPU
    dtype = getattr(args, "dtype", None)
    if dtype is None and hasattr(args, "dtype") and hasattr(args, "no_cache"):
        dtype = "fp32"  # the analysing verbs without --dtype: fp32 (a fp16/bf16 model's rows say their own)
    precision = None
    if hardware and dtype:
        from metrics_core.perf.roofline import DTYPE_PRECISION

        precision = "tf32" if getattr(args, "tf32", False) else DTYPE_PRECISION.get(dtype, dtype)
    if hardware and getattr(args, "activations", None):  # llm: the kernels compute in the activations'
        precision = args.activations
    asked = precision
    batch = getattr(args, "batch_size", None)
    if isinstance(batch, str):  # a list (llm, sweep): the numbers
        batch = [int(b) for b in batch.replace(" ", "").split(",") if b.isdigit()] or batch
        batch = batch[0] if isinstance(batch, list) and len(batch) == 1 else batch
    execution = getattr(args, "execution", None)
    stack = getattr(args, "stack", None)
    if stack and execution is None:  # llm: the serving stack's kernels unless --execution replaces them
        from metrics_core.perf.stacks import get_stack

        try:
            execution = get_stack(stack).execution
        except ModeltuiError:
            execution = None
    context = run_context(
        model=getattr(args, "model", None),
        batch_size=batch,
        dtype=dtype,
        hardware=hardware,
        precision=precision,
        execution=execution or ("eager" if hardware else None),
        efficiency=getattr(args, "efficiency", None) or ("calibrated" if hardware else None),
        estimate=bool(hardware),
        memory_format=_memory_format(args),
    )
    if stack:
        context["stack"] = stack
    if getattr(args, "power_limit", None) is not None:  # llm --power-limit: a setup of the run
        context["power_limit_w"] = args.power_limit
    dtypes, paths = _analysed(args)
    if dtypes:  # a model without --dtype is analysed in its own fp16/bf16: the context says what was
        context["dtype"] = dtypes[0] if len(dtypes) == 1 else PER_MODEL
    if hardware and paths:
        context["precision"] = paths[0] if len(paths) == 1 else PER_MODEL
    if hardware:
        efficiency, precision = context.get("efficiency"), context.get("precision")
        if precision == PER_MODEL:  # the provenance of the path the options asked for
            precision = asked
        context.update(_provenance(args, hardware, efficiency, stack, precision))
    return context


def _memory_format(args: argparse.Namespace) -> str | None:
    """The context's ``memory_format`` (``contiguous`` / ``channels_last``) of a verb with
    ``--memory-format``; None for the others."""
    if not hasattr(args, "memory_format"):
        return None
    from tui.cli.commands.options import memory_format_of

    return memory_format_of(args)


#: The context's ``dtype`` / ``precision`` when the run's models differ (a bf16 model next to fp32 ones
#: without ``--dtype``); each JSON object and CSV row then carries its model's own (``per_model_context``).
PER_MODEL = "per model"


def _analysed(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """The analysed dtypes and estimate precision paths of the analysing verb's models, in order
    (``tui.cli.commands.analysis.ANALYSED``); empty for verbs that record none."""
    from tui.cli.commands.analysis import ANALYSED

    if not (hasattr(args, "dtype") and hasattr(args, "no_cache")):
        return [], []
    dtypes = list(dict.fromkeys(a["dtype"] for a in ANALYSED.values() if "dtype" in a))
    paths = list(dict.fromkeys(a["precision"] for a in ANALYSED.values() if a.get("precision")))
    return dtypes, paths


def per_model_context(context: dict) -> dict[str, dict]:
    """Model -> its own ``dtype`` / ``precision`` where the context says ``per model``; ``{}`` otherwise."""
    from tui.cli.commands.analysis import ANALYSED

    keys = [k for k in ("dtype", "precision") if context.get(k) == PER_MODEL]
    return {model: {k: a[k] for k in keys if a.get(k)} for model, a in ANALYSED.items()} if keys else {}


def _provenance(
    args: argparse.Namespace, hardware: str, efficiency: str | None, stack: str | None, precision: str | None
) -> dict:
    """``validated`` and ``efficiency_source`` of the target the verb estimated on
    (``metrics_core.perf.efficiency.provenance``); ``{}`` when the target or stack cannot be resolved (the
    verb has already said why)."""
    from metrics_core.perf.efficiency import provenance
    from metrics_core.perf.hardware import load_catalog
    from metrics_core.perf.llm import stack_validation
    from metrics_core.perf.stacks import get_stack

    try:
        target = load_catalog(getattr(args, "hardware_file", None) or ()).get(hardware)
        if stack:  # llm: the stack's validation, as its estimates say it (perf.llm.stack_validation)
            from metrics_core.perf.efficiency import efficiency_source

            execution = getattr(args, "execution", None)
            # the weight format the estimate ran (Scenario: the activations' format when not given)
            weights = getattr(args, "weights", None) or getattr(args, "activations", None)
            validation = stack_validation(
                target, get_stack(stack).id, execution, efficiency or "calibrated", weights
            )
            out: dict = {"validated": validation is not None}
            if (efficiency or "calibrated") == "calibrated":  # the target's parameters (the stack's: JSON)
                out["efficiency_source"] = efficiency_source(target)
            return out
        execution = getattr(args, "execution", None) or "eager"
        return provenance(target, efficiency or "calibrated", args.verb == "train", execution, precision)
    except (ModeltuiError, OSError, ValueError):
        return {}


def _check_jobs() -> None:
    """``MODELTUI_JOBS`` must be a whole number >= 0 when set (0 means one worker)."""
    import os

    text = os.environ.get("MODELTUI_JOBS", "").strip()
    if text and not text.isdigit():
        raise ModeltuiError(f"MODELTUI_JOBS={text!r}: expected a whole number of worker processes >= 0")


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def threading_is_main() -> bool:
    """Signal handlers can only be installed from the main thread (tests call ``main`` from others)."""
    import threading

    return threading.current_thread() is threading.main_thread()


def check_not_a_misspelt_verb(argv: Sequence[str]) -> None:
    """``modeltui comapre resnet18``: a first word close to a verb, that is no model name, is a misspelt
    verb (exit 2, with the verb suggested) rather than a model for the app."""
    import difflib

    first = argv[0] if argv else ""
    if not first or first.startswith("-") or ":" in first:
        return
    close = difflib.get_close_matches(first, VERBS, n=1, cutoff=0.75) or [
        v
        for v in VERBS
        if _one_letter_off(first, v)  # short verbs: 'lmm' is 0.67 of 'llm' to difflib
    ]
    if close:
        from metrics_core.sources.catalog import catalog

        if first not in {s.name for s in catalog()}:
            raise ModeltuiError(f"unknown command {first!r}; did you mean {close[0]}?")


def _one_letter_off(word: str, verb: str) -> bool:
    """``word`` is ``verb`` with one letter changed or two neighbours swapped (same length)."""
    if len(word) != len(verb) or word == verb:
        return False
    diff = [i for i, (a, b) in enumerate(zip(word, verb, strict=True)) if a != b]
    swapped = len(diff) == 2 and diff[1] == diff[0] + 1 and word[diff[0]] == verb[diff[1]]
    return len(diff) == 1 or (swapped and word[diff[1]] == verb[diff[0]])


def _silence_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's final flush cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, AttributeError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
