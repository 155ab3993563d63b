"""The knowledge model: typed nodes and links, each with provenance.

Why one flat record per node: both stores keep node properties as scalars (or lists of
scalars), so every model flattens to a record with `to_record()` and comes back with
`node_from_record()`. Backends never need to know the concrete classes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache, lru_cache
from typing import Any, ClassVar, Literal, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from graph.ids import content_hash, stable_id

__all__ = [
    "NODE_TYPES",
    "ROLES",
    "SOURCE_LABELS",
    "TEXT_LABELS",
    "Account",
    "ApiKey",
    "Chunk",
    "Conversation",
    "Customer",
    "Document",
    "Employee",
    "Entity",
    "EntityKind",
    "ItemKind",
    "ItemStatus",
    "KnowledgeItem",
    "Label",
    "Link",
    "LinkType",
    "Message",
    "Node",
    "Note",
    "Provenance",
    "ResponseStat",
    "Role",
    "Sentence",
    "make_id",
    "node_from_record",
    "record_digest",
]


class Label(StrEnum):
    """Node labels; the only labels a store ever writes (never taken from user text)."""

    DOCUMENT = "Document"
    CHUNK = "Chunk"
    CONVERSATION = "Conversation"
    MESSAGE = "Message"
    NOTE = "Note"
    EMPLOYEE = "Employee"
    CUSTOMER = "Customer"
    ENTITY = "Entity"
    KNOWLEDGE_ITEM = "KnowledgeItem"
    SENTENCE = "Sentence"
    LEARNING_PATH = "LearningPath"
    CARD = "Card"
    MENTORING = "Mentoring"
    ACCOUNT = "Account"
    API_KEY = "ApiKey"


class LinkType(StrEnum):
    """Relationship types; the allow-list for every link a store writes."""

    PART_OF = "PART_OF"
    MENTIONS = "MENTIONS"
    SAID_BY = "SAID_BY"
    DERIVED_FROM = "DERIVED_FROM"
    SIMILAR_TO = "SIMILAR_TO"
    COMPLEMENTS = "COMPLEMENTS"
    CONTRADICTS = "CONTRADICTS"
    PREREQUISITE_OF = "PREREQUISITE_OF"
    USED_IN = "USED_IN"
    REPLIES_TO = "REPLIES_TO"
    NEXT = "NEXT"
    CO_OCCURS = "CO_OCCURS"
    HANDLED_BY = "HANDLED_BY"
    WITH_CUSTOMER = "WITH_CUSTOMER"
    ATTACHED_TO = "ATTACHED_TO"
    SAME_AS = "SAME_AS"  # a person's decision: two Employee nodes are one person
    DISMISSED = "DISMISSED"  # a curator turned down a proposal about this pair


class EntityKind(StrEnum):
    PRODUCT = "product"
    POLICY = "policy"
    OBJECTION = "objection"
    NEED = "need"
    COMPETITOR = "competitor"
    TOPIC = "topic"
    MONEY = "money"
    DURATION = "duration"
    PERCENT = "percent"
    DATE = "date"
    POLICY_TERM = "policy_term"


class ItemKind(StrEnum):
    TALK_TRACK = "talk_track"
    FAQ = "faq"
    FACT = "fact"


class ItemStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    REJECTED = "rejected"  # a draft a knowledge manager turned down
    RETIRED = "retired"


def _now() -> datetime:
    return datetime.now(UTC)


class Provenance(BaseModel):
    """Where a node or link came from, who or what made it, when, and how sure we are."""

    model_config = ConfigDict(frozen=True)

    source: str = ""  # uri of the file or id of the node it came from
    created_by: str = "spiral"  # a person's id, or a pipeline step such as "ingest.extract"
    created_at: datetime = Field(default_factory=_now)
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    method: str = ""  # e.g. "gazetteer", "rule:money", "keyword:tfidf", "manual"


Scalar = str | int | float | bool | None


class Node(BaseModel):
    """Base of every node. `id` is stable (derived from what identifies the thing)."""

    model_config = ConfigDict(use_enum_values=False)

    label: ClassVar[Label]
    id: str
    provenance: Provenance = Field(default_factory=Provenance)
    # The source (Document / Conversation / Note id) that owns this node; owned nodes are
    # deleted with their source. Empty for shared nodes (entities, people, items).
    source_id: str = ""
    # Pinned nodes (curated, approved, from the gazetteer) survive orphan clean-up.
    pinned: bool = False
    content_hash: str = ""
    embedding: list[float] | None = None
    # Kept by the store, never written by callers: the optimistic-concurrency version (each
    # change adds one) and the time of the last change.
    version: int = 0
    updated_at: str = ""

    def search_text(self) -> str:
        """Text used for lexical and vector search; empty when the node is not searchable."""
        return ""

    def index_text(self) -> str:
        """The terms the full-text index holds for this node. Knowledge (document chunks and
        their sentences, items) is also indexed by single Chinese characters: on paraphrased
        questions that raised Recall@3 from 0.65 to 0.78, while on short chat messages it
        only added noise (benchmarks/assist_eval.py)."""
        from graph.text import segment_for_index

        text = self.search_text()
        return segment_for_index(text, self.label in CHARACTER_LABELS) if text.strip() else ""

    def to_record(self) -> dict[str, Any]:
        """Flatten to scalars: provenance as prov_* fields, dict fields as JSON strings.
        The store's own bookkeeping (version, updated_at) is not part of the record."""
        record: dict[str, Any] = {"label": self.label.value}
        exclude = {"provenance", "version", "updated_at"}
        structured = _json_fields(type(self))
        for name, value in self.model_dump(mode="json", exclude=exclude).items():
            record[name] = _FIELD_JSON.encode(value) if name in structured else value
        record.update(_provenance_fields(self.provenance))
        return record


