"""modeltui's user interfaces: the headless CLI (``tui.cli``: entry point, verbs, plain-text tables,
app launch) and the Textual app (``tui.app``). ``tui.cli`` may import ``tui.app`` (to launch it); ``tui.app``
never imports ``tui.cli``.
"""
