"""Messages as users read them: one prefix per layer, no word cut in half."""
from __future__ import annotations


def shorten(text: str, limit: int) -> str:
    """`text` on one line, at most `limit` characters, cut at a word boundary with an ellipsis."""
    t = " ".join(str(text).split())
    if len(t) <= limit:
        return t
    cut = t[:limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def without_prefix(text: str, name: str) -> str:
    """`text` without a leading "name: " (a lower layer already named the device)."""
    t = str(text)
    return t[len(name) + 2:] if t.startswith(name + ": ") else t


def prefixed(name: str, text: str) -> str:
    """"name: text", unless text already starts so."""
    return f"{name}: {without_prefix(text, name)}"
