"""What the key stock's worker process runs (``extproc.key_stock``): RSA keypair generation as Nova makes
it, and the worker's initializer.

Its own module, importing only ``cryptography`` and the standard library, because the worker imports
exactly what unpickling its jobs needs: with the generator in ``extproc.compute.keypairs`` (and the
initializer in ``extproc.key_stock``) the worker loaded the translators, jsonschema and structlog and held
46 MB; this way about 26 MB (bench/README.md lever (r2)).
"""

from __future__ import annotations

import ctypes
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
    """Worker initializer: the kernel SIGKILLs the worker when the processor dies, even by SIGKILL (a
    worker waiting for its next job would otherwise outlive it)."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the processor died before prctl took effect
        os._exit(1)
