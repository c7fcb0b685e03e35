"""One sandbox for every end-to-end test: `countersign local` started as a newcomer would, with
no AWS_* variables and an empty HOME."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from tests.e2e.pipeline import POLICY, ROOT, free_port
from tests.helpers import newcomer_env


@pytest.fixture(scope="session")
def sandbox():
    port, aws_port = free_port(), free_port()
    env = newcomer_env(PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "countersign", "local", "--port", str(port), "--aws-port",
                             str(aws_port), "-c", f"policy={json.dumps(POLICY)}"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    banner = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        banner.append(line)
        if "Press Ctrl-C to stop." in line or proc.poll() is not None:
            break
    assert "Press Ctrl-C to stop." in "".join(banner), "".join(banner)
    text = "".join(banner)
    assert f"http://127.0.0.1:{port}/outbox" in text and f"http://127.0.0.1:{aws_port}" in text
    assert f"countersign submit examples/refund.json --wait --endpoint http://127.0.0.1:{aws_port}" in text
    assert "schedules     reminders every 5 min, reconciler every 1 min" in text
    yield {"web": f"http://127.0.0.1:{port}", "aws": f"http://127.0.0.1:{aws_port}", "banner": text}
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped." in rest   # Ctrl-C stops it cleanly
