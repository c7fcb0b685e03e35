"""The email a reviewer receives: plain text, bounded, with that reviewer's own signed link.

The summary and the requester are AI-written: labelled as such, stripped of control characters,
defanged (``inert.defang``: no URL, host or address a mail client would make a live link) and cut
to length. The subject is reduced to printable ASCII, which SNS requires, and defanged too. The
only live links in the email are the reviewer's own review link and inbox link.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Protocol

from countersign.workflow.case import Case
from countersign.review.inert import defang

# Control characters, line and paragraph separators: AI-written text must stay on its one line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Notifier(Protocol):
    def send(self, reviewer: str, subject: str, body: str) -> None: ...


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """One line of at most ``limit`` characters."""
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else text[: limit - len(ellipsis)] + ellipsis


def subject(case: Case, mode: str = "review") -> str:
    ascii_only = "".join(c if 32 <= ord(c) < 127 else "?" for c in defang(case.action["summary"]))
    what = {"veto": "Veto window open", "signoff": "Sign-off needed", "reverse": "Executed, reversible"}.get(
        mode, "Review needed")
    return clip(f"[Countersign] {what}: {ascii_only}", 99, ellipsis="...")


def deadline_text(deadline: int) -> str:
    return datetime.fromtimestamp(deadline, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def review_email(case: Case, reason: str, url: str, deadline: int, mode: str = "review", inbox: str = "") -> str:
    """``inbox``: the reviewer's inbox link (everything pending for them), if there is one."""
    veto = mode in ("veto", "reverse")
    return "\n".join([
        {"veto": "A proposed AI action will proceed unless you veto it.",
         "signoff": "An AI action ran into staging and waits for your sign-off before it is promoted.",
         "reverse": "An AI action was executed; you can reverse it until the window closes."}.get(
            mode, "A proposed AI action is waiting for your decision."),
        "",
        f"Action type:  {case.action['type']}",
        f"Summary (written by the AI, unverified; links disabled): {clip(defang(case.action['summary']), 500)}",
        f"Confidence:   {case.confidence:.2f}",
        f"Why you:      {reason}",
        f"Requested by: {clip(defang(case.proposal.get('requested_by', 'unknown')), 256)}",
        (f"Window ends:  {deadline_text(deadline)}" if veto else
         f"Decide by:    {deadline_text(deadline)} (no decision by then means the action is refused)"),
        "",
        ("Open the case to read the AI's reasoning and evidence, and stop it if it is wrong:" if veto else
         "Open the case to read the AI's reasoning and evidence, then approve, modify or reject:"),
        url,
        "",
        *(["Everything waiting for you, nearest deadline first:", inbox, ""] if inbox else []),
        "These links are yours alone; opening them changes nothing. Do not forward them."
        if inbox else "This link is yours alone; opening it changes nothing. Do not forward it.",
    ])
