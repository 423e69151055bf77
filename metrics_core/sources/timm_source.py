"""``timm:NAME``: any architecture of the installed timm (``timm.list_models()``), built with
``pretrained=False`` on the meta device.

Native input: the ``input_size`` of the model's default ``pretrained_cfg`` (of the named tag for
``timm:NAME.TAG``); family: the timm module that defines it (``timm.models.resnet`` -> ``resnet``).

Listing and checking names must not import timm (it imports torch, ~3 s) in the CLI or app process, so
the names and their configs are read from an index file in the cache directory, one per timm version,
written once by ``python -m metrics_core.sources.timm_index`` in a subprocess (in-process where timm is
already imported, as in the analysis workers).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from metrics_core.common.errors import UnknownModelError, UsageError
from metrics_core.common.paths import cache_root, write_atomic
from metrics_core.sources.spec import ModelSpec

PREFIX = "timm"
#: Seconds the index subprocess may take (it imports torch and timm).
INDEX_TIMEOUT_S = 120
MAX_SUGGESTIONS = 3


def timm_version() -> str | None:
    """The installed timm version (package metadata; timm is not imported), or None."""
    try:
        return importlib.metadata.version("timm")
    except importlib.metadata.PackageNotFoundError:
        return None


def index_path(version: str) -> Path:
    """The index file of timm ``version`` in the cache directory."""
    return cache_root() / "sources" / f"timm-{version}.json"


@functools.lru_cache(maxsize=1)
def timm_index() -> dict[str, Any]:
    """``{"version", "models": {name: {"family", "input_size"}}, "tags": {name.tag: input_size}}``.

    Read from the cache file; built (and written atomically) when missing, and when unreadable or not a
    valid index (``index_problem``) after one warning line (``common.cache_warnings``). ``UsageError``
    when timm is not installed or the index cannot be built.
    """
    version = timm_version()
    if version is None:
        raise UsageError("timm: models need the timm package; install it with: pip install 'modeltui[timm]'")
    path = index_path(version)
    problem = None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:  # not built yet: no warning
        data = None
    except (OSError, ValueError, RecursionError) as exc:
        data, problem = None, f"unreadable ({type(exc).__name__})"
    else:
        problem = index_problem(data, version)
        if problem is None:
            return data
    if problem is not None:  # a damaged or foreign file: one warning, then rebuilt (common.cache_warnings)
        from metrics_core.common.cache_warnings import ignoring

        ignoring(path.name, "the timm model index", problem)
    data = _build_index_here() if "timm" in sys.modules else _build_index_in_subprocess()
    problem = index_problem(data, version)
    if problem is not None:
        raise UsageError(f"timm: could not list timm's models: the index built is invalid ({problem})")
    with contextlib.suppress(OSError):  # a read-only cache: rebuilt next time
        write_atomic(path, json.dumps(data))
    return data


def index_problem(data: Any, version: str) -> str | None:
    """Why ``data`` is not a usable index of timm ``version`` (one phrase), or None when it is.

    A usable index is a dict with this ``version``, a non-empty ``models`` dict of
    ``{"family": str, "input_size": [C, H, W] positive ints, "img_size_arg": bool}`` and a ``tags`` dict of
    ``name.tag -> [C, H, W]``. Anything else (a JSON list, entries of the wrong type, an empty model table:
    a damaged or foreign file) is rebuilt by :func:`timm_index`, never used."""
    if not isinstance(data, dict):
        return f"a JSON {type(data).__name__}, not an object"
    if data.get("version") != version:
        return f"for timm {data.get('version')!r}, not {version}"
    models, tags = data.get("models"), data.get("tags", {})
    if not isinstance(models, dict) or not models:
        return "no model table"
    if not isinstance(tags, dict):
        return "a tag table that is not an object"
    for name, entry in models.items():
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("family"), str)
            and _is_size(entry.get("input_size"))
            and isinstance(entry.get("img_size_arg", False), bool)
        ):
            return f"model {name!r} malformed"
    for name, size in tags.items():
        if "." not in name or not _is_size(size):
            return f"tag {name!r} malformed"
    return None


def _is_size(v: Any) -> bool:
    return (
        isinstance(v, list)
        and len(v) == 3
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in v)
    )


#: Index builder subprocesses running now (``cancel_index_builds`` ends them).
_builders: set[subprocess.Popen] = set()
_builders_lock = threading.Lock()


def cancel_index_builds() -> None:
    """Kill the index builders running now (the app quits while it lists timm's models): the call that
    waits for one raises ``UsageError`` at once instead of waiting for timm and torch to import."""
    with _builders_lock:
        running = list(_builders)
    for proc in running:
        with contextlib.suppress(OSError):
            proc.kill()


def _build_index_here() -> dict[str, Any]:
    from metrics_core.sources.timm_index import build_index

    return build_index()


def _build_index_in_subprocess() -> dict[str, Any]:
    from metrics_core.common.watchdog import child_env

    env = child_env({**os.environ, "PYTHONWARNINGS": "ignore"})  # it ends with this process (timm_index)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "metrics_core.sources.timm_index"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
    except OSError as exc:
        raise UsageError(f"timm: could not list timm's models ({type(exc).__name__})") from None
    with _builders_lock:
        _builders.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=INDEX_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise UsageError("timm: could not list timm's models (TimeoutExpired)") from None
    except BaseException:  # Ctrl+C: the builder ends with the caller's wait
        proc.kill()
        proc.wait()
        raise
    finally:
        with _builders_lock:
            _builders.discard(proc)
    out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise UsageError(f"timm: could not list timm's models: {last}")
    try:
        return json.loads(out.stdout)
    except ValueError:
        raise UsageError("timm: could not list timm's models: the index builder printed no JSON") from None


def list_names(pattern: str | None = None) -> list[str]:
    """timm architecture names (sorted), optionally filtered as the app filters
    (``metrics_core.common.name_filter``: a glob on the name, ``"resnet*"``, or words starting tokens
    of the name or the family: ``vit_b`` finds ``vit_base_patch16_224``, not ``convit_base``)."""
    from metrics_core.common.name_filter import name_matches

    models = timm_index()["models"]
    return [n for n in sorted(models) if name_matches(pattern, n, models[n].get("family"))]


def get_spec(name: str) -> ModelSpec:
    """The spec of ``timm:name`` (``name`` may carry a pretrained tag: ``resnet50.a1_in1k``).

    ``UnknownModelError`` with the closest timm names when timm has no such architecture.
    """
    index = timm_index()
    arch, dot, tag = name.partition(".")
    entry = index["models"].get(arch)
    if dot and not tag:
        raise UnknownModelError(_empty_tag(name, arch, index))
    if entry is None or (tag and name not in index.get("tags", {})):
        raise UnknownModelError(_unknown(name, index))
    input_size = index["tags"][name] if tag else entry["input_size"]
    return ModelSpec(
        name=f"{PREFIX}:{name}",
        family=f"timm/{entry['family']}",
        task="classification",
        input_shape=tuple(input_size),
        input_kind="image",
        builder="timm:create_model",
        builder_kwargs={"model_name": name, "pretrained": False},
        shape_kwargs={"img_size": ["H", "W"]} if entry.get("img_size_arg") else {},
        source=PREFIX,
    )


def _empty_tag(name: str, arch: str, index: dict[str, Any]) -> str:
    """``timm:resnet50.``: a dot with no tag after it is not a model of its own (timm would read it as the
    default tag); the message names the architecture and its first tags."""
    if arch not in index["models"]:
        return _unknown(arch, index).replace(repr(arch), repr(name), 1)
    tags = sorted(t for t in index.get("tags", {}) if t.startswith(f"{arch}."))[:MAX_SUGGESTIONS]
    hint = ", ".join(f"timm:{n}" for n in [arch, *tags])
    return f"timm model {name!r} has an empty tag after the dot; did you mean {hint}?"


def _unknown(name: str, index: dict[str, Any]) -> str:
    import difflib

    pool = list(index["models"]) + ([*index.get("tags", {})] if "." in name else [])
    close = difflib.get_close_matches(name, pool, n=MAX_SUGGESTIONS, cutoff=0.6)
    if close:
        return f"unknown timm model {name!r}; did you mean {', '.join(f'timm:{c}' for c in close)}?"
    return f"unknown timm model {name!r}; run 'modeltui models --source timm' to list them"
