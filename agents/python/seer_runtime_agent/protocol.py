"""The wire protocol as docs/PROTOCOL.md states it: constants, frames, and the checks of section 2, in its order.

Everything here is pure (bytes in, values out) so the tests can feed it any frame.
"""

import json
import re

SIGNATURE = b"SEER"
VERSION = 1
REVISION = 2
HEADER = b"SEER1"

MAX_MESSAGE_BYTES = 1 << 20  # every type but DEPLOY, all frames after the routing id
MAX_DEPLOY_BYTES = 16 << 20  # DEPLOY with its weights frame
MAX_BODY_BYTES = 1 << 20
TRANSPORT_MAX_FRAME = 16 << 20
MAX_ID_BYTES = 255
MAX_TEXT_BYTES = 8 * 1024
MAX_JSON_DEPTH = 32

HEARTBEAT_INTERVAL = 1.0  # s
LIVENESS = 3
PEER_EXPIRY = HEARTBEAT_INTERVAL * LIVENESS
RECONNECT_INITIAL = 1.0
RECONNECT_MAX = 32.0
LINGER_MS = 500
ZMTP_HEARTBEAT_IVL_MS, ZMTP_HEARTBEAT_TIMEOUT_MS, ZMTP_HEARTBEAT_TTL_MS = 1000, 3000, 3000

TYPES = ("READY", "HEARTBEAT", "JOB", "RESULT", "ERROR", "DISCONNECT", "PROFILE", "DEPLOY", "DEPLOYED")
JOB_KINDS = ("measure", "profile", "null", "compress", "artifact")
ERROR_CODES = ("bad_policy", "out_of_memory", "timeout", "runtime_error", "malformed", "unknown_type",
               "unsupported_version", "too_large", "unauthorized", "unknown_job", "busy", "unsupported")
