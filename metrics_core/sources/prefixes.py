"""The model-name prefixes of the sources, and what each needs installed (no imports of them here)."""

from __future__ import annotations

#: prefix -> (module resolving it, the pip extra that installs its library, the library's import name)
SOURCE_PREFIXES: dict[str, tuple[str, str, str]] = {
    "timm": ("metrics_core.sources.timm_source", "timm", "timm"),
    "hf": ("metrics_core.sources.hf_source", "hf", "transformers"),
}
