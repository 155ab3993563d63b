"""`spiral seci ...`, `spiral curate ...` and `spiral items ...`: mining and curation from the
command line. Every change names its actor (default cli:$USER) and takes a reason; `--json`
prints machine-readable lines, otherwise a rich table for people."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from api.runtime import Runtime
from graph.changes import Event
from graph.store import Conflict, NotFound
from seci import items as lifecycle
from seci.combine import accept, dismiss, find_proposal, proposals
from seci.externalize import externalize
from seci.feedback import record_feedback
from seci.items_view import item_detail, item_record, items_page
from seci.metrics import metrics

__all__ = [
    "actor_name",
    "curate_app",
    "feedback_command",
    "items_app",
    "metrics_command",
    "runtime_context",
    "seci_app",
]

seci_app = typer.Typer(help="SECI stages: mine, combine, learn.", no_args_is_help=True)
curate_app = typer.Typer(
    help="The curation queue and every decision on items.", no_args_is_help=True
)
items_app = typer.Typer(help="Knowledge items.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)

Reason = Annotated[str, typer.Option("--reason", help="Why (kept in the event log).")]
Actor = Annotated[str | None, typer.Option("--actor", help="Who decides (default: cli:$USER).")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]
RuntimeFactory = Callable[[], Any]
COLUMNS = ("sources", "situations", "notes", "created", "updated", "unchanged", "removed")
_runtime: RuntimeFactory | None = None


def bind(factory: RuntimeFactory) -> None:
    """The CLI's runtime context (settings, store, model), shared with api/cli.py."""
    global _runtime
    _runtime = factory


@contextmanager
def runtime_context() -> Iterator[Runtime]:
    """The bound runtime; a refused request (conflict, unknown id, bad value) is one line."""
    assert _runtime is not None
    with _runtime() as rt:
        try:
            yield rt
        except (Conflict, NotFound, ValueError) as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(1) from None


def actor_name(given: str | None) -> str:
    """Who a command acts as: the name given, else the local user."""
    return given or f"cli:{getpass.getuser()}"


def _done(event: Event, as_json: bool, what: str) -> None:
    if as_json:
        sys.stdout.write(event.model_dump_json() + "\n")
    else:
        out.print(f"{what} (event #{event.seq}; undo with `spiral curate undo {event.seq}`)")


# -- spiral seci externalize ----------------------------------------------------------------


@seci_app.command("externalize")
def externalize_command(
    full: Annotated[
        bool, typer.Option(help="Re-read every source, not only what changed.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Mine draft talk tracks from conversations and FAQ / fact items from notes (incremental)."""
    with (
        runtime_context() as rt,
        Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            console=err,
            transient=True,
            disable=as_json,
        ) as bar,
    ):
        tasks: dict[str, Any] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total)
            bar.update(tasks[phase], completed=done, total=total)

        report = externalize(rt.store, rt.embedder, full=full, progress=progress)
    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
        return
    table = Table(title="externalize" + (" (full)" if report.full else " (since last run)"))
    for column in COLUMNS:
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(report, c)) for c in COLUMNS))
    out.print(table)
    out.print(f"[dim]{report.seconds:.1f}s; next run reads the log after #{report.cursor}[/dim]")
    if report.full and not report.sources:
        out.print("[yellow]nothing to mine: ingest transcripts or notes first[/yellow]")


# -- spiral items list ----------------------------------------------------------------------


