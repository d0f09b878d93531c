"""The search attributes every journey keeps current, filterable in the Temporal
UI and in `temporal workflow list --query 'PlaybookName="renewal"'`."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

PLAYBOOK_NAME = SearchAttributeKey.for_keyword("PlaybookName")
PLAYBOOK_VERSION = SearchAttributeKey.for_keyword("PlaybookVersion")
ACCOUNT_ID = SearchAttributeKey.for_keyword("AccountId")
STAGE = SearchAttributeKey.for_keyword("Stage")
SEGMENT = SearchAttributeKey.for_keyword("Segment")
REGION = SearchAttributeKey.for_keyword("Region")
CSM_OWNER = SearchAttributeKey.for_keyword("CsmOwner")
RENEWAL_DATE = SearchAttributeKey.for_datetime("RenewalDate")
RISK_LEVEL = SearchAttributeKey.for_keyword("RiskLevel")

ALL = (
    PLAYBOOK_NAME,
    PLAYBOOK_VERSION,
    ACCOUNT_ID,
    STAGE,
    SEGMENT,
    REGION,
    CSM_OWNER,
    RENEWAL_DATE,
    RISK_LEVEL,
)
# `playbook setup` registers them (workers.services.setup).
