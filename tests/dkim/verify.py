#!/usr/bin/env python3
"""Verify a message's DKIM-Signature with dkimpy, an independent implementation.

    python3 tests/dkim/verify.py MESSAGE.eml ED25519_SEED_BASE64
    python3 tests/dkim/verify.py MESSAGE.eml --record NAME 'v=DKIM1; k=rsa; p=…'

The first form derives the public key from the Ed25519 seed (the key bookweek
signs with). The second serves a DNS TXT record as published, under NAME
(`selector._domainkey.domain`): a signature whose s= or d= points elsewhere
finds no key and fails. Exit 0 when the signature verifies, 1 when it does not.
"""
import base64
import sys

import dkim


def main() -> int:
    message = open(sys.argv[1], "rb").read()
    if sys.argv[2] == "--record":
        name = sys.argv[3].rstrip(".").lower()
        record = sys.argv[4].encode()

        def lookup(qname, timeout=5):
            asked = qname.decode() if isinstance(qname, bytes) else qname
            return record if asked.rstrip(".").lower() == name else None
    else:
        import nacl.signing

        seed = base64.b64decode(sys.argv[2])
        public = nacl.signing.SigningKey(seed).verify_key.encode()
        record = b"v=DKIM1; k=ed25519; p=" + base64.b64encode(public)

        def lookup(qname, timeout=5):
            return record
    ok = dkim.verify(message, dnsfunc=lookup)
    print("dkim: pass" if ok else "dkim: fail")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
