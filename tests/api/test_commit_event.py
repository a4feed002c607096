"""One commit event for every writer: a stage registered once sees the `Committed` ids of a CLI index run,
an API upsert and delete, and a watcher round, and each writer returns the same record its stages saw."""

from __future__ import annotations

import httpx

from api.cli import main as cli
from api.settings import Settings
from indexer import enrich
from indexer.crawl.testing import FeedServer, Route, feeds_file, rss, story
from indexer.crawl.watch import watch
from indexer.enrich import Committed, Stage, StageBatch
from tests.api.conftest import ServerThread
from tests.conftest import write_jsonl


class Recording(Stage):
    """Remembers each event, and what the batch held inside the transaction."""

    name = "recording"

    def __init__(self) -> None:
        self.events: list[Committed] = []
        self.inside: list[list[str]] = []

    def apply(self, batch: StageBatch) -> None:
        self.inside.append([stored.article.id for stored in batch.added])

    def committed(self, batch: StageBatch, event: Committed) -> None:
        self.events.append(event)


def test_cli_api_and_watcher_commits_reach_a_registered_stage(tmp_path, embedder):
    from api.app import create_app

    stage = Recording()
    enrich.register(stage)
    try:
        index = tmp_path / "idx"
        records = [{"id": f"cli-{i}", "title": f"Harbour ferry strike day {i}", "text": story("harbour ferry", 4),
                    "published": f"2024-03-0{i + 1}"} for i in range(2)]
        source = write_jsonl(tmp_path / "in.jsonl", records)
        assert cli(["index", str(source), "--index", str(index), "--encoder", "torch", "--quiet"]) == 0
        assert stage.events[-1].added == ("cli-0", "cli-1") and stage.inside[-1] == ["cli-0", "cli-1"]
        first = stage.events[-1].generation

        server = ServerThread(create_app(index, Settings(api_key="k"), embedder=embedder)).start()
        try:
            headers = {"Authorization": "Bearer k"}
            body = [{"id": "cli-1", "title": "Harbour ferry strike ends", "text": story("ferry strike ends", 4)},
                    {"id": "api-1", "title": "Mountain rail line reopens", "text": story("mountain rail", 4)}]
            answer = httpx.post(f"{server.url}/articles", json=body, headers=headers, timeout=120)
            assert answer.status_code == 200, answer.text
            upsert = stage.events[-1]
            assert (upsert.added, upsert.replaced, upsert.removed) == (("api-1",), ("cli-1",), ())
            assert upsert.generation > first
            assert httpx.delete(f"{server.url}/articles/cli-0", headers=headers, timeout=60).status_code == 200
            assert (stage.events[-1].removed, stage.events[-1].added) == (("cli-0",), ())
        finally:
            server.stop()

        feed = FeedServer()
        try:
            items = [{"guid": "w0", "title": "Coastal storm closes schools", "link": feed.url("/w/0"),
                      "content": story("coastal storm schools", 4)}]
            feed.routes["/feed.xml"] = Route(rss("Coast News", items))
            seen = len(stage.events)
            report = watch(feeds_file(tmp_path, [feed.url("/feed.xml")]), index, once=True, allow_private=True,
                           embedder=embedder)
            assert report.indexed == 1
            watched = [e for e in stage.events[seen:] if e.added or e.replaced]
            assert [e.added for e in watched] == [(feed.url("/w/0"),)]
        finally:
            feed.close()
        generations = [e.generation for e in stage.events]
        assert generations == sorted(generations) and len(set(generations)) == len(generations)
    finally:
        enrich.unregister(stage)
