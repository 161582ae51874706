import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # tests/: helpers (tiny_artifact)

from conformance_peers import FakeCoordinator, RuntimeAgent  # noqa: E402


class AgentUnderTest:
    """The runtime agent as a process, registered with a FakeCoordinator."""

    def __init__(self, tmp_path, accept=True, **options):
        self.tmp = tmp_path
        self.coordinator = FakeCoordinator()
        self.agent = RuntimeAgent(tmp_path, self.coordinator.endpoint, **options)
        try:
            self.routing, ready = self.coordinator.expect("READY")
            self.ready = ready.body
            if accept:
                self.send("HEARTBEAT", {})
        except BaseException:
            self.close()
            raise
        self.serial = 0

    def next_id(self, prefix):
        self.serial += 1
        return f"{prefix}-{self.serial}"

    def send(self, mtype, value, *extra):
        self.coordinator.send(self.routing, mtype, value, *extra)

    def send_raw(self, parts):
        self.coordinator.send_raw(self.routing, parts)

    def receive(self):
        return self.coordinator.receive()[1]

    def expect(self, mtype, **fields):
        return self.coordinator.expect(mtype, **fields)[1]

    def probe(self):
        """Sends a JOB that must be answered with ERROR malformed naming it, and returns that job id: whatever the
        agent sends before that answer is its answer to what was sent before the probe."""
        probe = self.next_id("probe")
        self.send("JOB", {"job_id": probe})
        return probe

    def nothing_before_probe(self):
        probe = self.probe()
        message = self.receive()
        assert (message.type, message.body.get("job_id"), message.body.get("code")) == ("ERROR", probe, "malformed"), \
            f"expected no answer, then the probe's ERROR; got {message}"

    def close(self):
        self.agent.stop()
        self.coordinator.close()


@pytest.fixture(scope="module")
def runtime_agent(tmp_path_factory):
    """One runtime agent for a module's message-level tests; each test leaves it idle."""
    under_test = AgentUnderTest(tmp_path_factory.mktemp("agent"))
    yield under_test
    under_test.close()


@pytest.fixture
def fresh_agent(tmp_path):
    """A runtime agent of its own, for tests that end or reconnect it; call with options (deploy=False, ...)."""
    made = []

    def make(**options):
        made.append(AgentUnderTest(tmp_path, agent_id=f"conf-{len(made) + 2}", **options))
        return made[-1]

    yield make
    for under_test in made:
        under_test.close()
