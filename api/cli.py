"""The `spiral` command line. Its commands and JSON shapes are fixed by DESIGN.md: other tools
rely on them, so change them only together with the design."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from api.asking import AskInputError, ask_lines, request_from_conversation, request_from_json
from api.cli_people import (
    demo_people,
    exemplars_command,
    experts_command,
    handover_command,
    learn_app,
)
from api.cli_seci import (
    actor_name,
    bind,
    curate_app,
    feedback_command,
    items_app,
    metrics_command,
    seci_app,
)
from api.runtime import KNOWN_ERRORS, Runtime
from graph.settings import get_settings
from graph.store import Conflict, NotFound
from ingest.pipeline import IngestReport
from seci import items as lifecycle
from seci.assist import AskRequest, AskResult, Turn
from seci.combine import proposals
from seci.externalize import externalize
from seci.feedback import record_feedback
from seci.items_view import items_page

app = typer.Typer(
    name="spiral",
    help="Spiral: the right talk track, from your organization's own knowledge.",
    no_args_is_help=True,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)
app.add_typer(seci_app, name="seci")
app.add_typer(curate_app, name="curate")
app.add_typer(items_app, name="items")
app.command("feedback")(feedback_command)
app.command("metrics")(metrics_command)
app.command("experts")(experts_command)
app.command("exemplars")(exemplars_command)
app.command("handover")(handover_command)
app.add_typer(learn_app, name="learn")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@contextmanager
def runtime() -> Iterator[Runtime]:
    """Open settings, store and (lazily) the model; turn known failures into one clear line."""
    rt = None
    try:
        rt = Runtime(get_settings())
        yield rt
    except KNOWN_ERRORS as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        if rt is not None:
            rt.close()


bind(runtime)

SUMMARY_COLUMNS = (
    "files",
    "ingested",
    "unchanged",
    "failed",
    "chunks",
    "messages",
    "entities",
    "links",
)


def _print_report(report: IngestReport) -> None:
    table = Table(title="ingest summary")
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="right")
    totals = report.totals()
    table.add_row(*(str(totals[c]) for c in SUMMARY_COLUMNS))
    out.print(table)
    for f in report.files:  # names and reasons quote user input: never read as markup
        if f.status == "failed":
            err.print(f"[red]failed[/red] {escape(f.uri)}: {escape(f.reason)}")
        for row_error in f.row_errors:
            err.print(f"[yellow]skipped row[/yellow] {escape(f.uri)}: {escape(row_error)}")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    kind: Annotated[
        str | None,
        typer.Option(
            help="Force the kind: document, transcript, note, or a format such as pdf, csv, wecom."
        ),
    ] = None,
) -> None:
    """Ingest documents, transcripts and notes. Re-running on unchanged input changes nothing.
    A file that cannot be ingested is reported and the rest go on; the exit code is 1 when
    any failed."""
    with runtime() as rt:
        try:
            report = rt.ingestor().ingest(paths, kind=kind, progress=True)
        except KeyboardInterrupt:  # files done so far are written, each whole
            err.print("[yellow]interrupted[/yellow]: files ingested so far are kept")
            raise typer.Exit(130) from None
        _print_report(report)
        settled = rt.settle()
        if settled.settled:
            out.print(
                f"{settled.settled} suggestion uses counted as worked or failed: their "
                f"conversations arrived with an outcome"
            )
        if report.failed:
            raise typer.Exit(1)


@app.command()
def forget(
    paths: Annotated[list[Path], typer.Argument(help="Files as given to `spiral ingest`.")],
) -> None:
    """Remove ingested files and everything derived only from them."""
    with runtime() as rt:
        missing = 0
        for path in paths:
            result = rt.ingestor().forget(path)
            if result.nodes_deleted == 0:
                err.print(f"[yellow]not in the store:[/yellow] {path}")
                missing += 1
            else:
                out.print(
                    f"forgot {path}: {result.nodes_deleted} nodes, {result.links_deleted} links"
                )
        if missing:
            raise typer.Exit(1)


def _print_answer(result: AskResult, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.model_dump(exclude={"hint"}), ensure_ascii=False) + "\n")
        if result.hint:
            err.print(f"hint: {result.hint}")
        return
    out.print(f"[bold]{result.query}[/bold]")
    if result.hint:
        out.print(f"[yellow]{result.hint}[/yellow]")
    if result.entities:
        out.print(f"[dim]in play: {', '.join(result.entities)}[/dim]")
    number = 0
    for s in result.suggestions:
        if s.opening:
            out.print(f"[bold green]open with: {s.title}[/bold green]")
        else:
            number += 1
            draft = " [yellow](draft)[/yellow]" if s.draft else ""
            weak = " [yellow](weak match)[/yellow]" if s.weak else ""
            out.print(
                f"[bold cyan]{number}. {s.title}[/bold cyan]{draft}{weak}"
                f"  [dim]score {s.score:.3f}[/dim]"
            )
        out.print(f"   {s.text}")
        out.print(f"   [dim]why: {s.why}; source: {', '.join(r.uri for r in s.sources)}[/dim]")


@app.command()
def ask(
    text: Annotated[
        str | None,
        typer.Argument(help="The customer's words (default with --context-file: their last turn)."),
    ] = None,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=50, help="How many options.")] = 5,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON (one object per query).")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="One ask per line: the words, or a JSON object."),
    ] = None,
    context_file: Annotated[
        Path | None,
        typer.Option("--context-file", help="The conversation so far (canonical transcript JSON)."),
    ] = None,
    employee: Annotated[str | None, typer.Option("--employee", help="Who asks.")] = None,
    customer: Annotated[
        str | None, typer.Option("--customer", help="The customer's id or name.")
    ] = None,
) -> None:
    """What should I say? Distinct options with why and where they come from."""
    if file is not None and (text is not None or context_file is not None):
        err.print("[red]error:[/red] give TEXT and/or --context-file, or --file, not both")
        raise typer.Exit(2)
    if file is None and text is None and context_file is None:
        err.print("[red]error:[/red] give TEXT, --context-file CONVERSATION.json or --file ASKS")
        raise typer.Exit(2)
    try:
        if file is not None:
            asks = list(ask_lines(file))
        else:
            asks = [(0, _one_ask(text, context_file, employee, customer))]
    except AskInputError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    failed = 0
    with runtime() as rt:
        for _, request in asks:
            if isinstance(request, AskInputError):
                failed += 1
                err.print(f"[red]error:[/red] {request}")
                if as_json:
                    sys.stdout.write(json.dumps({"error": str(request)}, ensure_ascii=False) + "\n")
                continue
            if file is not None and (employee or customer):
                request = request.model_copy(
                    update={
                        "employee": request.employee or employee,
                        "customer": request.customer or customer,
                    }
                )
            _print_answer(rt.ask(request, top_k), as_json)
    if failed:
        raise typer.Exit(1)


def _one_ask(
    text: str | None, context_file: Path | None, employee: str | None, customer: str | None
) -> AskRequest:
    if context_file is None:
        return request_from_json({"query": text or "", "employee": employee, "customer": customer})
    try:
        payload = json.loads(context_file.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as exc:
        raise AskInputError(f"cannot read {context_file}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise AskInputError(f"{context_file} is not JSON: {exc.msg} (line {exc.lineno})") from None
    return request_from_conversation(payload, text, employee, customer)


@app.command()
def stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts of nodes by label and links by type in the current store."""
    with runtime() as rt:
        s = rt.store.stats()
        if as_json:
            sys.stdout.write(json.dumps({"nodes": s.nodes, "links": s.links}) + "\n")
            return
        table = Table(title=f"store: {rt.settings.store}")
        table.add_column("kind")
        table.add_column("name")
        table.add_column("count", justify="right")
        for name, count in s.nodes.items():
            table.add_row("node", name, str(count))
        for name, count in s.links.items():
            table.add_row("link", name, str(count))
        out.print(table)
        if not s.nodes:
            out.print(
                "[yellow]the store is empty: run `spiral demo` or `spiral ingest PATH`[/yellow]"
            )


