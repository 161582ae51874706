"""Section 3 and 4 of docs/PROTOCOL.md as assertions on the bodies a side sends (written from the document, not from
either implementation). Each `check_<type>` raises AssertionError naming the field that is wrong."""

import math
import re

ERROR_CODES = {"bad_policy", "out_of_memory", "timeout", "runtime_error", "malformed", "unknown_type",
               "unsupported_version", "too_large", "unauthorized", "unknown_job", "busy", "unsupported"}
EXECUTORS = {"builtin", "sim-bitfusion", "sim-bismo", "command", "null", "runtime"}
JOB_KINDS = {"measure", "profile", "null", "compress", "artifact"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 63)


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check_id(v, field):
    assert isinstance(v, str), f"{field}: not a string: {v!r}"
    assert 1 <= len(v.encode("utf-8")) <= 255, f"{field}: {len(v.encode())} bytes (1 to 255)"
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in v), f"{field}: control characters"


def check_text(v, field, empty=False):
    assert isinstance(v, str), f"{field}: not a string: {v!r}"
    assert empty or v, f"{field}: empty"
    assert len(v.encode("utf-8")) <= 8192, f"{field}: longer than 8 KiB"


def check_int(v, field, minimum=None):
    assert is_int(v), f"{field}: not an integer: {v!r}"
    assert minimum is None or v >= minimum, f"{field}: {v} < {minimum}"


def check_timings(v, field):
    assert isinstance(v, dict), f"{field}: not an object"
    for key, ms in v.items():
        check_text(key, f"{field} key")
        assert is_number(ms) and ms >= 0, f"{field}.{key}: {ms!r} is not a number >= 0"


def optional(body, name):
    return body.get(name) is not None


def check_ready(b):
    check_id(b["agent_id"], "agent_id")
    check_id(b["device_key"], "device_key")
    assert b["executor"] in EXECUTORS, f"executor {b['executor']!r}"
    d = b["device"]
    check_int(d["cores"], "device.cores", 1)
    check_int(d["memory_bytes"], "device.memory_bytes", 0)
    check_text(d["os"], "device.os")
    for name in ("arch", "hardware"):
        if optional(d, name):
            check_text(d[name], f"device.{name}")
    assert isinstance(d["software"], dict), "device.software"
    for key, version in d["software"].items():
        check_text(key, "device.software key")
        check_text(version, f"device.software.{key}", empty=True)
    check_int(b["protocol_version"], "protocol_version", 1)
    assert isinstance(b["capabilities"], list), "capabilities"
    for c in b["capabilities"]:
        check_id(c, "capabilities[]")


def check_heartbeat(b):
    if optional(b, "job_id"):
        check_id(b["job_id"], "job_id")


def check_job(b):
    check_id(b["job_id"], "job_id")
    check_id(b["device_key"], "device_key")
    assert b["kind"] in JOB_KINDS, f"kind {b['kind']!r}"
    p = b["payload"]
    check_text(p["model"], "payload.model")
    assert isinstance(p["policy"], dict), "payload.policy"
    check_int(p["finetune_steps"], "payload.finetune_steps", 0)
    check_text(p["split"], "payload.split")
    check_int(p["seed"], "payload.seed", 0)
    check_int(p["timeouts"]["total_ms"], "payload.timeouts.total_ms", 1)
    for name in ("finetune_ms", "measure_ms"):
        if optional(p["timeouts"], name):
            check_int(p["timeouts"][name], f"payload.timeouts.{name}", 1)
    if optional(p, "latency"):
        check_int(p["latency"]["number"], "payload.latency.number", 1)
        check_int(p["latency"]["repeat"], "payload.latency.repeat", 1)
    for name in ("options", "settings"):
        assert not optional(p, name) or isinstance(p[name], dict), f"payload.{name}"


def check_result(b):
    check_id(b["job_id"], "job_id")
    check_id(b["agent_id"], "agent_id")
    p = b["payload"]
    check_timings(p["timings_ms"], "payload.timings_ms")
    if optional(p, "accuracy"):
        assert is_number(p["accuracy"]) and 0 <= p["accuracy"] <= 1, f"payload.accuracy {p['accuracy']!r}"
    if optional(p, "latency"):
        lat = p["latency"]
        for name in ("median_ms", "min_ms", "max_ms"):
            assert is_number(lat[name]) and lat[name] >= 0, f"payload.latency.{name} {lat[name]!r}"
        for name in ("mean_ms", "std_ms"):
            if optional(lat, name):
                assert is_number(lat[name]) and lat[name] >= 0, f"payload.latency.{name}"
        assert lat["min_ms"] <= lat["median_ms"] <= lat["max_ms"], f"payload.latency order {lat}"
        check_int(lat["number"], "payload.latency.number", 1)
        check_int(lat["repeat"], "payload.latency.repeat", 1)
    if optional(p, "complexity"):
        for name in ("macs", "bitops", "params", "size_bytes"):
            check_int(p["complexity"][name], f"payload.complexity.{name}", 0)
    if optional(p, "energy"):
        assert is_number(p["energy"]["joules"]) and p["energy"]["joules"] >= 0, "payload.energy.joules"


def check_error(b):
    if optional(b, "job_id"):
        check_id(b["job_id"], "job_id")
    assert b["code"] in ERROR_CODES, f"code {b['code']!r} is not in section 6"
    check_text(b["message"], "message", empty=True)


def check_disconnect(b):
    check_text(b["reason"], "reason")


def check_deployed(b):
    check_id(b["deploy_id"], "deploy_id")
    check_id(b["agent_id"], "agent_id")
    assert b["status"] in ("ok", "failed"), f"status {b['status']!r}"
    check_timings(b["timings_ms"], "timings_ms")
    if b["status"] == "failed":
        assert b.get("code") in ERROR_CODES, f"code {b.get('code')!r}"
    if optional(b, "message"):
        check_text(b["message"], "message", empty=True)


CHECKS = {"READY": check_ready, "HEARTBEAT": check_heartbeat, "JOB": check_job, "RESULT": check_result,
          "ERROR": check_error, "DISCONNECT": check_disconnect, "DEPLOYED": check_deployed}


def check(message):
    """Checks a `Received` message's body against its type's table."""
    try:
        CHECKS[message.type](message.body)
    except KeyError as e:
        raise AssertionError(f"{message.type} lacks required field {e}: {message.body}")
    return message
