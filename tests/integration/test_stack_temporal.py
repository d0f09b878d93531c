"""The Temporal dev server fixture: answers, and knows the journey search attributes."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from workers.services.setup import SEARCH_ATTRIBUTE_TYPES

pytestmark = pytest.mark.integration


async def test_dev_server_has_the_journey_search_attributes(temporal_client) -> None:  # noqa: ANN001
    listed = await temporal_client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    custom = dict(listed.custom_attributes)
    assert len(SEARCH_ATTRIBUTE_TYPES) == 9
    for name, kind in SEARCH_ATTRIBUTE_TYPES.items():
        assert custom[name] == kind
    assert IndexedValueType.Name(custom["RenewalDate"]) == "INDEXED_VALUE_TYPE_DATETIME"
    assert IndexedValueType.Name(custom["PlaybookName"]) == "INDEXED_VALUE_TYPE_KEYWORD"


def test_task_queues_are_unique_per_test(task_queue: str) -> None:
    assert task_queue.startswith("test-test_task_queues_are_unique")
    assert len(task_queue) <= 60
