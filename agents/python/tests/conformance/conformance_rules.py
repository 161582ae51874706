"""The rules of docs/PROTOCOL.md, section by section, and which side each binds.

Every test in this directory names the rules it checks with `@covers(...)`; `test_conformance_rules.py` fails when a
rule has no test on a side it binds. A rule's text paraphrases the document; its id starts with the section number.
"""

import collections

AGENT, COORDINATOR = "agent", "coordinator"
BOTH = (AGENT, COORDINATOR)

Rule = collections.namedtuple("Rule", "id section sides text")

RULES = [Rule(rid, section, (sides,) if isinstance(sides, str) else sides, text) for rid, section, sides, text in [
    # 1. Transport
    ("1.routing-id", "1", (AGENT,), "the agent's DEALER routing id is its agent_id"),
    ("1.curve-allow-list", "1", (COORDINATOR,),
     "CURVE: a client whose key is not on the allow-list completes no handshake and gets no answer"),
    ("1.key-binding", "1", (COORDINATOR,),
     "an agent_id is bound to the CURVE key that first registered it; READY with it from another key: ERROR "
     "unauthorized (then DISCONNECT)"),
    ("1.key-files", "1", BOTH,
     "key files: the first line neither empty nor a # comment is the 40-character Z85 key; each side reads the "
     "other's files; a bad line is refused naming the file and line"),
    ("1.routing-id-in-use", "1", (COORDINATOR,),
     "a second connection with a registered agent's routing id does not disturb that agent (no handover)"),
    # 2. Frames
    ("2.frame-count", "2", BOTH, "3 frames, 4 only for DEPLOY; else ERROR malformed"),
    ("2.size", "2", BOTH, "1 MiB for every type but DEPLOY (16 MiB, JSON frame at most 1 MiB); else ERROR too_large"),
    ("2.header", "2", BOTH,
     "header SEER<version>, decimal, no sign or leading zero, <= 16 bytes: SEER0, SEER01, SEER+1, seer1 are "
     "malformed; SEER2 is unsupported_version"),
    ("2.type", "2", BOTH, "an unknown type name is unknown_type"),
    ("2.check-order", "2", BOTH, "the checks run in the document's order (header before type, type before body)"),
    ("2.body-json", "2", BOTH, "the body is UTF-8 JSON, an object, nested at most 32 levels; else malformed"),
    ("2.schema", "2", BOTH, "a body that misses a required field or has a wrong JSON type is malformed"),
    ("2.unregistered-malformed", "2", (COORDINATOR,),
     "a malformed message from an unregistered peer is answered with ERROR, not DISCONNECT"),
    ("2.direction", "2", BOTH,
     "a message of a type that travels the other way (JOB to the coordinator, READY to an agent) is malformed"),
    # 3. JSON conventions
    ("3.unknown-fields", "3", BOTH, "fields a receiver does not know are ignored"),
    ("3.optional-null", "3", BOTH, "optional fields may be omitted or null"),
    ("3.utf8", "3", BOTH,
     "invalid UTF-8 (overlong, encoded surrogate, 0xFF) or an unpaired \\u surrogate anywhere, unknown fields "
     "included, is malformed"),
    ("3.numbers", "3", BOTH, "a malformed number (01, 1., NaN, Infinity) anywhere is malformed"),
    ("3.ids", "3", BOTH, "ids are 1 to 255 bytes of UTF-8 without control characters"),
    ("3.text", "3", BOTH,
     "text is at most 8 KiB and non-empty except ERROR message, DEPLOYED message and device.software values; "
     "arch, hardware and uris are non-empty when present"),
    ("3.integers", "3", BOTH, "integers are whole JSON numbers in 64-bit signed range: 4.0 and 1e2 are refused"),
    ("3.enums", "3", BOTH, "enumerations are closed: an unlisted value is malformed"),
    ("3.no-nan", "3", AGENT, "senders never produce NaN or infinity (every body parses as strict JSON)"),
    # 4. Messages
    ("4.ready", "4", AGENT,
     "READY has agent_id, device_key, executor, device (cores >= 1, memory_bytes >= 0, os, software), "
     "protocol_version 1, capabilities; a runtime agent announces executor runtime and artifact, deploy only "
     "when it installs models"),
    ("4.ready-executors", "4", (COORDINATOR,), "revision 2 executors null and runtime are accepted"),
    ("4.capabilities-open", "4", (COORDINATOR,), "capabilities are ids, not an enumeration: unknown ones are ignored"),
    ("4.heartbeat", "4", AGENT, "an agent's HEARTBEAT names the job or deploy it is working on, and no job when idle"),
    ("4.job-complete", "4", BOTH,
     "a JOB's payload is complete for every kind, null included (timeouts.total_ms required); the coordinator "
     "sends it so and the agent refuses less as malformed"),
    ("4.result", "4", AGENT,
     "RESULT: job_id, agent_id, payload with timings_ms; accuracy in [0, 1]; latency min <= median <= max, "
     "number and repeat >= 1; a profile job has no accuracy"),
    ("4.error-body", "4", BOTH, "ERROR: code from section 6, message text (may be empty), job_id optional"),
    ("4.disconnect", "4", BOTH, "DISCONNECT has a non-empty reason"),
    ("4.profile", "4", (COORDINATOR,),
     "PROFILE: capacity_percent in [0, 100], status enumeration; a valid one is not answered"),
    ("4.artifact-check", "4", AGENT,
     "an artifact's size_bytes and sha256 are checked before use: a mismatch is ERROR runtime_error"),
    ("4.artifact-cache", "4", AGENT,
     "an artifact without data or uri comes from the agent's cache, else ERROR runtime_error"),
    ("4.artifact-shape", "4", AGENT,
     "format onnx-qdq/1 only, data and uri never together, an artifact JOB needs payload.artifact: else malformed"),
    ("4.artifact-result", "4", AGENT,
     "an artifact JOB is answered with accuracy and latency; a profile JOB with an artifact with latency only"),
    ("4.layer-table-kernels", "4", AGENT, "a profile JOB with options.layer_table but no kernels is unsupported"),
    ("4.deploy", "4", AGENT,
     "DEPLOY: size and SHA-256 checked before installing (DEPLOYED failed runtime_error); DEPLOYED ok with "
     "timings_ms; a runtime agent answers finetune, or weights.format other than onnx-qdq/1 or absent, with DEPLOYED "
     "failed unsupported"),
    ("4.deploy-frame", "4", AGENT,
     "inline weights are frame 4 of exactly size_bytes bytes, and no frame 4 with weights.uri: else malformed"),
    # 5. Session
    ("5.ready-first", "5", AGENT, "on every new connection the agent's first message is READY"),
    ("5.acceptance", "5", (COORDINATOR,), "an accepted READY is answered with a HEARTBEAT at once"),
    ("5.refusal", "5", BOTH,
     "READY with an unsupported protocol_version is refused with ERROR unsupported_version then DISCONNECT; an "
     "agent refused (unsupported_version, unauthorized) stops with an error instead of retrying"),
    ("5.re-ready", "5", (COORDINATOR,),
     "a READY from a registered routing id replaces the registration; its job in flight is re-queued"),
    ("5.not-registered", "5", (COORDINATOR,),
     "a well-formed message other than READY or DISCONNECT from an unregistered peer is answered with DISCONNECT "
     "(not registered); a DISCONNECT is not answered"),
    ("5.heartbeats", "5", BOTH, "each side sends HEARTBEAT when it has sent nothing else for 1 s"),
    ("5.heartbeat-while-working", "5", AGENT, "the agent keeps heartbeating while a job runs"),
    ("5.expiry", "5", BOTH,
     "a peer silent for 3 s is dead: the coordinator forgets the agent; the agent reconnects and sends READY"),
    ("5.one-job", "5", (COORDINATOR,),
     "the coordinator sends one JOB at a time, only to a registered idle agent whose device_key matches"),
    ("5.answer-once", "5", AGENT, "every JOB is answered with exactly one RESULT or ERROR carrying its job_id"),
    ("5.busy", "5", AGENT, "a JOB or DEPLOY received while busy is answered with ERROR busy naming it"),
    ("5.busy-blocks", "5", (COORDINATOR,),
     "after ERROR busy the coordinator keeps the agent out of rotation until a HEARTBEAT without job_id, and "
     "re-queues the job"),
    ("5.unsupported", "5", AGENT, "a JOB of a kind or device key the agent cannot run is ERROR unsupported"),
    ("5.timeout", "5", AGENT,
     "the agent gives up at total_ms with ERROR timeout, stays busy (naming the job in heartbeats, busy for JOBs) "
     "until the work stops, and reports nothing more for it"),
    ("5.unknown-job", "5", (COORDINATOR,),
     "a RESULT or DEPLOYED for an id the coordinator does not track is answered with ERROR unknown_job naming it"),
    ("5.leaving", "5", BOTH,
     "a side that shuts down sends DISCONNECT; the coordinator forgets an agent that says DISCONNECT and "
     "re-queues its job; an agent told DISCONNECT re-registers"),
    # 6. Errors
    ("6.error-job-id", "6", BOTH, "an ERROR for an undecodable message carries its job or deploy id when readable"),
    ("6.no-error-for-error", "6", BOTH,
     "an ERROR is never answered: not a malformed one, not one about an untracked job"),
    ("6.codes", "6", AGENT, "ERROR codes come from the table of section 6"),
    # 7. Limits
    ("7.limits", "7", BOTH, "the limits of section 7 hold at their edges (255-byte ids, 8 KiB text, 32 levels)"),
    # 9. Versioning
    ("9.revision-3", "9", AGENT, "revision 3 fields in payload.settings are understood (dataset_sha256 checked)"),
]]

BY_ID = {r.id: r for r in RULES}
assert len(BY_ID) == len(RULES), "duplicate rule id"


def covers(*rule_ids):
    """Marks a test as checking these rules (an unknown id fails at import)."""
    for rule_id in rule_ids:
        if rule_id not in BY_ID:
            raise KeyError(f"no rule {rule_id!r} in conformance_rules.RULES")

    def mark(test):
        test.rules = tuple(rule_ids)
        return test

    return mark
