"""Every error newsearch raises on purpose, under one root, so that each caller answers it in its own terms
(the CLI with a message and exit code 2, the API by the table in `api/errors.py`).

    NewsearchError
    ├── IndexUnavailable        an index folder that cannot be used as asked
    │   ├── NotAnIndex          not an index, an unfinished one, or a format this code cannot upgrade
    │   ├── IndexLocked         another process holds the single-writer lock
    │   ├── ModelMismatch       built with another model, profile or context than the one asked for
    │   └── BackendUnavailable  the vector backend (a Milvus file or server) cannot be reached
    └── InvalidInput            what a caller sent is wrong; the message names the field or the place
        ├── ReadError           a source file or URL that cannot be read (indexer.sources.readers)
        ├── FeedsFileError      a FEEDS file line (indexer.crawl.feeds)
        ├── UnsafeURL           a URL the address guard refuses (indexer.crawl.fetch)
        ├── NotFound            something a request names (a story to follow) does not exist
        └── InvalidOption       a search option, filter, date or time phrase (search)

`InvalidInput` is also a `ValueError`, so library callers that catch `ValueError` keep working; a bare
`ValueError` that reaches the API is a bug (500), never taken for bad input.
"""

from __future__ import annotations


class NewsearchError(Exception):
    """The root of every error newsearch raises on purpose."""


class IndexUnavailable(NewsearchError, RuntimeError):
    """An index folder that cannot be used as asked; the message says what to do."""


class NotAnIndex(IndexUnavailable):
    """The folder is not a newsearch index (or one of a format this code cannot open, or one whose creation
    never finished)."""


class IndexLocked(IndexUnavailable):
    """Another process holds the folder's single-writer lock."""


class ModelMismatch(IndexUnavailable):
    """The index was built with another model (or profile, or context) than the one asked for."""


class BackendUnavailable(IndexUnavailable):
    """The vector backend (a Milvus file or server) cannot be opened or answered with an error."""


class InvalidInput(NewsearchError, ValueError):
    """Input that cannot be used: the message names what and where."""


class InvalidOption(InvalidInput):
    """A search option, filter, date or time phrase that is not valid."""


class NotFound(InvalidInput):
    """What a request names (a story, a saved search) does not exist: 404 over HTTP."""
