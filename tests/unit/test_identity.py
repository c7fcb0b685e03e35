"""Reviewer pseudonyms (a keyed hash of the id, every reviewer field masked, never an id in the
clear) and the review page's signed rendering stamp."""
from __future__ import annotations

import re

import pytest

from countersign.evidence import identity
from countersign.review.links import StampRefused, sign_rendered, verify_rendered
from tests.unit.builders import REVIEW_ID, mac


# Pseudonyms ---------------------------------------------------------------------------------

def test_a_pseudonym_is_a_keyed_hash_of_the_id_apart_from_links():
    name = identity.pseudonym(mac, "alice")
    assert re.fullmatch(r"ps-[0-9a-f]{24}", name)
    assert name == identity.pseudonym(mac, "alice") != identity.pseudonym(mac, "bob")
    assert name != identity.pseudonym(lambda m: mac(m, b"another key"), "alice")


class Lookup:
    def __init__(self) -> None:
        self.items: dict[str, str] = {}

    def remember(self, pseudonym: str, reviewer: str) -> None:
        self.items[pseudonym] = reviewer


def test_pseudonym_mode_stores_each_lookup_and_id_mode_none():
    lookup = Lookup()
    names = identity.identities("pseudonym", mac, ["bob", "alice", "bob"], lookup)
    assert set(names) == {"alice", "bob"} and lookup.items == {v: k for k, v in names.items()}
    assert identity.identities("id", mac, ["alice"], lookup := Lookup()) == {} and lookup.items == {}
    with pytest.raises(ValueError):
        identity.identities("name", mac, ["alice"], lookup)


def test_every_reviewer_field_is_masked_and_an_unknown_id_is_never_written():
    names = {"alice": "ps-" + "a" * 24, "bob": "ps-" + "b" * 24}
    alice, bob = names["alice"], names["bob"]
    fields = {"actor": "reviewer:alice", "reviewer": "alice", "decided_by": "bob",
              "reviewers": ["alice", {"id": "bob"}], "votes": [{"reviewer": "bob", "decision": "approved"}],
              "facts": {"proposed_by": ["alice"], "risk": "low"}, "request": {"reviewer": "bob", "method": "POST"},
              "requested_by": "alice", "rationale": "alice agreed"}
    assert identity.masked(fields, names) == {
        "actor": f"reviewer:{alice}", "reviewer": alice, "decided_by": bob,
        "reviewers": [alice, {"id": bob}], "votes": [{"reviewer": bob, "decision": "approved"}],
        "facts": {"proposed_by": [alice], "risk": "low"}, "request": {"reviewer": bob, "method": "POST"},
        "requested_by": "alice", "rationale": "alice agreed"}     # what the proposer and reviewer wrote stays
    assert identity.masked(fields, {}) == fields
    with pytest.raises(KeyError) as caught:
        identity.masked({"reviewer": "carol"}, names)
    assert "carol" not in str(caught.value)


# The rendering stamp ------------------------------------------------------------------------

def test_the_rendering_stamp_round_trips_and_is_bound_to_review_and_reviewer():
    stamp = sign_rendered(mac, REVIEW_ID, "alice", 1795510000123)
    assert verify_rendered(mac, REVIEW_ID, "alice", stamp) == 1795510000123
    version, ms, signature = stamp.split(".")
    for forged in (sign_rendered(mac, REVIEW_ID, "bob", 1795510000123),
                   sign_rendered(mac, "rv-ffffffffffffffffffff", "alice", 1795510000123),
                   f"{version}.{int(ms) - 1}.{signature}", "v1.1795510000123", stamp + "x"):
        with pytest.raises(StampRefused):
            verify_rendered(mac, REVIEW_ID, "alice", forged)
