"""Test isolation: every test session gets its own cache and config folders (never the user's)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

_ROOT = Path(tempfile.mkdtemp(prefix="modeltui-tests-"))
os.environ.setdefault("MODELTUI_CACHE_DIR", str(_ROOT / "cache"))
os.environ.setdefault("MODELTUI_CONFIG_DIR", str(_ROOT / "config"))
os.environ.setdefault("NO_COLOR", "1")
# Analyses run in the test process, where tests' monkeypatches apply (metrics_core.runtime.pool); the tests
# of worker isolation, timeouts and process life remove it for the processes they start.
os.environ.setdefault("MODELTUI_IN_PROCESS", "1")

# Test helper modules (custom module:factory models) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent / "helpers"))
