"""What operations watch between events: how many reviews wait for a human, how long the
oldest has waited, and whether the kill switch is on. The reminder sweep reports it as metrics."""
from __future__ import annotations

from dataclasses import dataclass

from countersign.adapters.deps import Deps
from countersign.review.reviews import PENDING
from countersign.rules.routing import KILL_OFF


@dataclass(frozen=True)
class Watch:
    pending: int
    oldest_seconds: int          # since the oldest pending review's gate was entered (0: none pending)
    kill_switch_engaged: bool    # anything but ``off`` (an unreadable or unknown value counts as on)


def watch(deps: Deps) -> Watch:
    """Pending reviews from the by-reviewer index (each configured reviewer's), each read once.
    A review was requested when its gate was entered: its deadline less the gate's window."""
    now = int(deps.clock())
    ids = sorted({review_id for reviewer in deps.reviewers for review_id in deps.reviews.pending_for(reviewer)})
    waiting = [r for r in map(deps.reviews.get, ids) if r is not None and r.status == PENDING]
    ages = [now - (r.deadline - r.case.window(r.case.route)) for r in waiting]
    try:
        engaged = deps.load_kill_switch() != KILL_OFF
    except Exception:  # noqa: BLE001 - unreadable: the workflow fails closed on it, and so does the alarm
        engaged = True
    return Watch(len(waiting), max(ages, default=0), engaged)
