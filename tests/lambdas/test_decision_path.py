"""The decision path's shape: a reviewer's POST waits for one round of reads and MAC checks made
together, then the one conditional write; everything else (the vote's audit record, the inbox
entries, the callback) follows on the review table's stream. ``bench/decision_path.py`` counts
the round trips; these tests hold the shape without timing anything."""
from __future__ import annotations

import threading
from contextlib import contextmanager

import boto3

from tests.faults.conftest import deps, inject
from tests.helpers import decision_url, form_token, hidden_fields, proposal, review_link, unique


@contextmanager
def meeting(obj, name: str, barrier: threading.Barrier, calls: int):
    """The first ``calls`` calls of ``obj.name`` each wait at ``barrier`` until every party has
    arrived: made one after the other, the first would wait alone and break it (after 10 s)."""
    original, arrived = getattr(obj, name), []

    def wrapper(*args, **kwargs):
        arrived.append(args)
        if len(arrived) <= calls:
            barrier.wait()
        return original(*args, **kwargs)

    setattr(obj, name, wrapper)
    try:
        yield arrived
    finally:
        setattr(obj, name, original)


def _form(stack, link: str, **fields) -> dict[str, str]:
    page = stack.http("GET", link).body
    return {**hidden_fields(page), "t": form_token(page), "decision": "approve", "rationale": "Checked.", **fields}


def test_a_posts_link_check_stamp_check_and_review_read_are_in_flight_together(stack):
    link = review_link(stack, stack.start(proposal(), unique("at-once")), "alice")
    form = _form(stack, link)
    desk = deps(stack, "lambdas.review_api")
    together = threading.Barrier(3, timeout=10)       # the link's MAC, the stamp's MAC, the review item
    with meeting(desk, "mac", together, 2) as macs, meeting(desk.reviews, "get", together, 1) as reads:
        answer = stack.http("POST", decision_url(link), form)
    assert answer.status == 200 and "Decision recorded" in answer.body
    assert (len(macs), len(reads)) == (2, 1) and not together.broken


def test_a_vote_towards_a_quorum_is_answered_without_a_trail_write_and_audited_from_the_stream(stack):
    arn = stack.start(proposal(confidence=0.99, reversible=False,
                               action={"type": "two.person", "summary": "Rotate the key", "parameters": {}}),
                      unique("vote-path"))
    link = review_link(stack, arn, "alice")
    form = _form(stack, link)
    with inject(deps(stack, "lambdas.review_api").audit, "put_new") as desk_writes, \
            inject(deps(stack, "lambdas.dispatcher").audit, "put_new") as stream_writes:
        answer = stack.http("POST", decision_url(link), form)
    assert answer.status == 200 and "1 of 2 approvals" in answer.body
    assert desk_writes == [] and len(stream_writes) == 1
    [vote] = [r for r in stack.execution_records(arn) if r["event"] == "vote_recorded"]
    assert (vote["reviewer"], vote["approvals"], vote["quorum"], vote["decision"]) == ("alice", 1, 2, "approved")
    boto3.client("stepfunctions").stop_execution(executionArn=arn)


def test_a_decided_review_leaves_every_reviewers_inbox_index(stack):
    arn = stack.start(proposal(), unique("inbox-index"))
    link = review_link(stack, arn, "alice")
    review_id = link.split("?", 1)[0].rsplit("/", 1)[1]
    assert stack.http("POST", decision_url(link), _form(stack, link)).status == 200
    entries = boto3.client("dynamodb").query(
        TableName=stack.table, KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
        ExpressionAttributeValues={":pk": {"S": f"REVIEW#{review_id}"}, ":r": {"S": "REVIEWER#"}})["Items"]
    assert entries and all(e["status"]["S"] == "DECIDED" and "pending_until" not in e for e in entries)
