"""Metric parity with trec_eval (pytrec_eval) on the same runs, to 1e-6."""

from __future__ import annotations

import random

import pytest
import pytrec_eval

from search.evaluation.metrics import evaluate, per_query_metrics

MAP = {"ndcg@10": "ndcg_cut_10", "recall@10": "recall_10", "recall@100": "recall_100", "mrr@10": None}


def _random_case(seed: int):
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(300)]
    qrels, run = {}, {}
    for q in range(40):
        qid = f"q{q}"
        qrels[qid] = {d: rng.choice([1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 8))}
        run[qid] = rng.sample(docs, rng.randint(0, 120))
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_with_trec_eval(seed):
    qrels, run = _random_case(seed)
    ours = per_query_metrics(run, qrels)
    # trec_eval ranks by score: give strictly decreasing scores in run order.
    trec_run = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in run.items() if r}
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.10,100", "recip_rank"})
    theirs = evaluator.evaluate(trec_run)
    for qid in qrels:
        for name, trec_name in MAP.items():
            if trec_name is None:
                continue
            expected = theirs.get(qid, {}).get(trec_name, 0.0)
            assert ours[qid][name] == pytest.approx(expected, abs=1e-6), (qid, name)


def test_mrr_at_10_against_trec_recip_rank_on_truncated_runs():
    qrels, run = _random_case(7)
    cut = {q: r[:10] for q, r in run.items()}
    trec_run = {q: {d: float(len(r) - i) for i, d in enumerate(r)} for q, r in cut.items() if r}
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(trec_run)
    ours = per_query_metrics(run, qrels)
    for qid in qrels:
        assert ours[qid]["mrr@10"] == pytest.approx(theirs.get(qid, {}).get("recip_rank", 0.0), abs=1e-6)


def test_evaluate_means_over_all_judged_queries():
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}}
    result = evaluate({"q1": ["a"]}, qrels)
    assert result["recall@10"] == 0.5 and result["mrr@10"] == 0.5
