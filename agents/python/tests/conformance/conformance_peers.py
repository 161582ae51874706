"""The two sides played by the tests with raw pyzmq sockets, and the processes under test.

`FakeCoordinator` is a ROUTER that plays the coordinator for the runtime agent; `FakeAgent` is a DEALER that plays an
agent for Seer's coordinator. Both build frames by hand (nothing from the agent's own `protocol` module), so a test
can send anything. Waits are bounded by generous deadlines that only fail a test; nothing sleeps for a fixed time.
"""

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest
import zmq

from conformance_schema import check

ROOT = pathlib.Path(__file__).resolve().parents[4]
AGENT_DIR = ROOT / "agents" / "python"
COORDINATOR_BINARY = ROOT / ".build" / "release" / "seer-coordinator"
DATA_DIR = "/usr/share/datasets/fashion-mnist"
WAIT = 30.0  # seconds: how long anything may take before the test fails (never a measurement)


def body(value):
    return json.dumps(value, allow_nan=False).encode("utf-8")


def frames(mtype, value, *extra):
    return [b"SEER1", mtype.encode("ascii"), value if isinstance(value, bytes) else body(value), *extra]


def strict_json(raw):
    """Parses a received body as the document's JSON: UTF-8, no NaN or infinity, an object."""
    def refuse(name):
        raise AssertionError(f"{name} is not JSON")
    value = json.loads(bytes(raw).decode("utf-8"), parse_constant=refuse)
    assert isinstance(value, dict), f"body is not an object: {raw[:200]!r}"
    return value


class Received:
    def __init__(self, parts):
        self.frames = parts
        assert len(parts) in (3, 4), f"{len(parts)} frames: {parts!r}"
        assert parts[0] == b"SEER1", f"header {parts[0]!r}"
        self.type = parts[1].decode("ascii")
        self.body = strict_json(parts[2])
        self.extra = parts[3:]

    def __repr__(self):
        return f"{self.type} {self.body}"


