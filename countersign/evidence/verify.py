"""Checking the audit trail, offline: every record, every chain, every digest, every lock.

Input is what was read from the bucket (or an export): each object's key, body, and (when known)
its Object Lock mode and retain-until date. Output is a list of problems, one line each: the
object key, what is wrong, and what was expected. Nothing here talks to AWS.
"""
from __future__ import annotations

import base64
import json
from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from countersign.evidence import digests
from countersign.evidence.audit import GENESIS, record_hash

TOLERANCE = digests.SETTLE          # a record this close to a digest's end may fall in the next one


@dataclass(frozen=True)
class Problem:
    key: str
    what: str
    expected: str

    def line(self) -> str:
        return f"{self.key}: {self.what} (expected {self.expected})"


@dataclass
class Report:
    records: int = 0
    streams: int = 0
    digests: int = 0
    pending: int = 0                   # records newer than the newest digest: not covered yet
    problems: list[Problem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"intact": self.intact, "records": self.records, "streams": self.streams, "digests": self.digests,
                "pending": self.pending, "problems": [p.__dict__ for p in self.problems]}


@dataclass(frozen=True)
class Stored:
    key: str
    body: bytes
    lock_mode: str | None = None
    retain_until: datetime | None = None


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def check(objects: list[Stored], public_key_der: bytes, lock: dict[str, Any] | None = None,
          now: datetime | None = None, progress: Callable[[int], None] = lambda n: None,
          scope: Callable[[str], bool] | None = None) -> Report:
    """Verify a trail. ``lock`` (``{"mode": ..., "days": ...}``) turns on the retention check,
    for objects whose lock settings were read. ``scope``: when only some streams were read (a
    period, an execution), which ones; a digest's heads of other streams are not expected."""
    report, streams, signed = Report(), {}, []
    for done, stored in enumerate(objects, 1):
        if stored.key.startswith(digests.PREFIX):
            signed.append(stored)
        elif (place := digests.stream_of(stored.key)) is not None:
            record = _record(stored, place, report)
            if record is not None:
                streams.setdefault(place[0], {})[place[1]] = record
        if done % 1000 == 0:
            progress(done)
    report.records, report.streams = sum(len(s) for s in streams.values()), len(streams)
    for stream, records in streams.items():
        _chain(stream, records, report)
    chain = _digests(sorted(signed, key=lambda s: s.key), public_key_der, report)
    report.digests = len(chain)
    _coverage(streams, chain, report, now, scope)
    if lock:
        _retention(objects, streams, chain, lock, report)
    progress(len(objects))
    return report


def _record(stored: Stored, place: tuple[str, int], report: Report) -> dict[str, Any] | None:
    try:
        record = json.loads(stored.body)
    except (ValueError, UnicodeDecodeError):
        report.problems.append(Problem(stored.key, "not a JSON record", "one canonical JSON object"))
        return None
    if record.get("hash") != record_hash(record):
        report.problems.append(Problem(stored.key, "the record's content does not match its hash",
                                       f"hash {record.get('hash')}"))
    if (record.get("stream"), record.get("seq")) != place:
        report.problems.append(Problem(stored.key, f"holds stream {record.get('stream')} seq {record.get('seq')}",
                                       f"stream {place[0]} seq {place[1]}, as its key says"))
    return record


def _chain(stream: str, records: dict[int, dict[str, Any]], report: Report) -> None:
    seen_events: set[str] = set()
    for seq in range(1, max(records) + 1):
        key = f"{stream}/{seq:06d}.json"
        record = records.get(seq)
        if record is None:
            report.problems.append(Problem(key, "missing", f"seq {seq} of {max(records)} in its stream"))
            continue
        before = records.get(seq - 1)
        expected = GENESIS if seq == 1 else (before or {}).get("hash")
        if expected is not None and record.get("prev_hash") != expected:
            report.problems.append(Problem(key, "prev_hash does not link to the record before it",
                                           f"prev_hash {expected}"))
        if record.get("event_key") in seen_events:
            report.problems.append(Problem(key, f"a duplicate of event {record.get('event_key')!r}",
                                           "each event once per stream"))
        seen_events.add(record.get("event_key"))


