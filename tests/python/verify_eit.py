"""Verifies an EIT with PyJWT, an implementation independent of Tessera.

Usage: verify_eit.py PUBLIC_KEY.pem KID ISS  (token on standard input)
Prints the verified header and claims as JSON; exits non-zero on failure.
"""
import json
import sys

import jwt

public_key_path, kid, iss = sys.argv[1:4]
token = sys.stdin.read().strip()
with open(public_key_path) as f:
    public_key = f.read()

header = jwt.get_unverified_header(token)
claims = jwt.decode(
    token,
    public_key,
    algorithms=["RS256"],
    issuer=iss,
    options={"require": ["iss", "prn", "iat", "exp", "nce"]},
)
assert header["kid"] == kid, header
print(json.dumps({"header": header, "claims": claims}))
