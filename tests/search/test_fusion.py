from search.fusion import convex, min_max, rrf


def test_rrf_matches_the_formula_and_breaks_ties_by_key():
    fused = dict(rrf([["a", "b", "c"], ["b", "c", "d"]], k=60))
    assert fused["b"] == 1 / 62 + 1 / 61
    assert fused["a"] == 1 / 61
    assert fused["d"] == 1 / 63
    order = [key for key, _ in rrf([["x", "y"], ["y", "x"]])]
    assert order == ["x", "y"]  # equal scores: by key


def test_rrf_weights():
    fused = dict(rrf([["a"], ["b"]], weights=[2.0, 1.0]))
    assert fused["a"] == 2 / 61 and fused["b"] == 1 / 61


def test_min_max_and_convex():
    assert min_max({"a": 2.0, "b": 4.0, "c": 3.0}) == {"a": 0.0, "b": 1.0, "c": 0.5}
    assert min_max({"a": 5.0}) == {"a": 1.0}
    fused = dict(convex([{"a": 1.0, "b": 0.0}, {"b": 10.0, "c": 0.0}], [0.7, 0.3]))
    assert fused == {"a": 0.7, "b": 0.3, "c": 0.0}
