"""`spiral experts`, `spiral exemplars` and `spiral handover`: who handles a topic best, which
of their real conversations to read (seci/socialize.py), and passing someone's customers on
when they leave (seci/handover.py). `--json` prints one JSON object."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli_seci import actor_name, runtime_context
from api.runtime import Runtime
from seci.handover import find_employee, handover
from seci.internalize import (
    assign_path,
    create_path,
    due_cards,
    gaps,
    item_title,
    progress,
    record_mentoring,
    review,
    suggest_path,
)
from seci.socialize import exemplars, experts

__all__ = [
    "demo_people",
    "exemplars_command",
    "experts_command",
    "handover_command",
    "learn_app",
]

out = Console()

Topic = Annotated[str, typer.Argument(help="A topic or situation, in the customer's words.")]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object.")]


def experts_command(
    topic: Topic = "",
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many people.")] = 10,
    as_json: AsJson = False,
) -> None:
    """Employees ranked by the outcomes of their conversations on TOPIC (all, if empty),
    shrunk towards the team's rate: 1 of 1 does not beat 40 of 50."""
    with runtime_context() as rt:
        found = experts(rt.store, rt.embedder, topic, limit=limit)
    if as_json:
        sys.stdout.write(found.model_dump_json() + "\n")
        return
    if found.hint:
        out.print(f"[yellow]{found.hint}[/yellow]")
        return
    title = f"experts on “{topic}”" if topic else "experts, all topics"
    table = Table(title=title)
    for column in ("#", "employee", "worked", "estimate (90 %)", "why", "conversations"):
        table.add_column(column, overflow="fold")
    for rank, e in enumerate(found.experts, 1):
        table.add_row(
            str(rank),
            e.name,
            f"{e.successes} of {e.trials}",
            f"{e.estimate:.0%} ({e.low:.0%}–{e.high:.0%})",
            e.why,
            ", ".join(e.evidence),
        )
    out.print(table)
    out.print(
        f"{found.conversations} conversations on the topic; team rate {found.team_rate:.0%}; "
        f"each estimate counts the team rate as {found.prior_strength:g} conversations"
    )


def exemplars_command(
    topic: Topic,
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = 5,
    as_json: AsJson = False,
) -> None:
    """Real conversations on TOPIC that ended well, by the people who handle it best."""
    with runtime_context() as rt:
        found = exemplars(rt.store, rt.embedder, topic, limit=limit)
    if as_json:
        sys.stdout.write("[" + ",".join(x.model_dump_json() for x in found) + "]\n")
        return
    if not found:
        out.print(f"[yellow]no conversation on “{topic}” that ended well[/yellow]")
        return
    table = Table(title=f"conversations to learn from: “{topic}”")
    for column in ("conversation", "employee", "why", "talk tracks it shows"):
        table.add_column(column, overflow="fold")
    for x in found:
        table.add_row(f"{x.title}\n{x.uri}", x.employee, x.why, ", ".join(x.talk_tracks))
    out.print(table)


def handover_command(
    from_employee: Annotated[str, typer.Argument(help="Who leaves: node id, source id or name.")],
    to_employee: Annotated[str, typer.Argument(help="Who takes over.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the event log).")] = "",
    actor: Annotated[str | None, typer.Option("--actor", help="Who decides.")] = None,
    as_json: AsJson = False,
) -> None:
    """Move FROM's customers, open conversations and notes to TO in one event (undo it with
    `spiral undo SEQ`); who handled and said what stays attributed to FROM."""
    with runtime_context() as rt:
        done = handover(rt.store, from_employee, to_employee, actor_name(actor), reason)
    if as_json:
        sys.stdout.write(done.model_dump_json() + "\n")
        return
    table = Table(title=f"customers now looked after by {to_employee}")
    for column in ("customer", "conversations (whole history)", "handled by"):
        table.add_column(column, overflow="fold")
    for c in done.customers:
        table.add_row(c.name or c.customer, ", ".join(c.conversations), ", ".join(c.handled_by))
    out.print(table)
    out.print(
        f"open conversations: {', '.join(done.conversations) or 'none'}; "
        f"notes: {', '.join(done.notes) or 'none'}"
    )
    out.print(f"one event #{done.event}; undo with `spiral undo {done.event}`")


learn_app = typer.Typer(
    help="Learning paths in prerequisite order, assignment, progress, spaced review.",
    no_args_is_help=True,
)


