"""Tables of rows to CSV / JSON / Markdown text, and atomic file writes.

Rows are dicts of raw values (numbers stay numbers in CSV and JSON); Markdown uses the column
formatters so it reads like the terminal table.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metrics_core.common.errors import UsageError, WriteError
from metrics_core.report.columns import Column

FORMATS: tuple[str, ...] = ("csv", "json", "markdown")


def _csv_value(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return "x".join(str(x) for x in v)
    if isinstance(v, dict):
        return json.dumps(v, sort_keys=True)
    return "" if v is None else v


def to_csv(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(keys)
    for row in rows:
        w.writerow([_csv_value(row.get(k)) for k in keys])
    return buf.getvalue()


def to_json(data: Any, compact_rows: bool = False) -> str:
    """Strict, indented JSON (a non-finite float, which JSON cannot hold, is written as null); with
    ``compact_rows`` a list is written one element per line (long op tables)."""
    data = finite(data)
    if compact_rows and isinstance(data, list):
        body = ",\n".join("  " + json.dumps(row, separators=(", ", ": "), allow_nan=False) for row in data)
        return "[\n" + body + "\n]\n" if data else "[]\n"
    return json.dumps(data, indent=2, allow_nan=False) + "\n"


def finite(data: Any) -> Any:
    """``data`` with every NaN or infinite float replaced by None (recursively through dicts and lists)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v) for v in data]
    return data


def to_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[Column], first: str = "model") -> str:
    headers = [first.capitalize(), *(c.header for c in columns)]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append(
        "|" + "|".join("---:" if i and c.numeric else "---" for i, c in enumerate([None, *columns])) + "|"
    )
    for row in rows:
        cells = [str(row.get(first, "")), *(c.fmt(row.get(c.key)) for c in columns)]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def markdown_cell(value: object) -> str:
    """A raw value as a Markdown cell: 4 significant digits for floats, yes/no for booleans, empty for
    None (the flat Markdown tables of ``llm`` and ``train``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def render(rows: Sequence[dict[str, Any]], columns: Sequence[Column], fmt: str, first: str = "model") -> str:
    """Rows as ``fmt`` (csv, json, markdown) text."""
    if fmt == "csv":
        return to_csv(rows, [first, *(c.key for c in columns)])
    if fmt == "json":
        return to_json(list(rows))
    if fmt == "markdown":
        return to_markdown(rows, columns, first)
    raise UsageError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")


def format_for_path(path: str | os.PathLike[str]) -> str:
    """Export format from a file name: .csv, .json, .md/.markdown."""
    suffix = Path(path).suffix.lower()
    by_suffix = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown"}
    if suffix not in by_suffix:
        raise UsageError(f"cannot tell the export format of {str(path)!r}; use a .csv, .json or .md name")
    return by_suffix[suffix]


def _target(path: str | os.PathLike[str]) -> Path:
    """``path`` with ``~`` expanded and made absolute; ``UsageError`` for ``~user`` of no such user."""
    text = os.fspath(path)
    if not text.strip():
        raise UsageError("no file name given")
    expanded = os.path.expanduser(text)
    if expanded.startswith("~"):
        user = expanded.split("/", 1)[0]
        raise UsageError(f"cannot write {text!r}: no user {user[1:]!r} for {user}")
    try:
        return Path(expanded).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot write {text!r}: {exc}") from None


def check_writable(path: str | os.PathLike[str], create_folders: bool = True) -> Path:
    """The resolved path if a file can be written there (not a directory, device or pipe; the nearest
    existing folder writable - or, without ``create_folders``, the folder itself existing; name not too
    long); ``UsageError`` with a one-line reason otherwise. Checked before work starts, so a bad
    ``--output`` fails at once."""
    target = _target(path)
    try:
        _check_regular(target)
        if not create_folders and not target.parent.is_dir():
            what = "is not a folder" if target.parent.exists() else "does not exist"
            raise UsageError(f"cannot write {str(target)!r}: {str(target.parent)!r} {what}")
        limit = os.pathconf(_existing_parent(target), "PC_NAME_MAX")
    except OSError as exc:
        raise UsageError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    if len(target.name.encode()) + 16 > limit:  # room for the temporary file's prefix and suffix
        raise UsageError(f"cannot write {str(target)!r}: file name too long")
    folder = _existing_parent(target)
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {str(target)!r}: {str(folder)!r} is not a writable folder")
    return target


def _check_regular(target: Path) -> None:
    """``UsageError`` unless ``target`` is absent or a regular file: an atomic write replaces the file, so
    a directory, a device (``/dev/null``) or a named pipe must never be written to this way."""
    if target.is_dir():
        raise UsageError(f"cannot write {str(target)!r}: it is a directory")
    if target.exists() and not target.is_file():
        raise UsageError(f"cannot write {str(target)!r}: not a regular file (a device or a pipe)")


def _existing_parent(target: Path) -> Path:
    folder = target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def write_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename); return the path.

    A failure leaves any existing file untouched and raises a one-line error: ``UsageError`` for a path
    that is not a file (a directory, a device), ``WriteError`` (exit 1) when the write itself fails."""
    target = _target(path)
    try:
        _check_regular(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _mode_for(target))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise WriteError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    return target


def _mode_for(target: Path) -> int:
    """An existing file keeps its permissions; a new one gets 0o666 less the umask (as ``open`` would)."""
    if target.exists():
        return target.stat().st_mode & 0o7777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
