"""Accounts and API keys on both stores (api/accounts.py): a key works until it is revoked or
its account disabled, the key itself is kept nowhere, and every change names its actor."""

from __future__ import annotations

import json

import pytest

from api.accounts import AccountError, Accounts, key_prefix
from graph.changes import NotFound
from graph.model import Account, ApiKey, Employee, Label
from graph.store import GraphStore, NodeQuery, iter_nodes
from tests.conftest import HashEmbedder

ADMIN = "account:the-admin"


@pytest.fixture
def accounts(store: GraphStore) -> Accounts:
    store.upsert_nodes([Employee(id="emp-li", name="李娜", external_id="li.na", team="north")])
    return Accounts(store, ttl_s=30.0)


def test_create_issue_resolve_revoke(accounts: Accounts, store: GraphStore) -> None:
    account = accounts.create(ADMIN, "李娜", "employee", "north", "li.na")
    assert isinstance(store.get_node(account.id), Account)
    assert account.employee_id == "emp-li"  # the source-system id names the Employee node
    key, node = accounts.issue_key(ADMIN, account.id)
    assert key.startswith("spk_") and key_prefix(key) == node.prefix
    who = accounts.resolve(key)
    assert who is not None and (who.account_id, who.role) == (account.id, "employee")
    assert (who.team, who.employee_id) == ("north", "emp-li")
    assert accounts.resolve(key[:-1] + ("A" if key[-1] != "A" else "B")) is None  # wrong secret
    assert accounts.resolve("spk_nothing") is None and accounts.resolve("") is None
    revoked = accounts.revoke_key(ADMIN, node.id)
    assert revoked.revoked and revoked.revoked_at
    assert accounts.resolve(key) is None  # at once in this process, cache or not
    assert Accounts(store).resolve(key) is None  # and in any other
    assert accounts.revoke_key(ADMIN, node.prefix).revoked  # again, by prefix: no change


def test_a_disabled_account_is_refused(accounts: Accounts, store: GraphStore) -> None:
    account = accounts.create(ADMIN, "王丽", "knowledge_manager")
    key, _ = accounts.issue_key(ADMIN, account.id)
    assert accounts.resolve(key) is not None
    accounts.update(ADMIN, account.id, {"disabled": True})
    assert accounts.resolve(key) is None
    assert Accounts(store).resolve(key) is None
    with pytest.raises(AccountError, match="disabled"):
        accounts.issue_key(ADMIN, account.id)
    accounts.update(ADMIN, account.id, {"disabled": False, "role": "trainer"})
    who = accounts.resolve(key)
    assert who is not None and who.role == "trainer"


def test_the_key_is_kept_nowhere(accounts: Accounts, store: GraphStore) -> None:
    account = accounts.create(ADMIN, "张强", "admin")
    key, node = accounts.issue_key(ADMIN, account.id)
    secret = key.split("_", 2)[2]
    accounts.revoke_key(ADMIN, node.id)
    kept = [
        *(n.model_dump(mode="json") for n in iter_nodes(store, NodeQuery(label=Label.API_KEY))),
        *(e.model_dump(mode="json") for e in store.events(limit=10_000)),
    ]
    raw = json.dumps(kept, ensure_ascii=False).encode() + _everything_stored(store)
    assert node.id.encode() in raw and node.prefix.encode() in raw  # the scan sees the key
    assert secret.encode() not in raw and key.encode() not in raw


def _everything_stored(store: GraphStore) -> bytes:
    """Every byte the store keeps: the embedded store's files, or every property of every
    node on the Neo4j server (knowledge, decisions, events alike)."""
    path = getattr(store, "path", None)
    if path is not None:
        return b"".join(f.read_bytes() for f in path.parent.glob(path.name + "*"))
    records, _, _ = store._driver.execute_query(  # type: ignore[attr-defined]
        "MATCH (n) RETURN properties(n) AS p",
        database_=store._database,  # type: ignore[attr-defined]
    )
    return json.dumps([r["p"] for r in records], default=str, ensure_ascii=False).encode()