class Document(Node):
    label: ClassVar[Label] = Label.DOCUMENT
    uri: str
    title: str = ""
    kind: str = "text"  # markdown, text, html, pdf, docx
    language: str = ""


class Chunk(Node):
    label: ClassVar[Label] = Label.CHUNK
    text: str
    uri: str = ""
    title: str = ""
    position: int = 0
    language: str = ""

    def search_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


class Sentence(Node):
    """One sentence or question of a chunk with its own vector. A chunk that lists the many
    ways customers ask one thing (an FAQ with its 相似问法) is found by its best sentence,
    not by one vector that blurs them all; search hands the chunk back (`chunk_id`)."""

    label: ClassVar[Label] = Label.SENTENCE
    text: str
    chunk_id: str
    uri: str = ""
    position: int = 0
    language: str = ""

    def search_text(self) -> str:
        return self.text


class Conversation(Node):
    label: ClassVar[Label] = Label.CONVERSATION
    uri: str
    title: str = ""
    channel: str = ""
    employee: str = ""
    customer: str = ""
    outcome: str = ""
    satisfaction: float | None = None
    started_at: str = ""
    owner: str = ""  # decided: the employee who carries an open conversation on (handover)


class Message(Node):
    label: ClassVar[Label] = Label.MESSAGE
    text: str
    uri: str = ""
    role: Literal["customer", "employee", "system"] = "customer"
    speaker: str = ""
    time: str = ""
    position: int = 0
    exchange: int = 0
    language: str = ""

    def search_text(self) -> str:
        return self.text


class Note(Node):
    label: ClassVar[Label] = Label.NOTE
    uri: str
    text: str = ""
    author: str = ""
    title: str = ""
    owner: str = ""  # decided: who looks after it now (the author stays the author)


class Employee(Node):
    """A person on the organisation's side. The id comes from the source system's id
    (`external_id`) when one is known, so two people with the same name stay two nodes; without
    one a person is known by name. One person seen under several ids is joined by a SAME_AS link
    that an admin decides; ingest never merges people on its own."""

    label: ClassVar[Label] = Label.EMPLOYEE
    name: str = ""  # display name (the first one seen)
    team: str = ""
    external_id: str = ""  # id in the source system (WeCom user id, CRM id, `email:HASH`)
    aliases: list[str] = Field(default_factory=list)  # other display names seen for this id


class Customer(Node):
    label: ClassVar[Label] = Label.CUSTOMER
    name: str = ""  # de-identified display name
    key_hash: str = ""  # keyed hash of the raw identifier, links one customer across sources
    fields: dict[str, str] = Field(default_factory=dict)  # de-identified contact fields
    # Where each field's value was observed: "URI@TIME" (the conversation's start time, may be
    # empty), so the newest value per field wins across conversations and can be traced.
    field_sources: dict[str, str] = Field(default_factory=dict)
    owner: str = ""  # decided: the employee who looks after this customer (handover)


class Entity(Node):
    label: ClassVar[Label] = Label.ENTITY
    name: str
    kind: EntityKind = EntityKind.TOPIC
    aliases: list[str] = Field(default_factory=list)
    normalized: str = ""

    def search_text(self) -> str:
        return " ".join([self.name, *self.aliases])


class ResponseStat(BaseModel):
    """One way employees answered a situation, with how the conversations it was used in
    ended: counts, never a bare rate (1 of 1 is not 100 %)."""

    text: str
    successes: int = 0
    trials: int = 0  # conversations with a known outcome
    evidence: int = 0  # conversations it was said in, outcome known or not
    score: float = 0.0  # success estimate shrunk towards the situation's rate
    speakers: list[str] = Field(default_factory=list)  # Employee ids
    message_ids: list[str] = Field(default_factory=list)  # first message of each turn


