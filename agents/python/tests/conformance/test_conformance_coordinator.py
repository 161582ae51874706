"""docs/PROTOCOL.md against Seer's coordinator (`seer-coordinator serve`), driven by raw DEALERs playing agents.

Every message the coordinator sends is checked against the document's tables on the way in (conformance_schema).
`serve --null-jobs N --key K` is the coordinator with work to hand out: it waits for an agent of K, submits N null
jobs, prints a JSON summary and exits. "No answer" is shown by a probe sent after the message: the coordinator
answers in order, so the probe's ERROR coming first means the message got none.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import zmq

from conformance_cases import ACCEPTED, REFUSED, with_raw
from conformance_peers import AGENT_DIR, WAIT, FakeAgent, RuntimeAgent, Serve, require_coordinator, write_key_file
from conformance_rules import covers

_serial = [0]


def unique(prefix):
    _serial[0] += 1
    return f"{prefix}-{os.getpid()}-{_serial[0]}"


def ready(agent_id, device_key="k", **fields):
    body = {"agent_id": agent_id, "device_key": device_key, "executor": "runtime",
            "device": {"cores": 2, "memory_bytes": 1 << 30, "os": "Debian 12", "arch": "x86_64",
                       "software": {"python": "3"}},
            "protocol_version": 1, "capabilities": ["null"]}
    body.update(fields)
    return body


def register(endpoint, agent_id=None, device_key="k", curve=None, **fields):
    """A FakeAgent that sent READY and got the acceptance (the first message back is a HEARTBEAT); heartbeating."""
    agent = FakeAgent(endpoint, agent_id or unique("agent"), curve=curve)
    agent.send("READY", ready(agent.routing_id, device_key, **fields))
    first = agent.receive_any()
    assert first.type == "HEARTBEAT", f"READY was not accepted with a HEARTBEAT: {first}"
    return agent.alive()


def probe(agent):
    """Sends a RESULT that must be refused as malformed naming its job id; returns the id."""
    job_id = unique("probe")
    agent.send("RESULT", {"job_id": job_id})
    return job_id


def nothing_before_probe(agent):
    job_id = probe(agent)
    message = agent.receive()
    assert (message.type, message.body.get("code"), message.body.get("job_id")) == ("ERROR", "malformed", job_id), \
        f"expected no answer, then the probe's ERROR; got {message}"


@pytest.fixture(scope="module")
def coordinator(tmp_path_factory):
    serve = Serve(tmp_path_factory.mktemp("coordinator"))
    yield serve
    serve.stop()


@pytest.fixture
def agents(coordinator):
    """Makes FakeAgents on the module's coordinator (registered unless told otherwise) and closes them."""
    made = []

    def make(registered=True, **options):
        agent = register(coordinator.endpoint, **options) if registered else \
            FakeAgent(coordinator.endpoint, options.get("agent_id") or unique("stranger"))
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


def summary(serve):
    lines = serve.output().strip().splitlines()
    assert lines, f"serve printed no summary; log:\n{serve.log()[-3000:]}"
    return json.loads(lines[-1])


# ---------------------------------------------------------------- section 2 and 3: frames and bodies

@covers("2.frame-count", "2.size", "2.header", "2.type", "2.check-order", "2.body-json", "2.schema", "3.utf8",
        "3.numbers", "3.ids", "7.limits", "2.unregistered-malformed")
@pytest.mark.parametrize("name,parts,code,rules", REFUSED, ids=[case[0] for case in REFUSED])
def test_refuses_a_bad_message_from_anyone_with_error(agents, name, parts, code, rules):
    stranger = agents(registered=False)  # not registered: still an ERROR, not DISCONNECT
    stranger.send_raw(parts)
    message = stranger.receive()
    assert (message.type, message.body.get("code")) == ("ERROR", code), f"{name}: {message}"


