"""Retrieval metrics as pure functions over ranked id lists and graded judgements (trec_eval's definitions).

run:   {query_id: [doc_id, ...]} best first
qrels: {query_id: {doc_id: relevance}}; relevance > 0 counts as relevant
Every query in qrels is scored; a query with no run scores 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

Run = Mapping[str, Sequence[str]]
Qrels = Mapping[str, Mapping[str, int]]


def ndcg_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """nDCG@k (Jarvelin & Kekalainen 2002) with linear gain as trec_eval: sum rel_i / log2(i + 1), i from 1."""
    gains = np.array([max(judged.get(doc, 0), 0) for doc in ranking[:k]], dtype=np.float64)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(gains @ discounts[: len(gains)])
    ideal = np.sort(np.array([r for r in judged.values() if r > 0], dtype=np.float64))[::-1][:k]
    idcg = float(ideal @ discounts[: len(ideal)])
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """|relevant in top k| / |relevant|."""
    relevant = {doc for doc, r in judged.items() if r > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant) if relevant else 0.0


def rr_at_k(ranking: Sequence[str], judged: Mapping[str, int], k: int) -> float:
    """1 / rank of the first relevant document within k, else 0 (mean over queries: MRR@k)."""
    for rank, doc in enumerate(ranking[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def evaluate(run: Run, qrels: Qrels) -> dict[str, float]:
    """Mean nDCG@10, R@10, R@100 and MRR@10 over the queries in qrels."""
    per_query = per_query_metrics(run, qrels)
    return {name: float(np.mean([m[name] for m in per_query.values()])) if per_query else 0.0
            for name in METRICS}


METRICS = ("ndcg@10", "recall@10", "recall@100", "mrr@10")


def per_query_metrics(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    out = {}
    for qid, judged in qrels.items():
        ranking = list(run.get(qid, []))
        out[qid] = {"ndcg@10": ndcg_at_k(ranking, judged, 10), "recall@10": recall_at_k(ranking, judged, 10),
                    "recall@100": recall_at_k(ranking, judged, 100), "mrr@10": rr_at_k(ranking, judged, 10)}
    return out
