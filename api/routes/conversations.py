"""Live conversations: messages one at a time, how a conversation ended, and the WeCom
chat-archive callback. Each message is appended through the ingest pipeline (api/live.py); a
customer's message then gets suggestions, pushed to the handling employee's channel and to
the team's webhooks as one `suggestions` event, off the request path.

Who may: an employee for the conversations they handle (a new conversation is theirs when it
names them, or names no employee), knowledge managers and admins for any; the WeCom callback
is for an integration account (admin role).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator

from api.auth import CurrentUser, Principal, require
from api.conversation_view import conversation_of, conversations_of
from api.deps import RuntimeDep, in_domain
from api.live import (
    MAX_TEXT,
    Appended,
    AppendedMessage,
    LiveError,
    LiveHeader,
    LiveMessage,
    PushDep,
    PushState,
    append_messages,
    expected_handler,
    handlers,
    stored_conversation,
    turns_until,
)
from api.push import employee_channel
from api.runtime import Runtime
from api.schemas import (
    ConversationPublic,
    ConversationSummary,
    MessageCreate,
    MessagesPublic,
    OutcomeCreate,
    OutcomePublic,
    errors,
    problems,
)
from api.scope import is_employee
from graph.model import Conversation, Employee, Message
from graph.store import NotFound
from ingest.build import employee_id as employee_node_id
from ingest.loaders.wecom import transcript_from_wecom
from ingest.records import LoadError
from ingest.untrusted import clean_payload, clean_text
from seci.assist import AskRequest, AskResult, Turn

__all__ = ["SUGGESTIONS_EVENT", "router"]

log = logging.getLogger("spiral.api.push")

SUGGESTIONS_EVENT = "suggestions"
TOP_K = 5
MAX_RECORDS = 1000

router = APIRouter(prefix="/conversations", tags=["conversations"], responses=problems(401, 403))
ConversationId = Annotated[
    str,
    Path(min_length=1, max_length=200),
    AfterValidator(lambda ref: _conversation_ref(ref)),
]
Handlers = Depends(require("employee", "knowledge_manager", "admin"))


@router.get(
    "",
    response_model=list[ConversationSummary],
    dependencies=[Handlers],
    responses=errors(404),
)
async def list_conversations(
    rt: RuntimeDep,
    user: CurrentUser,
    employee: Annotated[
        str | None,
        Query(max_length=200, description="Whose (knowledge managers, admins); default: yours."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[ConversationSummary]:
    """The conversations you handle, latest first (an employee sees only their own)."""
    return await in_domain(lambda: conversations_of(rt, user, employee, limit))


@router.get(
    "/{conversation_id}",
    response_model=ConversationPublic,
    dependencies=[Handlers],
    responses=errors(404),
)
async def get_conversation(
    conversation_id: ConversationId, rt: RuntimeDep, user: CurrentUser
) -> ConversationPublic:
    """A conversation and its messages in order (by node id or its id in the source); an
    employee only one they handle."""
    return await run_in_threadpool(conversation_of, rt, user, conversation_id)


@router.post(
    "/wecom",
    response_model=list[MessagesPublic],
    dependencies=[Depends(require("admin"))],
    responses=errors(400, 413),
)
async def wecom_callback(
    rt: RuntimeDep,
    push: PushDep,
    user: CurrentUser,
    records: Annotated[list[dict[str, Any]], Body(max_length=MAX_RECORDS)],
) -> list[MessagesPublic]:
    """Records of the WeCom chat archive (DESIGN.md), each appended to its conversation
    (one-to-one: the two ids sorted and joined by '~'; groups: the room id). Recalled and
    switch records are dropped; records with no text (image, voice, card) are skipped."""
    answers = []
    for conversation_id, header, messages in _wecom_groups(clean_payload(records)):
        answers.append(await _accept(rt, push, user, conversation_id, header, messages, "wecom"))
    return answers


@router.post(
    "/{conversation_id}/messages",
    response_model=MessagesPublic,
    dependencies=[Handlers],
    responses=errors(400, 413),
)
async def post_message(
    conversation_id: ConversationId,
    body: MessageCreate,
    rt: RuntimeDep,
    push: PushDep,
    user: CurrentUser,
) -> MessagesPublic:
    """Append one message (the same id again changes nothing). A customer's message gets
    suggestions pushed to the handling employee (GET /push/stream) and the team's webhooks."""
    header = LiveHeader.model_validate(body, from_attributes=True)
    message = LiveMessage.model_validate(body, from_attributes=True)
    return await _accept(rt, push, user, conversation_id, header, [message], "json")


