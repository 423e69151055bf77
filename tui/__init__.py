"""modeltui's user interfaces: the headless CLI (``tui.cli``: entry point, verbs, plain-text tables, app
launch), the Textual app (``tui.app``) and ``show(...)``, the app on a user's in-memory models from Python
(``tui.app.show``). ``tui.cli`` may import ``tui.app`` (to launch it); ``tui.app`` never imports ``tui.cli``.
"""

from typing import Any


def show(*models: Any, **kwargs: Any) -> int:  # noqa: ANN401
    """Open the app on in-memory models (``tui.app.show.show``: its docstring has the arguments)."""
    from tui.app.show import show as _show

    return _show(*models, **kwargs)
