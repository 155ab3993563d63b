"""Contact structuring: business cards and e-mail signatures a customer shared become fields
of the Customer node — de-identified values and keyed hashes only, never the raw values."""

from __future__ import annotations

import re

from ingest.deidentify import Deidentifier
from ingest.records import ContactCard, TranscriptConversation

__all__ = ["customer_fields", "parse_signature"]

_CLOSING = re.compile(
    r"^\s*(best regards|kind regards|regards|best|thanks|thank you|cheers|sincerely|此致|祝好|谢谢)"
    r"[,，!！.。]?\s*$",
    re.I,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"(\+?\d[\d\s\-()]{6,}\d)")
_COMPANY = re.compile(
    r"\b(inc|ltd|llc|co|corp|corporation|company|group|gmbh|limited)\b\.?|公司|集团|有限|事务所|工作室",
    re.I,
)
_TITLE = re.compile(
    r"\b(manager|director|engineer|officer|head|lead|president|founder|buyer|consultant|specialist)\b"
    r"|经理|总监|主管|专员|总裁|创始人|采购|顾问",
    re.I,
)
_LABELLED = re.compile(r"^\s*(tel|phone|mobile|cell|email|e-mail|电话|手机|邮箱)\s*[:：]\s*", re.I)


def _split_title_company(line: str, card: ContactCard) -> None:
    parts = [p.strip() for p in re.split(r"[,，|/]| at ", line) if p.strip()]
    for part in parts:
        if _COMPANY.search(part) and not card.company:
            card.company = part
        elif _TITLE.search(part) and not card.title:
            card.title = part


def parse_signature(text: str) -> ContactCard | None:
    """The contact block at the end of a message (after a closing such as "Best regards"),
    when it holds at least a phone or an e-mail. Returns None when there is none."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    start = next((i + 1 for i, line in enumerate(lines) if _CLOSING.match(line)), None)
    block = lines[start:] if start is not None else lines[-5:]
    if len(block) < 2 or not any(_EMAIL.search(x) or _PHONE.search(x) for x in block):
        return None
    card = ContactCard()
    for line in block:
        value = _LABELLED.sub("", line)
        if (m := _EMAIL.search(value)) and not card.email:
            card.email = m.group(0)
        elif (
            (m := _PHONE.search(value)) and not card.phone and sum(c.isdigit() for c in value) >= 7
        ):
            card.phone = m.group(0)
        elif _COMPANY.search(line) or _TITLE.search(line):
            _split_title_company(line, card)
        elif not card.name and len(line) <= 40 and not any(c.isdigit() for c in line):
            card.name = line
    return card


def _card_fields(card: ContactCard, deid: Deidentifier) -> dict[str, str]:
    fields: dict[str, str] = {}
    for name in ("company", "title"):
        value = getattr(card, name)
        if value:
            fields[name] = deid.redact(value).text
    for name in ("name", "phone", "email", "address", "userid"):
        value = getattr(card, name)
        if value:
            fields[f"{name}_hash"] = deid.key_hash_text(value)
    return fields


def customer_fields(conv: TranscriptConversation, deid: Deidentifier) -> dict[str, str]:
    """Fields from the cards in the conversation and signatures in the customer's messages."""
    cards = list(conv.cards)
    cards += [
        card
        for m in conv.messages
        if m.role == "customer" and (card := parse_signature(m.text)) is not None
    ]
    fields: dict[str, str] = {}
    for card in cards:
        fields.update(_card_fields(card, deid))
    return fields
