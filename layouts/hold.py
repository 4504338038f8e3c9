"""Lists of action buttons that hold still under the pointer.

While the user works in such a list (the pointer or the keyboard focus is in it: assets/dispatch.js writes which
list into a store), a refresh keeps every row where it was: a row whose item is gone or done stays in its place,
greyed and marked, and new items go to the end. When the pointer leaves, or the user asks for a fresh list, the
list is sorted afresh. So the row under the pointer is the row the user aimed at, even when the list changes
between two clicks.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Final, TypeVar

# The lists that hold (the value assets/dispatch.js writes into the hold store, from their data-hold attribute).
HOLD_SUGGEST: Final = "suggest"
HOLD_PROPOSALS: Final = "proposals"

K = TypeVar("K", bound=Hashable)


def held_order(shown: Sequence[K], fresh: Sequence[K], limit: int) -> list[K]:
    """The keys of a held list in display order: those shown before in their places (fresh or not), then fresh
    ones not shown yet at the end while there are fewer than `limit` rows."""
    out = list(dict.fromkeys(shown))
    seen = set(out)
    for key in fresh:
        if len(out) >= limit:
            break
        if key not in seen:
            out.append(key)
            seen.add(key)
    return out
