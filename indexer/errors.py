"""What can go wrong with an index folder, by kind, so that each caller answers it in its own terms
(the CLI with a message and exit code 2, the API with 409 or 503)."""

from __future__ import annotations


class IndexUnavailable(RuntimeError):
    """An index folder that cannot be used as asked; the message says what to do."""


class NotAnIndex(IndexUnavailable):
    """The folder is not a newsearch index (or one of another format, or one whose creation never finished)."""


class IndexLocked(IndexUnavailable):
    """Another process holds the folder's single-writer lock."""


class ModelMismatch(IndexUnavailable):
    """The index was built with another model than the one asked for."""


class BackendUnavailable(IndexUnavailable):
    """The vector backend (a Milvus file or server) cannot be opened or answered with an error."""
