"""Experiment arms: a stable split of accounts by percentage.

The arm depends only on the experiment name and the account id (SHA-256), so a
journey restarted, replayed or continued-as-new always lands in the same arm.
"""

from __future__ import annotations

import hashlib

from dsl.ir import Arm, Experiment


def bucket(experiment: str, account_id: str) -> int:
    """The account's bucket 0..99 for ``experiment``."""
    digest = hashlib.sha256(f"{experiment}:{account_id}".encode()).hexdigest()
    return int(digest, 16) % 100


def assign_arm(experiment: Experiment, account_id: str) -> Arm | None:
    """The arm whose cumulative percentage range holds the account's bucket."""
    point = bucket(experiment.name, account_id)
    upper = 0
    for arm in experiment.arms:
        upper += arm.percent
        if point < upper:
            return arm
    return experiment.arms[-1] if experiment.arms else None
