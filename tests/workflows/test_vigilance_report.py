"""``countersign report vigilance`` against the deployed stack: decisions made through the review
page appear in the reviewer's line, with the dwell the signed stamp gave."""
from __future__ import annotations

import json

from countersign.cli import commands as cli
from tests.helpers import decide, proposal, review_link, unique


def test_the_report_reads_the_stacks_trail(stack, capsys):
    arns = [stack.start(proposal(), unique("watch")) for _ in range(2)]
    assert decide(stack, review_link(stack, arns[0], "carol"), "approve", "Fine.").status == 200
    assert decide(stack, review_link(stack, arns[1], "carol"), "reject", "No.", reason="policy").status == 200
    for arn in arns:
        stack.wait(arn)
    capsys.readouterr()
    assert cli.main(["report", "vigilance", "--json", "--stack", stack.deployment.stack_name]) == 0
    document = json.loads(capsys.readouterr().out)
    [carol] = [x for x in document["lines"] if x["reviewer"] == "carol" and x["action_type"] == "refund.issue"]
    assert carol["decisions"] >= 2 and carol["approved"] >= 1 and carol["rejected"] >= 1
    assert carol["timed"] >= 2 and carol["median_dwell"] is not None and carol["median_dwell"] >= 0
