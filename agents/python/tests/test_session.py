import json

from seer_runtime_agent import protocol as P
from seer_runtime_agent.session import Session

READY = {"agent_id": "a1", "device_key": "ort", "executor": "runtime",
         "device": {"cores": 1, "memory_bytes": 0, "os": "x", "software": {}}, "protocol_version": 1,
         "capabilities": ["artifact", "profile", "null", "deploy"]}


def msg(mtype, body, *extra):
    return [b"SEER1", mtype.encode(), json.dumps(body).encode(), *extra]


def job(job_id="j1", kind="artifact", total_ms=5000, device_key="ort"):
    return msg("JOB", {"job_id": job_id, "device_key": device_key, "kind": kind,
                       "payload": {"model": "m", "policy": {}, "finetune_steps": 0, "split": "validation", "seed": 0,
                                   "timeouts": {"total_ms": total_ms},
                                   "artifact": {"format": "onnx-qdq/1", "sha256": "a" * 64, "size_bytes": 1}}})


def sends(actions):
    return [(a[1], a[2]) for a in actions if a[0] == "send"]


def registered(now=0.0):
    s = Session(READY)
    assert sends(s.connect(now)) == [("READY", READY)]
    s.receive(msg("HEARTBEAT", {}), now)
    assert s.registered
    return s


def test_one_job_at_a_time_and_busy_names_the_refused_job():
    s = registered()
    assert s.receive(job("j1"), 0.1)[0][:2] == ("run", "j1")
    assert sends(s.receive(job("j2"), 0.2)) == [("ERROR", {"job_id": "j2", "code": "busy", "message": "running j1"})]
    assert sends(s.finished("j1", ("RESULT", {"job_id": "j1"}), 0.3)) == [("RESULT", {"job_id": "j1"})]
    assert s.receive(job("j3"), 0.4)[0][:2] == ("run", "j3")


def test_deploy_while_busy_is_busy():
    s = registered()
    s.receive(job("j1"), 0.1)
    deploy = {"deploy_id": "d1", "device_key": "ort", "profile": "p", "model": "m", "policy": {},
              "weights": {"sha256": "b" * 64, "size_bytes": 1}}
    assert sends(s.receive(msg("DEPLOY", deploy, b"x"), 0.2))[0][1]["code"] == "busy"


def test_unsupported_kind_or_key_and_null_answered_at_once():
    s = registered()
    assert sends(s.receive(job(kind="measure"), 0.1))[0][1]["code"] == "unsupported"
    assert sends(s.receive(job(device_key="other"), 0.1))[0][1]["code"] == "unsupported"
    assert sends(s.receive(job(kind="null"), 0.1)) == [("RESULT", {"job_id": "j1", "agent_id": "a1",
                                                                   "payload": {"timings_ms": {}}})]
    assert s.work is None


def test_an_error_is_never_answered_even_unreadable():
    s = registered()
    assert sends(s.receive(msg("ERROR", {"code": "unknown_job", "message": "", "job_id": "x"}), 0.1)) == []
    assert sends(s.receive([b"SEER1", b"ERROR", b"not json"], 0.1)) == []
    assert sends(s.receive([b"SEER1", b"HEARTBEAT", b"not json"], 0.1))[0][1]["code"] == "malformed"


def test_a_malformed_job_is_answered_with_its_id_and_the_agent_stays_idle():
    s = registered()
    bad = json.loads(job()[2])
    del bad["payload"]["timeouts"]
    out = sends(s.receive(msg("JOB", bad), 0.1))
    assert out[0][0] == "ERROR" and out[0][1]["code"] == "malformed" and out[0][1]["job_id"] == "j1"
    assert s.work is None


def test_deadline_sends_timeout_then_heartbeats_name_the_job_until_it_ends():
    s = registered()
    s.receive(job(total_ms=1000), 0.0)
    s.receive(msg("HEARTBEAT", {}), 1.0)
    out = sends(s.tick(1.05))
    assert ("ERROR", {"job_id": "j1", "code": "timeout",
                      "message": "timeouts.total_ms passed; the job was abandoned"}) in out
    s.receive(msg("HEARTBEAT", {}), 2.0)
    assert ("HEARTBEAT", {"job_id": "j1"}) in sends(s.tick(2.1))
    assert sends(s.receive(job("j2"), 2.2))[0][1]["code"] == "busy"
    assert sends(s.finished("j1", ("RESULT", {}), 2.5)) == []  # answered already
    assert ("HEARTBEAT", {}) in sends(s.tick(3.6))


def test_heartbeat_every_interval_when_idle():
    s = registered(0.0)
    assert sends(s.tick(0.5)) == []
    assert sends(s.tick(1.0)) == [("HEARTBEAT", {})]


def test_silence_reconnects_with_doubling_backoff_reset_by_acceptance():
    s = Session(READY)
    s.connect(0.0)
    delays = []
    now = 0.0
    for _ in range(7):
        now += 3.0
        delays.append([a for a in s.tick(now) if a[0] == "reconnect"][0][1])
        s.connect(now)
    assert delays == [1, 2, 4, 8, 16, 32, 32]
    s.receive(msg("HEARTBEAT", {}), now)
    assert [a for a in s.tick(now + 3) if a[0] == "reconnect"][0][1] == 1


def test_refusal_stops_but_a_plain_disconnect_reconnects():
    s = Session(READY)
    s.connect(0.0)
    s.receive(msg("ERROR", {"code": "unauthorized", "message": "no"}), 0.1)
    assert s.receive(msg("DISCONNECT", {"reason": "bye"}), 0.1)[0][0] == "stop"
    s = registered()
    assert [a[0] for a in s.receive(msg("DISCONNECT", {"reason": "restart"}), 0.1)] == ["log", "reconnect"]


def test_messages_only_agents_send_are_refused():
    s = registered()
    assert sends(s.receive(msg("RESULT", {"job_id": "x"}), 0.1))[0][1]["code"] == "malformed"
