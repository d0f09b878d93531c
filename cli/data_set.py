"""`playbook data set`: facts of one account updated by hand, as the CRM webhook does.

    playbook data set ACME-0042 subscription.renewal_date=2027-05-01 account.risk_level=high

Each ``PATH=VALUE`` (a team's own fact too: ``support.open_p1_tickets=2``) is read
as an import reads that column (a date as
YYYY-MM-DD, a number, true/false, one of the known words), an unknown path is
refused with a suggestion, and nothing is written unless all of them read. Then
the facts are written and audited in one transaction and the account's running
journeys that read a changed path are told ``facts_changed``
(``workers.services.fact_updates``).
"""

from __future__ import annotations

import typer
from rich.console import Console

from cli.data import data_group
from cli.errors import UserError
from cli.services import call
from dsl.model import Model
from workers.services import fact_updates

console = Console()
err = Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add ``data set`` to the app's ``data`` group."""
    data_group(app).command("set")(set_command)


def set_command(
    account: str = typer.Argument(..., help="The account, e.g. ACME-0042."),
    facts: list[str] = typer.Argument(
        ..., help="PATH=VALUE, e.g. subscription.renewal_date=2027-05-01 (one or more)."
    ),
) -> None:
    """Update facts of one account; tell its running journeys that read them."""
    model = fact_updates.data_model()
    update = fact_updates.FactsUpdate(
        account.strip(),
        tuple(_fact(assignment, model) for assignment in facts),
        source="cli",
        step_id=fact_updates.CLI_STEP,
    )
    updated = call(lambda connections: fact_updates.set_facts(connections, update))
    if updated.changed:
        console.print(
            f"{updated.account_id}: changed {', '.join(updated.changed)}", highlight=False
        )
    if updated.unchanged:
        console.print(f"  already so: {', '.join(updated.unchanged)}", highlight=False)
    told = updated.told
    if told is None:
        return
    for journey_id, delivery in sorted(told.journeys.items()):
        console.print(f"  facts_changed -> {journey_id}: {delivery}", highlight=False)
    if told.unaffected:
        console.print(
            f"  {len(told.unaffected)} running journeys read none of the changed facts",
            highlight=False,
        )
    if told.waiting:
        err.print(
            f"Temporal did not answer ({told.error}): the worker tells the journeys once it does",
            highlight=False,
            markup=False,
        )


def _fact(assignment: str, model: Model) -> fact_updates.FactValue:
    path, equals, value = assignment.partition("=")
    if not equals:
        raise UserError(
            f"{assignment!r} is not PATH=VALUE", hint="e.g. subscription.renewal_date=2027-05-01"
        )
    try:
        return fact_updates.parse_fact(path, value, model)
    except fact_updates.FactRefused as refused:
        raise UserError(str(refused), hint=refused.hint) from None
