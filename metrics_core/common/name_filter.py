"""One way to filter names, shared by the app's filters and the ``models`` / ``hardware`` / ``compare
--all`` command-line filters.

A query is either a shell glob (it holds ``*``, ``?`` or ``[``: matched case-insensitively against
the name, the first field: ``resnet*``) or words: every word must start a token of some field. A
token starts at the beginning of a field, after a character that is not a letter or digit (``_``,
``.``, ``-``, ``:``, ``/``, space), or where letters turn to digits or digits to letters. So ``vit_b``
finds ``vit_b_16`` and ``timm:vit_base_patch16_224`` but not ``convit_base`` or ``davit_base`` (the
``vit`` there is inside a word); ``resnet`` finds ``wide_resnet50_2``; ``50`` finds ``resnet50``;
``h100`` finds ``h100-sxm5-80gb``. Case-insensitive. No imports beyond the standard library.
"""

from __future__ import annotations

import fnmatch

GLOB_CHARS = frozenset("*?[")


def _starts(text: str, i: int) -> bool:
    """Whether a token starts at ``text[i]``."""
    if i == 0:
        return True
    prev, cur = text[i - 1], text[i]
    if not prev.isalnum():
        return True
    return prev.isalpha() != cur.isalpha() and cur.isalnum()


def word_starts_token(word: str, text: str) -> bool:
    """``word`` occurs in ``text`` at the start of a token (both already lower-case)."""
    i = text.find(word)
    while i >= 0:
        if _starts(text, i):
            return True
        i = text.find(word, i + 1)
    return False


def is_glob(query: str) -> bool:
    """A query with ``*``, ``?`` or ``[`` is a shell glob."""
    return any(c in GLOB_CHARS for c in query)


def name_matches(query: str | None, *fields: str | None) -> bool:
    """Whether the fields (a name, then family, task, vendor ...) match ``query`` (see the module doc);
    an empty or None query matches everything."""
    if not query or not query.strip():
        return True
    hay = [f.lower() for f in fields if f]
    q = query.strip().lower()
    if is_glob(q):
        return bool(fields and fields[0]) and fnmatch.fnmatchcase(fields[0].lower(), q)
    return all(any(word_starts_token(w, f) for f in hay) for w in q.split())
