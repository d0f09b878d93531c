"""The Temporal dev server fixture: answers, and knows the journey search attributes."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest

from engine.search_attributes import CLI_TYPES

pytestmark = pytest.mark.integration


async def test_dev_server_has_the_journey_search_attributes(temporal_client) -> None:  # noqa: ANN001
    listed = await temporal_client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace="default")
    )
    custom = dict(listed.custom_attributes)
    for name, kind in CLI_TYPES.items():
        assert name in custom
        expected = (
            "INDEXED_VALUE_TYPE_DATETIME" if kind == "Datetime" else "INDEXED_VALUE_TYPE_KEYWORD"
        )
        assert IndexedValueType.Name(custom[name]) == expected


def test_task_queues_are_unique_per_test(task_queue: str) -> None:
    assert task_queue.startswith("test-test_task_queues_are_unique")
    assert len(task_queue) <= 60
