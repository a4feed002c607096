"""Server settings, from the environment: keys are never in code."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_ARTICLES_PER_POST = 1000
WRITE_WAIT_SECONDS = 30.0  # how long a write waits for another writer (`newsearch index`) before a 409


def secret(name: str) -> str:
    """A key from NAME or from the file named by NAME_FILE (stripped); '' when neither is set."""
    value = os.environ.get(name, "").strip()
    if value:
        return value
    path = os.environ.get(f"{name}_FILE", "").strip()
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise RuntimeError(f"{name}_FILE={path}: cannot read the key file ({exc.strerror})") from None
    return ""


@dataclass(frozen=True)
class Settings:
    """Server settings. `api_key` empty: writes are refused (403). `read_key` set: reads need a key."""

    api_key: str = field(default="", repr=False)
    read_key: str = field(default="", repr=False)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = MAX_BODY_BYTES
    max_articles: int = MAX_ARTICLES_PER_POST
    write_wait_seconds: float = WRITE_WAIT_SECONDS
    contact: str = ""  # the operator's email or URL, in the User-Agent of the feed watcher's requests

    @classmethod
    def from_env(cls) -> Settings:
        from indexer.crawl.fetch import check_contact

        origins = tuple(o.strip() for o in os.environ.get("NEWSEARCH_CORS_ORIGINS", "").split(",") if o.strip())
        contact = os.environ.get("NEWSEARCH_CONTACT", "").strip()
        return cls(api_key=secret("NEWSEARCH_API_KEY"), read_key=secret("NEWSEARCH_READ_KEY"), cors_origins=origins,
                   contact=check_contact(contact) if contact else "")
