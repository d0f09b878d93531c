"""The supervisor's restart policy and what `dev status` says of restarts (no processes)."""

from __future__ import annotations

import signal

from workers.stack.supervisor import RestartPolicy, RestartRecord, describe_exit


def test_the_delay_doubles_from_one_second_to_thirty() -> None:
    policy = RestartPolicy()
    delays: list[float] = []
    previous = None
    for _ in range(8):  # each run dies at once
        previous = policy.delay(previous, ran_for=0.2)
        delays.append(previous)
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]


def test_a_healthy_run_brings_the_delay_back_to_the_first() -> None:
    policy = RestartPolicy(first=1, longest=30, healthy_after=30)
    assert policy.delay(16, ran_for=29.9) == 30
    assert policy.delay(16, ran_for=30) == 1
    assert policy.delay(None, ran_for=0) == 1


def test_an_exit_says_its_signal_or_its_code() -> None:
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGTERM) == "killed by SIGTERM"
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(0) == "exit code 0"


def test_status_says_how_often_when_and_why() -> None:
    record = RestartRecord(supervisor_pid=1, since=1000.0)
    assert record.describe(now=1010.0) == ""  # nothing happened
    record.exits, record.restarts, record.last_restart = 3, 3, 1000.0
    record.last_exit = "killed by SIGKILL"
    assert record.describe(now=1012.0) == "restarted 3 times, last 12 s ago (killed by SIGKILL)"
    record.exits, record.restarts = 1, 1
    assert record.describe(now=1000.5) == "restarted 1 time, last 0.5 s ago (killed by SIGKILL)"
    assert record.describe(now=1000.0 + 600) == (
        "restarted 1 time, last 10 min ago (killed by SIGKILL)"
    )


def test_status_while_waiting_to_start_again() -> None:
    record = RestartRecord(supervisor_pid=1, since=1000.0, exits=1, last_exit="exit code 1")
    record.next_start = 1004.0
    assert record.describe(now=1000.0) == "exited (exit code 1), starting again in 4.0 s"
    record.exits, record.restarts, record.last_restart = 4, 3, 990.0
    record.next_start = 1016.0
    assert record.describe(now=1000.0) == (
        "exited (exit code 1), starting again in 16 s; restarted 3 times"
    )
