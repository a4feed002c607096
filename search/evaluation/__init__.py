"""Evaluation, off the query path: retrieval metrics over BEIR folders and story-clustering metrics."""