def test_events_carry_the_actor(accounts: Accounts, store: GraphStore) -> None:
    since = store.events()[-1].seq  # the fixture's employee
    account = accounts.create(ADMIN, "李娜", "employee")
    _, node = accounts.issue_key("account:other-admin", account.id)
    accounts.update(ADMIN, account.id, {"team": "south"})
    accounts.revoke_key(ADMIN, node.id)
    log = [(e.actor, e.action, e.ids) for e in store.events(since=since)]
    assert log == [
        (ADMIN, "account.create", [account.id]),
        ("account:other-admin", "key.issue", [node.id]),
        (ADMIN, "account.update", [account.id]),
        (ADMIN, "key.revoke", [node.id]),
    ]
    assert accounts.update(ADMIN, account.id, {"team": "south"}).team == "south"  # no change:
    assert len(store.events(since=since)) == 4  # no event


def test_bad_changes_are_refused(accounts: Accounts) -> None:
    with pytest.raises(AccountError, match="role"):
        accounts.create(ADMIN, "x", "boss")  # type: ignore[arg-type]
    with pytest.raises(AccountError, match="no employee"):
        accounts.create(ADMIN, "x", "employee", employee_id="nobody")
    with pytest.raises(NotFound):
        accounts.issue_key(ADMIN, "account:none")
    with pytest.raises(NotFound):
        accounts.revoke_key(ADMIN, "apikey:none")
    account = accounts.create(ADMIN, "x", "employee")
    with pytest.raises(AccountError, match="secret_hash"):
        accounts.update(ADMIN, account.id, {"secret_hash": "x"})


def test_accounts_and_keys_are_never_searched(accounts: Accounts, store: GraphStore) -> None:
    account = accounts.create(ADMIN, "Searchable Person 李娜", "admin", "north")
    _, node = accounts.issue_key(ADMIN, account.id)
    assert isinstance(store.get_node(node.id), ApiKey)
    for words in ("Searchable Person", "李娜", node.prefix, "north"):
        hits = store.lexical_search(words, k=50)
        assert not {h.label for h in hits} & {Label.ACCOUNT, Label.API_KEY}, words
    vector = HashEmbedder().encode(["Searchable Person 李娜 admin north"])[0].tolist()
    hits = store.vector_search(vector, k=50)
    assert not {h.label for h in hits} & {Label.ACCOUNT, Label.API_KEY}
    assert [a.id for a in accounts.all(team="north")] == [account.id]


def test_a_revoke_elsewhere_is_seen_within_the_cache_time(store: GraphStore) -> None:
    now = [0.0]
    here, elsewhere = Accounts(store, ttl_s=30.0, clock=lambda: now[0]), Accounts(store)
    account = here.create(ADMIN, "李娜", "employee")
    key, node = here.issue_key(ADMIN, account.id)
    assert here.resolve(key) is not None  # now trusted for 30 s here
    elsewhere.revoke_key(ADMIN, node.id)  # another replica
    assert here.resolve(key) is not None
    now[0] = 31.0
    assert here.resolve(key) is None


def test_an_employee_s_team_comes_from_their_account(store: GraphStore) -> None:
    """Every pushed message asks for the handler's team: read from a table of the accounts
    that a change here renews at once and a change elsewhere within the cache time."""
    store.upsert_nodes([Employee(id="emp-wang", name="王丽", external_id="wang.li")])
    now = [0.0]
    here, elsewhere = Accounts(store, ttl_s=30.0, clock=lambda: now[0]), Accounts(store)
    assert here.team_of("emp-wang") == "" and here.team_of("") == ""
    account = here.create(ADMIN, "王丽", "employee", "", "wang.li")
    assert here.team_of("emp-wang") == ""  # an account without a team names none
    here.update(ADMIN, account.id, {"team": "south"})
    assert here.team_of("emp-wang") == "south"  # at once in this process
    elsewhere.update(ADMIN, account.id, {"team": "east"})  # another replica
    assert here.team_of("emp-wang") == "south"
    now[0] = 31.0
    assert here.team_of("emp-wang") == "east"
