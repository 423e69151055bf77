"""Where modeltui keeps files of its own, and atomic writes to them."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: Overrides the cache directory (tests, CI, read-only homes).
ENV_CACHE_DIR = "MODELTUI_CACHE_DIR"


def cache_root() -> Path:
    """The modeltui cache directory: ``$MODELTUI_CACHE_DIR``, else ``platformdirs.user_cache_dir``."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("modeltui"))


def write_atomic(path: Path, text: str, tmp_prefix: str | None = None, tmp_suffix: str = ".tmp") -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory (named ``tmp_prefix``
    ..., default ``.<name>.``) and ``os.replace``, so a reader never sees a half-written file. Raises
    ``OSError`` (the temporary file is removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = tmp_prefix if tmp_prefix is not None else f".{path.name}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=tmp_suffix)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_atomic_bytes(path: Path, data: bytes, tmp_prefix: str | None = None) -> None:
    """``write_atomic`` for bytes: a temporary file in the same directory, then ``os.replace``. Raises
    ``OSError`` (the temporary file is removed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = tmp_prefix if tmp_prefix is not None else f".{path.name}."
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
