"""Signs an EIT v1 identity token with PyJWT, an implementation independent of Tessera.

Usage: sign_eit.py SIGNING_KEY.pem KID ISS PRN NONCE [TTL_SECS]
Prints the token.
"""
import sys
import time

import jwt

key_path, kid, iss, prn, nonce = sys.argv[1:6]
ttl = int(sys.argv[6]) if len(sys.argv) > 6 else 120
with open(key_path) as f:
    key = f.read()
now = int(time.time())
token = jwt.encode(
    {"iss": iss, "prn": prn, "iat": now, "exp": now + ttl, "nce": nonce, "display_name": "Py " + prn},
    key,
    algorithm="RS256",
    headers={"typ": "JWT", "cty": "layer-eit;v=1", "kid": kid},
)
print(token)
