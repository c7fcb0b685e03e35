"""``audit verify`` throughput: a 100,000-record trail (with its signed digests), exported and
verified offline, against plain SHA-256 over the same bytes.

Builds the trail in memory (tests/fixtures/synthetic_trail.py: 20,000 streams of 5 chained
records over 4 simulated hours, a digest each hour), writes it as an export, then times
``verify.check`` over the loaded export (parsing, every record hash, every chain link, every
digest signature, coverage and lock settings) and, as the floor, one SHA-256 per object body.
Prints records per second (target ≥ 20,000 here) and the ratio. It only prints; exit 0.

Run:  python bench/verify.py [--records 100000]
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from countersign.evidence import trail  # noqa: E402
from countersign.evidence.verify import check  # noqa: E402
from tests.fixtures.synthetic_trail import START, build  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    records = parser.parse_args().records
    objects, der = build(records)
    lock = {"mode": "GOVERNANCE", "days": 1}
    with tempfile.TemporaryDirectory() as scratch:
        export = Path(scratch) / "trail.jsonl"
        export.write_text("\n".join(trail.export_lines(objects, der, lock, "bench")) + "\n")
        with export.open() as lines:
            loaded, der, lock, _ = trail.load_export(lines)
    started = time.perf_counter()
    report = check(loaded, der, lock, now=START + timedelta(hours=4, minutes=5))
    verify_s = time.perf_counter() - started
    started = time.perf_counter()
    for stored in loaded:
        hashlib.sha256(stored.body).hexdigest()
    floor_s = time.perf_counter() - started
    assert report.intact and report.records == records, report.problems[:3]
    print(f"verify: {records:,} records, {report.digests} digests in {verify_s:.2f} s = "
          f"{records / verify_s:,.0f} records/s (target >= 20,000)")
    print(f"plain SHA-256 over the same bodies: {floor_s:.3f} s; verify / SHA-256 = {verify_s / floor_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
