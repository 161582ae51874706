"""The socket loop: carries out what `Session` decides, runs work on one job thread, and never blocks on it.

The job thread wakes the loop through an inproc PAIR socket when it finishes, so a result leaves at once rather than
at the next poll timeout; heartbeats keep going while a job runs.
"""

import concurrent.futures
import os
import platform
import threading
import time

import zmq

from . import __version__
from . import protocol as P
from .session import Session


class Config:
    def __init__(self, endpoint, agent_id, device_key, server_key=None, public_key=None, secret_key=None,
                 hardware=None):
        self.endpoint = endpoint
        self.agent_id = agent_id
        self.device_key = device_key
        self.server_key = server_key
        self.public_key = public_key
        self.secret_key = secret_key
        self.hardware = hardware


def ready_body(config, capabilities, software):
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = 0
    device = {"cores": os.cpu_count() or 1, "memory_bytes": memory, "os": platform.platform() or "unknown",
              "arch": platform.machine() or None, "software": software}
    if config.hardware:
        device["hardware"] = config.hardware
    device = {k: v for k, v in device.items() if v is not None}
    return {"agent_id": config.agent_id, "device_key": config.device_key, "executor": "runtime", "device": device,
            "protocol_version": P.VERSION, "capabilities": capabilities}


def open_socket(ctx, config):
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.ROUTING_ID, config.agent_id.encode("utf-8"))
    sock.setsockopt(zmq.LINGER, P.LINGER_MS)
    sock.setsockopt(zmq.MAXMSGSIZE, P.TRANSPORT_MAX_FRAME)
    sock.setsockopt(zmq.RECONNECT_IVL, int(P.RECONNECT_INITIAL * 1000))
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, int(P.RECONNECT_MAX * 1000))
    sock.setsockopt(zmq.HEARTBEAT_IVL, P.ZMTP_HEARTBEAT_IVL_MS)
    sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, P.ZMTP_HEARTBEAT_TIMEOUT_MS)
    sock.setsockopt(zmq.HEARTBEAT_TTL, P.ZMTP_HEARTBEAT_TTL_MS)
    if config.server_key:
        sock.curve_serverkey = config.server_key.encode("ascii")
        sock.curve_publickey = config.public_key.encode("ascii")
        sock.curve_secretkey = config.secret_key.encode("ascii")
    sock.connect(config.endpoint)
    return sock


class Agent:
    """Runs until `stop()` (or a refusal); `executor` answers work with replies (see executor.py)."""

    def __init__(self, config, executor, log=print):
        self.config = config
        self.executor = executor
        self.log = log
        software = {"seer-runtime-agent": __version__, "python": platform.python_version(), "libzmq": zmq.zmq_version()}
        try:
            import onnxruntime
            software["onnxruntime"] = onnxruntime.__version__
        except ImportError:
            pass
        self.session = Session(ready_body(config, executor.capabilities(), software))
        self.ctx = zmq.Context()
        self._stop = threading.Event()
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="seer-job")
        self.wake_address = f"inproc://seer-wake-{id(self)}"
        self.refusal = None

    def stop(self):
        self._stop.set()
        self._wake(b"stop")

    def _wake(self, note):
        """Wakes the loop's poll early. Never blocks: a PAIR socket takes one peer at a time, so a send can find
        no peer (a job thread's notice is connected, or the loop has already closed its end) and would wait forever;
        then the loop sees the stop flag or the finished job at its next poll timeout (at most a heartbeat) instead."""
        waker = self.ctx.socket(zmq.PAIR)
        try:
            waker.connect(self.wake_address)
            waker.send(note, zmq.NOBLOCK)
        except zmq.ZMQError:
            pass
        finally:
            waker.close(linger=100)

    def run(self):
        """Returns 0 after stop(), 1 after a refusal (unsupported_version / unauthorized)."""
        wake = self.ctx.socket(zmq.PAIR)
        wake.bind(self.wake_address)
        finished = []  # (work_id, reply) from the job thread
        lock = threading.Lock()
        try:
            while not self._stop.is_set():
                sock = open_socket(self.ctx, self.config)
                delay = self._serve(sock, wake, finished, lock)
                if delay is None:
                    break
                sock.close(linger=0)  # drop what was queued for a coordinator that is gone
                if self._stop.wait(delay):
                    break
            return 1 if self.refusal else 0
        finally:
            wake.close(linger=0)
            self.pool.shutdown(wait=False)

    def _serve(self, sock, wake, finished, lock):
        """One socket's life; returns the reconnect delay, or None to exit."""
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(wake, zmq.POLLIN)

        def carry_out(actions):
            for action in actions:
                kind = action[0]
                if kind == "send":
                    sock.send_multipart(P.encode(action[1], action[2]))
                elif kind in ("run", "deploy"):
                    work_id = action[1]

                    def work(action=action, work_id=work_id):
                        reply = (self.executor.run_job(action[2], started=time.monotonic()) if action[0] == "run"
                                 else self.executor.deploy(action[2], action[3]))
                        with lock:
                            finished.append((work_id, reply))
                        self._wake(b"done")

                    self.pool.submit(work)
                elif kind == "reconnect":
                    return action[1]
                elif kind == "stop":
                    self.refusal = action[1]
                    self.log(action[1])
                    return None
                elif kind == "log":
                    self.log(action[1])
            return False

        outcome = carry_out(self.session.connect(time.monotonic()))
        while outcome is False:
            if self._stop.is_set():
                try:
                    sock.send_multipart(P.encode("DISCONNECT", {"reason": "agent shutting down"}))
                except zmq.ZMQError:
                    pass
                sock.close(linger=P.LINGER_MS)
                return None
            timeout = self.session.next_deadline(time.monotonic())
            events = dict(poller.poll(max(1, int(timeout * 1000) + 1)))
            now = time.monotonic()
            if wake in events:
                wake.recv()
            with lock:
                done, finished[:] = list(finished), []
            for work_id, reply in done:
                outcome = carry_out(self.session.finished(work_id, reply, now))
                if outcome is not False:
                    break
            if outcome is not False:
                break
            if sock in events:
                while outcome is False:
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    outcome = carry_out(self.session.receive(frames, now))
                if outcome is not False:
                    break
            outcome = carry_out(self.session.tick(time.monotonic()))
        return outcome