@learn_app.command("path")
def learn_path(
    title: Annotated[str, typer.Argument(help="The path's name.")],
    item: Annotated[
        list[str] | None, typer.Option("--item", help="An item id (repeatable), in order.")
    ] = None,
    topic: Annotated[str, typer.Option(help="Also the live items that match this.")] = "",
    actor: Annotated[str | None, typer.Option("--actor", help="The trainer.")] = None,
    as_json: AsJson = False,
) -> None:
    """Build a path: the items (and what they require), ordered by PREREQUISITE_OF."""
    with runtime_context() as rt:
        path = create_path(rt.store, rt.embedder, title, actor_name(actor), item or [], topic)
        titles = [item_title(rt.store, i) for i in path.items]
    if as_json:
        sys.stdout.write(path.model_dump_json(include={"id", "title", "topic", "items"}) + "\n")
        return
    out.print(f"path {path.id} “{path.title}”:")
    for n, name in enumerate(titles, 1):
        out.print(f"  {n}. {name}")


@learn_app.command("suggest")
def learn_suggest(
    topic: Annotated[str, typer.Argument(help="What the path is about.")],
    as_json: AsJson = False,
) -> None:
    """A suggested path for a topic (matching items and what they require, in order), not
    saved: build it with `spiral learn path TITLE --item ...` keeping the items you want."""
    with runtime_context() as rt:
        steps = suggest_path(rt.store, rt.embedder, topic)
    if as_json:
        sys.stdout.write("[" + ",".join(s.model_dump_json() for s in steps) + "]\n")
        return
    if not steps:
        out.print(f"[yellow]no approved or draft item matches “{topic}”[/yellow]")
        return
    for n, step in enumerate(steps, 1):
        out.print(f"  {n}. {step.title}  [dim]{step.item} · {step.why}[/dim]")
    items = " ".join(f"--item {s.item}" for s in steps)
    out.print(f'build it: spiral learn path "{topic}" {items}')


@learn_app.command("assign")
def learn_assign(
    path_id: Annotated[str, typer.Argument(help="The path's id.")],
    employees: Annotated[list[str], typer.Argument(help="Employee ids, source ids or names.")],
    actor: Annotated[str | None, typer.Option("--actor", help="The trainer.")] = None,
) -> None:
    """Give a path to people."""
    with runtime_context() as rt:
        path = assign_path(rt.store, path_id, employees, actor_name(actor))
    out.print(f"“{path.title}” is assigned to {len(path.assignees)} people")


@learn_app.command("progress")
def learn_progress(
    employee: Annotated[str, typer.Argument(help="Employee id, source id or name.")],
    as_json: AsJson = False,
) -> None:
    """Each assigned path (items learnt, reviews, uses with customers, next due dates) and
    the shadowing and coaching they had."""
    with runtime_context() as rt:
        found = progress(rt.store, employee)
    if as_json:
        sys.stdout.write(found.model_dump_json() + "\n")
        return
    if not found.paths:
        out.print(f"[yellow]{employee} has no learning path assigned[/yellow]")
    for p in found.paths:
        table = Table(title=f"{p.title}: {p.done} of {len(p.items)} learnt")
        for column in ("item", "reviews", "last", "used (worked)", "due"):
            table.add_column(column)
        for i in p.items:
            table.add_row(
                i.title, str(i.reviews), i.last_rating, f"{i.used} ({i.worked})", i.due[:16]
            )
        out.print(table)
    for m in found.mentoring:
        out.print(f"{m.at[:10]}: {m.kind} {m.mentor} on {m.topic}")


@learn_app.command("mentor")
def learn_mentor(
    mentor: Annotated[str, typer.Argument(help="Who was watched or coached with.")],
    learner: Annotated[str, typer.Argument(help="Who learnt.")],
    topic: Annotated[str, typer.Option(help="What it was about.")],
    kind: Annotated[str, typer.Option(help="shadowed or coached.")] = "shadowed",
    note: Annotated[str, typer.Option(help="Anything worth keeping.")] = "",
    actor: Annotated[str | None, typer.Option("--actor", help="Who records it.")] = None,
) -> None:
    """Record that LEARNER shadowed MENTOR, or was coached by them, on a topic."""
    with runtime_context() as rt:
        done = record_mentoring(
            rt.store, mentor, learner, topic, kind, actor_name(actor), note=note
        )
    out.print(f"recorded: {learner} {done.kind} {mentor} on {done.topic}")


