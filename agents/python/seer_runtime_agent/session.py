"""The agent's side of a session (docs/PROTOCOL.md sections 5, 6 and 8) as a pure state machine.

It is fed events with the time (`connect`, `receive`, `finished`, `tick`) and returns actions for the driver
(`agent.py`) to carry out, so every rule is tested without sockets or threads:

    ("send", type, body)         send a message
    ("run", work_id, job)        start a JOB's work on the job thread
    ("deploy", work_id, body, extra)  start a DEPLOY's work on the job thread
    ("reconnect", delay_s)       close the socket, wait, open a fresh one and call connect()
    ("stop", reason)             refused for good (unsupported_version / unauthorized): exit with an error
    ("log", line)
"""

from . import protocol as P


class Work:
    """The one JOB or DEPLOY in progress. `abandoned`: answered already (deadline passed, or the coordinator was lost);
    its thread still runs, so the agent stays busy and names it in heartbeats until it ends."""

    def __init__(self, work_id, kind, deadline):
        self.id = work_id
        self.kind = kind  # "job" or "deploy"
        self.deadline = deadline
        self.abandoned = False


class Session:
    def __init__(self, ready_body):
        self.ready = ready_body
        self.agent_id = ready_body["agent_id"]
        self.device_key = ready_body["device_key"]
        self.capabilities = set(ready_body["capabilities"])
        self.backoff = P.RECONNECT_INITIAL
        self.registered = False
        self.refused = False
        self.heard = self.sent = 0.0
        self.work = None

    # ------------------------------------------------------------ events

    def connect(self, now):
        """A fresh socket is connected: register."""
        self.registered = False
        self.refused = False
        self.heard = now
        return [self._send("READY", self.ready, now)]

    def receive(self, frames, now):
        self.heard = now  # any message is a sign of life
        try:
            mtype, body, extra = P.decode(frames)
        except P.ProtocolError as e:
            # Never answer an ERROR with an ERROR, even one we cannot read.
            if len(frames) >= 2 and bytes(frames[1]) == b"ERROR":
                return [("log", f"dropped an unreadable ERROR: {e.message}")]
            body = {"code": e.code, "message": e.message}
            if e.job_id is not None:
                body["job_id"] = e.job_id
            return [self._send("ERROR", body, now)]
        handler = getattr(self, "_on_" + mtype.lower())
        return handler(body, extra, now)

    def finished(self, work_id, reply, now):
        """The job thread finished `work_id` with `reply` = (type, body): RESULT/ERROR or DEPLOYED."""
        work, self.work = self.work, None
        if work is None or work.id != work_id or work.abandoned:
            return [("log", f"{work_id} finished after it was answered; result dropped")]
        return [self._send(reply[0], reply[1], now)]

    def tick(self, now):
        actions = []
        if now - self.heard >= P.PEER_EXPIRY:
            return self._reconnect(f"coordinator silent for {now - self.heard:.1f} s")
        if self.work and not self.work.abandoned and self.work.deadline is not None and now >= self.work.deadline:
            self.work.abandoned = True
            actions.append(self._send("ERROR", {"job_id": self.work.id, "code": "timeout",
                                                "message": "timeouts.total_ms passed; the job was abandoned"}, now))
        if now - self.sent >= P.HEARTBEAT_INTERVAL:
            actions.append(self._heartbeat(now))
        return actions

    def next_deadline(self, now):
        """Seconds until tick() has something to do (a heartbeat, an expiry, a job deadline)."""
        times = [self.sent + P.HEARTBEAT_INTERVAL, self.heard + P.PEER_EXPIRY]
        if self.work and not self.work.abandoned and self.work.deadline is not None:
            times.append(self.work.deadline)
        return max(0.0, min(times) - now)

    # ------------------------------------------------------------ messages

    def _on_heartbeat(self, body, extra, now):
        if not self.registered:
            self.registered = True
            self.backoff = P.RECONNECT_INITIAL  # the acceptance of READY
            return [("log", "registered")]
        return []

    def _on_job(self, job, extra, now):
        job_id = job["job_id"]
        if self.work is not None:
            return [self._send("ERROR", {"job_id": job_id, "code": "busy", "message": f"running {self.work.id}"}, now)]
        if job["device_key"] != self.device_key or job["kind"] not in self.capabilities:
            return [self._send("ERROR", {"job_id": job_id, "code": "unsupported",
                                         "message": f"this agent runs {sorted(self.capabilities)} for {self.device_key}"}, now)]
        if job["kind"] == "null":
            return [self._send("RESULT", {"job_id": job_id, "agent_id": self.agent_id, "payload": {"timings_ms": {}}}, now)]
        self.work = Work(job_id, "job", now + job["payload"]["timeouts"]["total_ms"] / 1000)
        return [("run", job_id, job)]

    def _on_deploy(self, body, extra, now):
        deploy_id = body["deploy_id"]
        if self.work is not None:
            return [self._send("ERROR", {"job_id": deploy_id, "code": "busy", "message": f"running {self.work.id}"}, now)]
        if "deploy" not in self.capabilities or body["device_key"] != self.device_key:
            return [self._send("ERROR", {"job_id": deploy_id, "code": "unsupported",
                                         "message": "this agent does not install models"}, now)]
        self.work = Work(deploy_id, "deploy", None)  # the coordinator's 5 min DEPLOYED wait bounds it
        return [("deploy", deploy_id, body, extra)]

    def _on_error(self, body, extra, now):
        if body["code"] in ("unsupported_version", "unauthorized") and not self.registered:
            self.refused = True
        return [("log", f"coordinator: ERROR {body['code']}" + (f" for {body['job_id']}" if "job_id" in body else "")
                 + f": {body['message']}")]

    def _on_disconnect(self, body, extra, now):
        if self.refused:
            return [("stop", f"refused by the coordinator: {body['reason']}")]
        return self._reconnect(f"DISCONNECT: {body['reason']}")

    def _only_agents_send(self, body, extra, now, mtype):
        return [self._send("ERROR", {"code": "malformed", "message": f"{mtype} is sent by agents, not to them"}, now)]

    def _on_ready(self, body, extra, now):
        return self._only_agents_send(body, extra, now, "READY")

    def _on_result(self, body, extra, now):
        return self._only_agents_send(body, extra, now, "RESULT")

    def _on_profile(self, body, extra, now):
        return self._only_agents_send(body, extra, now, "PROFILE")

    def _on_deployed(self, body, extra, now):
        return self._only_agents_send(body, extra, now, "DEPLOYED")

    # ------------------------------------------------------------ helpers

    def _send(self, mtype, body, now):
        self.sent = now
        return ("send", mtype, body)

    def _heartbeat(self, now):
        return self._send("HEARTBEAT", {"job_id": self.work.id} if self.work else {}, now)

    def _reconnect(self, why):
        delay = self.backoff
        self.backoff = min(self.backoff * 2, P.RECONNECT_MAX)
        self.registered = False
        if self.work:
            self.work.abandoned = True  # reported for nothing: the coordinator re-queues it
        return [("log", f"{why}; reconnecting in {delay:g} s"), ("reconnect", delay)]