@router.post(
    "/{conversation_id}/outcome",
    response_model=OutcomePublic,
    dependencies=[Handlers],
    responses=errors(400, 404, 413),
)
async def post_outcome(
    conversation_id: ConversationId,
    body: OutcomeCreate,
    rt: RuntimeDep,
    push: PushDep,
    user: CurrentUser,
) -> OutcomePublic:
    """How the conversation ended: stored on it, and counted on the items whose use in it
    was waiting for the outcome (as after an ingest)."""
    async with push.live.lock(conversation_id):
        header = await push.live.header(conversation_id) or LiveHeader()
        await run_in_threadpool(_may_handle, rt, user, conversation_id, header, True)
        header = await _known_header(rt, push, conversation_id, header)
        appended = await _append(rt, conversation_id, header, [], body.outcome)
    report = await run_in_threadpool(rt.settle)
    return OutcomePublic(
        conversation_id=conversation_id,
        conversation=appended.conversation,
        outcome=body.outcome,
        settled=report.settled,
    )


def _conversation_ref(raw: str) -> str:
    """A conversation id from the path, cleaned as every request text (api.schemas.CleanStr)."""
    ref = clean_text(raw).strip()
    if not ref:
        raise ValueError("a conversation id cannot be empty or only control characters")
    return ref


# --- appending ---------------------------------------------------------------------------


async def _accept(
    rt: Runtime,
    push: PushState,
    user: Principal,
    conversation_id: str,
    given: LiveHeader,
    messages: list[LiveMessage],
    fmt: Literal["json", "wecom"],
) -> MessagesPublic:
    """Append the messages not taken yet, under the conversation's lock. The asks for the
    customer's new messages start before the append is written and run beside it (the
    customer is waiting: the suggestions must not wait for the write); they are pushed only
    once the append is stored, with the message ids it gave."""
    asks: dict[str, asyncio.Task[AskResult]] = {}
    async with push.live.lock(conversation_id):
        known = await push.live.header(conversation_id)
        header = (known or LiveHeader()).merged(given)
        if not (header.customer or header.customer_id):  # known by the name they speak under
            speakers = [m.speaker for m in messages if m.role == "customer" and m.speaker]
            header = header.model_copy(update={"customer": speakers[0] if speakers else ""})
        header = await run_in_threadpool(_may_handle, rt, user, conversation_id, header, False)
        if known is None:
            header = await _known_header(rt, push, conversation_id, header)
        messages = [_with_speaker(m, header) for m in messages]
        unique = list({m.key(): m for m in messages}.values())
        taken = await push.live.taken(conversation_id, [m.key() for m in unique])
        new = [m for m in unique if m.key() not in taken]
        duplicates = [m.key() for m in messages if m.key() in taken]
        if new:
            stored = await run_in_threadpool(
                stored_conversation, rt.store, rt.ingestor(), conversation_id
            )
            asks = _start_asks(rt, stored, header, new)
            try:
                appended = await _append(rt, conversation_id, header, new, None, fmt, stored)
            except BaseException:
                for task in asks.values():
                    task.cancel()  # nothing is pushed for a message that was not stored
                raise
            await push.live.take(conversation_id, [m.key() for m in new])
        else:
            appended = await run_in_threadpool(_unchanged, rt, conversation_id, header)
        await push.live.set_header(conversation_id, appended.header)
    for message in appended.messages:
        if message.message_id in asks:
            push.spawn(push_suggestions(rt, push, appended, message, asks[message.message_id]))
    return MessagesPublic(
        conversation_id=conversation_id,
        conversation=appended.conversation,
        employee=appended.employee,
        appended=[m.message_id for m in appended.messages],
        duplicates=duplicates,
        nodes=[m.node_id for m in appended.messages],
    )


