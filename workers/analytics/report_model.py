"""The KPI report's shape: the models ``workers.analytics.report.build_report``
returns and both renderers read by attribute (``cli.report`` for the terminal,
``workers.analytics.report_html`` for the page).

``Report.to_json`` is what ``playbook report --json`` prints: the field names are
the JSON keys, so users' scripts read the same names the renderers do. Counts are
ints; a rate is a fraction rounded to four places, ``None`` when there was nothing
to divide by; money and licences are whole numbers when they have no cents (JSON
``610``, not ``610.0``). What each number counts is in ``workers.analytics.report``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Rate = float | None
# Smart-mode union: an int stays an int, so whole amounts print without ".0".
Amount = int | float


class _Part(BaseModel):
    """A part of the report: no field beyond those declared."""

    model_config = ConfigDict(extra="forbid")


class ReportWindow(_Part):
    """The period the report covers (``None``: open on that side) and its date."""

    from_: date | None = Field(serialization_alias="from")
    to: date | None
    as_of: date
    # Where as_of comes from: "given", "today", or "playbook time" (a rehearsal's
    # journeys live ahead of the wall clock: the latest playbook time they recorded).
    as_of_basis: str = "given"
    label: str  # "2027-01-01 to 2027-03-31", "all time"
    playbook: str | None  # the activity narrowed to this playbook's journeys


# --------------------------------------------------------------------------- activity


class ContactCap(_Part):
    """The contact policy's email cap, and the same cap as emails per week."""

    max_emails: int
    per_days: Amount
    per_week: Amount


class Emails(_Part):
    """Emails sent in the window, and per contact and ISO week against the cap."""

    sent: int
    # Could not be sent: the mail server unreachable for as long as the step allowed
    # (each has a CTA; `playbook show` says which step).
    failed: int
    contacts: int
    contact_weeks: int
    max_per_contact_week: int
    mean_per_contact_week: float
    cap: ContactCap
    contact_weeks_over_cap: int


class EmailWeek(_Part):
    """One ISO week (its Monday) with a sent email."""

    week: date
    sent: int
    contacts: int
    max_per_contact: int  # the most any one contact got, to set against the cap


class IntentAsked(_Part):
    """Accounts due to be asked their renewal intent, and those that were."""

    accounts_due_to_be_asked: int
    asked: int
    rate: Rate


class OwnerCtas(_Part):
    """The open CTAs of one owner."""

    owner: str
    open: int
    overdue: int
    urgent: int


class Ctas(_Part):
    """CTAs (escalations) opened and closed in the window, and open now."""

    opened: int
    closed: int
    open_now: int
    open_by_owner: list[OwnerCtas]


class NpsFollowup(_Part):
    """NPS responses in the window by category, and their follow-up CTAs."""

    responses: int
    by_category: dict[str, int]  # promoter, passive, detractor
    ctas_opened: int
    ctas_closed: int
    closure_rate: Rate


class Activity(_Part):
    """What the playbooks did."""

    emails: Emails
    emails_by_week: list[EmailWeek]
    renewal_intent_asked: IntentAsked
    ctas: Ctas
    nps_followup: NpsFollowup


# --------------------------------------------------------------------------- outcomes


class IntentAnswers(_Part):
    """Of the accounts asked, those that answered, and their latest answers."""

    asked: int
    answered: int
    answer_rate: Rate
    split: dict[str, int]  # choice -> accounts; yes, no, not_decision_maker first


class Renewals(_Part):
    """Subscriptions renewing in the window whose date has come."""

    due: int
    on_time: int
    late: int
    overdue: int
    churned: int
    on_time_rate: Rate


class Quotes(_Part):
    """Quotes generated in the window and their organic growth."""

    generated: int
    with_organic_growth: int
    organic_growth_licences: Amount
    organic_growth_value: Amount
    total_with_organic_growth: Amount
    total: Amount


class VersionCurrency(_Part):
    """Accounts with version data, and those two or more versions behind GA."""

    accounts: int
    two_plus_behind: int
    share_two_plus_behind: Rate


