"""The key stock's worker process (``extproc.key_stock``): RSA keypair generation as Nova makes it, and the
loop the worker runs, ``python -m extproc.key_generation <processor pid>``.

Protocol (pipes to and from the processor only): the processor writes one line (``\\n``) per key it wants; the
worker answers each with one line, the JSON array ``[private key PEM, public key]``. The worker exits when its
stdin ends (the processor closed it or died) and, on Linux, is SIGKILLed by the kernel when the processor
dies.

Its own module, importing only ``cryptography`` and the standard library: the worker is a process of its own
and its memory counts with the processor's (bench/README.md lever (r2): with the generator in
``extproc.compute.keypairs`` the worker loaded the translators, jsonschema and structlog and held 46 MB). A
plain subprocess rather than a ``multiprocessing`` pool, which starts multiprocessing's resource tracker, one
more Python process of ~13 MB (lever (r6)), and unpickles its jobs.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

GENERATED_COMMENT = "Generated-by-Nova"
RSA_BITS = 2048
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def generate_key_pair() -> tuple[str, str]:
    """(private key PEM, public key) as Nova 2.1 makes them: RSA 2048, the private key in the traditional
    "BEGIN RSA PRIVATE KEY" PEM, the public key in OpenSSH form with the comment ``Generated-by-Nova``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private_pem, f"{public.decode('ascii')} {GENERATED_COMMENT}"


def die_with_parent(parent_pid: int) -> None:
    """The kernel SIGKILLs the worker when the processor dies, even by SIGKILL (a worker busy generating
    would otherwise finish its key before it saw its stdin end)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the processor died before prctl took effect
        os._exit(1)


def serve(parent_pid: int) -> None:
    """Answer each line read from stdin with one generated keypair on stdout, until stdin ends."""
    die_with_parent(parent_pid)
    # A Ctrl-C on a terminal reaches the whole process group: the processor stops the worker itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    while requests.readline():
        replies.write(json.dumps(generate_key_pair()).encode("ascii") + b"\n")
        replies.flush()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
