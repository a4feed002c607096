"""What follows a commit: the stages over each committed batch, declared here, in the order they run.

`STAGES` is the one declaration (scrapy's ITEM_PIPELINES): duplicate groups first (a story may use them),
then entities, then stories, then alert matching (a saved search may follow a story).
A new stage is one module with a `Stage` subclass and one line here; `register` adds one at run time (an
embedding application's own, or a test's).
"""

from __future__ import annotations

from indexer.enrich.alerts import AlertMatching
from indexer.enrich.dedup import DuplicateGroups
from indexer.enrich.entities import Entities
from indexer.enrich.stage import Committed, Stage, StageBatch, StoredArticle
from indexer.enrich.story_store import Stories

STAGES: list[Stage] = [DuplicateGroups(), Entities(), Stories(), AlertMatching()]


def register(stage: Stage) -> None:
    """Run `stage` after the declared ones, in every writer of this process."""
    STAGES.append(stage)


def unregister(stage: Stage) -> None:
    STAGES.remove(stage)


__all__ = ["STAGES", "Committed", "Stage", "StageBatch", "StoredArticle", "register", "unregister"]