class KnowledgeItem(Node):
    label: ClassVar[Label] = Label.KNOWLEDGE_ITEM
    kind: ItemKind = ItemKind.TALK_TRACK
    status: ItemStatus = ItemStatus.DRAFT
    title: str = ""
    text: str
    situation: str = ""
    outcome: str = ""
    uri: str = ""
    # Decided by people (curation), filterable on both stores.
    owner: str = ""
    team: str = ""
    expires_at: str = ""  # ISO-8601; empty: never expires
    verified_at: str = ""
    # What mining observed (talk tracks): responses best first, responses to avoid (linked to
    # bad outcomes: shown to curators and trainers, never suggested), and the counts.
    responses: list[ResponseStat] = Field(default_factory=list)
    avoid: list[ResponseStat] = Field(default_factory=list)
    evidence: int = 0  # situations (customer turns) it was mined from
    uses: int = 0  # times an employee said they used it (feedback)
    successes: int = 0  # mined: conversations it was said in that ended well
    trials: int = 0  # mined: those with a known outcome
    # What employees reported after using it (`spiral feedback`): decided, never re-mined.
    feedback_successes: int = 0
    feedback_trials: int = 0
    # Conversations it was used in whose outcome is not known yet (the conversation's id, or
    # its id in the source when it is not ingested yet) → who used it. Settled when the
    # conversation arrives with an outcome (seci.feedback.settle_outcomes).
    awaiting: dict[str, str] = Field(default_factory=dict)
    confidence: float = 0.0

    @property
    def total_successes(self) -> int:
        return self.successes + self.feedback_successes

    @property
    def total_trials(self) -> int:
        return self.trials + self.feedback_trials

    # The situation profile mining matches new conversations against: content words and
    # entity ids with how many situations named them (MENTIONS links mirror `entities`).
    terms: dict[str, int] = Field(default_factory=dict)
    entities: dict[str, int] = Field(default_factory=dict)
    intents: dict[str, int] = Field(default_factory=dict)  # the objections and needs among them
    # Who made it: "seci.externalize", a person's id, or "merge".
    externalized_by: str = ""
    approved_by: str = ""
    merged_from: list[str] = Field(default_factory=list)
    merged_into: str = ""

    def search_text(self) -> str:
        return "\n".join(p for p in (self.title, self.situation, self.text) if p)


class LearningPath(Node):
    """A trainer's ordered path through knowledge items (seci/internalize.py): the order
    follows PREREQUISITE_OF links; assignees are employee ids."""

    label: ClassVar[Label] = Label.LEARNING_PATH
    title: str
    topic: str = ""
    items: list[str] = Field(default_factory=list)  # item ids, in learning order
    created_by: str = ""
    assignees: list[str] = Field(default_factory=list)


class Card(Node):
    """One employee's spaced-review schedule for one item (FSRS), kept in the store so it
    survives restarts; `state` is the fsrs library's own card record."""

    label: ClassVar[Label] = Label.CARD
    employee: str
    item: str
    due: str = ""  # ISO-8601 UTC
    reviews: int = 0
    last_rating: str = ""
    state: dict[str, Any] = Field(default_factory=dict)


class Mentoring(Node):
    """Know-how passed person to person: a learner shadowed (watched) a colleague, or was
    coached by them, on a topic (seci/internalize.py)."""

    label: ClassVar[Label] = Label.MENTORING
    mentor: str  # employee id
    learner: str  # employee id
    topic: str
    kind: Literal["shadowed", "coached"] = "shadowed"
    at: str = ""  # ISO-8601
    note: str = ""


Role = Literal["employee", "knowledge_manager", "trainer", "admin"]
ROLES: tuple[Role, ...] = ("employee", "knowledge_manager", "trainer", "admin")


class Account(Node):
    """A person (or system) allowed to use the API, kept in the store so every API replica
    shares it (api/accounts.py). Never searchable: no search text, no embedding."""

    label: ClassVar[Label] = Label.ACCOUNT
    name: str
    role: Role = "employee"
    team: str = ""
    employee_id: str = ""  # the Employee node this person is, when they are one
    disabled: bool = False


class ApiKey(Node):
    """One API key of an account: only the SHA-256 of the key is kept, never the key. The id
    comes from the key's public prefix, so a presented key is found without a scan."""

    label: ClassVar[Label] = Label.API_KEY
    account_id: str
    prefix: str
    secret_hash: str
    created_at: str = ""  # ISO-8601 UTC
    revoked: bool = False
    revoked_at: str = ""


