"""What a principal may ask about and see: an employee asks as themselves, about their own
customers, and sees only approved items and their own learning; a team scopes items and people.

Why here and not in the routes: the rule is the same for asking and for feedback, and it reads
the graph (who an employee reference names, who handled a customer's conversations).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import HTTPException

from api.accounts import Principal
from api.runtime import Runtime
from graph.model import Customer, Employee, ItemStatus, KnowledgeItem, Label, LinkType
from graph.store import GraphStore, NodeQuery, NotFound, iter_nodes
from seci.handover import find_employee

__all__ = [
    "account_teams",
    "as_themselves",
    "colleagues",
    "is_employee",
    "item_visible",
    "items_visible",
    "person_team",
    "person_visible",
    "sees_everything",
    "serves_customer",
    "visible_item",
    "visible_person",
]


def as_themselves(
    rt: Runtime, user: Principal, employee: str | None, customer: str | None
) -> str | None:
    """The employee a request acts as. Other roles may name anyone; an employee only
    themselves (by default), and only a customer they look after or have served: else 403."""
    if user.role != "employee":
        return employee
    me = user.employee_id
    if employee and not is_employee(rt.store, employee, me):
        raise HTTPException(403, "an employee may ask only as themselves")
    if customer and not serves_customer(rt, customer, me):
        raise HTTPException(403, "an employee may ask only about their own customers")
    return employee or me or None


def is_employee(store: GraphStore, ref: str, employee_id: str) -> bool:
    """Does `ref` (node id, source-system id or unique name) name this Employee node?"""
    if not employee_id:
        return False
    if ref == employee_id:
        return True
    try:
        return find_employee(store, ref).id == employee_id
    except (NotFound, ValueError):
        return False


def serves_customer(rt: Runtime, ref: str, employee_id: str) -> bool:
    """The customer is theirs: they own them (a handover decided it), or, with no owner,
    handled one of their conversations. A customer the graph does not know yet has nothing
    to show, so asking about them is allowed."""
    customer = rt.store.get_node(rt.customer_id(ref))
    if not isinstance(customer, Customer):
        return True
    if not employee_id:
        return False
    if customer.owner:
        return customer.owner == employee_id
    conversations = rt.store.neighbours(customer.id, [LinkType.WITH_CUSTOMER], direction="in")
    return any(
        n.node.id == employee_id
        for c in conversations
        for n in rt.store.neighbours(c.node.id, [LinkType.HANDLED_BY], direction="out")
    )


# -- teams: what a principal may see of items and people ------------------------------------


def sees_everything(user: Principal) -> bool:
    """Admins, and accounts in no team (a central knowledge team), see every team's work."""
    return user.role == "admin" or not user.team


def item_visible(user: Principal, item: KnowledgeItem) -> bool:
    """An item in no team is everyone's; a team's item is its team's. Employees see only
    approved items (drafts and rejected ones are the curators' business)."""
    if user.role == "employee" and item.status is not ItemStatus.APPROVED:
        return False
    return sees_everything(user) or item.team in ("", user.team)


def items_visible(store: GraphStore, user: Principal, ids: Iterable[str]) -> bool:
    """Whether every knowledge item among these node ids is the principal's to see (other
    nodes, and ids that name nothing, do not count): for proposals and events on items."""
    for node_id in ids:
        node = store.get_node(node_id)
        if isinstance(node, KnowledgeItem) and not item_visible(user, node):
            return False
    return True


def visible_item(store: GraphStore, user: Principal, item_id: str) -> KnowledgeItem:
    """The item, or NotFound when it does not exist or is not theirs to see (the same answer,
    so another team's ids do not leak)."""
    node = store.get_node(item_id)
    if not isinstance(node, KnowledgeItem) or not item_visible(user, node):
        raise NotFound(f"no knowledge item with id {item_id!r}")
    return node


def person_team(rt: Runtime, employee: Employee, by_account: dict[str, str] | None = None) -> str:
    """A person's team: the Employee node's, else the team of the account that is them
    (`by_account`: employee id → team, read once by a caller that asks about many)."""
    if employee.team:
        return employee.team
    return (account_teams(rt) if by_account is None else by_account).get(employee.id, "")


def account_teams(rt: Runtime) -> dict[str, str]:
    """Employee id → the team of the account that is them (the first one, as listed)."""
    teams: dict[str, str] = {}
    for account in rt.accounts.all():
        if account.employee_id:
            teams.setdefault(account.employee_id, account.team)
    return teams


def person_visible(
    rt: Runtime, user: Principal, employee: Employee, by_account: dict[str, str] | None = None
) -> bool:
    """An employee sees only themselves; the others see the people of their team (and people
    in no team); admins and team-less accounts everyone. `by_account`: as `person_team`'s,
    for a caller that asks about many people."""
    if user.role == "employee":
        return bool(user.employee_id) and employee.id == user.employee_id
    return sees_everything(user) or person_team(rt, employee, by_account) in ("", user.team)


def visible_person(rt: Runtime, user: Principal, ref: str) -> Employee:
    """The Employee `ref` names, when the principal may see them: else 403 for an employee
    asking about someone else, NotFound for another team's person."""
    who = find_employee(rt.store, ref)
    if person_visible(rt, user, who):
        return who
    if user.role == "employee":
        raise HTTPException(403, "an employee may see only their own learning")
    raise NotFound(f"no employee {ref!r} in team {user.team!r}")


def colleagues(rt: Runtime, user: Principal) -> set[str] | None:
    """Employee ids of the principal's team and of people in no team, or None for everyone
    (admins and team-less accounts). An employee learns from the whole of their team, so
    here they see their colleagues, not only themselves. The accounts are read once."""
    if sees_everything(user):
        return None
    teams = account_teams(rt)
    nodes = iter_nodes(rt.store, NodeQuery(label=Label.EMPLOYEE, limit=1000))
    return {
        n.id
        for n in nodes
        if isinstance(n, Employee) and person_team(rt, n, teams) in ("", user.team)
    }
