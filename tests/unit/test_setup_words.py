"""What `playbook setup` registers and how it says so (``workers.services.setup``)."""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType

from engine import search_attributes as attrs
from workers.services.setup import (
    SEARCH_ATTRIBUTE_TYPES,
    SetupAction,
    SetupReport,
    tcld_command,
    type_name,
)


def test_every_journey_search_attribute_has_its_type() -> None:
    assert list(SEARCH_ATTRIBUTE_TYPES) == [key.name for key in attrs.ALL]
    assert SEARCH_ATTRIBUTE_TYPES["RenewalDate"] == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
    keywords = [n for n, k in SEARCH_ATTRIBUTE_TYPES.items() if type_name(k) == "Keyword"]
    assert len(keywords) == 8


def test_the_tcld_line_for_temporal_cloud() -> None:
    line = tcld_command("cs.a2b3c", "RenewalDate", SEARCH_ATTRIBUTE_TYPES["RenewalDate"])
    assert line == (
        "tcld namespace search-attributes add --namespace cs.a2b3c "
        '--search-attribute "RenewalDate=Datetime"'
    )


def test_actions_in_words() -> None:
    action = SetupAction("register", "search attribute Stage (Keyword)")
    assert action.words() == "registered search attribute Stage (Keyword)"
    assert action.words(dry_run=True) == "would register search attribute Stage (Keyword)"
    assert SetupAction("remove", "schedule enrol:old").words() == "removed schedule enrol:old"


def test_nothing_to_do_means_nothing_done_and_nothing_missing() -> None:
    assert SetupReport("x").nothing_to_do
    assert not SetupReport("x", done=[SetupAction("create", "schedule enrol:r")]).nothing_to_do
    assert not SetupReport("x", missing=["search attribute Stage (Keyword)"]).nothing_to_do
