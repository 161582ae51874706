"""The Swift build's seer-agent, for tests that check the Python side against it (built by scripts/setup.sh before
`make test` runs pytest). A missing binary fails the test: a parity check must never pass by not running."""

import json
import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SEER_AGENT = os.path.join(REPO, ".build", "release", "seer-agent")


def seer_agent(*args, timeout=600):
    """Runs seer-agent with `args`; returns its stdout's last line parsed as JSON."""
    if not os.access(SEER_AGENT, os.X_OK):
        pytest.fail(f"{SEER_AGENT} is missing: build it first (bash scripts/setup.sh -Xswiftc -enable-testing)")
    done = subprocess.run([SEER_AGENT, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"seer-agent {' '.join(map(str, args))} failed:\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def seer_agent_error(*args):
    """Runs seer-agent with `args`, which must fail; returns its stderr."""
    if not os.access(SEER_AGENT, os.X_OK):
        pytest.fail(f"{SEER_AGENT} is missing: build it first (bash scripts/setup.sh -Xswiftc -enable-testing)")
    done = subprocess.run([SEER_AGENT, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0, f"seer-agent {' '.join(map(str, args))} succeeded; expected an error"
    return done.stderr
