"""modeltui's user interfaces: the headless CLI (``tui.cli``) and the Textual app (``tui.app``)."""