@app.command()
def events(
    since: Annotated[int, typer.Option(min=0, help="Show events after this sequence number.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 1000,
    action: Annotated[
        list[str] | None, typer.Option("--action", help="Only these actions (repeatable).")
    ] = None,
    node: Annotated[str | None, typer.Option("--id", help="Only events touching this id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The event log from a cursor: every change, who made it, before and after, and why."""
    with runtime() as rt:
        found = rt.store.events(since=since, limit=limit, actions=action, node_id=node)
        if as_json:
            for event in found:
                sys.stdout.write(event.model_dump_json() + "\n")
            return
        table = Table(title=f"events after #{since}")
        for column in ("seq", "at", "actor", "action", "ids", "reason"):
            table.add_column(column, overflow="fold")
        for event in found:
            ids = ", ".join(event.ids[:3]) + (
                f" (+{len(event.ids) - 3})" if len(event.ids) > 3 else ""
            )
            table.add_row(
                str(event.seq), event.at[:19], event.actor, event.action, ids, event.reason
            )
        out.print(table)
        if not found:
            out.print(f"[yellow]no events after #{since}[/yellow]")


@app.command()
def undo(
    seq: Annotated[int, typer.Argument(help="The sequence number of the event to undo.")],
    reason: Annotated[str, typer.Option(help="Why (kept in the log).")] = "",
    actor: Annotated[str | None, typer.Option(help="Who undoes it (default: cli:$USER).")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Undo one event: its inverse is appended to the log (nothing is erased)."""
    with runtime() as rt:
        try:
            event = rt.store.undo(seq, actor=actor_name(actor), reason=reason)
        except (Conflict, NotFound) as exc:
            err.print(f"[red]refused:[/red] {exc}")
            raise typer.Exit(1) from None
        if as_json:
            sys.stdout.write(event.model_dump_json() + "\n")
        else:
            out.print(f"undid #{seq} as event #{event.seq}: {', '.join(event.ids)}")


@app.command()
def demo(
    queries: Annotated[int, typer.Option(help="How many example questions to ask.")] = 4,
) -> None:
    """Load the bundled bilingual sample data and answer a few typical questions."""
    if not EXAMPLES.is_dir():
        err.print(f"[red]error:[/red] the sample data is missing at {EXAMPLES}")
        raise typer.Exit(2)
    with runtime() as rt:
        out.print(
            f"[bold]Ingesting the sample corpus[/bold] from {EXAMPLES} "
            f"into the {rt.settings.store} store"
        )
        folders = [EXAMPLES / name for name in ("docs", "notes", "transcripts")]
        report = rt.ingestor().ingest(folders, progress=True)
        _print_report(report)
        _demo_mining(rt)
        lines = (EXAMPLES / "queries.txt").read_text(encoding="utf-8").splitlines()
        for query in [q for q in lines if q.strip()][:queries]:
            out.rule()
            _print_answer(rt.ask(query, 3), as_json=False)
        _demo_live(rt)
        demo_people(rt)


DEMO_CONVERSATION = [
    Turn(role="customer", text="金盾百万医疗险一年要三百多？有点贵，我再考虑考虑"),
    Turn(role="employee", text="理解您的顾虑，我帮您算一笔账"),
    Turn(role="customer", text="那买了以后要多久才生效？"),
]


def _demo_live(rt: Runtime) -> None:
    """A conversation as it happens: an opening line before the employee speaks, then an
    answer that depends on what was said before; then feedback moves the next answer."""
    out.rule("[bold]Live: the customer has just written (no answer yet)[/bold]")
    _print_answer(rt.ask(AskRequest(context=DEMO_CONVERSATION[:1], employee="王丽"), 3), False)
    out.rule("[bold]Live: two turns later, “how long?” after a price talk[/bold]")
    _print_answer(rt.ask(AskRequest(context=DEMO_CONVERSATION, employee="王丽"), 3), False)
    out.rule("[bold]The loop: what happened when employees used the first option[/bold]")
    query = "客户说金盾百万医疗险太贵了，我该怎么回？"
    first = next((s for s in rt.ask(query, 3).suggestions if s.item), None)
    if first is None:
        out.print(f"no talk track among the options for “{query}”")
        return
    before = [s.id for s in rt.ask(query, 3).suggestions]
    used, now, told = 0, rt.ask(query, 3), []
    while used < 8 and [s.id for s in now.suggestions] == before:
        told.append(
            record_feedback(rt.store, first.id, "failed", "employee:demo", reason="customer left")
        )
        used, now = used + 1, rt.ask(query, 3)
    out.print(f"“{first.title}” was used {used} times and the customer left each time:")
    _print_answer(now, as_json=False)
    # Taken back (undone, newest first), so that the next demo on this store tells the same.
    for event in reversed(told):
        rt.store.undo(event.seq, actor="demo", reason="the demo's own feedback")
    if told:
        out.print(
            f"[dim]the demo's feedback is taken back (events #{told[0].seq}–#{told[-1].seq} "
            "undone), so a demo run again tells the same[/dim]"
        )


def _demo_mining(rt: Runtime) -> None:
    """Externalize, show what was mined, and take one curation step (approve the talk track
    with the most evidence; a contradiction waits in the queue)."""
    out.rule("[bold]Externalization: mining talk tracks from the conversations[/bold]")
    report = externalize(rt.store, rt.embedder)
    out.print(
        f"{report.situations} situations and {report.notes} note sections read; "
        f"{report.created} items created, {report.updated} updated ({report.seconds:.1f}s)"
    )
    tracks = sorted(
        items_page(rt.store, kind="talk_track"), key=lambda i: (-i.evidence, -i.successes)
    )
    for item in tracks[:3]:
        won = f"worked {item.successes} of {item.trials}" if item.trials else "no outcomes"
        out.print(
            f"[bold cyan]{item.title}[/bold cyan]  [dim]{item.evidence} situations, {won}[/dim]"
        )
        out.print(f"   say: {item.text[:160]}")
        for bad in item.avoid[:2]:
            out.print(f"   [red]don't say:[/red] {bad.text[:120]}  [dim](lost {bad.trials})[/dim]")
    out.rule("[bold]Combination: the curation queue[/bold]")
    for p in proposals(rt.store, kinds=["contradiction"])[:2]:
        out.print(
            f"[yellow]contradiction[/yellow] {p.reason}: {' | '.join(p.details['sentences'])}"
        )
    if tracks:
        event = lifecycle.approve(rt.store, tracks[0].id, "demo", "the team's best answer")
        out.print(
            f"approved “{tracks[0].title}” (event #{event.seq}; "
            f"`spiral curate undo {event.seq}` takes it back)"
        )


NO_ADMIN_KEY = (
    "refusing to start without SPIRAL_ADMIN_KEY: set it to a long random secret "
    "(export SPIRAL_ADMIN_KEY=$(openssl rand -base64 32)), or run `spiral serve --dev` locally"
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    dev: Annotated[
        bool, typer.Option("--dev", help="No key needed: every request without one is an admin.")
    ] = False,
) -> None:
    """Run the HTTP API (OpenAPI docs at /docs). Needs SPIRAL_ADMIN_KEY unless --dev."""
    import os

    import uvicorn

    from api.app import DEV_WARNING

    settings = get_settings()
    if dev or settings.dev_mode:
        os.environ["SPIRAL_DEV_MODE"] = "true"  # the app reads its settings when it starts
        get_settings.cache_clear()
        err.print(f"[bold red]WARNING: {DEV_WARNING}[/bold red]", soft_wrap=True)
    elif not settings.admin_key.get_secret_value():
        err.print(f"[red]error:[/red] {NO_ADMIN_KEY}", soft_wrap=True)
        raise typer.Exit(2)
    uvicorn.run("api.app:serving_app", factory=True, host=host, port=port)


if __name__ == "__main__":  # pragma: no cover
    app()