@covers("2.body-json", "2.size", "3.unknown-fields", "3.optional-null", "3.ids", "7.limits")
@pytest.mark.parametrize("name,parts,rules", ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_accepts_a_heartbeat_at_the_limits(agents, name, parts, rules):
    agent = agents()
    agent.send_raw(parts)
    nothing_before_probe(agent)


@covers("2.direction")
@pytest.mark.parametrize("mtype,body", [
    ("JOB", {"job_id": "j", "device_key": "k", "kind": "null",
             "payload": {"model": "m", "policy": {}, "finetune_steps": 0, "split": "test", "seed": 0,
                         "timeouts": {"total_ms": 1000}}}),
    ("DEPLOY", {"deploy_id": "d", "device_key": "k", "profile": "p", "model": "m", "policy": {},
                "weights": {"sha256": "0" * 64, "size_bytes": 1, "uri": "file:///x"}}),
])
def test_a_message_only_coordinators_send_is_malformed(agents, mtype, body):
    agent = agents()
    agent.send(mtype, body)
    agent.expect("ERROR", code="malformed")


@covers("6.error-job-id", "2.schema")
@pytest.mark.parametrize("mtype,body,named", [
    ("RESULT", {"job_id": "r-incomplete", "agent_id": "a"}, "r-incomplete"),
    ("DEPLOYED", {"deploy_id": "d-incomplete", "agent_id": "a", "timings_ms": {}}, "d-incomplete"),
], ids=["RESULT without payload", "DEPLOYED without status"])
def test_an_error_names_the_job_or_deploy_of_a_message_it_refuses(agents, mtype, body, named):
    agent = agents()
    agent.send(mtype, body)
    agent.expect("ERROR", code="malformed", job_id=named)


# ---------------------------------------------------------------- READY

READY_REFUSED = [
    ("cores 4.0", ("device", "cores"), b"4.0"), ("cores 1e0", ("device", "cores"), b"1e0"),
    ("memory_bytes 2^63", ("device", "memory_bytes"), b"9223372036854775808"),
    ("protocol_version 1.0", ("protocol_version",), b"1.0"), ("cores 0", ("device", "cores"), b"0"),
    ("cores a string", ("device", "cores"), b'"2"'), ("agent_id empty", ("agent_id",), b'""'),
    ("agent_id 256 bytes", ("agent_id",), b'"' + b"a" * 256 + b'"'),
    ("agent_id with a tab", ("agent_id",), b'"a\\tb"'), ("os empty", ("device", "os"), b'""'),
    ("arch empty", ("device", "arch"), b'""'), ("hardware empty", ("device", "hardware"), b'""'),
    ("software key empty", ("device", "software"), b'{"":"1"}'),
    ("software value over 8 KiB", ("device", "software"), b'{"x":"' + b"v" * 8193 + b'"}'),
    ("executor gpu", ("executor",), b'"gpu"'), ("capability empty", ("capabilities",), b'[""]'),
    ("capabilities not a list", ("capabilities",), b'"null"'), ("device missing", ("device",), b"null"),
    ("invalid UTF-8 in os", ("device", "os"), b'"\xc3"'),
]


@covers("3.integers", "3.ids", "3.text", "3.enums", "2.schema", "3.utf8", "7.limits")
@pytest.mark.parametrize("name,path,raw", READY_REFUSED, ids=[case[0] for case in READY_REFUSED])
def test_a_ready_out_of_its_schema_is_malformed(agents, name, path, raw):
    agent = agents(registered=False)
    agent.send_raw([b"SEER1", b"READY", with_raw(ready(agent.routing_id), path, raw)])
    agent.expect("ERROR", code="malformed")
    agent.send("HEARTBEAT", {})
    agent.expect("DISCONNECT", reason="not registered")  # and it was not registered


READY_ACCEPTED = [
    ("executor null", {"executor": "null"}, ("4.ready-executors",)),
    ("executor runtime", {"executor": "runtime", "capabilities": ["artifact", "profile"]}, ("4.ready-executors",)),
    ("unknown capability", {"capabilities": ["null", "x-teleport"]}, ("4.capabilities-open",)),
    ("no capabilities", {"capabilities": []}, ("4.capabilities-open",)),
    ("unknown fields", {"gpu": {"name": "x"}, "device": {"cores": 1, "memory_bytes": 0, "os": "x", "software": {},
                                                         "npu": True}}, ("3.unknown-fields",)),
    ("arch and hardware null", {"device": {"cores": 1, "memory_bytes": 0, "os": "x", "arch": None, "hardware": None,
                                           "software": {}}}, ("3.optional-null",)),
    ("empty software version", {"device": {"cores": 1, "memory_bytes": 0, "os": "x", "software": {"seer": ""}}},
     ("3.text",)),
    ("os of 8 KiB", {"device": {"cores": 1, "memory_bytes": 0, "os": "o" * 8192, "software": {}}},
     ("3.text", "7.limits")),
]


@covers("5.acceptance", "4.ready-executors", "4.capabilities-open", "3.unknown-fields", "3.optional-null", "3.text",
        "7.limits")
@pytest.mark.parametrize("name,fields,rules", READY_ACCEPTED, ids=[case[0] for case in READY_ACCEPTED])
def test_a_ready_within_the_document_is_accepted(agents, name, fields, rules):
    agents(**fields)  # register() checks that the first answer is the acceptance HEARTBEAT


@covers("5.heartbeats")
def test_it_heartbeats_a_registered_agent(agents):
    agent = agents()
    for _ in range(2):
        assert agent.receive_any().type == "HEARTBEAT"


@covers("5.refusal", "4.disconnect", "4.error-body")
def test_a_ready_of_another_protocol_version_is_refused(agents):
    agent = agents(registered=False)
    agent.send("READY", ready(agent.routing_id, protocol_version=2))
    agent.expect("ERROR", code="unsupported_version")
    agent.expect("DISCONNECT")
    agent.send("HEARTBEAT", {})
    agent.expect("DISCONNECT", reason="not registered")


# ---------------------------------------------------------------- unregistered peers, unknown jobs, ERRORs

@covers("5.not-registered")
@pytest.mark.parametrize("mtype,body", [
    ("HEARTBEAT", {}),
    ("RESULT", {"job_id": "j", "agent_id": "a", "payload": {"timings_ms": {}}}),
    ("ERROR", {"job_id": "j", "code": "runtime_error", "message": "late"}),
    ("PROFILE", {"agent_id": "a", "device_key": "k", "profile": "p", "capacity_percent": 50, "status": "full"}),
    ("DEPLOYED", {"deploy_id": "d", "agent_id": "a", "status": "ok", "timings_ms": {}}),
])
def test_a_well_formed_message_from_an_unregistered_peer_gets_disconnect(agents, mtype, body):
    stranger = agents(registered=False)
    stranger.send(mtype, body)
    stranger.expect("DISCONNECT", reason="not registered")


@covers("5.not-registered")
def test_a_disconnect_from_an_unregistered_peer_is_not_answered(agents):
    stranger = agents(registered=False)
    stranger.send("DISCONNECT", {"reason": "leaving"})
    nothing_before_probe(stranger)


@covers("5.unknown-job", "3.ids", "3.text", "7.limits")
@pytest.mark.parametrize("mtype,body,named", [
    ("RESULT", {"job_id": "never-sent", "agent_id": "x", "payload": {"accuracy": 1e-1, "timings_ms": {}}},
     "never-sent"),
    ("RESULT", {"job_id": "j" * 255, "agent_id": "x", "payload": {"timings_ms": {"total": 0}}}, "j" * 255),
    ("DEPLOYED", {"deploy_id": "d-never", "agent_id": "x", "status": "ok", "timings_ms": {}, "message": ""},
     "d-never"),
    ("DEPLOYED", {"deploy_id": "d-never-2", "agent_id": "x", "status": "failed", "code": "runtime_error",
                  "timings_ms": {"fetch": 1.5}}, "d-never-2"),
], ids=["RESULT", "RESULT with a 255-byte id", "DEPLOYED ok", "DEPLOYED failed"])
def test_a_result_or_deployed_for_an_untracked_id_is_unknown_job(agents, mtype, body, named):
    agent = agents()
    agent.send(mtype, body)
    agent.expect("ERROR", code="unknown_job", job_id=named)


@covers("3.integers", "2.schema", "3.enums")
@pytest.mark.parametrize("mtype,body", [
    ("RESULT", {"job_id": "x", "agent_id": "a", "payload": {"timings_ms": {},
                                                           "latency": {"median_ms": 1, "min_ms": 1, "max_ms": 1,
                                                                       "number": 4.0, "repeat": 1}}}),
    ("RESULT", {"job_id": "x", "agent_id": "a", "payload": {"timings_ms": {},
                                                           "complexity": {"macs": 1e2, "bitops": 0, "params": 0,
                                                                          "size_bytes": 0}}}),
    ("RESULT", {"job_id": "x", "agent_id": "a", "payload": {"accuracy": 1.5, "timings_ms": {}}}),
    ("RESULT", {"job_id": "x", "agent_id": "a", "payload": {"timings_ms": {"total": -1}}}),
    ("RESULT", {"job_id": "x", "agent_id": "a", "payload": {"timings_ms": {},
                                                           "latency": {"median_ms": 1, "min_ms": 2, "max_ms": 3,
                                                                       "number": 1, "repeat": 1}}}),
    ("DEPLOYED", {"deploy_id": "d", "agent_id": "a", "status": "failed", "timings_ms": {}}),
    ("DEPLOYED", {"deploy_id": "d", "agent_id": "a", "status": "maybe", "timings_ms": {}}),
    ("ERROR", {"code": "no_such_code", "message": ""}),
], ids=["latency.number 4.0", "complexity.macs 1e2", "accuracy 1.5", "negative timing", "min above median",
        "failed without code", "status maybe", "unknown error code"])
def test_a_report_out_of_its_schema_is_malformed(agents, mtype, body):
    agent = agents()
    if mtype == "ERROR":
        agent.send(mtype, body)  # an ERROR, even a malformed one, is never answered
        nothing_before_probe(agent)
        return
    agent.send(mtype, body)
    agent.expect("ERROR", code="malformed")


@covers("6.no-error-for-error", "4.error-body", "3.text")
@pytest.mark.parametrize("parts", [
    [b"SEER1", b"ERROR", b"not json"],
    [b"SEER1", b"ERROR", b'{"job_id":"never-sent","code":"runtime_error","message":""}'],
    [b"SEER1", b"ERROR", b'{"code":"busy","message":"x"}'],
    [b"SEER2", b"ERROR", b"{}"],
], ids=["unreadable", "untracked job, empty message", "no job id", "another version"])
def test_an_error_is_never_answered(agents, parts):
    agent = agents()
    agent.send_raw(parts)
    nothing_before_probe(agent)


@covers("4.profile", "3.integers")
@pytest.mark.parametrize("fields,refused", [
    ({}, False), ({"capacity_percent": 17.5}, False), ({"capacity_percent": 100.5}, True),
    ({"capacity_percent": -1}, True), ({"status": "dead"}, True), ({"profile": ""}, True),
], ids=["valid", "fractional percent", "over 100", "negative", "unknown status", "empty profile"])
def test_profile(agents, fields, refused):
    agent = agents()
    body = {"agent_id": agent.routing_id, "device_key": "k", "profile": "powersave", "capacity_percent": 40,
            "status": "discharging"}
    body.update(fields)
    agent.send("PROFILE", body)
    if refused:
        agent.expect("ERROR", code="malformed")
    else:
        nothing_before_probe(agent)


@covers("4.disconnect", "3.text", "7.limits", "5.leaving")
def test_disconnect_reason_is_text(agents):
    agent = agents()
    agent.send("DISCONNECT", {"reason": ""})
    agent.expect("ERROR", code="malformed")
    agent.send("DISCONNECT", {"reason": "r" * 8193})
    agent.expect("ERROR", code="malformed")
    agent.send("DISCONNECT", {"reason": "r" * 8192})  # accepted: the agent is forgotten
    agent.send("HEARTBEAT", {})
    agent.expect("DISCONNECT", reason="not registered")


# ---------------------------------------------------------------- jobs: serve --null-jobs

def await_heartbeats(agent, count):
    """Waits for `count` HEARTBEATs from the coordinator; any other message first fails the test."""
    for _ in range(count):
        message = agent.receive_any()
        assert message.type == "HEARTBEAT", f"expected only heartbeats meanwhile, got {message}"


def take_job(agent):
    job = agent.expect("JOB")
    agent.working_on = job.body["job_id"]
    return job.body


def finish(agent, job_id):
    agent.send("RESULT", {"job_id": job_id, "agent_id": agent.routing_id, "payload": {"timings_ms": {"total": 0}}})
    agent.working_on = None


@covers("5.one-job", "4.job-complete", "5.leaving")
def test_jobs_go_one_at_a_time_to_idle_agents_of_their_key(tmp_path):
    serve = Serve(tmp_path, "--null-jobs", "2", "--key", "k", "--timeout-s", str(WAIT))
    other = worker = None
    try:
        other = register(serve.endpoint, unique("other"), device_key="other-key")
        worker = register(serve.endpoint, unique("worker"))
        job = take_job(worker)
        assert (job["kind"], job["device_key"]) == ("null", "k")
        assert isinstance(job["payload"]["timeouts"]["total_ms"], int)
        await_heartbeats(worker, 2)  # busy with the first: no second JOB meanwhile
        finish(worker, job["job_id"])
        second = take_job(worker)
        assert second["job_id"] != job["job_id"]
        finish(worker, second["job_id"])
        assert serve.wait() == 0, serve.log()
        assert summary(serve)["done"] == 2
        worker.expect("DISCONNECT")  # the coordinator is leaving
        assert other.expect("DISCONNECT").type == "DISCONNECT"  # and never sent the other key a JOB
    finally:
        for agent in (other, worker):
            if agent:
                agent.close()
        serve.stop()


@covers("5.busy-blocks")
def test_after_busy_the_agent_gets_no_job_until_it_heartbeats_idle(tmp_path):
    serve = Serve(tmp_path, "--null-jobs", "1", "--key", "k", "--timeout-s", str(WAIT))
    worker = None
    try:
        worker = register(serve.endpoint, unique("worker"))
        job = take_job(worker)
        worker.working_on = "something-older"  # its heartbeats say it is busy with work the coordinator lost
        worker.send("ERROR", {"job_id": job["job_id"], "code": "busy", "message": "running something-older"})
        await_heartbeats(worker, 2)
        worker.working_on = None  # idle again: the refused job comes back
        again = take_job(worker)
        assert again["job_id"] == job["job_id"]
        finish(worker, again["job_id"])
        assert serve.wait() == 0, serve.log()
    finally:
        if worker:
            worker.close()
        serve.stop()


@covers("5.re-ready", "5.leaving", "5.not-registered")
@pytest.mark.parametrize("how", ["READY again", "DISCONNECT"])
def test_a_job_in_flight_is_requeued_when_its_agent_registers_again_or_leaves(tmp_path, how):
    serve = Serve(tmp_path, "--null-jobs", "1", "--key", "k", "--timeout-s", str(WAIT))
    worker = None
    try:
        worker = register(serve.endpoint, unique("worker"))
        job = take_job(worker)
        if how == "DISCONNECT":
            worker.send("DISCONNECT", {"reason": "agent shutting down"})
            worker.send("RESULT", {"job_id": job["job_id"], "agent_id": worker.routing_id,
                                   "payload": {"timings_ms": {}}})
            worker.expect("DISCONNECT", reason="not registered")  # forgotten: its RESULT counts for nothing
        worker.working_on = None
        worker.send("READY", ready(worker.routing_id))
        again = take_job(worker)
        assert again["job_id"] == job["job_id"]
        finish(worker, again["job_id"])
        assert serve.wait() == 0, serve.log()
        assert summary(serve)["done"] == 1
    finally:
        if worker:
            worker.close()
        serve.stop()


def agent_state(serve, agent_id):
    listing = subprocess.run([require_coordinator(), "agents", "--db", serve.db], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        if line.split("  ")[0] == agent_id:
            return line.split("  ")[3]
    return None


@covers("5.expiry")
def test_a_silent_agent_is_expired(coordinator):
    silent = register(coordinator.endpoint, unique("silent"))
    silent.closed.set()  # stops its heartbeats
    try:
        deadline = time.monotonic() + WAIT
        while agent_state(coordinator, silent.routing_id) != "gone":
            assert time.monotonic() < deadline, f"{silent.routing_id} was not expired within {WAIT} s"
            time.sleep(0.2)  # polling the database, not timing anything
        silent.send("HEARTBEAT", {})
        silent.expect("DISCONNECT", reason="not registered")
    finally:
        silent.close()


@covers("5.leaving", "4.disconnect")
def test_shutting_down_it_says_disconnect_to_every_agent(tmp_path):
    serve = Serve(tmp_path)
    agents = []
    try:
        agents = [register(serve.endpoint, unique("a")), register(serve.endpoint, unique("b"))]
        serve.process.send_signal(signal.SIGTERM)
        for agent in agents:
            agent.expect("DISCONNECT")
        assert serve.wait() == 0, serve.log()
    finally:
        for agent in agents:
            agent.close()
        serve.stop()


@covers("1.routing-id-in-use")
def test_a_second_connection_with_a_registered_routing_id_does_not_disturb_the_agent(tmp_path):
    serve = Serve(tmp_path, "--null-jobs", "1", "--key", "k", "--timeout-s", str(WAIT))
    worker = intruder = None
    try:
        worker = register(serve.endpoint, "same-id")
        job = take_job(worker)
        intruder = FakeAgent(serve.endpoint, "same-id").alive()
        intruder.send("READY", ready("same-id"))
        # Past libzmq's ZMTP heartbeat timeout (3 s at the coordinator's 1 s heartbeats): a handed-over connection
        # would have aborted the coordinator by now (PROTOCOL.md section 1).
        await_heartbeats(worker, 4)
        finish(worker, job["job_id"])
        assert serve.wait() == 0, serve.log()
        assert summary(serve)["done"] == 1
        while intruder.pending():
            message = intruder.receive_any()
            assert message.type not in ("HEARTBEAT", "JOB"), f"the intruder was served: {message}"
    finally:
        for agent in (worker, intruder):
            if agent:
                agent.close()
        serve.stop()


# ---------------------------------------------------------------- CURVE and key files (both programs)



def make_pair(directory):
    public, secret = (k.decode("ascii") for k in zmq.curve_keypair())
    directory.mkdir(parents=True)
    write_key_file(directory / "public.key", public, "public key written by the conformance test")
    write_key_file(directory / "secret.key", secret, "secret key")
    os.chmod(directory / "secret.key", 0o600)
    return public, secret


def keygen(directory):
    subprocess.run([require_coordinator(), "keygen", "--out", str(directory)], check=True, capture_output=True)
    return (directory / "public.key").read_text().split("\n")


@covers("1.curve-allow-list", "1.key-binding", "1.key-files")
def test_curve_admits_the_allow_list_and_binds_agent_ids_to_keys(tmp_path):
    keygen(tmp_path / "coordinator")
    server = [line for line in (tmp_path / "coordinator" / "public.key").read_text().splitlines()
              if line and not line.startswith("#")][0]
    allowed = tmp_path / "allow"
    first = make_pair(allowed / "first")
    second = make_pair(allowed / "second")
    outsider = make_pair(tmp_path / "outsider")
    serve = Serve(tmp_path, "--keys", str(tmp_path / "coordinator"), "--allow", str(allowed), plain=False)
    peers = []
    try:
        stranger = FakeAgent(serve.endpoint, unique("outsider"), curve=(server, *outsider))
        peers.append(stranger)
        stranger.send("READY", ready(stranger.routing_id))
        agent = register(serve.endpoint, unique("first"), curve=(server, *first))
        peers.append(agent)
        # Another admitted key claiming the first agent's id, from another routing id.
        claimant = FakeAgent(serve.endpoint, unique("claimant"), curve=(server, *second))
        peers.append(claimant)
        claimant.send("READY", ready(agent.routing_id))
        claimant.expect("ERROR", code="unauthorized")
        claimant.expect("DISCONNECT")
        await_heartbeats(agent, 2)  # the first agent is undisturbed...
        assert not stranger.pending()  # ...and the outsider, who spoke first, has had no answer at all
    finally:
        for peer in peers:
            peer.close()
        serve.stop()


@covers("1.key-files")
def test_the_runtime_agent_and_the_coordinator_read_each_others_key_files(tmp_path):
    keygen(tmp_path / "coordinator")
    subprocess.run([sys.executable, "-m", "seer_runtime_agent", "keygen", "--out", str(tmp_path / "agent")],
                   check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(AGENT_DIR)))
    serve = Serve(tmp_path, "--keys", str(tmp_path / "coordinator"), "--allow", str(tmp_path / "agent" / "public.key"),
                  "--null-jobs", "1", "--key", "conf", "--timeout-s", str(WAIT), plain=False)
    agent = RuntimeAgent(tmp_path, serve.endpoint, deploy=False,
                         extra=("--keys", str(tmp_path / "agent"),
                                "--server-key", str(tmp_path / "coordinator" / "public.key")))
    try:
        assert serve.wait() == 0, serve.log() + agent.log()
        assert summary(serve)["done"] == 1  # the Swift coordinator's null JOB, answered by the Python agent
    finally:
        agent.stop()
        serve.stop()


@covers("1.key-files")
def test_a_bad_key_line_is_refused_naming_file_and_line(tmp_path):
    keygen(tmp_path / "coordinator")
    bad = tmp_path / "allow.keys"
    bad.write_text("# agents\n\nnot-a-key\n", encoding="utf-8")
    serve = subprocess.run([require_coordinator(), "serve", "--keys", str(tmp_path / "coordinator"), "--allow", str(bad),
                            "--bind", "tcp://127.0.0.1:0", "--db", str(tmp_path / "db.sqlite")],
                           capture_output=True, text=True, timeout=WAIT)
    assert serve.returncode != 0 and f"{bad}:3" in serve.stderr, serve.stderr
