"""graph.search.fuse with passages: a chunk is judged by its best sentence and as a whole."""

from __future__ import annotations

from graph.model import Label
from graph.search import fuse
from graph.store import Hit


def hit(node_id: str, score: float, label: Label = Label.CHUNK) -> Hit:
    return Hit(id=node_id, label=label, text=node_id, score=score)


def test_a_chunk_that_fits_as_a_whole_beats_one_with_a_single_close_line() -> None:
    # "one-line" has the sentence closest to the words; "whole" is about them throughout.
    lines = [hit("one-line", 0.80), hit("whole", 0.75), hit("other", 0.40)]
    passages = [hit("whole", 0.64), hit("one-line", 0.45), hit("other", 0.30)]
    assert fuse([], lines, 3)[0].id == "one-line"  # by the best line alone
    fused = fuse([], lines, 3, passages=passages)
    assert [h.id for h in fused] == ["whole", "one-line", "other"]


def test_a_message_keeps_its_one_ranking_and_a_chunk_missing_as_a_whole_loses_half() -> None:
    lines = [
        hit("message", 0.60, Label.MESSAGE),
        hit("chunk", 0.59),  # its best sentence; as a whole it is not among the passages
        hit("far", 0.20, Label.MESSAGE),
    ]
    passages = [hit("other-chunk", 0.50), hit("last-chunk", 0.10)]
    scores = {h.id: h.score for h in fuse([], lines, 5, passages=passages)}
    assert scores["message"] == 0.8  # the dense weight times its place: no passage needed
    assert round(scores["chunk"], 6) == 0.39  # half of what its line gives, none as a whole
    assert scores["other-chunk"] == 0.4 and scores["far"] == 0.0


def test_without_passages_the_fusion_is_unchanged() -> None:
    lexical = [hit("a", 9.0), hit("b", 3.0)]
    dense = [hit("b", 0.7), hit("c", 0.5), hit("a", 0.3)]
    for fusion in ("weighted", "rrf"):
        assert fuse(lexical, dense, 3, fusion) == fuse(lexical, dense, 3, fusion, passages=[])
    scores = {h.id: round(h.score, 6) for h in fuse(lexical, dense, 3)}
    assert scores == {"a": 0.2, "b": 0.8, "c": 0.4}
