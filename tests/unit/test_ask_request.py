"""What an ask searches with: the words asked and the conversation's newest turns, short enough
that the model (which reads the first 256 tokens) still sees the words after them."""

from __future__ import annotations

from seci.assist import CONTEXT_CHARS, CONTEXT_TURNS, AskRequest, Turn


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
