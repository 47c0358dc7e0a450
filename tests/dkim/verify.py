#!/usr/bin/env python3
"""Verify a message's DKIM-Signature with dkimpy, an independent implementation.

    python3 tests/dkim/verify.py MESSAGE.eml ED25519_SEED_BASE64

The public key is derived from the Ed25519 seed (the key bookweek signs with)
and served to dkimpy as the selector's DNS TXT record. Exit 0 when the
signature verifies, 1 when it does not.
"""
import base64
import sys

import dkim
import nacl.signing


def main() -> int:
    message = open(sys.argv[1], "rb").read()
    seed = base64.b64decode(sys.argv[2])
    public = nacl.signing.SigningKey(seed).verify_key.encode()
    record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)
    ok = dkim.verify(message, dnsfunc=lambda name, timeout=5: record)
    print("dkim: pass" if ok else "dkim: fail")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
