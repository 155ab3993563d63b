"""What a principal may ask about: an employee asks as themselves, about their own customers.

Why here and not in the routes: the rule is the same for asking and for feedback, and it reads
the graph (who an employee reference names, who handled a customer's conversations).
"""

from __future__ import annotations

from fastapi import HTTPException

from api.accounts import Principal
from api.runtime import Runtime
from graph.model import Customer, LinkType
from graph.store import GraphStore, NotFound
from seci.handover import find_employee

__all__ = ["as_themselves", "is_employee", "serves_customer"]


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
