"""Units of work and the event log: how knowledge changes one decision at a time.

Why one engine for both stores: a change (approve, edit, merge, link, undo) is a list of small
operations on nodes and links. This module applies them against a handful of per-backend
primitives (`TxPort`) inside the backend's transaction, records the state of every node and
link it touched before and after, and appends one event with them. The same records make
undo exact: the inverse of an event is "put every touched thing back as it was", refused when
something changed since.

Observed versus decided: ingest writes a node's observed record; a `set` operation is a
decision, kept apart (`NodeState.decided`) and overlaid on whatever ingest writes later. The
observed value a decision hides is kept (`NodeState.observed`) so clearing the decision
restores it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field, SerializeAsAny, ValidationError

from graph.model import NODE_TYPES, Label, Link, LinkType, Node, node_from_record, record_digest

__all__ = [
    "AddLink",
    "ClearFields",
    "Conflict",
    "CreateNode",
    "DeleteNode",
    "Event",
    "EventDraft",
    "LinkKey",
    "NodeState",
    "NotFound",
    "Observe",
    "Op",
    "RemoveLink",
    "Repoint",
    "SetFields",
    "StoredEvent",
    "TxPort",
    "UpdateLink",
    "apply_ops",
    "decode_cursor",
    "encode_cursor",
    "link_key_text",
    "now_iso",
    "overlay",
    "summary_event",
    "undo_event",
]

LinkKey = tuple[str, str, str, str]  # (src, type, dst, source_id)
# Fields no decision may set: identity, ownership by a source, store bookkeeping.
PROTECTED_FIELDS = frozenset(
    {"id", "label", "source_id", "content_hash", "embedding", "version", "updated_at"}
)


class Conflict(RuntimeError):
    """A change was based on a stale read, or an undo would overwrite later changes."""


class NotFound(KeyError):
    """The node, link or event named does not exist."""

    def __str__(self) -> str:  # KeyError quotes its message; say it plainly
        return str(self.args[0]) if self.args else "not found"


def now_iso() -> str:
    """UTC time as ISO-8601 with microseconds: sorts as text on both stores."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


# -- operations ---------------------------------------------------------------------------


class SetFields(BaseModel):
    """Decide some fields of a node (status, an edit, owner, team, verification date...)."""

    op: Literal["set"] = "set"
    id: str
    fields: dict[str, Any]
    expected_version: int | None = None  # the version the caller read; stale → Conflict


class ClearFields(BaseModel):
    """Drop decisions: the fields go back to what ingest observed."""

    op: Literal["clear"] = "clear"
    id: str
    fields: list[str]
    expected_version: int | None = None


class CreateNode(BaseModel):
    op: Literal["create"] = "create"
    node: SerializeAsAny[Node]


class Observe(BaseModel):
    """Write what a pipeline derived (mining), like ingest does: people's decisions about the
    node stay laid on top, so re-mining never undoes an approval or an edit. Writing the same
    node again changes nothing."""

    op: Literal["observe"] = "observe"
    node: SerializeAsAny[Node]


class DeleteNode(BaseModel):
    """Delete one node and every link at it."""

    op: Literal["delete"] = "delete"
    id: str
    expected_version: int | None = None


class AddLink(BaseModel):
    op: Literal["link"] = "link"
    link: Link


class UpdateLink(BaseModel):
    """Change the weight or props of one link, given the version the caller read."""

    op: Literal["relink"] = "relink"
    src: str
    type: LinkType
    dst: str
    source_id: str = ""
    weight: float | None = None
    props: dict[str, str | int | float | bool | None] | None = None
    expected_version: int | None = None

    @property
    def key(self) -> LinkKey:
        return (self.src, LinkType(self.type).value, self.dst, self.source_id)


class RemoveLink(BaseModel):
    op: Literal["unlink"] = "unlink"
    src: str
    type: LinkType
    dst: str
    source_id: str = ""


class Repoint(BaseModel):
    """Move every link at `from_id` (of the given types, or all) to `to_id` (a merge)."""

    op: Literal["repoint"] = "repoint"
    from_id: str
    to_id: str
    link_types: list[LinkType] | None = None


Op = Annotated[
    SetFields
    | ClearFields
    | CreateNode
    | Observe
    | DeleteNode
    | AddLink
    | UpdateLink
    | RemoveLink
    | Repoint,
    Field(discriminator="op"),
]


# -- states and events --------------------------------------------------------------------


