"""Accounts and API keys, kept in the graph store so every API replica shares them.

Why the store: accounts change rarely but must be the same on every replica (Neo4j in
production), and every change (created, role changed, key issued or revoked) belongs in the one
event log with who did it: that log is the audit trail. Keys are long random secrets, so a plain
SHA-256 of the key is what is kept (a slow password hash buys nothing against 256 random bits);
the key itself is shown once, when it is issued, and never stored.

Key format: `spk_<prefix>_<secret>`; the prefix (12 hex characters) is public and names the
key's node, so a presented key is found without a scan and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict

from graph.changes import CreateNode, NotFound, SetFields, now_iso
from graph.model import ROLES, Account, ApiKey, Employee, Label, Provenance, Role, make_id
from graph.store import GraphStore, NodeQuery, iter_nodes

__all__ = [
    "KEY_PREFIX",
    "AccountError",
    "Accounts",
    "Principal",
    "key_id",
    "key_prefix",
    "new_account_id",
]

KEY_PREFIX = "spk"
# An account id is part of the uri of what its owner uploads (upload/TEAM/UPLOADER/NAME), and
# uris are de-identified: a long run of digits in a random id reads as a phone or card number
# ("account:a341f9514c0208619102" became "account:a341f9514c[PHONE]", 0.4 % of ids; the
# shortest such run was 10 digits). New ids hold no run of ACCOUNT_ID_MAX_DIGITS + 1.
ACCOUNT_ID_MAX_DIGITS = 7
_LONG_DIGITS = re.compile(rf"\d{{{ACCOUNT_ID_MAX_DIGITS + 1}}}")
_PREFIX_BYTES = 6  # 12 hex characters: public, names the key
_SECRET_BYTES = 32  # 256 random bits
_CACHE_MAX = 10_000


def new_account_id() -> str:
    """A random account id with no long run of digits (ACCOUNT_ID_MAX_DIGITS)."""
    while True:
        candidate = make_id(Label.ACCOUNT, secrets.token_hex(16))
        if not _LONG_DIGITS.search(candidate):
            return candidate


class AccountError(ValueError):
    """A change to accounts that cannot be made as asked; the message says why."""


class Principal(BaseModel):
    """Who is asking: the account, its role, its team and the Employee node it is (if any)."""

    model_config = ConfigDict(frozen=True)

    account_id: str
    role: Role
    team: str = ""
    employee_id: str = ""
    name: str = ""

    @property
    def actor(self) -> str:
        """How the event log names this principal."""
        return self.account_id


def key_prefix(key: str) -> str | None:
    """The public prefix of a key in Spiral's format, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[2]:
        return None
    prefix = parts[1]
    if len(prefix) != 2 * _PREFIX_BYTES or not all(c in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def key_id(prefix: str) -> str:
    return make_id(Label.API_KEY, prefix)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


class Accounts:
    """Accounts and keys over one store, with a small cache of resolved keys (a revoke or an
    account change in this process drops the entries it affects at once)."""

    def __init__(
        self, store: GraphStore, ttl_s: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store, self.ttl_s, self.clock = store, ttl_s, clock
        self._cache: dict[str, tuple[Principal, str, float]] = {}  # key hash → (who, key id, until)
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every forget: a lookup that raced one is not cached
        # employee node id → their accounts' team, read once per `ttl_s` (every pushed
        # message asks it; reading every account each time cost more than the push itself)
        self._teams: tuple[dict[str, str], float] = ({}, 0.0)

    # -- accounts ---------------------------------------------------------------------------

    def create(
        self,
        actor: str,
        name: str,
        role: Role,
        team: str = "",
        employee_id: str = "",
    ) -> Account:
        if not name.strip():
            raise AccountError("an account needs a name")
        account = Account(
            id=new_account_id(),
            name=name.strip(),
            role=_role(role),
            team=team.strip(),
            employee_id=self._employee(employee_id),
            pinned=True,
            provenance=Provenance(created_by=actor, method="manual"),
        )
        self.store.apply([CreateNode(node=account)], actor, "account.create", f"account {name!r}")
        self._teams = ({}, 0.0)
        return self.get(account.id)

    def get(self, account_id: str) -> Account:
        node = self.store.get_node(account_id)
        if not isinstance(node, Account):
            raise NotFound(f"no account {account_id!r}")
        return node

    def all(self, team: str | None = None) -> list[Account]:
        query = NodeQuery(label=Label.ACCOUNT, team=team, limit=1000)
        return [n for n in iter_nodes(self.store, query) if isinstance(n, Account)]

    def team_of(self, employee_id: str) -> str:
        """The team of the first account that stands for this employee and has one ('' for
        none), from a table of all accounts read at most once per `ttl_s` (an account made or
        changed in this process is seen at once)."""
        teams, until = self._teams
        if until <= self.clock():
            teams = {}
            for account in self.all():
                if account.employee_id and account.team:
                    teams.setdefault(account.employee_id, account.team)
            self._teams = (teams, self.clock() + self.ttl_s)
        return teams.get(employee_id, "")

    def update(
        self, actor: str, account_id: str, fields: dict[str, Any], reason: str = ""
    ) -> Account:
        """Change role, team, name, employee_id or disabled (one event); nothing to change: the
        account as it is, no event."""
        account, fields = self.get(account_id), dict(fields)
        allowed = {"name", "role", "team", "employee_id", "disabled"}
        if unknown := set(fields) - allowed:
            raise AccountError(f"cannot change {', '.join(sorted(unknown))} of an account")
        if "name" in fields:
            fields["name"] = str(fields["name"]).strip()
            if not fields["name"]:
                raise AccountError("an account needs a name")
        if "role" in fields:
            fields["role"] = _role(fields["role"])
        if "employee_id" in fields:
            fields["employee_id"] = self._employee(fields["employee_id"])
        changed = {k: v for k, v in fields.items() if getattr(account, k) != v}
        if not changed:
            return account
        op = SetFields(id=account_id, fields=changed, expected_version=account.version)
        self.store.apply([op], actor, "account.update", reason or ", ".join(sorted(changed)))
        self._forget(lambda who, _key: who.account_id == account_id)
        self._teams = ({}, 0.0)
        return self.get(account_id)

    def _employee(self, ref: str) -> str:
        """The Employee node id a reference names (node id, source-system id or unique name);
        '' for none. An account cannot claim to be someone the graph does not know."""
        ref = ref.strip()
        if not ref:
            return ""
        node = self.store.get_node(ref)
        if isinstance(node, Employee):
            return node.id
        query = NodeQuery(label=Label.EMPLOYEE, limit=1000)
        found = [
            n.id
            for n in iter_nodes(self.store, query)
            if isinstance(n, Employee) and ref in (n.external_id, n.name)
        ]
        if len(found) != 1:
            many = "several employees" if found else "no employee"
            raise AccountError(f"{ref!r} names {many}: give the Employee node id")
        return found[0]

    # -- keys -------------------------------------------------------------------------------

    def issue_key(self, actor: str, account_id: str) -> tuple[str, ApiKey]:
        """A new key for the account: the key itself (shown once, never stored) and its node."""
        account = self.get(account_id)
        if account.disabled:
            raise AccountError(f"account {account_id!r} is disabled")
        prefix = secrets.token_hex(_PREFIX_BYTES)
        key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        node = ApiKey(
            id=key_id(prefix),
            account_id=account_id,
            prefix=prefix,
            secret_hash=_hash(key),
            created_at=now_iso(),
            pinned=True,
            provenance=Provenance(created_by=actor, method="manual"),
        )
        reason = f"key {prefix} for {account_id}"
        self.store.apply([CreateNode(node=node)], actor, "key.issue", reason)
        return key, node

    def keys(self, account_id: str) -> list[ApiKey]:
        self.get(account_id)
        query = NodeQuery(label=Label.API_KEY, limit=1000)
        found = [n for n in iter_nodes(self.store, query) if isinstance(n, ApiKey)]
        return sorted((k for k in found if k.account_id == account_id), key=lambda k: k.created_at)

    def revoke_key(self, actor: str, id_: str, reason: str = "") -> ApiKey:
        """Revoke a key (by its id or prefix); revoking it again changes nothing."""
        node = self.store.get_node(id_) or self.store.get_node(key_id(id_))
        if not isinstance(node, ApiKey):
            raise NotFound(f"no key {id_!r}")
        self._forget(lambda _who, key: key == node.id)
        if node.revoked:
            return node
        fields = {"revoked": True, "revoked_at": now_iso()}
        op = SetFields(id=node.id, fields=fields, expected_version=node.version)
        self.store.apply([op], actor, "key.revoke", reason or f"key {node.prefix} revoked")
        self._forget(lambda _who, key: key == node.id)
        revoked = self.store.get_node(node.id)
        assert isinstance(revoked, ApiKey)
        return revoked

    def resolve(self, key: str) -> Principal | None:
        """The principal a presented key stands for; None when it is unknown, revoked, or its
        account is disabled. Resolved keys are trusted for `ttl_s`."""
        digest = _hash(key)
        now = self.clock()
        with self._lock:
            cached, generation = self._cache.get(digest), self._generation
        if cached is not None and cached[2] > now:
            return cached[0]
        prefix = key_prefix(key)
        if prefix is None:
            return None
        node = self.store.get_node(key_id(prefix))
        if not isinstance(node, ApiKey) or node.revoked:
            return None
        if not hmac.compare_digest(node.secret_hash.encode(), digest.encode()):
            return None
        account = self.store.get_node(node.account_id)
        if not isinstance(account, Account) or account.disabled:
            return None
        who = Principal(
            account_id=account.id,
            role=account.role,
            team=account.team,
            employee_id=account.employee_id,
            name=account.name,
        )
        if self.ttl_s > 0:
            with self._lock:
                if len(self._cache) >= _CACHE_MAX:
                    self._cache.clear()
                if generation == self._generation:
                    self._cache[digest] = (who, node.id, now + self.ttl_s)
        return who

    def _forget(self, drop: Callable[[Principal, str], bool]) -> None:
        with self._lock:
            self._generation += 1
            self._cache = {h: e for h, e in self._cache.items() if not drop(e[0], e[1])}


def _role(value: object) -> Role:
    if value not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {value!r}")
    return value  # type: ignore[return-value]
