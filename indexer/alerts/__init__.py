"""Saved searches that follow the news: stored in the index (`saved`), matched inside every committed batch
(`indexer.enrich.alerts`), and delivered as signed webhooks (`indexer.crawl.webhooks`) and Atom feeds
(`api.atom`). Compiling a query into a saved search (its vector, words and filters) is the search side's
(`search.alerts`).
"""

from indexer.alerts.saved import Counts, Match, SavedSearch

__all__ = ["Counts", "Match", "SavedSearch"]