class NodeState(BaseModel):
    """Everything a store keeps for one node: the effective record (observed overlaid with
    decisions), the decisions, the observed values they hide, the embedding, the version."""

    label: Label
    record: dict[str, Any]
    decided: dict[str, Any] = Field(default_factory=dict)
    observed: dict[str, Any] = Field(default_factory=dict)
    embedding: list[float] | None = None
    version: int = 0
    updated_at: str = ""
    digest: str = ""  # of the observed record: unchanged re-ingest writes nothing

    def node(self) -> Node:
        return node_from_record(
            {**self.record, "version": self.version, "updated_at": self.updated_at}
        )

    def observed_node(self) -> Node:
        """The node as ingest last observed it: decided fields back to their observed values."""
        record = {k: v for k, v in self.record.items() if k not in self.decided}
        record.update({k: v for k, v in self.observed.items() if k in self.decided})
        node = node_from_record({**record, "version": self.version, "updated_at": self.updated_at})
        node.embedding = self.embedding
        return node


class Event(BaseModel):
    """One entry of the append-only log (the shape `spiral events --json` prints)."""

    seq: int
    at: str
    actor: str
    action: str
    ids: list[str] = Field(default_factory=list)
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""


class EventDraft(BaseModel):
    """An event before the store gives it its sequence number. `states` holds the full
    before/after of every touched node and link (what undo needs); None: not undoable."""

    at: str
    actor: str
    action: str
    ids: list[str] = Field(default_factory=list)
    before: dict[str, Any] = Field(default_factory=dict)
    after: dict[str, Any] = Field(default_factory=dict)
    reason: str = ""
    states: dict[str, Any] | None = None


class StoredEvent(Event):
    states: dict[str, Any] | None = None

    @classmethod
    def from_stored(
        cls,
        seq: int,
        at: str,
        actor: str,
        action: str,
        ids: list[str],
        before: str,
        after: str,
        reason: str | None,
        states: str | None,
    ) -> StoredEvent:
        """An event as both stores keep it: before, after and states as JSON text."""
        return cls(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            ids=list(ids or []),
            before=json.loads(before),
            after=json.loads(after),
            reason=reason or "",
            states=json.loads(states) if states else None,
        )

    def public(self) -> Event:
        return Event.model_validate(self.model_dump(exclude={"states"}))


class TxPort(Protocol):
    """What a backend offers the engine inside one open transaction."""

    def node_state(self, node_id: str) -> NodeState | None: ...

    def put_node_state(self, node_id: str, state: NodeState | None) -> None: ...

    def links_at(self, node_id: str) -> list[tuple[LinkKey, dict[str, Any]]]: ...

    def link_state(self, key: LinkKey) -> dict[str, Any] | None: ...

    def put_link_state(self, key: LinkKey, record: dict[str, Any] | None) -> None: ...

    def append_event(self, draft: EventDraft) -> Event: ...

    def stored_event(self, seq: int) -> StoredEvent | None: ...

    def first_event_touching(self, node_id: str, after_seq: int) -> Event | None: ...