async def _append(
    rt: Runtime,
    conversation_id: str,
    header: LiveHeader,
    new: list[LiveMessage],
    outcome: str | None,
    fmt: Literal["json", "wecom"] = "json",
    stored: tuple[Conversation | None, list[Message]] | None = None,
) -> Appended:
    """`append_messages` in a worker thread (it reads and writes the store)."""
    return await run_in_threadpool(
        append_messages, rt.store, rt.ingestor(), conversation_id, header, new, outcome, fmt, stored
    )


def _start_asks(
    rt: Runtime,
    stored: tuple[Conversation | None, list[Message]],
    header: LiveHeader,
    new: list[LiveMessage],
) -> dict[str, asyncio.Task[AskResult]]:
    """An ask per new customer message (by its key), each under way in a worker thread, with
    the conversation up to that message as its context."""
    conv, old = stored
    asks: dict[str, asyncio.Task[AskResult]] = {}
    for index, message in enumerate(new):
        if message.role == "customer" and message.text.strip():
            turns = turns_until(old, new, index)
            work = run_in_threadpool(_ask_live, rt, conv, header, message.text, turns)
            asks[message.key()] = asyncio.get_running_loop().create_task(work)
    return asks


def _ask_live(
    rt: Runtime, conv: Conversation | None, header: LiveHeader, text: str, turns: list[Turn]
) -> AskResult:
    request = AskRequest(
        query=text[:MAX_TEXT],
        context=turns,
        employee=expected_handler(rt.store, conv, header) or None,
        customer=header.customer_id or header.customer or None,
        channel=header.channel or None,
    )
    return rt.ask(request, TOP_K)


def _with_speaker(message: LiveMessage, header: LiveHeader) -> LiveMessage:
    """The message with its id fixed (its content key when it has none), and an employee's
    message with no speaker said by the conversation's employee (so SAID_BY links them)."""
    update = {"id": message.key()}
    if message.role == "employee" and not (message.speaker or message.speaker_id):
        update |= {"speaker": header.employee, "speaker_id": header.employee_id}
    return message.model_copy(update=update)


async def _known_header(
    rt: Runtime, push: PushState, conversation_id: str, header: LiveHeader
) -> LiveHeader:
    """A conversation in the graph whose people the live index does not know (a restart
    without Redis): its customer must be named again, or the next write would give the
    conversation a different Customer (the graph keeps only a keyed hash of the id)."""
    conv, _ = await run_in_threadpool(stored_conversation, rt.store, rt.ingestor(), conversation_id)
    if conv is not None and not (header.customer or header.customer_id):
        raise LiveError(
            f"the customer of conversation {conversation_id!r} is not known to this server "
            "any more: send customer_id (or customer) with the message"
        )
    return header


def _unchanged(rt: Runtime, conversation_id: str, header: LiveHeader) -> Appended:
    conv, _ = stored_conversation(rt.store, rt.ingestor(), conversation_id)
    if conv is None:
        raise NotFound(f"no conversation {conversation_id!r}")
    people = handlers(rt.store, conv.id)
    employee = people[0].id if people else ""
    return Appended(
        conversation_id=conversation_id, conversation=conv.id, employee=employee, header=header
    )


def _may_handle(
    rt: Runtime, user: Principal, conversation_id: str, header: LiveHeader, must_exist: bool
) -> LiveHeader:
    """The header to use, after checking the principal may write to this conversation: an
    employee only to one they handle (a new one: one naming them, or no one: then it is
    theirs). 404 when `must_exist` and the conversation is not in the graph."""
    conv, _ = stored_conversation(rt.store, rt.ingestor(), conversation_id)
    if conv is None and must_exist:
        raise NotFound(f"no conversation {conversation_id!r}")
    if user.role != "employee":
        return header
    me = user.employee_id
    if not me:
        raise HTTPException(403, "this account is not linked to an employee")
    if conv is not None:
        if me not in {p.id for p in handlers(rt.store, conv.id)}:
            raise HTTPException(403, "an employee may write only to conversations they handle")
        return header
    if not (header.employee or header.employee_id):
        person = rt.store.get_node(me)
        if not isinstance(person, Employee):
            raise HTTPException(403, "this account's employee is not in the graph")
        return header.model_copy(
            update={"employee": person.name, "employee_id": person.external_id}
        )
    named = employee_node_id(header.employee, header.employee_id)
    ref = header.employee_id or header.employee
    if named != me and not is_employee(rt.store, ref, me):
        raise HTTPException(403, "an employee may write only to conversations they handle")
    return header


