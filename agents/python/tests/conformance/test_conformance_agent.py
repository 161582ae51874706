"""docs/PROTOCOL.md against the runtime agent (`python -m seer_runtime_agent run`), driven by a raw ROUTER playing the
coordinator. Every message the agent sends is checked against the document's tables on the way in
(conformance_schema); the tests check what it answers and when. A long job is a FIFO named as the artifact's
`file://` uri: the job holds until the test writes the artifact, so no test races a timer."""

import base64
import errno
import hashlib
import os
import select
import signal
import time

import pytest
import zmq

from conformance_cases import ACCEPTED, REFUSED, with_raw
from conformance_peers import DATA_DIR, WAIT, FakeCoordinator, RuntimeAgent, write_key_file
from conformance_rules import covers
from helpers import tiny_artifact

ARTIFACT = tiny_artifact(11)


def reference(data, inline=True, **fields):
    ref = {"format": "onnx-qdq/1", "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
    if inline:
        ref["data"] = base64.b64encode(data).decode("ascii")
    ref.update(fields)
    return ref


def payload(**fields):
    p = {"model": "tiny", "policy": {}, "finetune_steps": 0, "split": "test", "seed": 0,
         "timeouts": {"total_ms": 120000},
         "settings": {"split": "test", "evaluation_limit": 16,
                      "latency": {"number": 1, "repeat": 2, "min_repeat_ms": 1, "batch": 1}}}
    p.update(fields)
    return p


def job(job_id, kind="null", device_key="conf", **fields):
    return {"job_id": job_id, "device_key": device_key, "kind": kind, "payload": payload(**fields)}


def deploy(deploy_id, data, **fields):
    d = {"deploy_id": deploy_id, "device_key": "conf", "profile": "balanced", "model": "tiny", "policy": {},
         "weights": {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data), "format": "onnx-qdq/1"}}
    d.update(fields)
    return d


class Fifo:
    """A named pipe as an artifact's file: the agent's read blocks until `release` writes the bytes."""

    def __init__(self, directory, data):
        self.path = str(directory / f"held-{time.monotonic_ns()}.onnx")
        os.mkfifo(self.path)
        self.data = data
        self.released = False

    def reference(self):
        return reference(self.data, inline=False, uri="file://" + self.path)

    def release(self, wait=True):
        """Writes the bytes once the agent has the pipe open (a reader must be there, or the open fails); without
        `wait`, only if it has (a test that failed before the agent got there)."""
        if self.released:
            return
        deadline = time.monotonic() + (WAIT if wait else 0)
        while True:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError as e:
                if e.errno != errno.ENXIO:
                    raise
                if time.monotonic() > deadline:
                    if wait:
                        raise AssertionError(f"the agent never opened {self.path}")
                    return
                select.select([], [], [], 0.05)  # no reader yet: the agent has not reached the file
        try:
            view = memoryview(self.data)
            while view:
                select.select([], [fd], [], WAIT)
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
            self.released = True


def await_heartbeat(under_test, job_id):
    """Waits for a HEARTBEAT naming `job_id` (None: an idle one); anything else first fails the test."""
    deadline = time.monotonic() + WAIT
    while True:
        _, message = under_test.coordinator.receive_any(max(0.1, deadline - time.monotonic()))
        assert message.type == "HEARTBEAT", f"expected a HEARTBEAT naming {job_id}, got {message}"
        if message.body.get("job_id") == job_id:
            return message


# ---------------------------------------------------------------- registration and heartbeats

@covers("1.routing-id", "4.ready", "3.no-nan", "5.ready-first")
def test_ready_announces_a_runtime_agent(runtime_agent):
    ready = runtime_agent.ready
    assert runtime_agent.routing == ready["agent_id"].encode("utf-8") == b"conf-1"
    assert ready["device_key"] == "conf" and ready["executor"] == "runtime" and ready["protocol_version"] == 1
    assert {"artifact", "profile", "null", "deploy"} <= set(ready["capabilities"])
    assert "measure" not in ready["capabilities"] and "compress" not in ready["capabilities"]