def overlay(
    record: dict[str, Any], decided: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What ingest observed with people's decisions laid on top, and the observed values
    those decisions hide (kept so clearing a decision restores them)."""
    hidden = {name: record[name] for name in decided if name in record}
    return {**record, **decided}, hidden


def link_key_text(key: LinkKey) -> str:
    src, type_, dst, source_id = key
    return f"{src}-[{type_}]->{dst}" + (f"@{source_id}" if source_id else "")


def summary_event(actor: str, action: str, ids: Sequence[str], after: dict[str, Any]) -> EventDraft:
    """A source written or forgotten by ingest: one event per source, not undoable (forget
    or re-ingest the source instead)."""
    return EventDraft(at=now_iso(), actor=actor, action=action, ids=list(ids), after=after)


# -- the unit of work ---------------------------------------------------------------------

_ABSENT = object()


class _Work:
    """Applies operations through a TxPort, remembering the first-seen and current state of
    every node and link it touches."""

    def __init__(self, tx: TxPort) -> None:
        self.tx = tx
        self.at = now_iso()
        self.nodes_before: dict[str, NodeState | None] = {}
        self.nodes_now: dict[str, NodeState | None] = {}
        self.links_before: dict[LinkKey, dict[str, Any] | None] = {}
        self.links_now: dict[LinkKey, dict[str, Any] | None] = {}

    # reads and writes with memory of the first state
    def node(self, node_id: str) -> NodeState | None:
        if node_id not in self.nodes_now:
            state = self.tx.node_state(node_id)
            self.nodes_before[node_id] = state
            self.nodes_now[node_id] = state
        return self.nodes_now[node_id]

    def existing(self, node_id: str, expected_version: int | None = None) -> NodeState:
        state = self.node(node_id)
        if state is None:
            raise NotFound(f"no node with id {node_id!r}")
        if expected_version is not None and expected_version != state.version:
            raise Conflict(
                f"node {node_id!r} is at version {state.version}, not {expected_version}: "
                "it changed since it was read; read it again and retry"
            )
        return state

    def put_node(self, node_id: str, state: NodeState | None) -> None:
        self.node(node_id)
        if state is not None:
            state.updated_at = self.at
        self.tx.put_node_state(node_id, state)
        self.nodes_now[node_id] = state

    def link(self, key: LinkKey) -> dict[str, Any] | None:
        if key not in self.links_now:
            record = self.tx.link_state(key)
            self.links_before[key] = record
            self.links_now[key] = record
        return self.links_now[key]

    def put_link(self, key: LinkKey, record: dict[str, Any] | None) -> None:
        self.link(key)
        self.tx.put_link_state(key, record)
        self.links_now[key] = record

    def links_at(self, node_id: str) -> list[tuple[LinkKey, dict[str, Any]]]:
        found = self.tx.links_at(node_id)
        for key, record in found:
            self.links_before.setdefault(key, record)
            self.links_now.setdefault(key, record)
        return found

    # operations
    def apply(self, op: BaseModel) -> None:
        handler = getattr(self, f"_op_{op.op}")  # type: ignore[attr-defined]
        handler(op)

    def _op_set(self, op: SetFields) -> None:
        state = self.existing(op.id, op.expected_version).model_copy(deep=True)
        for name, value in op.fields.items():
            _check_field(state.label, name)
            if name not in state.decided and name in state.record:
                state.observed[name] = state.record[name]
            state.decided[name] = value
            state.record[name] = value
        state.record = _validated(state)
        state.decided = {name: state.record.get(name) for name in state.decided}
        state.version += 1
        self.put_node(op.id, state)

    def _op_clear(self, op: ClearFields) -> None:
        state = self.existing(op.id, op.expected_version).model_copy(deep=True)
        for name in op.fields:
            if name not in state.decided:
                continue
            del state.decided[name]
            value = state.observed.pop(name, _ABSENT)
            if value is _ABSENT:
                state.record.pop(name, None)
            else:
                state.record[name] = value
        state.record = _validated(state)
        state.version += 1
        self.put_node(op.id, state)

    def _op_create(self, op: CreateNode) -> None:
        if self.node(op.node.id) is not None:
            raise Conflict(f"a node with id {op.node.id!r} exists already")
        record = op.node.to_record()
        embedding = record.pop("embedding", None)
        state = NodeState(
            label=op.node.label,
            record=record,
            embedding=embedding,
            version=1,
            digest=record_digest(record),
        )
        self.put_node(op.node.id, state)

    def _op_observe(self, op: Observe) -> None:
        record = op.node.to_record()
        digest = record_digest(record)
        embedding = record.pop("embedding", None)
        state = self.node(op.node.id)
        if state is None:
            state = NodeState(label=op.node.label, record=record, embedding=embedding, version=0)
        elif state.label is not op.node.label:
            raise Conflict(f"node {op.node.id!r} is a {state.label.value}, not a {op.node.label}")
        elif state.digest == digest:
            return
        else:
            state = state.model_copy(deep=True)
            state.record, state.observed = overlay(record, state.decided)
            state.embedding = embedding
        state.digest = digest
        state.version += 1
        self.put_node(op.node.id, state)

    def _op_delete(self, op: DeleteNode) -> None:
        self.existing(op.id, op.expected_version)
        for key, _ in self.links_at(op.id):
            self.put_link(key, None)
        self.put_node(op.id, None)

    def _op_link(self, op: AddLink) -> None:
        for end in (op.link.src, op.link.dst):
            if self.node(end) is None:
                raise NotFound(f"cannot link: no node with id {end!r}")
        current = self.link(op.link.key)
        record = op.link.to_record()
        if current is not None and _same_link(current, record):
            return  # the same link again: nothing changes
        version = (current or {}).get("version", 0) + 1
        self.put_link(op.link.key, {**record, "version": version})

    def _op_relink(self, op: UpdateLink) -> None:
        record = self.link(op.key)
        if record is None:
            raise NotFound(f"no link {link_key_text(op.key)}")
        version = record.get("version", 0)
        if op.expected_version is not None and op.expected_version != version:
            raise Conflict(
                f"link {link_key_text(op.key)} is at version {version}, not "
                f"{op.expected_version}: it changed since it was read; read it again and retry"
            )
        record = dict(record)
        if op.weight is not None:
            record["weight"] = op.weight
        if op.props is not None:
            record["props"] = json.dumps(op.props, ensure_ascii=False)
        record["version"] = version + 1
        self.put_link(op.key, record)

    def _op_unlink(self, op: RemoveLink) -> None:
        key = (op.src, LinkType(op.type).value, op.dst, op.source_id)
        if self.link(key) is None:
            raise NotFound(f"no link {link_key_text(key)}")
        self.put_link(key, None)

    def _op_repoint(self, op: Repoint) -> None:
        if op.from_id == op.to_id:
            raise ValueError("cannot re-point a node's links to itself")
        self.existing(op.from_id)
        self.existing(op.to_id)
        wanted = {t.value for t in op.link_types} if op.link_types else None
        for key, record in self.links_at(op.from_id):
            src, type_, dst, source_id = key
            if wanted is not None and type_ not in wanted:
                continue
            new_src = op.to_id if src == op.from_id else src
            new_dst = op.to_id if dst == op.from_id else dst
            self.put_link(key, None)
            new_key = (new_src, type_, new_dst, source_id)
            if new_src != new_dst and self.link(new_key) is None:  # no self-links
                self.put_link(new_key, record)

    # the event
    def draft(self, actor: str, action: str, reason: str) -> EventDraft:
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        ids: dict[str, None] = {}
        node_states: dict[str, list[Any]] = {}
        for node_id, first in self.nodes_before.items():
            last = self.nodes_now[node_id]
            if first is None and last is None:
                continue
            ids[node_id] = None
            node_states[node_id] = [_dump(first), _dump(last)]
            b, a = _diff(
                first.record if first else None,
                last.record if last else None,
            )
            if b != a:
                before[node_id], after[node_id] = b, a
        link_states: list[list[Any]] = []
        for key, first in self.links_before.items():
            last = self.links_now[key]
            if first == last:
                continue
            ids.update(dict.fromkeys((key[0], key[2])))
            link_states.append([list(key), first, last])
            before[link_key_text(key)], after[link_key_text(key)] = first, last
        return EventDraft(
            at=self.at,
            actor=actor,
            action=action,
            ids=list(ids),
            before=before,
            after=after,
            reason=reason,
            states={"nodes": node_states, "links": link_states},
        )


def _same_link(current: dict[str, Any], record: dict[str, Any]) -> bool:
    """Equal but for the store's version and the time the link object was made."""
    skip = {"version", "prov_created_at"}
    return {k: v for k, v in current.items() if k not in skip} == {
        k: v for k, v in record.items() if k not in skip
    }


def _dump(state: NodeState | None) -> dict[str, Any] | None:
    return state.model_dump(mode="json") if state else None


def _diff(
    first: dict[str, Any] | None, last: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The fields that differ (a whole record for a node created or deleted)."""
    if first is None or last is None:
        return first, last
    changed = [k for k in {**first, **last} if first.get(k) != last.get(k)]
    return {k: first.get(k) for k in changed}, {k: last.get(k) for k in changed}


def _check_field(label: Label, name: str) -> None:
    fields = NODE_TYPES[label].model_fields
    if name in PROTECTED_FIELDS or name not in fields or name == "provenance":
        allowed = sorted(f for f in fields if f not in PROTECTED_FIELDS and f != "provenance")
        raise ValueError(
            f"{label.value} has no field {name!r} that can be decided; one of: {', '.join(allowed)}"
        )


def _validated(state: NodeState) -> dict[str, Any]:
    """The record after a change, checked against the node's model (clear error if a value
    does not fit) and flattened back as the store keeps it."""
    try:
        node = node_from_record({**state.record, "label": state.label.value})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_url=False)
        )
        raise ValueError(f"invalid value for {state.label.value}: {problems}") from None
    record = node.to_record()
    record.pop("embedding", None)
    return record


def apply_ops(
    tx: TxPort, ops: Sequence[BaseModel], actor: str, action: str, reason: str = ""
) -> Event:
    """Apply operations in order and append their event; any error propagates (the caller's
    transaction rolls back, so nothing is left behind). When nothing changed (observations
    equal to what is stored) no event is appended and the event returned has seq 0."""
    if not ops:
        raise ValueError("a unit of work needs at least one operation")
    if not actor.strip() or not action.strip():
        raise ValueError("every change needs an actor and an action")
    work = _Work(tx)
    for op in ops:
        work.apply(op)
    draft = work.draft(actor, action, reason)
    if not draft.ids:  # only observations that changed nothing: nothing to log
        return Event(seq=0, **draft.model_dump(exclude={"states"}))
    return tx.append_event(draft)


# Who may use the system is never changed backwards: undoing `key.revoke` would revive a key
# someone thought dead, and undoing `account.update` could re-enable an account.
NOT_UNDONE = ("account.", "key.", "webhook.")


def undo_event(tx: TxPort, seq: int, actor: str, reason: str = "") -> Event:
    """Append the inverse of event `seq`: every node and link it touched goes back to its
    state before. Refused when any of them changed since (the later event is named)."""
    stored = tx.stored_event(seq)
    if stored is None:
        raise NotFound(f"no event #{seq}")
    if stored.states is None:
        raise Conflict(
            f"event #{seq} ({stored.action}) cannot be undone: it is a summary of an ingest; "
            "re-ingest or forget the source instead"
        )
    if stored.action.startswith(NOT_UNDONE):
        raise Conflict(
            f"event #{seq} ({stored.action}) cannot be undone: access is changed forward only "
            "(undoing a revocation would bring a key back); change the account or key again"
        )
    nodes = {node_id: (_load(b), _load(a)) for node_id, (b, a) in stored.states["nodes"].items()}
    links = {tuple(key): (b, a) for key, b, a in stored.states["links"]}
    work = _Work(tx)
    for node_id, (_, after) in nodes.items():
        if _content(work.node(node_id)) != _content(after):
            _refuse(tx, seq, node_id, node_id)
    for key, (_, after) in links.items():
        if work.link(key) != after:  # type: ignore[arg-type]
            _refuse(tx, seq, key[0], link_key_text(key))  # type: ignore[arg-type]
    for node_id, (before, after) in nodes.items():
        if before is None and after is not None:
            stray = [k for k, _ in work.links_at(node_id) if k not in links]
            if stray:
                raise Conflict(
                    f"cannot undo event #{seq}: node {node_id!r} it created has links made "
                    f"since ({link_key_text(stray[0])}); remove them first"
                )
    for key, (before, _) in links.items():
        if before is None:
            work.put_link(key, None)  # type: ignore[arg-type]
    for node_id, (before, after) in nodes.items():
        if before is not None:
            now = work.nodes_now[node_id]
            restored = before.model_copy(deep=True)
            restored.version = max(s.version for s in (before, after, now) if s) + 1
            work.put_node(node_id, restored)
    for key, (before, _) in links.items():
        if before is not None:
            work.put_link(key, before)  # type: ignore[arg-type]
    for node_id, (before, _) in nodes.items():
        if before is None:
            work.put_node(node_id, None)
    return tx.append_event(work.draft(actor, "undo", reason or f"undo of event #{seq}"))


def _content(state: NodeState | None) -> dict[str, Any] | None:
    """What a node holds, without the bookkeeping that every change moves on. An unset field
    and a null one are the same (Neo4j keeps no null properties: a conversation recorded with
    `satisfaction: null` reads back without it)."""
    if state is None:
        return None
    content = state.model_dump(mode="json", exclude={"version", "updated_at"})
    for part in ("record", "observed"):
        content[part] = {k: v for k, v in content[part].items() if v is not None}
    return content


def _load(data: dict[str, Any] | None) -> NodeState | None:
    return NodeState.model_validate(data) if data else None


def _refuse(tx: TxPort, seq: int, node_id: str, what: str) -> None:
    later = tx.first_event_touching(node_id, seq)
    by = f" by event #{later.seq} ({later.action}, {later.actor})" if later else ""
    raise Conflict(f"cannot undo event #{seq}: {what} was changed{by} since; undo that first")


# -- paging -------------------------------------------------------------------------------


def encode_cursor(sort_value: Any, node_id: str) -> str:
    raw = json.dumps([sort_value, node_id], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, node_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return value, str(node_id)
    except (ValueError, TypeError) as exc:
        shown = cursor if len(cursor) <= 40 else cursor[:40] + "…"
        raise ValueError(f"invalid cursor {shown!r}: pass back the next_cursor of a page") from exc