@items_app.command("list")
def items_list(
    status: Annotated[str | None, typer.Option(help="draft, approved, rejected, retired")] = None,
    kind: Annotated[str | None, typer.Option(help="talk_track, faq, fact")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    as_json: AsJson = False,
) -> None:
    """Knowledge items with their outcome counts and sources."""
    with runtime_context() as rt:
        found = items_page(rt.store, status=status, kind=kind, limit=limit)
        if as_json:
            for item in found:
                sys.stdout.write(json.dumps(item_record(rt.store, item), ensure_ascii=False) + "\n")
            return
        table = Table(title=f"{len(found)} items")
        for column in ("id", "kind", "status", "title", "won", "evidence"):
            table.add_column(column, overflow="fold")
        for item in found:
            won = f"{item.successes}/{item.trials}" if item.trials else "-"
            table.add_row(
                item.id,
                item.kind.value,
                item.status.value,
                item.title[:60],
                won,
                str(item.evidence),
            )
        out.print(table)


# -- spiral curate ----------------------------------------------------------------------------


@curate_app.command("queue")
def curate_queue(
    kind: Annotated[
        list[str] | None,
        typer.Option("--kind", help="contradiction, merge, review, complements, approve"),
    ] = None,
    limit: Annotated[int, typer.Option(min=1)] = 50,
    as_json: AsJson = False,
) -> None:
    """Proposals waiting for a decision, most urgent first."""
    with runtime_context() as rt:
        found = proposals(rt.store, kinds=kind)[:limit]
        if as_json:
            for p in found:
                sys.stdout.write(p.model_dump_json() + "\n")
            return
        table = Table(title=f"curation queue ({len(found)})")
        for column in ("proposal", "kind", "items", "why", "score"):
            table.add_column(column, overflow="fold")
        for p in found:
            table.add_row(
                p.id, p.kind, "\n".join(t[:50] for t in p.titles), p.reason, f"{p.score:.2f}"
            )
        out.print(table)
        if found:
            out.print("[dim]decide: `spiral curate accept|dismiss PROPOSAL`[/dim]")
        else:
            out.print("[green]nothing waits for a decision[/green]")


@curate_app.command("show")
def curate_show(item_id: str, as_json: AsJson = False) -> None:
    """An item with its responses, what not to say, situations, links and history."""
    with runtime_context() as rt:
        detail = item_detail(rt.store, item_id)
        if detail is None:
            raise NotFound(f"no knowledge item with id {item_id!r}")
        if as_json:
            sys.stdout.write(json.dumps(detail, ensure_ascii=False) + "\n")
            return
        state = f"{detail['kind']} · {detail['status']} · v{detail['version']}"
        out.print(f"[bold]{detail['title']}[/bold]  [dim]{state}[/dim]")
        out.print(f"situation: {detail['situation']}")
        for label, rows in (
            ("say", detail["responses"]),
            ("[red]don't say[/red]", detail["avoid"]),
        ):
            for r in rows:
                won = f"{r['successes']}/{r['trials']} won" if r["trials"] else "no outcomes"
                seen = f"{won}, {r['evidence']} conversations"
                out.print(f"  {label}: {r['text'][:200]}  [dim]({seen})[/dim]")
        for s in detail["situations"]:
            out.print(f"  [dim]situation {s['id']}: {s['text'][:80]} → {s['outcome'] or '?'}[/dim]")
        for link in detail["links"]:
            out.print(f"  {link['type']} {link['direction']} {link['id']} {link['title'][:60]}")
        for e in detail["history"]:
            out.print(
                f"  [dim]#{e['seq']} {e['at'][:19]} {e['actor']} {e['action']} {e['reason']}[/dim]"
            )


def _decision(name: str, action: Callable[..., Event], help_text: str) -> None:
    def command(
        item_id: str, reason: Reason = "", actor: Actor = None, as_json: AsJson = False
    ) -> None:
        with runtime_context() as rt:
            event = action(rt.store, item_id, actor_name(actor), reason)
            _done(
                event,
                as_json,
                f"{name}d {item_id}" if name.endswith("e") else f"{name}ed {item_id}",
            )

    command.__doc__ = help_text
    curate_app.command(name)(command)


_decision("approve", lifecycle.approve, "Approve a draft: it is suggested before drafts.")
_decision("reject", lifecycle.reject, "Reject a draft: never suggested.")
_decision("retire", lifecycle.retire, "Retire an item that no longer holds.")


@curate_app.command("verify")
def curate_verify(
    item_id: str,
    days: Annotated[
        int, typer.Option(min=1, help="Valid for this many days.")
    ] = lifecycle.REVIEW_DAYS,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Confirm an item is still right: sets verified_at and the next expiry."""
    with runtime_context() as rt:
        event = lifecycle.verify(rt.store, item_id, actor_name(actor), reason, days=days)
        _done(event, as_json, f"verified {item_id} for {days} days")


@curate_app.command("edit")
def curate_edit(
    item_id: str,
    title: Annotated[str | None, typer.Option()] = None,
    text: Annotated[str | None, typer.Option()] = None,
    situation: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="talk_track, faq, fact")] = None,
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Change an item's wording; mining never overwrites it."""
    given = {"title": title, "text": text, "situation": situation, "kind": kind}
    with runtime_context() as rt:
        changes = {k: v for k, v in given.items() if v is not None}
        event = lifecycle.edit(rt.store, item_id, changes, actor_name(actor), reason)
        _done(event, as_json, f"edited {item_id}: {', '.join(changes)}")


@curate_app.command("assign")
def curate_assign(
    item_id: str,
    owner: str,
    team: Annotated[str, typer.Option()] = "",
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Make someone (and a team) responsible for an item."""
    with runtime_context() as rt:
        event = lifecycle.assign(rt.store, item_id, owner, actor_name(actor), reason, team=team)
        _done(event, as_json, f"{item_id} is owned by {owner}")


@curate_app.command("merge")
def curate_merge(
    keep: str, other: str, reason: Reason = "", actor: Actor = None, as_json: AsJson = False
) -> None:
    """Merge OTHER into KEEP: evidence, counts and links of both are kept; OTHER is retired."""
    with runtime_context() as rt:
        event = lifecycle.merge(rt.store, keep, other, actor_name(actor), reason)
        _done(event, as_json, f"merged {other} into {keep}")


@curate_app.command("split")
def curate_split(
    item_id: str,
    member: Annotated[
        list[str], typer.Option("--member", help="A situation id (see `curate show`).")
    ],
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Move some situations of an item out into a new draft item."""
    with runtime_context() as rt:
        event = lifecycle.split(rt.store, rt.embedder, item_id, member, actor_name(actor), reason)
        _done(event, as_json, f"split {len(member)} situations out of {item_id}")


@curate_app.command("link")
def curate_link(
    src: str,
    dst: str,
    type_: Annotated[
        str, typer.Option("--type", help="complements, contradicts, prerequisite_of, similar_to")
    ] = "complements",
    reason: Reason = "",
    actor: Actor = None,
    as_json: AsJson = False,
) -> None:
    """Link two items (or an item and a document chunk)."""
    with runtime_context() as rt:
        allowed = {t.value.lower(): t for t in lifecycle.CURATION_LINKS}
        if type_.lower() not in allowed:
            raise ValueError(f"--type is one of {', '.join(allowed)}, not {type_!r}")
        event = lifecycle.link(
            rt.store, src, dst, allowed[type_.lower()], actor_name(actor), reason
        )
        _done(event, as_json, f"linked {src} -[{type_.upper()}]-> {dst}")


@curate_app.command("accept")
def curate_accept(
    proposal_id: str, reason: Reason = "", actor: Actor = None, as_json: AsJson = False
) -> None:
    """Do what a proposal proposes: merge, link, approve; a review is verified."""
    with runtime_context() as rt:
        p = find_proposal(rt.store, proposal_id)
        event = accept(rt.store, p, actor_name(actor), reason)
        _done(event, as_json, f"accepted {p.kind}: {p.reason}")


@curate_app.command("dismiss")
def curate_dismiss(
    proposal_id: str, reason: Reason = "", actor: Actor = None, as_json: AsJson = False
) -> None:
    """Turn a proposal down; it is not proposed again (undo brings it back)."""
    with runtime_context() as rt:
        p = find_proposal(rt.store, proposal_id)
        event = dismiss(rt.store, p, actor_name(actor), reason)
        _done(event, as_json, f"dismissed {p.kind}: {p.reason}")


@curate_app.command("undo")
def curate_undo(
    seq: int, reason: Reason = "", actor: Actor = None, as_json: AsJson = False
) -> None:
    """Undo a decision by its event number (its inverse is appended to the log)."""
    with runtime_context() as rt:
        event = rt.store.undo(seq, actor=actor_name(actor), reason=reason)
        _done(event, as_json, f"undid #{seq}")


# -- spiral feedback --------------------------------------------------------------------------


def feedback_command(
    suggestion_id: Annotated[str, typer.Argument(help="The id of a suggestion (`ask --json`).")],
    kind: Annotated[str, typer.Argument(help="used, worked or failed")],
    conversation: Annotated[
        str | None, typer.Option("--conversation", help="The conversation it was used in.")
    ] = None,
    employee: Annotated[
        str | None, typer.Option("--employee", help="Who used it (default: cli:$USER).")
    ] = None,
    reason: Reason = "",
    as_json: AsJson = False,
) -> None:
    """Say what happened with a suggestion: it counts at once in the next ranking."""
    if kind not in ("used", "worked", "failed"):
        err.print(f"[red]error:[/red] say used, worked or failed, not {kind!r}")
        raise typer.Exit(2)
    with runtime_context() as rt:
        event = record_feedback(
            rt.store,
            suggestion_id,
            kind,
            actor_name(employee),
            conversation,
            reason,  # type: ignore[arg-type]
        )
        _done(event, as_json, f"recorded: {kind} for {suggestion_id}")


# -- spiral metrics ---------------------------------------------------------------------------


def metrics_command(
    frequent: Annotated[
        int, typer.Option(min=1, help="Situations a talk track needs to count as frequent.")
    ] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Where knowledge is in the SECI spiral, and how it moves (from the event log)."""
    with runtime_context() as rt:
        found = metrics(rt.store, frequent=frequent)
    if as_json:
        sys.stdout.write(found.model_dump_json() + "\n")
        return
    table = Table(title="items by kind and status")
    statuses = list(next(iter(found.items.values())))
    table.add_column("kind")
    for status in statuses:
        table.add_column(status, justify="right")
    for kind, counts in found.items.items():
        table.add_row(kind, *(str(counts[s]) for s in statuses))
    out.print(table)
    stages = ", ".join(f"{name} {count}" for name, count in found.stages.items())
    out.print(f"events by stage: {stages}")
    c, u = found.coverage, found.suggestions
    out.print(
        f"frequent situations covered by an approved talk track: {c.approved} of "
        f"{c.situations} ({c.share:.0%}, {c.frequent} talk tracks)"
    )
    out.print(f"contradictions waiting: {found.contradiction_backlog}")
    out.print(
        f"suggestions used {u.uses} times; worked {u.worked}, failed {u.failed} "
        f"(success at least {u.success_lower_bound:.0%})"
    )
