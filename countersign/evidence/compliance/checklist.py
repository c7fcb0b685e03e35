"""The EU AI Act checklist of the evidence pack: Art. 12, Art. 14(4)(a)–(e) and Art. 26.

Each item names the section of the pack that holds its evidence (an in-page anchor) and one of
``evidenced``, ``partly evidenced`` (and what is not), ``not evidenced`` (this system holds no
evidence for it; that is for the deployer to show) or ``falls short`` (the evidence contradicts
it: integrity problems, retention below the minimum). Nothing is ever marked as met on design
alone: a status follows from what was read for the period.
"""
from __future__ import annotations

import re
from typing import Any

EVIDENCED, PARTLY, NOT, SHORT = "evidenced", "partly evidenced", "not evidenced", "falls short"


def _item(article: str, requirement: str, status: str, anchor: str | None, note: str) -> dict[str, Any]:
    slug = "check-" + re.sub(r"[^a-z0-9]+", "-", article.lower()).strip("-")
    return {"id": slug, "article": article, "requirement": requirement, "status": status,
            "evidence": f"#{anchor}" if anchor else None, "note": note}


def checklist(facts: dict[str, Any]) -> list[dict[str, Any]]:
    fig, integrity = facts["figures"], facts["integrity"]
    events = fig["events"]
    decided = sum(o["decisions"] for o in fig["overrides"])
    flows = facts["workflows"]
    retention = facts["logging"]["retention"]
    has = {kind: any(w[kind] for w in flows) for kind in ("hitl", "hotl_veto", "hotl_post_hoc", "hootl")}
    items = []

    if integrity["intact"] is None:
        status, note = PARTLY, (f"{fig['records']:,} records in the trail (from Athena); their integrity was not "
                                "checked in this run: run countersign audit verify")
    elif not integrity["intact"]:
        status, note = SHORT, f"audit verify found {len(integrity['problems'])} integrity problem(s) in the period"
    elif fig["records"]:
        status, note = EVIDENCED, (f"{fig['records']:,} hash-chained records in the period, covered by "
                                   f"{integrity['digests']:,} signed digest(s); audit verify: intact")
    else:
        status, note = NOT, "the trail holds no records for the period"
    items.append(_item("Art. 12(1)", "events are recorded automatically over the system's lifetime", status,
                       "integrity", note))
    received = events.get("proposal_received", 0)
    items.append(_item("Art. 12(2)(a)", "events relevant to identifying risk situations or substantial modification",
                       EVIDENCED if received else NOT, "logging",
                       f"{received:,} proposal(s) recorded with their routing facts (risk, reversibility, spot-check "
                       "draw, kill switch) and the rule that fired; escalations, expiries and late decisions are "
                       "recorded" if received else "no proposals were recorded in the period"))
    items.append(_item("Art. 12(2)(b)", "logs facilitate post-market monitoring (Art. 72)",
                       PARTLY if fig["records"] else NOT, "figures",
                       "the figures below are computed from the logs; a post-market monitoring plan is the "
                       "provider's and is not evidenced here"))
    items.append(_item("Art. 12(2)(c)", "logs allow monitoring the operation (Art. 26(5))",
                       EVIDENCED if decided else NOT, "figures",
                       f"{decided:,} human decision(s) with reviewer, rationale and timing" if decided
                       else "no human decisions were recorded in the period"))
    items.append(_item("Art. 12(3)", "for remote biometric identification systems: period of use, reference "
                       "database, matched input, verifying persons", NOT, None,
                       "applies to Annex III 1(a) systems only; this system records no such fields"))

    items.append(_item("Art. 14(4)(a)", "overseers understand the system's capacities and limitations, and monitor "
                       "its operation to detect anomalies", PARTLY if fig["records"] else NOT, "figures",
                       "monitoring: the figures and the recorded reason each review was requested; understanding "
                       "(instructions for use, training) is not evidenced by this system"))
    items.append(_item("Art. 14(4)(b)", "overseers remain aware of automation bias",
                       PARTLY if decided else NOT, "overrides",
                       "override rates and time to decision per action type show whether reviewers exercise "
                       "judgement; awareness itself (training) is not evidenced"))
    items.append(_item("Art. 14(4)(c)", "overseers can correctly interpret the output",
                       PARTLY if has["hitl"] else NOT, "escalation",
                       "each review request records why a human is asked, with the confidence and the policy's "
                       "thresholds; the review page's content (AI-written text marked as such) is not in the trail"))
    overrides = sum(o["modified"] + o["rejected"] for o in fig["overrides"])
    can = [w for w, ok in (("reject or modify (HITL)", has["hitl"]), ("veto (HOTL)", has["hotl_veto"]),
                           ("reverse after the fact (HOTL post-hoc)", has["hotl_post_hoc"])) if ok]
    items.append(_item("Art. 14(4)(d)", "overseers can decide not to use, disregard, override or reverse the output",
                       EVIDENCED if has["hitl"] else NOT, "workflows",
                       f"the workflow's gates let a reviewer {', '.join(can)}; {overrides:,} override(s) in the period"
                       if can else "no human gate was found in the workflows read"))
    flips = len(fig["kill_switch_flips"])
    state = facts["kill_switch"]["state"]
    items.append(_item("Art. 14(4)(e)", "overseers can intervene or interrupt the system through a stop button",
                       EVIDENCED if state is not None else (PARTLY if flips else NOT), "kill-switch",
                       (f"the kill switch is {state!r} now; " if state is not None else "the switch's state was not "
                        "read; ") + f"{flips:,} audited flip(s) in the period"))

    items.append(_item("Art. 26(1)", "technical and organisational measures to use the system per its instructions",
                       NOT, None, "not evidenced by this system"))
    reviewers, people = facts["escalation"], facts.get("reviewers")
    active = [p for p in people or [] if p["active"]]
    trained = [p for p in active if p["trained_on"]]
    items.append(_item("Art. 26(2)", "oversight assigned to natural persons with competence, training and authority",
                       (EVIDENCED if active and len(trained) == len(active) else PARTLY) if reviewers else NOT,
                       "escalation",
                       ("who holds authority per action type and tier (reviewer ids, quorum) is shown; " +
                        (f"each reviewer's roles, authority and training date are listed: {len(trained)} of "
                         f"{len(active)} active reviewer(s) have a recorded training date" if people is not None
                         else "competence and training are not evidenced")) if reviewers
                       else "the deployed policy was not read"))
    items.append(_item("Art. 26(4)", "input data is relevant and sufficiently representative", NOT, None,
                       "proposals are checked against schemas; their representativeness is not assessed"))
    items.append(_item("Art. 26(5)", "monitor the operation; suspend use and inform the provider when at risk",
                       PARTLY if fig["records"] or state is not None else NOT, "kill-switch",
                       "monitoring figures and the kill switch (suspension) are shown; informing the provider or "
                       "authority is not evidenced"))
    if retention["days"] is None:
        status, note = NOT, "the bucket's lock settings were not read"
    elif not retention["meets_minimum"]:
        status, note = SHORT, f"records are locked for {retention['days']} day(s), below the minimum of 183"
    elif retention["shortenable"]:
        status, note = PARTLY, (f"{retention['days']} days in {retention['mode']} mode: a privileged principal can "
                                "shorten or bypass it (COMPLIANCE mode cannot be)")
    else:
        status, note = EVIDENCED, f"{retention['days']} days in COMPLIANCE mode"
    items.append(_item("Art. 26(6)", "logs kept for at least six months (also Art. 19(1))", status, "logging", note))
    items.append(_item("Art. 26(7)", "workers' representatives informed before use at the workplace", NOT, None,
                       "not evidenced by this system"))
    items.append(_item("Art. 26(11)", "natural persons subject to decisions informed of the system's use", NOT, None,
                       "not evidenced by this system"))
    return items
