"""HTML pages for reviewers, rendered by Jinja2 with autoescaping always on.

Proposal text is untrusted: it only ever reaches the page through autoescaped expressions, with
hidden and direction-changing characters made visible (``inert.visible``); an evidence URL is a
link only for https on a host of the deployment's ``evidence_hosts`` allow-list, otherwise plain
text marked unverified; and the page runs no script at all (see ``SECURITY_HEADERS``).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from countersign.review import schema_form
from countersign.review.notify import deadline_text
from countersign.review.reviews import Review, label

SECURITY_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=63072000",
}


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader

    from countersign.review.inert import host_of, visible

    env = Environment(loader=FileSystemLoader(Path(__file__).parent.parent / "templates"), autoescape=True)
    env.filters.update(visible=visible, host=host_of, reason=label)
    return env


def review_page(review: Review, reviewer: str, token: str, action_url: str, rendered: str = "",
                evidence_hosts: tuple[str, ...] = (), refusal: str | None = None, precedents: list | None = None,
                track: Any = None) -> str:
    """``rendered``: the signed stamp of when this page was rendered (``links.sign_rendered``);
    ``evidence_hosts``: the hosts whose https evidence URLs may be links; ``refusal``: why this
    reviewer may not decide it (the case is shown, the form is not); ``precedents`` and ``track``:
    earlier decisions on this action type (``precedents.earlier``)."""
    case = review.case
    params = case.action["parameters"]
    return _env().get_template("review.html.j2").render(
        review=review, reviewer=reviewer, token=token, action_url=action_url, rendered=rendered,
        evidence_hosts=evidence_hosts, refusal=refusal, precedents=precedents or [], track=track,
        action=case.action, proposal={"reversible": None, **case.proposal}, confidence=case.confidence,
        facts=case.facts, executed=case.executed, reasons=case.rules.override_reasons,
        deadline=deadline_text(review.deadline),
        parameters_json=json.dumps(params, indent=2, ensure_ascii=False),
        fields=schema_form.fields(case.rules.parameters, params) if isinstance(params, dict) else None,
    )


def confirm_page(review: Review, reviewer: str, decision: Any, form: dict[str, str], seal: str, back: str) -> str:
    """The confirm step of a modification: the changes, old → new per field, and a form that
    carries exactly what is shown (the parameters as JSON, sealed by ``seal``) with every other
    field the reviewer posted."""
    carried = {k: v for k, v in form.items() if k not in ("parameters", "shown") and not k.startswith(schema_form.PREFIX)}
    return _env().get_template("confirm.html.j2").render(
        review=review, reviewer=reviewer, decision=decision, carried=carried, seal=seal, back=back,
        parameters_json=json.dumps(decision.final_action["parameters"], ensure_ascii=False, sort_keys=True),
        changes=[{"field": c["path"].removeprefix("$.parameters."), "before": _shown(c["before"]),
                  "after": _shown(c["after"])} for c in decision.diff])


def _shown(value: Any) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def message_page(status: int, heading: str, message: str, review_url: str | None = None) -> str:
    return _env().get_template("message.html.j2").render(
        status=status, heading=heading, message=message, review_url=review_url)


def inbox_page(reviewer: str, entries: list, total: int, expires_at: int, first: str | None = None,
               next: str | None = None) -> str:
    """``entries``: ``inbox.Entry`` rows of one page; ``first`` and ``next``: links to other pages."""
    return _env().get_template("inbox.html.j2").render(
        reviewer=reviewer, entries=entries, total=total, expires=deadline_text(expires_at), first=first, next=next,
        deadline_text=deadline_text)