class FakeCoordinator:
    """A ROUTER on loopback that plays the coordinator. A thread heartbeats every peer it has sent something to, so
    an agent does not expire it whatever the test is doing (`silent()` plays a coordinator that has died). The socket
    is only used under `lock`."""

    def __init__(self, curve_secret=None):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve_secret:
            self.sock.curve_server = True
            self.sock.curve_secretkey = curve_secret
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.peers = {}  # routing id -> last time we sent it something
        self.log = []  # every message received, for failure messages
        self.closed = threading.Event()
        self.paused = False
        self.heartbeats = threading.Thread(target=self._heartbeat, daemon=True)
        self.heartbeats.start()

    def send_raw(self, routing, parts):
        with self.lock:
            self.sock.send_multipart([routing, *parts])
            self.peers[routing] = time.monotonic()

    def send(self, routing, mtype, value, *extra):
        self.send_raw(routing, frames(mtype, value, *extra))

    @contextlib.contextmanager
    def silent(self):
        """No heartbeats meanwhile: the coordinator seems dead to its agents."""
        self.paused = True
        try:
            yield
        finally:
            self.paused = False

    def _heartbeat(self):
        while not self.closed.wait(0.2):
            if self.paused:
                continue
            now = time.monotonic()
            for routing, sent in list(self.peers.items()):
                if now - sent >= 0.5:
                    self.send(routing, "HEARTBEAT", {})

    def receive_any(self, timeout=WAIT):
        """(routing id, Received), heartbeats included."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                parts = self.sock.recv_multipart() if self.sock.poll(50) else None
            if parts:
                routing, *parts = parts
                message = Received(parts)
                self.log.append(message)
                return routing, check(message)
        raise AssertionError(f"nothing received within {timeout} s; received so far: {self.log[-10:]}")

    def receive(self, timeout=WAIT):
        """The next message that is not a HEARTBEAT."""
        deadline = time.monotonic() + timeout
        while True:
            routing, message = self.receive_any(max(0.1, deadline - time.monotonic()))
            if message.type != "HEARTBEAT":
                return routing, message

    def expect(self, mtype, timeout=WAIT, **fields):
        routing, message = self.receive(timeout)
        assert message.type == mtype, f"expected {mtype} {fields}, got {message}"
        for name, value in fields.items():
            assert message.body.get(name) == value, f"expected {mtype} {fields}, got {message}"
        return routing, message

    def close(self):
        self.closed.set()
        self.heartbeats.join()
        self.sock.close(linger=0)
        self.ctx.term()


class FakeAgent:
    """A DEALER that plays an agent for Seer's coordinator. Once `alive()`, a thread sends HEARTBEAT (naming
    `working_on` when set) every 0.5 s, so the coordinator does not expire it whatever the test is doing. The socket
    is only used under `lock`."""

    def __init__(self, endpoint, routing_id, curve=None):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.routing_id = routing_id
        self.sock.setsockopt(zmq.ROUTING_ID, routing_id.encode("utf-8"))
        self.sock.setsockopt(zmq.LINGER, 0)
        if curve:
            self.sock.curve_serverkey, self.sock.curve_publickey, self.sock.curve_secretkey = (
                k.encode("ascii") for k in curve)
        self.sock.connect(endpoint)
        self.lock = threading.Lock()
        self.log = []
        self.working_on = None
        self.closed = threading.Event()
        self.heartbeats = None

    def alive(self):
        if self.heartbeats is None:
            self.heartbeats = threading.Thread(target=self._heartbeat, daemon=True)
            self.heartbeats.start()
        return self

    def _heartbeat(self):
        while not self.closed.wait(0.5):
            self.send("HEARTBEAT", {"job_id": self.working_on} if self.working_on else {})

    def send_raw(self, parts):
        with self.lock:
            self.sock.send_multipart(parts)

    def send(self, mtype, value, *extra):
        self.send_raw(frames(mtype, value, *extra))

    def receive_any(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                parts = self.sock.recv_multipart() if self.sock.poll(50) else None
            if parts:
                message = Received(parts)
                self.log.append(message)
                return check(message)
        raise AssertionError(f"nothing received within {timeout} s; received so far: {self.log[-10:]}")

    def pending(self):
        """Whether a message is waiting (without taking it)."""
        with self.lock:
            return bool(self.sock.poll(0))

    def receive(self, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while True:
            message = self.receive_any(max(0.1, deadline - time.monotonic()))
            if message.type != "HEARTBEAT":
                return message

    def expect(self, mtype, timeout=WAIT, **fields):
        message = self.receive(timeout)
        assert message.type == mtype, f"expected {mtype} {fields}, got {message}"
        for name, value in fields.items():
            assert message.body.get(name) == value, f"expected {mtype} {fields}, got {message}"
        return message

    def close(self):
        self.closed.set()
        if self.heartbeats:
            self.heartbeats.join()
        self.sock.close(linger=0)
        self.ctx.term()


def write_key_file(path, key, comment):
    """A key file in section 1's format: a # comment line, then the key; blank lines, whitespace and more comments
    allowed."""
    path.write_text(f"# {comment}\n\n   {key}  \n# trailing comment\n", encoding="utf-8")


# ---------------------------------------------------------------- processes under test

def require_coordinator():
    if not os.access(COORDINATOR_BINARY, os.X_OK):
        pytest.fail(f"{COORDINATOR_BINARY} is missing: the coordinator's conformance tests need it; build it with "
                    f"`bash scripts/setup.sh` (make test does) before running pytest")
    return str(COORDINATOR_BINARY)


def wait_for_file(path, process, what):
    deadline = time.monotonic() + WAIT
    while not (os.path.exists(path) and os.path.getsize(path) > 0):
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode} before writing {path}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} wrote no {path} within {WAIT} s")
        time.sleep(0.02)
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


class Serve:
    """`seer-coordinator serve` on a free loopback port with its own database; `args` adds to the command line."""

    def __init__(self, tmp_path, *args, plain=True):
        self.dir = tmp_path
        self.db = str(tmp_path / "seer.sqlite")
        endpoint_file = tmp_path / "endpoint"
        self.stdout = open(tmp_path / "serve.out", "w+b")
        self.stderr = open(tmp_path / "serve.log", "w+b")
        command = [require_coordinator(), "serve", "--bind", "tcp://127.0.0.1:0", "--endpoint-file",
                   str(endpoint_file), "--db", self.db, *(["--plain"] if plain else []), *args]
        self.process = subprocess.Popen(command, stdout=self.stdout, stderr=self.stderr)
        self.endpoint = wait_for_file(endpoint_file, self.process, "seer-coordinator serve")

    def log(self):
        self.stderr.flush()
        return (self.dir / "serve.log").read_text(errors="replace")

    def output(self):
        self.stdout.flush()
        return (self.dir / "serve.out").read_text(errors="replace")

    def wait(self, timeout=WAIT):
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"seer-coordinator did not exit within {timeout} s; log:\n{self.log()[-3000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stdout.close()
        self.stderr.close()


class RuntimeAgent:
    """`python -m seer_runtime_agent run` (the runtime agent as a user starts it) against `endpoint`."""

    def __init__(self, tmp_path, endpoint, agent_id="conf-1", device_key="conf", deploy=True, extra=()):
        self.agent_id = agent_id
        self.device_key = device_key
        self.log_path = tmp_path / f"{agent_id}.log"
        self.log_file = open(self.log_path, "w+b")
        command = [sys.executable, "-m", "seer_runtime_agent", "run", "--coordinator", endpoint, "--key", device_key,
                   "--id", agent_id, "--provider", "cpu", "--threads", "1", "--data", DATA_DIR,
                   "--cache", str(tmp_path / f"{agent_id}-cache"), *extra]
        command += ["--deploy-dir", str(tmp_path / f"{agent_id}-deploy")] if deploy else []
        if "--keys" not in extra:
            command.append("--plain")
        env = dict(os.environ, PYTHONPATH=str(AGENT_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(command, stdout=self.log_file, stderr=subprocess.STDOUT, env=env)

    def log(self):
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    def wait(self, timeout=WAIT):
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the runtime agent did not exit within {timeout} s; log:\n{self.log()[-3000:]}")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log_file.close()