def _wecom_groups(
    records: list[dict[str, Any]],
) -> list[tuple[str, LiveHeader, list[LiveMessage]]]:
    """The records' text messages by conversation, in order of first appearance; each keeps
    its msgid. Records that cannot be read are a 422 naming them."""
    recalled = {_recalled(r) for r in records if r.get("action") == "recall"} - {""}
    groups: dict[str, tuple[LiveHeader, list[LiveMessage]]] = {}
    for index, record in enumerate(records):
        msgid = record.get("msgid")
        if msgid is not None and (isinstance(msgid, bool) or not isinstance(msgid, str | int)):
            raise LiveError(f"records[{index}]: 'msgid' is not a string")
        if record.get("action") in ("recall", "switch") or str(msgid) in recalled:
            continue
        try:
            loaded = transcript_from_wecom([record], "wecom-callback", "")
        except LoadError as exc:
            if exc.reason == "no readable conversation":
                continue  # nothing with text in it (an image, a voice message)
            raise LiveError(f"records[{index}]: {_why(exc.reason)}") from None
        except (ValueError, OverflowError, OSError):  # a msgtime no date can be made of
            raise LiveError(f"records[{index}]: 'msgtime' is not a time") from None
        if loaded.row_errors:
            raise LiveError(f"records[{index}]: {_why(loaded.row_errors[0])}")
        for conv in loaded.conversations:
            header = LiveHeader(
                channel="wecom",
                employee=conv.employee,
                employee_id=conv.employee_id,
                customer=conv.customer,
                customer_id=conv.customer_id,
            )
            known, messages = groups.setdefault(conv.id, (LiveHeader(), []))
            groups[conv.id] = (known.merged(header), messages)
            for m in conv.messages:
                messages.append(
                    LiveMessage(
                        id=str(record.get("msgid") or ""),
                        role=m.role,
                        text=m.text,
                        speaker=m.speaker,
                        speaker_id=m.speaker_id,
                        time=m.time,
                    )
                )
    return [(cid, h, ms) for cid, (h, ms) in groups.items() if ms]


def _why(error: str) -> str:
    """A loader's row error without the loader's own "records[0] (msgid X): " prefix."""
    return error.partition("): ")[2].rstrip(")") or error


def _recalled(record: dict[str, Any]) -> str:
    revoke = record.get("revoke")
    body = revoke if isinstance(revoke, dict) else {}
    return str(record.get("pre_msgid") or body.get("pre_msgid") or "")


# --- pushing -----------------------------------------------------------------------------


async def push_suggestions(
    rt: Runtime,
    push: PushState,
    appended: Appended,
    message: AppendedMessage,
    ask: asyncio.Task[AskResult],
) -> None:
    """The suggestions asked for a customer's message, to the handling employee's channel
    and the team's webhooks. A failure is logged: the message is stored whatever happens."""
    try:
        result = await ask
        data = {
            "conversation_id": appended.conversation_id,
            "conversation": appended.conversation,
            "message_id": message.message_id,
            "message": message.node_id,
            "query": result.query,
            "suggestions": [s.model_dump(mode="json") for s in result.suggestions],
        }
        if appended.employee:
            await push.hub.publish(employee_channel(appended.employee), SUGGESTIONS_EVENT, data)
        team = await run_in_threadpool(_team_of, rt, appended.employee)
        if team:
            await push.dispatcher.publish(team, SUGGESTIONS_EVENT, data)
    except Exception:
        log.exception("suggestions for %s failed", message.node_id)


def _team_of(rt: Runtime, employee: str) -> str:
    """The employee's team: as decided on the Employee node, else their account's."""
    if not employee:
        return ""
    person = rt.store.get_node(employee)
    if isinstance(person, Employee) and person.team:
        return person.team
    return rt.accounts.team_of(employee)
