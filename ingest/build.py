"""Records → graph: the link step. Pure functions from de-identified, loaded records to the
nodes and links one source contributes; the pipeline embeds and writes them.

Every node and link a file produces is owned by that file's source id, so re-ingesting a
changed file replaces exactly its old contribution and `spiral forget` removes it.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from itertools import combinations

from pydantic import BaseModel, Field

from graph.ids import stable_id
from graph.model import (
    Chunk,
    Conversation,
    Document,
    Employee,
    Entity,
    Label,
    Link,
    LinkType,
    Message,
    Node,
    Note,
    Provenance,
    Sentence,
    make_id,
)
from graph.text import detect_language, normalize
from ingest.records import (
    LoadedDocument,
    LoadedNote,
    LoadedTranscript,
    TranscriptConversation,
    TranscriptMessage,
)
from ingest.segment import chunk_text, group_exchanges, reply_pairs, split_sentences

__all__ = [
    "SourceGraph",
    "build_document",
    "build_note",
    "build_transcript",
    "employee_id",
    "message_employee",
    "source_id_for",
]


def source_id_for(uri: str) -> str:
    """The id of the source node for a file, whatever its kind (so forget needs only the uri)."""
    return stable_id("src", uri)


class SourceGraph(BaseModel):
    """What one source contributes. `texts` are the nodes to embed and extract from."""

    source_id: str
    nodes: list[Node] = Field(default_factory=list)
    links: list[Link] = Field(default_factory=list)
    # One provenance for every link built here (it is frozen): a file's links are made in
    # one step, and a Provenance each was nearly half the cost of a link (60,000 links: 0.40
    # s of CPU, now 0.22 s). A field: a private attribute is read through pydantic's
    # __getattr__, which was slower than making a new Provenance.
    link_provenance: Provenance | None = None

    def add(self, node: Node) -> Node:
        self.nodes.append(node)
        return node

    def link(
        self, src: str, type_: LinkType, dst: str, weight: float = 1.0, **props: object
    ) -> None:
        self.links.append(
            Link(
                src=src,
                dst=dst,
                type=type_,
                weight=weight,
                source_id=self.source_id,
                props=props,  # type: ignore[arg-type]
                provenance=self.link_provenance or self._new_link_provenance(),
            )
        )

    def _new_link_provenance(self) -> Provenance:
        self.link_provenance = Provenance(source=self.source_id, created_by="ingest.build")
        return self.link_provenance

    @property
    def text_nodes(self) -> list[Chunk | Message]:
        """What entities are extracted from (a sentence's are its chunk's)."""
        return [n for n in self.nodes if isinstance(n, Chunk | Message)]

    @property
    def embedded_nodes(self) -> list[Chunk | Message | Sentence]:
        """What gets a vector: the text nodes and the sentences of chunks."""
        return [n for n in self.nodes if isinstance(n, Chunk | Message | Sentence)]


def _prov(uri: str, step: str = "ingest.load") -> Provenance:
    return Provenance(source=uri, created_by=step, method="loader")


def _add_chunks(graph: SourceGraph, parent: str, uri: str, title: str, text: str) -> None:
    for chunk in chunk_text(text):
        node = Chunk(
            id=f"{parent}#c{chunk.position}",
            text=chunk.text,
            uri=uri,
            title=chunk.title or title,
            position=chunk.position,
            language=chunk.language,
            source_id=graph.source_id,
            content_hash=stable_id("h", chunk.text),
            provenance=_prov(uri, "ingest.segment"),
        )
        graph.add(node)
        graph.link(node.id, LinkType.PART_OF, parent)
        _add_sentences(graph, node)


_BULLET = re.compile(r"^\s*(?:[-*+•]|\d+[.)、]|\|)\s*")
MIN_SENTENCE_CHARS = 4
MAX_SENTENCES = 40  # per chunk


def _add_sentences(graph: SourceGraph, chunk: Chunk) -> None:
    """A vector per sentence (or listed question) of a chunk that has several; the chunk's
    own vector stays for questions that span them."""
    sentences = [
        text
        for raw in split_sentences(chunk.text, chunk.language or None)
        if len(text := _BULLET.sub("", raw).strip(" |")) >= MIN_SENTENCE_CHARS
        and not text.endswith((":", "："))  # a lead-in ("所需材料：") says nothing alone
    ]
    if len(sentences) < 2:
        return
    for position, text in enumerate(dict.fromkeys(sentences[:MAX_SENTENCES])):
        node = Sentence(
            id=f"{chunk.id}#s{position}",
            text=text,
            chunk_id=chunk.id,
            uri=chunk.uri,
            position=position,
            language=chunk.language,
            source_id=graph.source_id,
            content_hash=stable_id("h", text),
            provenance=_prov(chunk.uri, "ingest.segment"),
        )
        graph.add(node)
        graph.link(node.id, LinkType.PART_OF, chunk.id)


def build_document(doc: LoadedDocument, content_hash: str) -> SourceGraph:
    sid = source_id_for(doc.uri)
    graph = SourceGraph(source_id=sid)
    graph.add(
        Document(
            id=sid,
            uri=doc.uri,
            title=doc.title,
            kind=doc.kind,
            language=detect_language(doc.text[:2000]),
            content_hash=content_hash,
            provenance=_prov(doc.uri),
        )
    )
    _add_chunks(graph, sid, doc.uri, doc.title, doc.text)
    return graph


def employee_id(name: str, external_id: str = "") -> str:
    """The Employee node id: from the source system's id when one is known, so two people who
    share a display name stay two nodes; else from the normalised name (unchanged from before,
    so people known only by name keep their ids)."""
    if external_id:
        return make_id(Label.EMPLOYEE, "id", external_id)
    return make_id(Label.EMPLOYEE, normalize(name))


class _People:
    """The Employees one source names: one node per id, the first name seen as `name` and any
    other names seen for the same id as `aliases`."""

    def __init__(self) -> None:
        self.by_id: dict[str, Employee] = {}

    def ref(self, name: str, external_id: str = "") -> str:
        node_id = employee_id(name, external_id)
        node = self.by_id.get(node_id)
        if node is None:
            self.by_id[node_id] = Employee(
                id=node_id, name=name or external_id, external_id=external_id
            )
        elif name and name != node.name and name not in node.aliases:
            node.aliases.append(name)
        return node_id

    def add_to(self, graph: SourceGraph) -> None:
        for node in self.by_id.values():
            graph.add(node)


def message_employee(
    conv: TranscriptConversation, msg: TranscriptMessage
) -> tuple[str, str] | None:
    """(name, source id) of the employee who wrote `msg`, or None. A message without its own id
    that names the conversation's employee is theirs, so takes the conversation's id."""
    if msg.role != "employee" or not (msg.speaker or msg.speaker_id):
        return None
    external = msg.speaker_id
    same_person = bool(msg.speaker) and normalize(msg.speaker) == normalize(conv.employee)
    if not external and conv.employee_id and same_person:
        external = conv.employee_id
    name = msg.speaker or (conv.employee if external and external == conv.employee_id else "")
    return name, external


def build_note(note: LoadedNote, content_hash: str) -> SourceGraph:
    sid = source_id_for(note.uri)
    graph = SourceGraph(source_id=sid)
    graph.add(
        Note(
            id=sid,
            uri=note.uri,
            text=note.text,
            author=note.author,
            title=note.title,
            content_hash=content_hash,
            provenance=Provenance(source=note.uri, created_by=note.author or "ingest.load"),
        )
    )
    _add_chunks(graph, sid, note.uri, note.title, note.text)
    if note.author or note.author_id:
        people = _People()
        graph.link(sid, LinkType.SAID_BY, people.ref(note.author, note.author_id))
        people.add_to(graph)
    return graph


def build_transcript(
    transcript: LoadedTranscript, content_hash: str, customer_ids: Sequence[str]
) -> SourceGraph:
    """`customer_ids[i]` is the de-identified customer node id of conversation i."""
    sid = source_id_for(transcript.uri)
    graph = SourceGraph(source_id=sid)
    graph.add(
        Document(
            id=sid,
            uri=transcript.uri,
            title=transcript.uri,
            kind=f"transcript:{transcript.format}",
            content_hash=content_hash,
            provenance=_prov(transcript.uri),
        )
    )
    people = _People()
    for index, conv in enumerate(transcript.conversations):
        _add_conversation(graph, people, transcript.uri, index, conv, customer_ids[index])
    people.add_to(graph)
    return graph


def _add_conversation(
    graph: SourceGraph,
    people: _People,
    uri: str,
    index: int,
    conv: TranscriptConversation,
    customer_id: str,
) -> None:
    conv_id = make_id(Label.CONVERSATION, uri, conv.id or str(index))
    graph.add(
        Conversation(
            id=conv_id,
            uri=uri,
            title=conv.id or f"{uri} #{index + 1}",
            channel=conv.channel,
            employee=conv.employee,
            customer=customer_id,
            outcome=conv.outcome,
            satisfaction=conv.satisfaction,
            started_at=conv.messages[0].time if conv.messages else "",
            source_id=graph.source_id,
            provenance=_prov(uri),
        )
    )
    graph.link(conv_id, LinkType.PART_OF, graph.source_id)
    graph.link(conv_id, LinkType.WITH_CUSTOMER, customer_id)
    named = conv.employee or conv.employee_id
    handlers = {people.ref(conv.employee, conv.employee_id)} if named else set()
    handlers |= {people.ref(*who) for m in conv.messages if (who := message_employee(conv, m))}
    for handler in sorted(handlers):
        graph.link(conv_id, LinkType.HANDLED_BY, handler)
    _add_messages(graph, people, uri, conv_id, conv, customer_id)
    for n, shared in enumerate(conv.files):
        doc_id = f"{conv_id}#f{n}"
        graph.add(
            Document(
                id=doc_id,
                uri=f"{uri}#{shared.filename}",
                title=shared.filename,
                kind=f"attachment:{shared.fileext}",
                content_hash=shared.md5sum,
                source_id=graph.source_id,
                provenance=_prov(uri),
            )
        )
        graph.link(doc_id, LinkType.ATTACHED_TO, conv_id, sender=shared.sender, time=shared.time)


def _add_messages(
    graph: SourceGraph,
    people: _People,
    uri: str,
    conv_id: str,
    conv: TranscriptConversation,
    customer_id: str,
) -> None:
    messages = conv.messages
    exchanges = group_exchanges(messages)
    ids = [f"{conv_id}#m{i}" for i in range(len(messages))]
    for i, msg in enumerate(messages):
        graph.add(
            Message(
                id=ids[i],
                text=msg.text,
                uri=uri,
                role=msg.role,
                speaker=msg.speaker if msg.role != "customer" else "",
                time=msg.time,
                position=i,
                exchange=exchanges[i],
                language=detect_language(msg.text),
                source_id=graph.source_id,
                content_hash=stable_id("h", msg.text),
                provenance=_prov(uri),
            )
        )
        graph.link(ids[i], LinkType.PART_OF, conv_id)
        if i:
            graph.link(ids[i - 1], LinkType.NEXT, ids[i])
        if who := message_employee(conv, msg):
            graph.link(ids[i], LinkType.SAID_BY, people.ref(*who))
        elif msg.role == "customer":
            graph.link(ids[i], LinkType.SAID_BY, customer_id)
    for answer, question in reply_pairs(messages):
        graph.link(ids[answer], LinkType.REPLIES_TO, ids[question])


def add_mentions(
    graph: SourceGraph, mentions: dict[str, list[str]], entities: dict[str, Entity]
) -> None:
    """MENTIONS links (with counts) from each text node to its entities, and weighted
    CO_OCCURS links between entities named in the same chunk or message."""
    pairs: Counter[tuple[str, str]] = Counter()
    for node_id, entity_ids in mentions.items():
        for entity_id, count in Counter(entity_ids).items():
            graph.link(node_id, LinkType.MENTIONS, entity_id, weight=float(count), count=count)
        pairs.update(combinations(sorted(set(entity_ids)), 2))
    for entity in entities.values():
        graph.add(entity)
    for (a, b), count in pairs.items():
        graph.link(a, LinkType.CO_OCCURS, b, weight=float(count), count=count)