def _digests(signed: list[Stored], public_key_der: bytes, report: Report) -> list[tuple[str, dict[str, Any]]]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    key = load_der_public_key(public_key_der)
    chain: list[tuple[str, dict[str, Any]]] = []
    for stored in signed:
        try:
            digest = json.loads(stored.body)
            key.verify(base64.b64decode(digest["signature"]), digests.signed_hash(digest), ec.ECDSA(hashes.SHA256()))
        except (ValueError, KeyError, TypeError, InvalidSignature):
            report.problems.append(Problem(stored.key, "the digest's signature does not verify",
                                           "an ECDSA P-256 signature by the deployed digest key"))
            continue
        before = chain[-1] if chain else None
        expected = {"key": before[0], "hash": digests.chain_hash(before[1])} if before else None
        if digest.get("previous") != expected:
            report.problems.append(Problem(stored.key, "the digest chain is broken here",
                                           f"previous = {json.dumps(expected)}"))
        elif before and digest["interval"]["start"] != before[1]["interval"]["end"]:
            report.problems.append(Problem(stored.key, "the digest's interval does not follow the one before",
                                           f"start {before[1]['interval']['end']}"))
        chain.append((stored.key, digest))
    return chain


def _coverage(streams: dict[str, dict[int, dict[str, Any]]], chain: list[tuple[str, dict[str, Any]]],
              report: Report, now: datetime | None, scope: Callable[[str], bool] | None = None) -> None:
    """Every record older than the newest digest is covered by the digest of its interval (or, at an
    interval's edge, the next one); every head a digest lists is still in the trail."""
    for key, digest in chain:
        for entry in digest["streams"]:
            if scope is not None and entry["stream"] not in streams and not scope(entry["stream"]):
                continue
            held = streams.get(entry["stream"], {}).get(entry["seq"])
            if held is None:
                report.problems.append(Problem(f"{entry['stream']}/{entry['seq']:06d}.json", "missing",
                                               f"the record that digest {key} signed as the stream's head"))
            elif held.get("hash") != entry["hash"]:
                report.problems.append(Problem(f"{entry['stream']}/{entry['seq']:06d}.json",
                                               "differs from what the digest signed", f"hash {entry['hash']}"))
    ends = [_time(d["interval"]["end"]) for _, d in chain]
    listed = [{e["stream"]: e["seq"] for e in d["streams"]} for _, d in chain]
    for stream, records in streams.items():
        for seq, record in records.items():
            at = _time(record["recorded_at"]) if isinstance(record.get("recorded_at"), str) else None
            index = bisect_left(ends, at) if at else len(ends)
            if index == len(ends):
                report.pending += 1
                continue
            window = listed[index:index + 2] if ends[index] - at < TOLERANCE else listed[index:index + 1]
            if not any(seen.get(stream, 0) >= seq for seen in window):
                report.problems.append(Problem(f"{stream}/{seq:06d}.json", "not covered by a digest",
                                               f"listed by {chain[index][0]}, whose interval includes "
                                               f"{record['recorded_at']}"))
    if len(ends) >= 3 and now is not None:
        usual = sorted(b - a for a, b in zip(ends, ends[1:]))[len(ends) // 2 - 1]
        if now - ends[-1] > 2 * usual + TOLERANCE:
            report.problems.append(Problem(chain[-1][0], f"the newest digest ends {now - ends[-1]} ago",
                                           f"one about every {usual}"))


def _retention(objects: list[Stored], streams: dict[str, dict[int, dict[str, Any]]],
               chain: list[tuple[str, dict[str, Any]]], lock: dict[str, Any], report: Report) -> None:
    written = {f"{s}/{q:06d}.json": r.get("recorded_at") for s, rs in streams.items() for q, r in rs.items()}
    written.update({k: d["interval"]["end"] for k, d in chain})
    keep = timedelta(days=int(lock["days"]))
    for stored in objects:
        if stored.key not in written or not isinstance(written[stored.key], str):
            continue
        least = _time(written[stored.key]) + keep - timedelta(minutes=5)
        if stored.lock_mode != lock["mode"]:
            report.problems.append(Problem(stored.key, f"object lock mode {stored.lock_mode}",
                                           f"{lock['mode']}, as the bucket is configured"))
        elif stored.retain_until is None or stored.retain_until < least:
            report.problems.append(Problem(stored.key, f"retained until {stored.retain_until}",
                                           f"at least {least:%Y-%m-%d %H:%M} UTC ({lock['days']} days)"))
