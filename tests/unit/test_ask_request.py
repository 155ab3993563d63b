"""What an ask searches with: the words asked and the conversation's newest turns, short enough
that the model (which reads the first 256 tokens) still sees the words after them."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from graph.embedded import EmbeddedStore
from graph.embeddings import Embedder
from graph.text import is_cjk
from seci import assist
from seci.assist import CONTEXT_CHARS, CONTEXT_CJK_COST, CONTEXT_TURNS, AskRequest, Turn


def _ask(words: str, *turns: tuple[str, str]) -> AskRequest:
    return AskRequest(query=words, context=[Turn(role=r, text=t) for r, t in turns])  # type: ignore[arg-type]


def test_short_turns_are_all_kept_oldest_first() -> None:
    ask = _ask(
        "多久到账？",
        ("customer", "我要退款"),
        ("employee", "好的，已为您提交"),
        ("customer", "多久到账？"),  # the words asked: not context
    )
    assert ask.recent() == "我要退款\n好的，已为您提交"


def test_only_the_last_turns_count() -> None:
    turns = [("customer" if i % 2 else "employee", f"turn {i}") for i in range(10)]
    assert ask_lines(_ask("ok?", *turns)) == [f"turn {i}" for i in range(10 - CONTEXT_TURNS, 10)]


def test_long_turns_give_way_to_the_newest() -> None:
    old = "理赔材料需要身份证、保单和发票。" * 20  # 320 characters
    newest = "那我什么时候能收到钱？"
    recent = _ask("多久？", ("employee", old), ("customer", newest)).recent()
    assert recent == newest  # the long older turn does not fit beside it
    assert len(recent) <= CONTEXT_CHARS


def test_one_turn_longer_than_the_room_keeps_its_end() -> None:
    turn = "a" * 100 + "the newest words" + "b" * 400
    recent = _ask("when?", ("customer", turn)).recent()
    assert len(recent) == CONTEXT_CHARS and turn.endswith(recent)


def ask_lines(ask: AskRequest) -> list[str]:
    return ask.recent().split("\n")


def test_the_model_reads_a_quarter_as_many_chinese_characters() -> None:
    """A CJK character is about one token, an English word of ~4 letters about one: the text
    the model encodes keeps CONTEXT_CHARS / CONTEXT_CJK_COST Chinese characters, English as
    many characters as before, and the lexical side keeps the whole context."""
    chinese = "我上周买的羽绒服有点紧，里面穿毛衣更紧了，吊牌还在，也没洗过。" * 8
    ask = _ask("能换大一码吗？", ("customer", chinese))
    encoded = ask.recent(CONTEXT_CJK_COST)
    assert chinese.endswith(encoded) and ask.recent().endswith(encoded)
    assert len(encoded) < len(ask.recent()) == CONTEXT_CHARS
    cjk = sum(1 for c in encoded if is_cjk(c))
    assert cjk * CONTEXT_CJK_COST + len(encoded) - cjk <= CONTEXT_CHARS
    assert (cjk + 1) * CONTEXT_CJK_COST + len(encoded) - cjk > CONTEXT_CHARS - CONTEXT_CJK_COST
    english = _ask("when?", ("customer", "my parcel was returned last week " * 12))
    assert english.recent(CONTEXT_CJK_COST) == english.recent()
    # a mixed conversation: the older Chinese turn no longer fits beside the newest
    mixed = _ask("ok?", ("customer", "退款" * 40), ("employee", "We have sent it back today."))
    assert mixed.recent(CONTEXT_CJK_COST) == "We have sent it back today."
    assert mixed.recent() == "退款" * 40 + "\nWe have sent it back today."


def test_an_ask_encodes_the_short_context_and_searches_words_with_the_whole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, hash_embedder: Embedder
) -> None:
    """`suggest` hands the model the context as it reads it, the lexical search all of it
    (the real search on a real store, watched on its way through)."""
    seen: dict[str, list[str]] = {}
    real = assist.search_sides

    def watched(*args, **kwargs):  # type: ignore[no-untyped-def]
        call = inspect.signature(real).bind(*args, **kwargs).arguments
        seen["dense"], seen["lexical"] = list(call["texts"]), list(call["lexical_texts"])
        return real(*args, **kwargs)

    monkeypatch.setattr(assist, "search_sides", watched)
    store = EmbeddedStore.open(tmp_path / "spiral.sqlite")
    chinese = "我上周买的羽绒服有点紧，里面穿毛衣更紧了，吊牌还在，也没洗过。" * 8
    request = _ask("能换大一码吗？", ("customer", chinese))
    result = assist.suggest(store, hash_embedder, request)
    assert result.hint == assist.EMPTY_STORE_HINT
    encoded = request.recent(CONTEXT_CJK_COST)
    assert seen["dense"] == ["能换大一码吗？", f"{encoded}\n能换大一码吗？"]
    assert seen["lexical"][1] == f"{request.recent()}\n能换大一码吗？"


class _Recording:
    """The hash embedder, noting which texts went to `encode` and which to `encode_context`."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.dim = inner, inner.dim
        self.words: list[str] = []
        self.contexts: list[str] = []

    def encode(self, texts):  # type: ignore[no-untyped-def]
        self.words += texts
        return self.inner.encode(texts)

    def encode_context(self, texts):  # type: ignore[no-untyped-def]
        self.contexts += texts
        return self.inner.encode(texts)


def test_the_context_goes_to_the_context_encoder_and_the_words_do_not(
    tmp_path: Path, hash_embedder: Embedder
) -> None:
    """The conversation so far is encoded by `encode_context` (int8 on the real model), the
    words asked by `encode` (float, as the stored vectors); without a context, no context."""
    store = EmbeddedStore.open(tmp_path / "spiral.sqlite")
    embedder = _Recording(hash_embedder)
    request = _ask("能换大一码吗？", ("customer", "我上周买的羽绒服有点紧"))
    assist.suggest(store, embedder, request)
    assert embedder.words == ["能换大一码吗？"]
    assert embedder.contexts == ["我上周买的羽绒服有点紧\n能换大一码吗？"]
    assist.suggest(store, embedder, "多久到账？")
    assert embedder.words == ["能换大一码吗？", "多久到账？"]
    assert len(embedder.contexts) == 1
