"""Command palette provider for the long lists: add/remove a catalog model, switch hardware target.

They are offered when the user types (``search``), not in the palette's opening list, which keeps the
short commands of ``ModeltuiApp.get_system_commands`` (export, presets, settings ...) in view.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import Hit, Hits, Provider

if TYPE_CHECKING:
    from tui.app.application import ModeltuiApp


class ModelsAndTargets(Provider):
    """``Add model: NAME`` / ``Remove model: NAME`` for every catalog model, ``Hardware: NAME`` for
    every target."""

    def commands(self) -> list[tuple[str, str, object]]:
        app: ModeltuiApp = self.app  # type: ignore[assignment]
        s = app.session
        out: list[tuple[str, str, object]] = []
        for target in s.targets:
            out.append(
                (
                    f"Hardware: {target.name}",
                    f"{target.id} ({target.vendor})",
                    partial(app.set_target, target.id),
                )
            )
        for spec in s.catalog:
            where = f"{spec.family}, {spec.task}"
            if spec.name in s.selected:
                out.append((f"Remove model: {spec.name}", where, partial(app.remove_model, spec.name)))
            else:
                out.append((f"Add model: {spec.name}", where, partial(app.add_models, [spec.name])))
        return out

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, text=title, help=help_text)  # type: ignore[arg-type]
