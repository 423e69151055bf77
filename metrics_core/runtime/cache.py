"""The result cache: one JSON-lines file per (model, options, versions) with the full ``ModelReport``.

Layout: ``cache_root()/reports/<model>-<key hash>.jsonl``, two lines of JSON:

1. the header: ``{"schema": "modeltui.report", "format": 3, "key": {...}, "n_records": N, "report": {...},
   "digest": {"report": H1, "records": H2}}`` where ``report`` is ``ModelReport.to_dict()`` without its
   records, ``H1`` the SHA-256 of ``report`` in canonical JSON (sorted keys, no spaces) and ``H2`` the
   SHA-256 of line 2's bytes;
2. the records: ``{"record_fields": [...], "rows": [[...], ...]}`` (rows, as in ``ModelReport.to_dict``).

The digests make every value of an entry checked on read: a field edited by hand, a value of the wrong type
(a list for a dict, a 0 batch size) or a damaged byte gives a mismatch, so the entry is discarded and
rebuilt like a truncated one, instead of reaching the code that would divide by it.

Reading a report parses only the header line; its ``records`` are a :class:`LazyRecords` list that parses
line 2 on first use. ``compare`` never needs the records, so a warm ``compare --all`` reads ~2 KB per
model instead of every op of every model, and never imports torch.

The key (:func:`cache_key`) holds everything a report depends on: model name, resolved per-sample input
shape, batch size, dtype (and, for ``timm:``/``hf:`` models, whether it was chosen or is the model's
own fp16/bf16: ``AnalysisOptions.dtype_from_model``), engine, memory format (``contiguous`` /
``channels_last``), the torch / torchvision / modeltui versions
(read with ``importlib.metadata``, never by importing torch) and a hash of the ``metrics_core`` sources
(cost rules, capture, build, catalog, metrics: any code change invalidates). The file name is a hash of
the key, and the stored key is compared on read, so a colliding or foreign file is never used.

Writes are atomic (temporary file in the same directory, then ``os.replace``). An unreadable, corrupt or
foreign entry is ignored, reported once through :func:`warn` and rebuilt by the caller. Reports with an
error are never stored. Custom ``module:factory`` models (and inputs from a ``--inputs`` function) are
not cached: their result depends on user code we cannot fingerprint (a helper module's edit would serve
stale numbers). ``timm:`` and ``hf:`` models are: their key adds the library version and the model
definition (an ``hf:`` model's whole config).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from metrics_core.common.cache_warnings import (  # noqa: F401 (re-exported: the app's handler, tests)
    WarningHandler,
    set_warning_handler,
    take_warnings,
    warn,
)
from metrics_core.common.paths import ENV_CACHE_DIR, cache_root, write_atomic
from metrics_core.common.records import ModelReport, OpRecord

SCHEMA = "modeltui.report"
FORMAT = 3  # 2: op records carry ``reads_from`` (dataflow); 3: the header holds the digests
SUFFIX = ".jsonl"
#: Temporary files of entries being written (ignored by readers, removed by ``clear``).
TMP_PREFIX = ".tmp-"
ENV_DIR = ENV_CACHE_DIR

# -- warnings: the one channel of cache warnings (``common.cache_warnings``), re-exported --------------------

# -- location and key -------------------------------------------------------------------------------------


def reports_dir() -> Path:
    """Where cached reports live (only files named ``*.jsonl`` here belong to the cache)."""
    return cache_root() / "reports"


@lru_cache(maxsize=1)
def versions() -> dict[str, str]:
    """Installed versions of torch, torchvision, fvcore and modeltui (distribution metadata, no import)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("torch", "torchvision", "fvcore", "modeltui"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "absent"
    return out


@lru_cache(maxsize=1)
def source_hash() -> str:
    """SHA-256 (first 16 hex digits) over the path and bytes of every ``metrics_core`` source and data
    file: a change to a cost rule, the capture, the builders or the metrics invalidates every entry."""
    root = Path(__file__).resolve().parents[1]  # the metrics_core package
    h = hashlib.sha256()
    files = sorted(
        p for p in root.rglob("*") if p.suffix in (".py", ".json", ".toml") and "__pycache__" not in p.parts
    )
    for p in files:
        h.update(p.relative_to(root).as_posix().encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def is_cacheable(spec: Any, options: Any) -> bool:
    """Catalog, ``timm:`` and ``hf:`` models are cached; custom ``module:factory`` models and inputs made
    by a user's ``--inputs`` function are not (see module docstring)."""
    return bool(
        options.use_cache
        and spec.supported
        and not spec.is_custom
        and not options.inputs_fn
        and not options.rules
    )


def cache_key(
    model: str,
    input_shape: Sequence[int],
    batch_size: int,
    dtype: str,
    engine: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything a report depends on (see module docstring). ``input_shape`` is the resolved per-sample
    shape (the native one when the user gave none), so an explicit native shape shares the entry.
    ``extra`` adds what other sources depend on (the model definition, the inputs, library versions)."""
    v = versions()
    key: dict[str, Any] = {
        "model": model,
        "input_shape": [int(d) for d in input_shape],
        "batch_size": int(batch_size),
        "dtype": dtype,
        "engine": engine,
        "torch": v["torch"],
        "torchvision": v["torchvision"],
        "metrics_core": v["modeltui"],
        "source": source_hash(),
    }
    if engine == "fvcore":
        key["fvcore"] = v["fvcore"]
    if extra:
        key.update(extra)
    return key


def report_key(spec: Any, options: Any) -> dict[str, Any] | None:
    """The key of ``spec`` (a ``ModelSpec``) analysed with ``options`` (``AnalysisOptions``), or None
    when it must not be cached (``is_cacheable``). For ``timm:``/``hf:`` models the key also holds the
    model definition (builder and its arguments: the whole ``config.json`` of an ``hf:`` model, so an
    edited config is a new entry), the library version, the explicit inputs and the HF options; every key
    holds ``memory_format``."""
    if not is_cacheable(spec, options):
        return None
    shape = options.input_shape or spec.input_shape
    # the layout of the model and its 4-D / 5-D inputs: NCHW and channels-last runs never share an entry
    extra: dict[str, Any] = {"memory_format": options.memory_format}
    if options.inputs:
        extra["inputs"] = [i.to_dict() for i in options.inputs]
    if options.seq_len is not None:
        extra["seq_len"] = options.seq_len
    if spec.source != "torchvision":
        extra["definition"] = {
            "builder": spec.builder,
            "kwargs": spec.builder_kwargs,
            "kind": spec.input_kind,
        }
        extra["library"] = _library_version(spec.source)
        if spec.source == "hf":
            extra["hf"] = {"class": options.hf_class, "attention": options.attention}
        if options.dtype_from_model:
            # no --dtype: a float16/bfloat16 model is analysed in its own dtype (runtime.engines
            # .with_model_dtype), so this entry is not the one of an explicit --dtype fp32
            extra["dtype_from_model"] = True
    return cache_key(spec.name, shape, options.batch_size, options.dtype, options.engine, extra)


@cache
def _library_version(source: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    dist = {"timm": "timm", "hf": "transformers"}.get(source)
    if dist is None:
        return "n/a"
    try:
        return version(dist)
    except PackageNotFoundError:
        return "absent"


def entry_path(key: dict[str, Any], directory: str | os.PathLike | None = None) -> Path:
    """``<reports dir>/<model>-<20 hex digits of sha256(key)>.jsonl``; the model part helps a human."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    slug = "".join(c if c.isalnum() or c in "._" else "_" for c in key["model"])[:60]
    return Path(directory or reports_dir()) / f"{slug}-{digest}{SUFFIX}"


# -- records loaded on first use --------------------------------------------------------------------------


class LazyRecords(list):
    """A ``list`` of ``OpRecord`` that calls ``load()`` to fill itself on first use.

    Every list method materialises first (once, under a lock), so code that iterates, indexes or measures
    it sees the records. Pickling or copying gives a plain list. (C code that reads a list's storage
    directly, like ``json.dumps`` of the list itself, would see it empty; nothing serialises records
    that way: ``ModelReport.to_dict`` iterates.)
    """

    __slots__ = ("_load", "_lock")

    def __init__(self, load: Callable[[], Iterable[OpRecord]]) -> None:
        super().__init__()
        self._load: Callable[[], Iterable[OpRecord]] | None = load
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._load is None

    def _materialise(self) -> None:
        if self._load is None:
            return
        with self._lock:  # the app's UI thread and a worker thread may both touch it first
            load = self._load
            if load is not None:
                list.extend(self, load())
                self._load = None

    def __reduce_ex__(self, protocol: int) -> tuple:
        self._materialise()
        return (list, (list(self),))


def _forwarding(name: str) -> Callable:
    base = getattr(list, name)

    def method(self: LazyRecords, *args: Any, **kwargs: Any) -> Any:
        self._materialise()
        return base(self, *args, **kwargs)

    method.__name__ = name
    return method


for _name in (
    "__len__", "__iter__", "__getitem__", "__contains__", "__reversed__", "__repr__",
    "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__add__", "__mul__", "__rmul__",
    "__iadd__", "__imul__", "__setitem__", "__delitem__", "__sizeof__",
    "append", "extend", "insert", "pop", "remove", "clear", "index", "count", "sort", "reverse", "copy",
):  # fmt: skip
    setattr(LazyRecords, _name, _forwarding(_name))


# -- read / write -----------------------------------------------------------------------------------------


class CorruptEntry(Exception):
    """An entry that cannot be used: unreadable, not our schema, for another key, or changed since written."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _report_digest(report: dict[str, Any]) -> str:
    """SHA-256 of ``report`` in canonical JSON (sorted keys, compact): the same for the dict written and
    the dict parsed back (JSON floats round-trip exactly)."""
    return _digest(json.dumps(report, sort_keys=True, separators=(",", ":")).encode())


def _read_header(path: Path, key: dict[str, Any]) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            line = f.readline()
        header = json.loads(line)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError) as exc:
        raise CorruptEntry(f"unreadable ({type(exc).__name__})") from None
    if not isinstance(header, dict) or header.get("schema") != SCHEMA or header.get("format") != FORMAT:
        raise CorruptEntry("not a modeltui cache entry of this format")
    if header.get("key") != key:
        raise CorruptEntry("its key does not match its name")
    if not isinstance(header.get("report"), dict) or not isinstance(header.get("n_records"), int):
        raise CorruptEntry("incomplete header")
    digest = header.get("digest")
    if not isinstance(digest, dict) or not isinstance(digest.get("records"), str):
        raise CorruptEntry("incomplete header")
    if digest.get("report") != _report_digest(header["report"]):
        raise CorruptEntry("its report was changed since it was written")
    return header


def _read_records(path: Path, key: dict[str, Any], n_records: int) -> list[OpRecord]:
    try:
        with open(path, "rb") as f:
            header = json.loads(f.readline())
            line = f.readline()
        if not isinstance(header, dict) or not isinstance(header.get("digest"), dict):
            raise CorruptEntry("records do not match the header")
        if header["digest"].get("records") != _digest(line.rstrip(b"\n")):
            raise CorruptEntry("records unreadable (damaged or changed since they were written)")
        body = json.loads(line)
        fields = body["record_fields"]
        records = [OpRecord(**dict(zip(fields, row, strict=False))) for row in body["rows"]]
    except FileNotFoundError:
        raise CorruptEntry("the file is gone") from None
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise CorruptEntry(f"records unreadable ({type(exc).__name__})") from None
    if header.get("key") != key or len(records) != n_records:
        raise CorruptEntry("records do not match the header")
    return records


def load(key: dict[str, Any], reload: Callable[[], ModelReport] | None = None) -> ModelReport | None:
    """The cached report for ``key``, or None (missing, or corrupt/foreign: warned, removed, None).

    Only the header line is parsed; the records load on first use (:func:`lazy_records`)."""
    path = entry_path(key)
    try:
        header = _read_header(path, key)
        d = dict(header["report"])
        d["records"] = []
        report = ModelReport.from_dict(d)
    except FileNotFoundError:
        return None
    except CorruptEntry as exc:
        _discard(path, str(exc))
        return None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        _discard(path, f"malformed report ({type(exc).__name__})")
        return None
    report.records = lazy_records(path, key, header["n_records"], reload)
    return report


def lazy_records(
    path: Path, key: dict[str, Any], n_records: int, reload: Callable[[], ModelReport] | None = None
) -> LazyRecords:
    """The records of the entry at ``path``, parsed on first use. If they turn out unreadable then (the
    file was damaged or removed since), a warning is given and ``reload()`` (a fresh analysis) supplies
    them; without ``reload`` the ``CorruptEntry`` propagates."""

    def records() -> list[OpRecord]:
        try:
            return _read_records(path, key, n_records)
        except CorruptEntry as exc:
            _discard(path, str(exc))
            if reload is None:
                raise
            return list(reload().records)

    return LazyRecords(records)


def _discard(path: Path, why: str) -> None:
    warn(f"ignoring cache entry {path.name}: {why}; it will be rebuilt")
    with contextlib.suppress(OSError):
        path.unlink()


def store(
    key: dict[str, Any], report: ModelReport, directory: str | os.PathLike | None = None
) -> Path | None:
    """Write ``report`` under ``key`` atomically; None (and nothing written) for a report with an error.
    Raises ``OSError`` when the cache directory cannot be written."""
    if not report.ok:
        return None
    d = report.to_dict()
    fields = d.pop("record_fields")
    rows = d.pop("records")
    d["records"] = []
    records_line = json.dumps({"record_fields": fields, "rows": rows}, separators=(",", ":"))
    header = {
        "schema": SCHEMA,
        "format": FORMAT,
        "key": key,
        "n_records": len(rows),
        "report": d,
        "digest": {"report": _report_digest(d), "records": _digest(records_line.encode())},
    }
    text = json.dumps(header, separators=(",", ":")) + "\n" + records_line + "\n"
    path = entry_path(key, directory)
    write_atomic(path, text, tmp_prefix=TMP_PREFIX, tmp_suffix=SUFFIX)
    return path


def try_store(
    key: dict[str, Any], report: ModelReport, directory: str | os.PathLike | None = None
) -> str | None:
    """:func:`store`, turning a write failure into a one-line warning message (returned, not emitted)."""
    try:
        store(key, report, directory)
    except (OSError, ValueError, TypeError) as exc:
        return f"could not write the result cache in {directory or reports_dir()}: {exc}"
    return None


# -- maintenance ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CacheInfo:
    """What ``modeltui cache info`` shows."""

    directory: str
    entries: int
    bytes: int


def info() -> CacheInfo:
    """Number and total size of cached reports."""
    d = reports_dir()
    entries = total = 0
    if d.is_dir():
        for p in d.glob(f"*{SUFFIX}"):
            if p.name.startswith(TMP_PREFIX):
                continue
            try:
                total += p.stat().st_size
            except OSError:
                continue
            entries += 1
    return CacheInfo(str(d), entries, total)


def clear() -> CacheInfo:
    """Delete every cached report (and leftover temporary files); returns what was removed.
    Only ``*.jsonl`` files in ``reports/`` are touched, whatever the cache directory is set to."""
    d = reports_dir()
    entries = total = 0
    if d.is_dir():
        for p in d.glob(f"*{SUFFIX}"):
            try:
                size = p.stat().st_size
                p.unlink()
            except OSError:
                continue
            if not p.name.startswith(TMP_PREFIX):
                entries += 1
                total += size
        with contextlib.suppress(OSError):
            d.rmdir()
    return CacheInfo(str(d), entries, total)