ARTIFACT_FORMAT = "onnx-qdq/1"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ProtocolError(Exception):
    """A message refused: `code` is the ERROR code to answer with, `job_id` the JOB's id when one was readable."""

    def __init__(self, code, message, job_id=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.job_id = job_id


def encode(mtype, body, *extra):
    """The DEALER-side frames of a message; numbers must be finite (JSON has no NaN)."""
    return [HEADER, mtype.encode("ascii"), json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8"),
            *extra]


def _depth(text):
    """Deepest nesting of arrays/objects outside strings, found before parsing so hostile input is cheap."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")


def decode(frames):
    """(type, body, extra frames) of DEALER-side frames, or raises ProtocolError with the section 6 code."""
    if len(frames) not in (3, 4):
        raise ProtocolError("malformed", f"{len(frames)} frames (3, or 4 for DEPLOY)")
    total = sum(len(f) for f in frames)
    if total > MAX_DEPLOY_BYTES:
        raise ProtocolError("too_large", f"{total} bytes")
    header = bytes(frames[0])
    digits = header[len(SIGNATURE):]
    if (len(header) > 16 or not header.startswith(SIGNATURE) or not digits or not digits.isdigit()
            or digits.startswith(b"0")):
        raise ProtocolError("malformed", f"bad header {header[:16]!r}")
    if int(digits) != VERSION:
        raise ProtocolError("unsupported_version", f"SEER{int(digits)}; this agent speaks SEER{VERSION}")
    mtype = bytes(frames[1]).decode("ascii", "replace")
    if mtype not in TYPES:
        raise ProtocolError("unknown_type", f"type {mtype[:32]!r}")
    if len(frames) == 4 and mtype != "DEPLOY":
        raise ProtocolError("malformed", f"4 frames in a {mtype}")
    limit = MAX_DEPLOY_BYTES if mtype == "DEPLOY" else MAX_MESSAGE_BYTES
    if total > limit or len(frames[2]) > MAX_BODY_BYTES:
        raise ProtocolError("too_large", f"{mtype} of {total} bytes (limit {limit})")
    try:
        text = bytes(frames[2]).decode("utf-8")
        if _depth(text) > MAX_JSON_DEPTH:
            raise ValueError(f"nested deeper than {MAX_JSON_DEPTH}")
        body = json.loads(text, parse_constant=_no_constants)
        json.dumps(body, ensure_ascii=False).encode("utf-8")  # unpaired surrogate escapes fail here
    except (UnicodeError, ValueError, RecursionError) as e:
        raise ProtocolError("malformed", f"body is not UTF-8 JSON: {e}")
    if not isinstance(body, dict):
        raise ProtocolError("malformed", "body is not a JSON object")
    job_id = body.get("job_id") if isinstance(body.get("job_id"), str) else body.get("deploy_id")
    job_id = job_id if isinstance(job_id, str) and is_id(job_id) else None
    checker = _CHECKS.get(mtype)
    if checker:
        try:
            checker(Check(), body, frames[3:])
        except ProtocolError as e:
            e.job_id = job_id
            raise
    return mtype, body, list(frames[3:])


# ---------------------------------------------------------------- schema checks (section 4)

def is_id(value):
    if not isinstance(value, str):
        return False
    n = len(value.encode("utf-8"))
    return 1 <= n <= MAX_ID_BYTES and not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in value)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool) and -(1 << 63) <= v < (1 << 63)


def _is_number(v):
    return (isinstance(v, (int, float)) and not isinstance(v, bool))


class Check:
    def fail(self, field, reason):
        raise ProtocolError("malformed", f"{field}: {reason}")

    def field(self, obj, name, path, required=True):
        if name not in obj or obj[name] is None:
            if required:
                self.fail(path + name, "missing")
            return None
        return obj[name]

    def id(self, obj, name, path="", required=True):
        v = self.field(obj, name, path, required)
        if v is not None and not is_id(v):
            self.fail(path + name, "must be an id: 1 to 255 bytes of UTF-8 without control characters")
        return v

    def text(self, obj, name, path="", required=True, empty=False):
        v = self.field(obj, name, path, required)
        if v is not None:
            if not isinstance(v, str):
                self.fail(path + name, "must be a string")
            if not empty and not v:
                self.fail(path + name, "must not be empty")
            if len(v.encode("utf-8")) > MAX_TEXT_BYTES:
                self.fail(path + name, "longer than 8 KiB")
        return v

    def int(self, obj, name, path="", required=True, minimum=None):
        v = self.field(obj, name, path, required)
        if v is not None:
            if not _is_int(v):
                self.fail(path + name, "must be an integer")
            if minimum is not None and v < minimum:
                self.fail(path + name, f"must be >= {minimum}")
        return v

    def obj(self, obj, name, path="", required=True):
        v = self.field(obj, name, path, required)
        if v is not None and not isinstance(v, dict):
            self.fail(path + name, "must be an object")
        return v

    def enum(self, obj, name, values, path=""):
        v = self.field(obj, name, path)
        if v not in values:
            self.fail(path + name, f"must be one of {', '.join(values)}")
        return v


def _check_heartbeat(c, body, extra):
    c.id(body, "job_id", required=False)


def _check_job(c, body, extra):
    c.id(body, "job_id")
    c.id(body, "device_key")
    c.enum(body, "kind", JOB_KINDS)
    p = c.obj(body, "payload")
    c.text(p, "model", "payload.")
    c.obj(p, "policy", "payload.")
    c.int(p, "finetune_steps", "payload.", minimum=0)
    c.text(p, "split", "payload.")
    c.int(p, "seed", "payload.", minimum=0)
    latency = c.obj(p, "latency", "payload.", required=False)
    if latency is not None:
        c.int(latency, "number", "payload.latency.", minimum=1)
        c.int(latency, "repeat", "payload.latency.", minimum=1)
        c.int(latency, "warmup", "payload.latency.", required=False, minimum=0)
    timeouts = c.obj(p, "timeouts", "payload.")
    c.int(timeouts, "total_ms", "payload.timeouts.", minimum=1)
    c.int(timeouts, "finetune_ms", "payload.timeouts.", required=False, minimum=1)
    c.int(timeouts, "measure_ms", "payload.timeouts.", required=False, minimum=1)
    c.obj(p, "options", "payload.", required=False)
    c.obj(p, "settings", "payload.", required=False)
    artifact = c.obj(p, "artifact", "payload.", required=body["kind"] == "artifact")
    if artifact is not None:
        check_artifact(c, artifact, "payload.artifact.")


def check_artifact(c, a, path):
    if a.get("format") != ARTIFACT_FORMAT:
        c.fail(path + "format", f"must be {ARTIFACT_FORMAT}")
    if not isinstance(a.get("sha256"), str) or not _SHA256.match(a["sha256"]):
        c.fail(path + "sha256", "must be 64 lowercase hex digits")
    c.int(a, "size_bytes", path, minimum=1)
    if a.get("data") is not None and not isinstance(a["data"], str):
        c.fail(path + "data", "must be a base64 string")  # bounded by the message size, not the text limit
    c.text(a, "uri", path, required=False)
    if a.get("data") is not None and a.get("uri") is not None:
        c.fail(path + "uri", "must be absent when data is present")


def _check_error(c, body, extra):
    c.id(body, "job_id", required=False)
    c.enum(body, "code", ERROR_CODES)
    c.text(body, "message", empty=True)


def _check_disconnect(c, body, extra):
    c.text(body, "reason")


def _check_deploy(c, body, extra):
    c.id(body, "deploy_id")
    c.id(body, "device_key")
    c.id(body, "profile")
    c.text(body, "model")
    c.obj(body, "policy")
    w = c.obj(body, "weights")
    uri = c.text(w, "uri", "weights.", required=False)
    c.text(w, "format", "weights.", required=False)
    if not isinstance(w.get("sha256"), str) or not _SHA256.match(w["sha256"]):
        c.fail("weights.sha256", "must be 64 lowercase hex digits")
    size = c.int(w, "size_bytes", "weights.", minimum=0)
    if uri is None and not extra:
        c.fail("weights.uri", "is absent, so the weights frame is required")
    if uri is not None and extra:
        c.fail("weights.uri", "is present, so no weights frame is allowed")
    if extra and len(extra[0]) != size:
        c.fail("weights.size_bytes", f"says {size} but the weights frame has {len(extra[0])} bytes")
    v = c.obj(body, "validation", required=False)
    if v is not None:
        c.int(v, "images", "validation.", minimum=1)
        floor = v.get("min_accuracy")
        if floor is not None and not (_is_number(floor) and 0 <= floor <= 1):
            c.fail("validation.min_accuracy", "must be a number in [0, 1]")
    c.obj(body, "finetune", required=False)


_CHECKS = {"HEARTBEAT": _check_heartbeat, "JOB": _check_job, "ERROR": _check_error, "DISCONNECT": _check_disconnect,
           "DEPLOY": _check_deploy}
