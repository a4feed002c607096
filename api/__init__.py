"""newsearch's interfaces: the `newsearch` command (cli), the HTTP API and search page (app), and a
Python client for that API (client.NewsearchClient, exported here lazily so the CLI starts fast)."""

__all__ = ["NewsearchClient", "RemoteError"]


def __getattr__(name: str):
    if name in __all__:
        from api import client

        return getattr(client, name)
    raise AttributeError(f"module 'api' has no attribute {name!r}")
