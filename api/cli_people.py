"""`spiral experts`, `spiral exemplars` and `spiral handover`: who handles a topic best, which
of their real conversations to read (seci/socialize.py), and passing someone's customers on
when they leave (seci/handover.py). `--json` prints one JSON object."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from api.cli_seci import actor_name, runtime_context
from seci.handover import handover
from seci.socialize import exemplars, experts

__all__ = ["exemplars_command", "experts_command", "handover_command"]

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
