"""CURVE key files as Seer writes them (docs/PROTOCOL.md section 1, "Key files"): UTF-8 text, one Z85 key of 40
characters on the first line that is neither empty nor a `#` comment; surrounding whitespace ignored. A key
directory holds `public.key` and `secret.key` (mode 0600)."""

import os
import re

_Z85 = re.compile(r"^[0-9a-zA-Z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$")


class KeyFileError(Exception):
    pass


def read_key(path, role="public key"):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except (OSError, UnicodeError) as e:
        raise KeyFileError(f"cannot read {role} file {path}: {e}")
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not _Z85.match(line):
            raise KeyFileError(f"{path}:{number} is not a 40-character Z85 {role}")
        return line
    raise KeyFileError(f"{path} contains no {role}")


def read_pair(directory):
    """(public, secret) of a key directory, checked to be a pair."""
    public = read_key(os.path.join(directory, "public.key"), "public key")
    secret = read_key(os.path.join(directory, "secret.key"), "secret key")
    import zmq
    if zmq.curve_public(secret.encode("ascii")).decode("ascii") != public:
        raise KeyFileError(f"the keys in {directory} are not a pair")
    return public, secret


def write_pair(directory):
    """A fresh pair in `directory` (refuses to replace one), in the format above; returns (public, secret)."""
    import zmq
    public, secret = (k.decode("ascii") for k in zmq.curve_keypair())
    os.makedirs(directory, exist_ok=True)
    for name, text, mode in (("secret.key", f"# Seer CURVE secret key (Z85). Keep it private.\n{secret}\n", 0o600),
                             ("public.key", f"# Seer CURVE public key (Z85). Give it to the other side.\n{public}\n", 0o644)):
        fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
    return public, secret
