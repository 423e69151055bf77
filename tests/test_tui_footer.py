"""The footer fits the terminal: keys that do not fit are left out from the end; help and quit stay."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from tui.app.widgets.footer import fitting, key_cells

# the comparison screen's keys (tui/app/application.py, screens/comparison.py)
KEYS = [
    ("enter", "⏎", "Layers", "layers"),
    ("s", "s", "Sort", "sort"),
    ("b", "b", "Bench", "bench"),
    ("m", "m", "LLM", "llm"),
    ("c", "c", "Catalog", "app.catalog"),
    ("h", "h", "Hardware", "app.hardware"),
    ("w", "w", "Roofline", "app.roofline"),
    ("f", "f", "Pareto", "app.pareto"),
    ("question_mark", "?", "Help", "app.help"),
    ("q", "q", "Quit", "app.quit"),
]


def _keys() -> list[FooterKey]:
    return [FooterKey(key, shown, text, action) for key, shown, text, action in KEYS]


def test_key_cells():
    # '⏎' is one cell: 1 + space + 'Layers' (6) + gap = 9
    assert [key_cells(k) for k in _keys()[:2]] == [9, 7]


def test_all_keys_fit_a_wide_terminal():
    # every key: 9+7+8+6+10+11+11+9+7+7 = 85 cells, less the last gap = 84
    assert [k.description for k in fitting(_keys(), 84)] == [t for _, _, t, _ in KEYS]


def test_80_columns_leave_out_the_last_keys_but_keep_help_and_quit():
    # 84 > 80: Pareto (9 cells) goes first -> 75 cells
    kept = [k.description for k in fitting(_keys(), 80)]
    assert kept == ["Layers", "Sort", "Bench", "LLM", "Catalog", "Hardware", "Roofline", "Help", "Quit"]
    # 60 columns: Roofline (11) and Hardware (11) go too -> 53 cells
    kept = [k.description for k in fitting(_keys(), 60)]
    assert kept == ["Layers", "Sort", "Bench", "LLM", "Catalog", "Help", "Quit"]
    # however narrow, help and quit stay
    assert [k.description for k in fitting(_keys(), 5)] == ["Help", "Quit"]
