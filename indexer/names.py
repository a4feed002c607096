"""Names of people, organisations and places, normalised: the one rule by which an entity found in an
article, a facet and an `entity=` filter are the same thing.

The key is what compares: case-folded, without a courtesy title ("Mr.", "Dr."), a possessive ("Lohan's"), a
leading "the" or surrounding punctuation, spaces collapsed. The display name is the surface form without
those, as the article wrote it.
"""

from __future__ import annotations

import re

_TITLES = ("mr", "mrs", "ms", "miss", "dr", "prof", "sir", "dame", "mx")
_TITLE = re.compile(r"^(?:(?:" + "|".join(_TITLES) + r")\.?\s+)+", re.IGNORECASE)
_POSSESSIVE = re.compile(r"(?:'s|’s|'|’)$", re.IGNORECASE)
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")
_THE = re.compile(r"^the\s+", re.IGNORECASE)


def display_name(surface: str) -> str:
    """The name as shown: the surface form less titles, possessives, a leading "the" and edge punctuation
    ('' when nothing is left)."""
    name = " ".join(surface.split())
    for _ in range(3):  # "the Mr. Smith's" peels in a few rounds; bounded
        before = name
        name = _EDGES.sub("", _POSSESSIVE.sub("", _THE.sub("", _TITLE.sub("", name))))
        if name == before:
            break
    return name


def name_key(name: str) -> str:
    """What two mentions of one name share: the display name, case-folded."""
    return display_name(name).casefold()