@covers("5.heartbeats", "4.heartbeat")
def test_heartbeats_while_idle_name_no_job(runtime_agent):
    for _ in range(2):
        await_heartbeat(runtime_agent, None)


# ---------------------------------------------------------------- section 2 and 3: refused and accepted frames

@covers("2.frame-count", "2.size", "2.header", "2.type", "2.check-order", "2.body-json", "2.schema", "3.utf8",
        "3.numbers", "3.ids", "7.limits", "4.error-body", "6.codes")
@pytest.mark.parametrize("name,parts,code,rules", REFUSED, ids=[case[0] for case in REFUSED])
def test_refuses_a_bad_message_with_error(runtime_agent, name, parts, code, rules):
    runtime_agent.send_raw(parts)
    message = runtime_agent.receive()
    assert (message.type, message.body["code"]) == ("ERROR", code), f"{name}: {message}"


@covers("2.body-json", "2.size", "3.unknown-fields", "3.optional-null", "3.ids", "7.limits")
@pytest.mark.parametrize("name,parts,rules", ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_accepts_a_heartbeat_at_the_limits(runtime_agent, name, parts, rules):
    runtime_agent.send_raw(parts)
    runtime_agent.nothing_before_probe()


@covers("2.direction")
@pytest.mark.parametrize("mtype", ["READY", "RESULT", "PROFILE", "DEPLOYED"])
def test_a_message_only_agents_send_is_malformed(runtime_agent, mtype):
    runtime_agent.send(mtype, {})
    message = runtime_agent.expect("ERROR", code="malformed")
    assert mtype in message.body["message"]


@covers("6.no-error-for-error")
@pytest.mark.parametrize("parts", [
    [b"SEER1", b"ERROR", b"not json"],
    [b"SEER1", b"ERROR", b'{"code":"no_such_code","message":"x"}'],
    [b"SEER1", b"ERROR", b'{"code":"unknown_job","message":"late","job_id":"never-sent"}'],
    [b"SEER2", b"ERROR", b"{}"],
    [b"SEER1", b"ERROR", b"{}", b"extra"],
], ids=["unreadable", "unknown code", "untracked job", "another version", "four frames"])
def test_an_error_is_never_answered(runtime_agent, parts):
    runtime_agent.send_raw(parts)
    runtime_agent.nothing_before_probe()


# ---------------------------------------------------------------- JOB

@covers("5.answer-once", "4.result")
def test_a_null_job_is_answered_with_one_result(runtime_agent):
    job_id = runtime_agent.next_id("null")
    runtime_agent.send("JOB", job(job_id))
    result = runtime_agent.expect("RESULT", job_id=job_id, agent_id="conf-1")
    assert isinstance(result.body["payload"]["timings_ms"], dict)
    runtime_agent.nothing_before_probe()


@covers("4.job-complete", "6.error-job-id", "2.schema")
@pytest.mark.parametrize("change", [
    lambda j: j.update(payload={}),
    lambda j: j["payload"].pop("timeouts"),
    lambda j: j["payload"]["timeouts"].pop("total_ms"),
    lambda j: j["payload"].pop("model"),
    lambda j: j["payload"].pop("seed"),
    lambda j: j.pop("device_key"),
    lambda j: j["payload"].update(policy=[]),
    lambda j: j["payload"].update(finetune_steps="0"),
], ids=["null job with empty payload", "no timeouts", "no total_ms", "no model", "no seed", "no device_key",
        "policy not an object", "finetune_steps a string"])
def test_an_incomplete_job_is_malformed_and_named(runtime_agent, change):
    job_id = runtime_agent.next_id("bad")
    body = job(job_id)
    change(body)
    runtime_agent.send("JOB", body)
    runtime_agent.expect("ERROR", code="malformed", job_id=job_id)


TYPED = [
    (("payload", "timeouts", "total_ms"), b"1000.0"), (("payload", "timeouts", "total_ms"), b"1e3"),
    (("payload", "seed"), b"9223372036854775808"), (("payload", "seed"), b"-1"),
    (("payload", "finetune_steps"), b"true"), (("payload", "timeouts", "total_ms"), b"0"),
    (("payload", "model"), b'""'), (("payload", "model"), b'"' + b"m" * 8193 + b'"'), (("payload", "split"), b'""'),
    (("payload", "latency"), b'{"number":0,"repeat":1}'),
]


@covers("3.integers", "3.enums", "3.text", "3.ids", "7.limits", "6.error-job-id")
@pytest.mark.parametrize("path,raw", TYPED, ids=[f"{p[-1]} {r[:12].decode()}" for p, r in TYPED])
def test_a_job_field_out_of_its_type_is_malformed(runtime_agent, path, raw):
    job_id = runtime_agent.next_id("typed")
    runtime_agent.send_raw([b"SEER1", b"JOB", with_raw(job(job_id), path, raw)])
    runtime_agent.expect("ERROR", code="malformed", job_id=job_id)


@covers("3.enums")
def test_an_unknown_job_kind_is_malformed(runtime_agent):
    job_id = runtime_agent.next_id("kind")
    runtime_agent.send("JOB", job(job_id, kind="train"))
    runtime_agent.expect("ERROR", code="malformed", job_id=job_id)


@covers("3.unknown-fields", "3.optional-null")
def test_unknown_and_null_optional_fields_are_ignored(runtime_agent):
    job_id = runtime_agent.next_id("future")
    body = job(job_id, latency=None, options=None, future={"x": [1, 2]})
    body["priority"] = "high"
    body["payload"]["timeouts"]["queue_ms"] = 5
    runtime_agent.send("JOB", body)
    runtime_agent.expect("RESULT", job_id=job_id)


@covers("5.unsupported")
@pytest.mark.parametrize("kind,device_key", [("measure", "conf"), ("compress", "conf"), ("null", "other-key")])
def test_a_job_it_cannot_run_is_unsupported(runtime_agent, kind, device_key):
    job_id = runtime_agent.next_id("unsupported")
    runtime_agent.send("JOB", job(job_id, kind=kind, device_key=device_key))
    runtime_agent.expect("ERROR", code="unsupported", job_id=job_id)


# ---------------------------------------------------------------- artifacts

@covers("4.artifact-result", "4.result", "4.artifact-cache")
def test_an_artifact_job_reports_accuracy_and_latency_then_is_served_from_the_cache(runtime_agent):
    job_id = runtime_agent.next_id("artifact")
    runtime_agent.send("JOB", job(job_id, "artifact", artifact=reference(ARTIFACT)))
    p = runtime_agent.expect("RESULT", job_id=job_id).body["payload"]
    assert "accuracy" in p and p["latency"]["repeat"] == 2
    job_id = runtime_agent.next_id("cached")
    runtime_agent.send("JOB", job(job_id, "artifact", artifact=reference(ARTIFACT, inline=False)))
    assert "accuracy" in runtime_agent.expect("RESULT", job_id=job_id).body["payload"]


@covers("4.artifact-result")
def test_a_profile_job_with_an_artifact_reports_latency_only(runtime_agent):
    job_id = runtime_agent.next_id("profile")
    runtime_agent.send("JOB", job(job_id, "profile", artifact=reference(ARTIFACT)))
    p = runtime_agent.expect("RESULT", job_id=job_id).body["payload"]
    assert "latency" in p and p.get("accuracy") is None


@covers("4.layer-table-kernels")
def test_a_layer_table_without_kernels_is_unsupported(runtime_agent):
    job_id = runtime_agent.next_id("table")
    runtime_agent.send("JOB", job(job_id, "profile", options={"layer_table": {"keeps": [0.5, 1.0]}}))
    runtime_agent.expect("ERROR", code="unsupported", job_id=job_id)


@covers("4.artifact-check", "4.artifact-cache")
@pytest.mark.parametrize("fields", [
    {"sha256": "0" * 64}, {"size_bytes": len(ARTIFACT) + 1}, {"data": None, "sha256": "1" * 64},
], ids=["sha256 mismatch", "size mismatch", "not cached, no data or uri"])
def test_an_artifact_that_does_not_check_out_is_a_runtime_error(runtime_agent, fields):
    job_id = runtime_agent.next_id("mismatch")
    ref = reference(ARTIFACT)
    ref.update(fields)
    runtime_agent.send("JOB", job(job_id, "artifact", artifact={k: v for k, v in ref.items() if v is not None}))
    runtime_agent.expect("ERROR", code="runtime_error", job_id=job_id)


@covers("4.artifact-check")
def test_an_artifact_by_uri_of_the_wrong_size_is_a_runtime_error(runtime_agent):
    fresh = tiny_artifact(14)  # not loaded yet: an artifact the agent has by SHA-256 need not be fetched again
    path = runtime_agent.tmp / "short.onnx"
    path.write_bytes(fresh[:-1])
    job_id = runtime_agent.next_id("uri")
    runtime_agent.send("JOB", job(job_id, "artifact", artifact=reference(fresh, inline=False, uri=f"file://{path}")))
    runtime_agent.expect("ERROR", code="runtime_error", job_id=job_id)


@covers("4.artifact-shape", "3.enums", "3.text")
@pytest.mark.parametrize("kind,artifact", [
    ("artifact", None),
    ("artifact", reference(ARTIFACT, format="onnx/2")),
    ("artifact", reference(ARTIFACT, uri="file:///tmp/x.onnx")),
    ("artifact", reference(ARTIFACT, sha256="A" * 64)),
    ("artifact", reference(ARTIFACT, size_bytes=0)),
    ("artifact", reference(ARTIFACT, inline=False, uri="")),
], ids=["missing", "another format", "data and uri", "upper-case sha256", "size 0", "empty uri"])
def test_an_artifact_of_the_wrong_shape_is_malformed(runtime_agent, kind, artifact):
    job_id = runtime_agent.next_id("shape")
    runtime_agent.send("JOB", job(job_id, kind, **({"artifact": artifact} if artifact else {})))
    runtime_agent.expect("ERROR", code="malformed", job_id=job_id)


def dataset_sha256():
    """Revision 3, section 4: the four compressed files concatenated: train images, train labels, test images, test
    labels."""
    digest = hashlib.sha256()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        with open(os.path.join(DATA_DIR, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


@covers("9.revision-3")
def test_a_job_naming_its_data_runs_on_those_data_only(runtime_agent):
    job_id = runtime_agent.next_id("data")
    body = job(job_id, "artifact", artifact=reference(ARTIFACT))
    body["payload"]["settings"]["dataset_sha256"] = "0" * 64
    runtime_agent.send("JOB", body)
    assert "differ" in runtime_agent.expect("ERROR", code="runtime_error", job_id=job_id).body["message"]
    job_id = runtime_agent.next_id("data")
    body["job_id"] = job_id
    body["payload"]["settings"]["dataset_sha256"] = dataset_sha256()
    runtime_agent.send("JOB", body)
    runtime_agent.expect("RESULT", job_id=job_id)


# ---------------------------------------------------------------- a job that runs: heartbeats, busy, deadline

@covers("5.heartbeat-while-working", "4.heartbeat", "5.busy", "5.answer-once")
def test_while_a_job_runs_it_heartbeats_and_answers_busy(runtime_agent):
    held = Fifo(runtime_agent.tmp, tiny_artifact(12))
    job_id = runtime_agent.next_id("long")
    try:
        runtime_agent.send("JOB", job(job_id, "artifact", artifact=held.reference()))
        await_heartbeat(runtime_agent, job_id)
        other = runtime_agent.next_id("second")
        runtime_agent.send("JOB", job(other))
        runtime_agent.expect("ERROR", code="busy", job_id=other)
        deploy_id = runtime_agent.next_id("deploy")
        runtime_agent.send("DEPLOY", deploy(deploy_id, ARTIFACT), ARTIFACT)
        runtime_agent.expect("ERROR", code="busy", job_id=deploy_id)
        held.release()
        runtime_agent.expect("RESULT", job_id=job_id)
    finally:
        held.release(wait=False)
    await_heartbeat(runtime_agent, None)
    runtime_agent.nothing_before_probe()


@covers("5.timeout", "5.busy")
def test_at_total_ms_it_gives_up_and_stays_busy_until_the_work_stops(runtime_agent):
    held = Fifo(runtime_agent.tmp, tiny_artifact(13))
    job_id = runtime_agent.next_id("deadline")
    try:
        runtime_agent.send("JOB", job(job_id, "artifact", artifact=held.reference(), timeouts={"total_ms": 200}))
        runtime_agent.expect("ERROR", code="timeout", job_id=job_id)
        await_heartbeat(runtime_agent, job_id)  # still busy with it
        other = runtime_agent.next_id("meanwhile")
        runtime_agent.send("JOB", job(other))
        runtime_agent.expect("ERROR", code="busy", job_id=other)
    finally:
        held.release(wait=False)
    await_heartbeat(runtime_agent, None)
    runtime_agent.nothing_before_probe()  # nothing more about the abandoned job


# ---------------------------------------------------------------- DEPLOY

@covers("4.deploy")
def test_deploy_checks_installs_and_reports(runtime_agent):
    deploy_id = runtime_agent.next_id("deploy")
    runtime_agent.send("DEPLOY", deploy(deploy_id, ARTIFACT, validation={"images": 8}), ARTIFACT)
    deployed = runtime_agent.expect("DEPLOYED", deploy_id=deploy_id, status="ok", agent_id="conf-1")
    assert isinstance(deployed.body["timings_ms"], dict)
    assert (runtime_agent.tmp / "conf-1-deploy" / "current.onnx").read_bytes() == ARTIFACT


@covers("4.deploy")
@pytest.mark.parametrize("change,code", [
    (lambda d: d["weights"].update(sha256="0" * 64), "runtime_error"),
    (lambda d: d.update(finetune={"steps": 1, "seed": 0}), "unsupported"),
    (lambda d: d["weights"].update(format="seer-compressed/1"), "unsupported"),
    (lambda d: d["weights"].pop("format"), "unsupported"),
], ids=["sha256 mismatch", "finetune", "another weights format", "no weights format"])
def test_a_deploy_it_cannot_install_fails(runtime_agent, change, code):
    deploy_id = runtime_agent.next_id("deploy")
    body = deploy(deploy_id, ARTIFACT)
    change(body)
    runtime_agent.send("DEPLOY", body, ARTIFACT)
    runtime_agent.expect("DEPLOYED", deploy_id=deploy_id, status="failed", code=code)


@covers("4.deploy")
def test_a_deploy_by_uri_of_the_wrong_size_fails(runtime_agent):
    path = runtime_agent.tmp / "deploy-short.onnx"
    path.write_bytes(ARTIFACT[:-3])
    deploy_id = runtime_agent.next_id("deploy")
    body = deploy(deploy_id, ARTIFACT)
    body["weights"]["uri"] = f"file://{path}"
    runtime_agent.send("DEPLOY", body)
    runtime_agent.expect("DEPLOYED", deploy_id=deploy_id, status="failed", code="runtime_error")


@covers("4.deploy-frame", "6.error-job-id", "3.text")
@pytest.mark.parametrize("extra,uri", [((ARTIFACT[:-1],), None), ((), None), ((ARTIFACT,), "file:///x.onnx")],
                         ids=["frame shorter than size_bytes", "no frame and no uri", "frame and uri"])
def test_a_deploy_frame_that_contradicts_weights_is_malformed(runtime_agent, extra, uri):
    deploy_id = runtime_agent.next_id("frame")
    body = deploy(deploy_id, ARTIFACT)
    if uri:
        body["weights"]["uri"] = uri
    runtime_agent.send("DEPLOY", body, *extra)
    runtime_agent.expect("ERROR", code="malformed", job_id=deploy_id)


# ---------------------------------------------------------------- session: leaving, refusals, reconnects

@covers("4.disconnect", "3.text")
def test_a_disconnect_without_a_reason_is_malformed_and_changes_nothing(runtime_agent):
    runtime_agent.send("DISCONNECT", {"reason": ""})
    runtime_agent.expect("ERROR", code="malformed")
    runtime_agent.nothing_before_probe()  # still the same connection: no READY


@covers("5.leaving", "5.ready-first")
def test_told_disconnect_it_registers_again(runtime_agent):
    runtime_agent.send("DISCONNECT", {"reason": "coordinator restarting"})
    runtime_agent.expect("READY", agent_id="conf-1")
    runtime_agent.send("HEARTBEAT", {})
    runtime_agent.nothing_before_probe()


@covers("5.expiry", "5.ready-first")
def test_a_silent_coordinator_is_expired_and_the_agent_registers_again(runtime_agent):
    with runtime_agent.coordinator.silent():
        runtime_agent.expect("READY", agent_id="conf-1")
    runtime_agent.send("HEARTBEAT", {})
    runtime_agent.nothing_before_probe()


@covers("4.deploy", "5.unsupported", "4.ready", "5.leaving", "4.disconnect")
def test_without_a_deploy_directory_it_refuses_deploy_and_says_disconnect_when_stopped(fresh_agent):
    under_test = fresh_agent(deploy=False)
    assert "deploy" not in under_test.ready["capabilities"]
    under_test.send("DEPLOY", deploy("d-none", ARTIFACT), ARTIFACT)
    under_test.expect("ERROR", code="unsupported", job_id="d-none")
    under_test.agent.process.send_signal(signal.SIGTERM)
    under_test.expect("DISCONNECT")
    assert under_test.agent.wait() == 0


@covers("5.refusal")
@pytest.mark.parametrize("code", ["unauthorized", "unsupported_version"])
def test_refused_it_exits_with_an_error_instead_of_retrying(fresh_agent, code):
    under_test = fresh_agent(accept=False)
    under_test.send("ERROR", {"code": code, "message": "refused by the test"})
    under_test.send("DISCONNECT", {"reason": "refused by the test"})
    status = under_test.agent.wait()
    assert status != 0, under_test.agent.log()
    assert "refused" in under_test.agent.log()
    while under_test.coordinator.sock.poll(0):  # whatever it sent before exiting: no second READY
        assert under_test.coordinator.receive_any(1)[1].type != "READY"


# ---------------------------------------------------------------- CURVE key files

@covers("1.key-files")
def test_reads_key_files_in_the_documented_format_and_refuses_a_bad_line(tmp_path):
    server_public, server_secret = zmq.curve_keypair()
    public, secret = (k.decode() for k in zmq.curve_keypair())
    keys = tmp_path / "keys"
    keys.mkdir()
    write_key_file(keys / "public.key", public, "agent public key")
    write_key_file(keys / "secret.key", secret, "agent secret key")
    write_key_file(tmp_path / "server.key", server_public.decode(), "the coordinator's public key")
    coordinator = FakeCoordinator(curve_secret=server_secret)
    agent = RuntimeAgent(tmp_path, coordinator.endpoint, deploy=False,
                         extra=("--keys", str(keys), "--server-key", str(tmp_path / "server.key")))
    try:
        coordinator.expect("READY")  # over CURVE with those keys
    finally:
        agent.stop()
        coordinator.close()
    (tmp_path / "bad.key").write_text("# a comment\n\nnot a key\n", encoding="utf-8")
    bad = RuntimeAgent(tmp_path, "tcp://127.0.0.1:1", agent_id="bad-keys", deploy=False,
                       extra=("--keys", str(keys), "--server-key", str(tmp_path / "bad.key")))
    try:
        assert bad.wait() != 0
        assert f"{tmp_path / 'bad.key'}:3" in bad.log(), bad.log()
    finally:
        bad.stop()