class MigrationGroup(BaseModel):
    """The on-premise accounts of one region and segment, per migration stage."""

    # A stage the store holds beyond the five below (the schema allows none) is
    # kept as a field of its own, as it was counted.
    model_config = ConfigDict(extra="allow")

    region: str
    segment: str
    accounts: int
    not_started: int = 0
    notified: int = 0
    planned: int = 0
    migrating: int = 0
    migrated: int = 0
    migrated_share: Rate = None


class Share(_Part):
    """Of ``accounts``, ``count`` are so; ``rate`` is their share."""

    accounts: int
    count: int
    rate: Rate


class Book(_Part):
    """Onboarding and contact over the active book now; confirmed intent over the
    accounts renewing in the window whose asking point has come."""

    onboarding_complete: Share
    in_contact: Share
    confirmed_intent: Share


class Outcomes(_Part):
    """What came of it (the whole book, whatever the playbook)."""

    renewal_intent: IntentAnswers
    renewals: Renewals
    quotes: Quotes
    version_currency: VersionCurrency
    cloud_migration: list[MigrationGroup]
    book: Book


# --------------------------------------------------------------------------- journeys


class _Journeys(BaseModel):
    playbook: str

    def counts(self) -> dict[str, int]:
        """The count columns after ``total``, by name, in field order."""
        data = self.model_dump(exclude={"playbook", "source", "total", "versions"})
        return {name: int(value) for name, value in data.items()}


class JourneysFromEvents(_Journeys):
    """One playbook's journeys as the store's journey events count them."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["journey events"] = "journey events"
    total: int
    running: int
    ended: int


class HealthCounts(_Part):
    """A playbook's running journeys as on track / behind / stuck
    (``engine.journey_health``), of the ``health_sampled`` asked."""

    on_track: int = 0
    behind: int = 0
    stuck: int = 0
    health_sampled: int = 0


class JourneysFromTemporal(_Journeys):
    """One playbook's journeys by execution status (Temporal visibility), and the
    running ones' health."""

    # Visibility may group by a status beyond these (ContinuedAsNew): kept as a
    # field of its own, lower-cased, as Temporal names it.
    model_config = ConfigDict(extra="allow")

    source: Literal["temporal"] = "temporal"
    total: int
    running: int = 0
    completed: int = 0
    failed: int = 0
    canceled: int = 0
    terminated: int = 0
    timedout: int = 0
    on_track: int = 0
    behind: int = 0
    stuck: int = 0
    health_sampled: int = 0
    # Running journeys per playbook version (a journey keeps the version it started on).
    versions: dict[str, int] = Field(default_factory=dict)


PlaybookJourneys = Annotated[
    JourneysFromEvents | JourneysFromTemporal, Field(discriminator="source")
]


class Arm(_Part):
    """One arm of a playbook's experiment: its journeys, what they did, and how many
    achieved the playbook's goal."""

    playbook: str
    experiment: str
    arm: str
    journeys: int
    emails: int
    ctas: int
    achieved: int
    holdout: bool
    achieved_rate: Rate


class GoalCount(_Part):
    """How many journeys of one playbook and arm (``""``: no experiment) reached one
    of its goals (``workers.analytics.goal_counts``)."""

    playbook: str
    experiment: str
    arm: str
    goal: str
    reached: int
    journeys: int


class LateAnswerCount(_Part):
    """Answers to one question of one playbook that came after its answer window
    closed, of all its answers (``workers.analytics.late_answers``)."""

    playbook: str
    question: str
    late: int
    answers: int


class Report(_Part):
    """The whole KPI report: activity apart from outcomes, journeys per playbook,
    experiment arms."""

    window: ReportWindow
    activity: Activity
    outcomes: Outcomes
    journeys: list[PlaybookJourneys]
    arms: list[Arm]
    goals: list[GoalCount] = Field(default_factory=list)
    late_answers: list[LateAnswerCount] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON data (dates as ISO strings): ``playbook report --json``."""
        return self.model_dump(mode="json", by_alias=True)