NODE_TYPES: dict[Label, type[Node]] = {
    cls.label: cls
    for cls in (
        Document,
        Chunk,
        Sentence,
        Conversation,
        Message,
        Note,
        Employee,
        Customer,
        Entity,
        KnowledgeItem,
        LearningPath,
        Card,
        Mentoring,
        Account,
        ApiKey,
    )
}
SOURCE_LABELS = frozenset({Label.DOCUMENT, Label.CONVERSATION, Label.NOTE})
# Labels indexed by single Chinese characters too (Node.index_text).
CHARACTER_LABELS = frozenset({Label.CHUNK, Label.SENTENCE, Label.KNOWLEDGE_ITEM})
# Labels whose nodes carry searchable text (and an embedding).
TEXT_LABELS = frozenset({Label.CHUNK, Label.SENTENCE, Label.MESSAGE, Label.KNOWLEDGE_ITEM})


@cache
def _json_fields(cls: type[Node]) -> frozenset[str]:
    """Fields a flat record keeps as JSON text: dicts and lists of models."""
    names = set()
    for name, field in cls.model_fields.items():
        annotation = field.annotation
        args = get_args(annotation)
        if get_origin(annotation) is dict or (
            get_origin(annotation) is list
            and args
            and isinstance(args[0], type)
            and issubclass(args[0], BaseModel)
        ):
            names.add(name)
    return frozenset(names)


def node_from_record(record: dict[str, Any]) -> Node:
    """Rebuild a typed node from the flat record a store returns."""
    cls = NODE_TYPES[Label(record["label"])]
    fields = cls.model_fields  # a class property: read once, not once per key
    data: dict[str, Any] = {}
    prov: dict[str, Any] = {}
    for name, value in record.items():
        if name.startswith("prov_"):
            prov[name[5:]] = value
        elif name in fields:
            data[name] = value
    for name in _json_fields(cls):
        if isinstance(data.get(name), str):
            data[name] = json.loads(data[name])
    data["provenance"] = Provenance(**prov) if prov else Provenance()
    return cls.model_validate(data)


class Link(BaseModel):
    """A typed, directed link. Identity is (src, type, dst, source_id): one link per source,
    so forgetting a source removes exactly what it contributed."""

    src: str
    dst: str
    type: LinkType
    weight: float = 1.0
    source_id: str = ""
    props: dict[str, Scalar] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)
    # Kept by the store for links changed one at a time (optimistic concurrency); not part
    # of the record a caller writes.
    version: int = 0

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.src, self.type.value, self.dst, self.source_id)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "weight": self.weight,
            "source_id": self.source_id,
            "props": _FIELD_JSON.encode(self.props),
        }
        record.update(_provenance_fields(self.provenance))
        return record

    @classmethod
    def from_record(cls, src: str, type_: str, dst: str, record: dict[str, Any]) -> Link:
        prov = {k[5:]: v for k, v in record.items() if k.startswith("prov_")}
        return cls(
            src=src,
            dst=dst,
            type=LinkType(type_),
            weight=record.get("weight", 1.0),
            source_id=record.get("source_id", ""),
            props=json.loads(record.get("props") or "{}"),
            provenance=Provenance(**prov) if prov else Provenance(),
            version=record.get("version") or 0,
        )


def make_id(label: Label, *parts: str) -> str:
    """Stable id: label prefix plus a hash of what identifies the thing."""
    return stable_id(label.value.lower(), *parts)


def text_hash(text: str) -> str:
    return content_hash(text)


def record_digest(record: dict[str, Any]) -> str:
    """Digest of a flat record: equal digests mean an upsert would change nothing.

    The creation time is left out, so re-deriving the same thing later is not a change (the
    first `created_at` is kept)."""
    content = {k: v for k, v in record.items() if k != "prov_created_at"}
    if isinstance(content.get("embedding"), list):  # hashing the bytes is ~50x cheaper
        content["embedding"] = content_hash(np.asarray(content["embedding"], np.float32).tobytes())
    return content_hash(_DIGEST_JSON.encode(content))


# json.dumps with options builds an encoder per call: a third of a small record's encoding,
# and an import digests every node and link it writes (~76,000 for 994 chat files).
_DIGEST_JSON = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str)
_FIELD_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=4096)
def _provenance_fields(provenance: Provenance) -> dict[str, Any]:
    """A provenance as a record's prov_* fields. Kept (for reading only): the links and
    nodes of one file share a few provenances, ~140,000 records in 994 chat files."""
    return {f"prov_{k}": v for k, v in provenance.model_dump(mode="json").items()}