@learn_app.command("review")
def learn_review(
    employee: Annotated[str, typer.Argument(help="Employee id, source id or name.")],
    item: Annotated[str | None, typer.Option("--item", help="The item reviewed.")] = None,
    rating: Annotated[
        str | None, typer.Option("--rating", help="again, hard, good or easy.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Without --item: what is due now. With --item and --rating: record a review (FSRS
    schedules the next one)."""
    with runtime_context() as rt:
        if item or rating:
            if not (item and rating):
                raise ValueError("a review needs both --item and --rating")
            card = review(rt.store, employee, item, rating)
            if as_json:
                sys.stdout.write(card.model_dump_json(exclude={"state", "embedding"}) + "\n")
            else:
                out.print(f"next review of {item_title(rt.store, item)}: {card.due[:16]}")
            return
        due = due_cards(rt.store, employee)
    if as_json:
        sys.stdout.write("[" + ",".join(c.model_dump_json() for c in due) + "]\n")
        return
    if not due:
        out.print("nothing due")
    for c in due:
        out.print(f"  {c.item}  {c.title}  {'new' if c.new else 'due ' + c.due[:16]}")


@learn_app.command("gaps")
def learn_gaps(
    employee: Annotated[str, typer.Argument(help="Employee id, source id or name.")],
    make_path: Annotated[
        bool, typer.Option("--path", help="Also build and assign a path from the gaps.")
    ] = False,
    actor: Annotated[str | None, typer.Option("--actor", help="The trainer.")] = None,
    as_json: AsJson = False,
) -> None:
    """Situations where EMPLOYEE's outcomes are worse than the rest of the team's, with the
    evidence (at least 3 conversations, and even the upper end of a 90 % interval below)."""
    with runtime_context() as rt:
        found = gaps(rt.store, employee)
        path = None
        if make_path and found:
            who = find_employee(rt.store, employee)
            path = create_path(
                rt.store,
                rt.embedder,
                f"{who.name or who.id}: gaps",
                actor_name(actor),
                [g.item for g in found],
            )
            assign_path(rt.store, path.id, [who.id], actor_name(actor))
    if as_json:
        payload = {"gaps": [g.model_dump() for g in found], "path": path.id if path else None}
        sys.stdout.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    if not found:
        out.print(f"no gap with enough evidence for {employee}")
        return
    table = Table(title=f"gaps of {employee}")
    for column in ("situation", "theirs", "team", "why"):
        table.add_column(column, overflow="fold")
    for g in found:
        table.add_row(
            g.situation or g.title,
            f"{g.estimate:.0%} (≤ {g.high:.0%})",
            f"{g.team_rate:.0%}",
            g.why,
        )
    out.print(table)
    if path is not None:
        out.print(f"path {path.id} built from the gaps and assigned")


def demo_people(rt: Runtime) -> None:
    """The rest of the spiral on the sample data, for `spiral demo`: who handles price
    objections best (socialization), a gap found in someone's own conversations and the path
    and review that follow (internalization), and a handover when that person moves on."""
    out.rule("[bold]Socialization: who handles “it's too expensive” best[/bold]")
    ranking = experts(rt.store, rt.embedder, "太贵了", limit=3)
    for e in ranking.experts:
        out.print(f"[bold]{e.name}[/bold]  {e.estimate:.0%} ({e.low:.0%}–{e.high:.0%}): {e.why}")
    out.rule("[bold]Internalization: a gap in someone's own conversations → a path[/bold]")
    weak = "张强"
    found = gaps(rt.store, weak)
    for g in found[:3]:
        out.print(f"{weak}: “{(g.situation or g.title)[:40]}”: {g.why}")
    if found:
        path = create_path(
            rt.store, rt.embedder, f"{weak}: gaps", "trainer:demo", [g.item for g in found]
        )
        assign_path(rt.store, path.id, [weak], "trainer:demo")
        due = due_cards(rt.store, weak)
        out.print(f"a path of {len(path.items)} items is assigned; {len(due)} to review now")
        if due:
            card = review(rt.store, weak, due[0].item, "good")
            out.print(f"reviewed “{due[0].title}”: good; FSRS brings it back {card.due[:16]}")
    out.rule(f"[bold]Handover: {weak} moves on, 王丽 takes over[/bold]")
    try:
        done = handover(rt.store, weak, "王丽", "admin:demo", f"{weak} moves to another team")
    except ValueError as exc:  # nothing to hand over (a store where it was not given back)
        out.print(f"[dim]{exc}[/dim]")
        return
    out.print(
        f"{len(done.customers)} customers and {len(done.conversations)} open conversations now "
        f"with 王丽 (event #{done.event}); what {weak} said stays his"
    )
    # One event: undone, it gives everything back, and a demo run again tells the same.
    back = rt.store.undo(done.event, actor="admin:demo", reason="the demo's own handover")
    out.print(f"[dim]the demo gives them back to {weak} (event #{back.seq})[/dim]")
