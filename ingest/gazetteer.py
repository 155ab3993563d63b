"""The gazetteer: curated names of products, policies, competitors, objections and needs.

Why a file plus merge: the enterprise seeds the gazetteer by hand (JSON), and every entity a
knowledge manager approves in the graph extends it, so extraction learns the names the
organisation actually uses without a model.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from graph.ids import content_hash
from graph.model import EntityKind
from graph.text import normalize

__all__ = [
    "GAZETTEER_KINDS",
    "GazetteerEntry",
    "GazetteerError",
    "bundled_gazetteer",
    "gazetteer_digest",
    "gazetteer_file",
    "load_gazetteer",
    "merge",
]

# Kinds a curated gazetteer holds; value kinds (money, dates, ...) come from rules instead.
GAZETTEER_KINDS = frozenset(
    {
        EntityKind.PRODUCT,
        EntityKind.POLICY,
        EntityKind.COMPETITOR,
        EntityKind.OBJECTION,
        EntityKind.NEED,
        EntityKind.TOPIC,
    }
)


class GazetteerError(ValueError):
    """The gazetteer file cannot be used; the message names the file and the reason."""


class GazetteerEntry(BaseModel):
    """One canonical name with its aliases (any language)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    kind: EntityKind
    aliases: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _strip_name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("name is blank")
        return value.strip()

    @field_validator("kind")
    @classmethod
    def _curated_kind(cls, value: EntityKind) -> EntityKind:
        if value not in GAZETTEER_KINDS:
            allowed = ", ".join(sorted(k.value for k in GAZETTEER_KINDS))
            raise ValueError(f"kind {value.value!r} is not a gazetteer kind ({allowed})")
        return value

    @field_validator("aliases", mode="before")
    @classmethod
    def _clean_aliases(cls, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, Iterable):
            raise ValueError("aliases must be a list of strings")
        out: list[str] = []
        for alias in value:
            if not isinstance(alias, str):
                raise ValueError(f"alias {alias!r} is not a string")
            if alias.strip() and alias.strip() not in out:
                out.append(alias.strip())
        return tuple(out)

    @property
    def forms(self) -> tuple[str, ...]:
        """The name and its aliases, name first, without normalized duplicates."""
        seen: set[str] = set()
        out: list[str] = []
        for form in (self.name, *self.aliases):
            if normalize(form) not in seen:
                seen.add(normalize(form))
                out.append(form)
        return tuple(out)


def bundled_gazetteer() -> Path:
    """The gazetteer shipped inside the package (`ingest/data/gazetteer.json`): present in any
    install, editable or not; `examples/gazetteer.json` is the same file for readers."""
    return Path(str(files("ingest").joinpath("data", "gazetteer.json")))


def gazetteer_file(configured: Path | None) -> Path:
    """The gazetteer to load: the configured path (settings `gazetteer_path`), or the bundled
    one when none is set. A configured path that is not a file is an error naming the setting,
    never a silent run without a gazetteer."""
    if configured is None:
        return bundled_gazetteer()
    if not configured.is_file():
        reason = "not a file" if configured.exists() else "no such file"
        raise GazetteerError(f"SPIRAL_GAZETTEER_PATH={configured}: {reason}")
    return configured


def _entries_from(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("entities"), list):
        raise ValueError('expected an object {"entities": [...]}')
    return data["entities"]


def load_gazetteer(path: str | Path) -> list[GazetteerEntry]:
    """Read `{"entities": [{"name", "kind", "aliases"}]}`; entries naming the same thing
    (same kind, a shared name or alias) are merged. Raises GazetteerError with the reason."""
    path = Path(path)
    try:
        raw = _entries_from(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise GazetteerError(f"{path}: {exc}") from exc
    entries: list[GazetteerEntry] = []
    for index, item in enumerate(raw):
        try:
            entries.append(GazetteerEntry.model_validate(item))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'entry'}: {e['msg']}" for e in exc.errors()
            )
            raise GazetteerError(f"{path}: entities[{index}]: {problems}") from None
    return merge(entries, [])


class _Named(Protocol):
    name: str
    kind: Any
    aliases: Any


def _as_entry(item: GazetteerEntry | _Named) -> GazetteerEntry:
    if isinstance(item, GazetteerEntry):
        return item
    return GazetteerEntry(name=item.name, kind=item.kind, aliases=tuple(item.aliases or ()))


def _union(base: GazetteerEntry, other: GazetteerEntry) -> GazetteerEntry:
    known = {normalize(form) for form in base.forms}
    new = [form for form in other.forms if normalize(form) not in known]
    return GazetteerEntry(name=base.name, kind=base.kind, aliases=(*base.aliases, *new))


def merge(
    entries: Iterable[GazetteerEntry], extra: Iterable[GazetteerEntry | _Named]
) -> list[GazetteerEntry]:
    """Entries plus extra ones (gazetteer entries or approved graph Entities). One that shares
    a normalized name or alias with an earlier entry of the same kind adds its forms to it as
    aliases; the earlier canonical name wins. Value kinds are skipped. Inputs are unchanged."""
    merged: list[GazetteerEntry] = []
    index: dict[tuple[EntityKind, str], int] = {}
    for item in [*entries, *extra]:
        if EntityKind(item.kind) not in GAZETTEER_KINDS:
            continue  # value kinds (money, dates, ...) are matched by rules, not by name
        entry = _as_entry(item)
        keys = [(entry.kind, normalize(form)) for form in entry.forms]
        hit = next((index[k] for k in keys if k in index), None)
        if hit is None:
            hit = len(merged)
            merged.append(entry)
        else:
            merged[hit] = _union(merged[hit], entry)
        for key in [(entry.kind, normalize(f)) for f in merged[hit].forms]:
            index.setdefault(key, hit)
    return merged


def gazetteer_digest(entries: Iterable[GazetteerEntry]) -> str:
    """Hash of the entries (order-independent): a changed gazetteer means re-extraction."""
    dumps = sorted(json.dumps(e.model_dump(mode="json"), ensure_ascii=False) for e in entries)
    return content_hash(*dumps)
