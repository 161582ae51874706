"""Messages that fail section 2's checks, the same for both sides: (name, DEALER-side frames, ERROR code, rules).

HEARTBEAT travels both ways, so it carries the structural cases; `nest(n)` bodies sit at the edge of the depth limit.
"""


import json


def with_raw(value, path, raw):
    """`value` as JSON bytes with the field at `path` written as `raw` (a number JSON can spell several ways)."""
    value = json.loads(json.dumps(value))
    target = value
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "@RAW@"
    return json.dumps(value).encode("utf-8").replace(b'"@RAW@"', raw)


def nest(levels):
    """A HEARTBEAT body nested `levels` deep, counting the body object as level 1."""
    return b'{"x":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def sized(total, head=b'{"padding":"'):
    """A HEARTBEAT body of exactly `total` bytes (an unknown field padded with spaces)."""
    tail = b'"}'
    return head + b" " * (total - len(head) - len(tail)) + tail


MiB = 1 << 20
# The three frames of a HEARTBEAT with a body of n bytes weigh n + 5 (SEER1) + 9 (HEARTBEAT).
HEARTBEAT_OVERHEAD = 5 + 9

REFUSED = [
    ("two frames", [b"SEER1", b"HEARTBEAT"], "malformed", ("2.frame-count",)),
    ("four frames in a HEARTBEAT", [b"SEER1", b"HEARTBEAT", b"{}", b"x"], "malformed", ("2.frame-count",)),
    ("five frames", [b"SEER1", b"DEPLOY", b"{}", b"x", b"y"], "malformed", ("2.frame-count",)),
    ("header SEER0", [b"SEER0", b"HEARTBEAT", b"{}"], "malformed", ("2.header",)),
    ("header SEER01", [b"SEER01", b"HEARTBEAT", b"{}"], "malformed", ("2.header",)),
    ("header SEER+1", [b"SEER+1", b"HEARTBEAT", b"{}"], "malformed", ("2.header",)),
    ("header seer1", [b"seer1", b"HEARTBEAT", b"{}"], "malformed", ("2.header",)),
    ("header SEER", [b"SEER", b"HEARTBEAT", b"{}"], "malformed", ("2.header",)),
    ("header of 17 bytes", [b"SEER" + b"1" * 13, b"HEARTBEAT", b"{}"], "malformed", ("2.header",)),
    ("header SEER2", [b"SEER2", b"HEARTBEAT", b"{}"], "unsupported_version", ("2.header",)),
    ("header of 16 bytes, another version", [b"SEER" + b"9" * 12, b"HEARTBEAT", b"{}"], "unsupported_version",
     ("2.header",)),
    ("unknown type", [b"SEER1", b"NOPE", b"{}"], "unknown_type", ("2.type",)),
    ("type in lower case", [b"SEER1", b"heartbeat", b"{}"], "unknown_type", ("2.type",)),
    ("another version before an unknown type", [b"SEER2", b"NOPE", b"not json"], "unsupported_version",
     ("2.check-order",)),
    ("unknown type before a bad body", [b"SEER1", b"NOPE", b"not json"], "unknown_type", ("2.check-order",)),
    ("bad header before the frame count", [b"SEER0", b"HEARTBEAT", b"{}", b"x"], "malformed", ("2.check-order",)),
    ("1 MiB and a byte", [b"SEER1", b"HEARTBEAT", sized(MiB - HEARTBEAT_OVERHEAD + 1)], "too_large",
     ("2.size", "7.limits")),
    ("size before schema", [b"SEER1", b"HEARTBEAT", sized(MiB, b'{"job_id":7,"padding":"')], "too_large",
     ("2.size", "2.check-order")),
    ("DEPLOY JSON frame over 1 MiB", [b"SEER1", b"DEPLOY", b'{"deploy_id":"d-big","pad":"' + b" " * MiB + b'"}', b"x"],
     "too_large", ("2.size",)),
    ("body not JSON", [b"SEER1", b"HEARTBEAT", b"not json"], "malformed", ("2.body-json",)),
    ("body empty", [b"SEER1", b"HEARTBEAT", b""], "malformed", ("2.body-json",)),
    ("body an array", [b"SEER1", b"HEARTBEAT", b"[]"], "malformed", ("2.body-json",)),
    ("body a string", [b"SEER1", b"HEARTBEAT", b'"{}"'], "malformed", ("2.body-json",)),
    ("nested 33 levels", [b"SEER1", b"HEARTBEAT", nest(33)], "malformed", ("2.body-json", "7.limits")),
    ("byte 0xFF in an unknown field", [b"SEER1", b"HEARTBEAT", b'{"x":"\xff"}'], "malformed", ("3.utf8",)),
    ("overlong UTF-8", [b"SEER1", b"HEARTBEAT", b'{"x":"\xc0\xaf"}'], "malformed", ("3.utf8",)),
    ("encoded surrogate", [b"SEER1", b"HEARTBEAT", b'{"x":"\xed\xa0\x80"}'], "malformed", ("3.utf8",)),
    ("unpaired surrogate escape", [b"SEER1", b"HEARTBEAT", b'{"x":"\\ud800"}'], "malformed", ("3.utf8",)),
    ("invalid UTF-8 in a key", [b"SEER1", b"HEARTBEAT", b'{"\xff":1}'], "malformed", ("3.utf8",)),
    ("number 01", [b"SEER1", b"HEARTBEAT", b'{"x":01}'], "malformed", ("3.numbers",)),
    ("number 1.", [b"SEER1", b"HEARTBEAT", b'{"x":1.}'], "malformed", ("3.numbers",)),
    ("NaN", [b"SEER1", b"HEARTBEAT", b'{"x":NaN}'], "malformed", ("3.numbers",)),
    ("Infinity", [b"SEER1", b"HEARTBEAT", b'{"x":-Infinity}'], "malformed", ("3.numbers",)),
    ("job_id not a string", [b"SEER1", b"HEARTBEAT", b'{"job_id":7}'], "malformed", ("2.schema",)),
    ("job_id of 256 bytes", [b"SEER1", b"HEARTBEAT", b'{"job_id":"' + b"j" * 256 + b'"}'], "malformed",
     ("3.ids", "7.limits")),
    ("job_id empty", [b"SEER1", b"HEARTBEAT", b'{"job_id":""}'], "malformed", ("3.ids",)),
    ("job_id with a control character", [b"SEER1", b"HEARTBEAT", b'{"job_id":"a\\nb"}'], "malformed", ("3.ids",)),
    ("job_id with a C1 control character", [b"SEER1", b"HEARTBEAT", b'{"job_id":"a\\u0085b"}'], "malformed",
     ("3.ids",)),
]

# Accepted as they are (no answer from either side to a HEARTBEAT of a registered peer).
ACCEPTED = [
    ("nested 32 levels", [b"SEER1", b"HEARTBEAT", nest(32)], ("2.body-json", "7.limits")),
    ("1 MiB exactly", [b"SEER1", b"HEARTBEAT", sized(MiB - HEARTBEAT_OVERHEAD)], ("2.size", "7.limits")),
    ("unknown fields", [b"SEER1", b"HEARTBEAT", b'{"future":{"a":[1,2.5,"\\ud83d\\ude00"]},"more":null}'],
     ("3.unknown-fields",)),
    ("job_id null", [b"SEER1", b"HEARTBEAT", b'{"job_id":null}'], ("3.optional-null",)),
    ("job_id of 255 bytes", [b"SEER1", b"HEARTBEAT", b'{"job_id":"' + "é".encode() * 127 + b'j"}'],
     ("3.ids", "7.limits")),
    ("whitespace around the body", [b"SEER1", b"HEARTBEAT", b' \n{ } \t'], ("2.body-json",)),
]
