#!/usr/bin/python3
"""A plain Python 3 key-broker client following the CNAP / confidential-ai-loader
protocol (docs: protocols.md sections 1.1, 2.2, 4.2, 4.3), using only Debian's
python3-cryptography and python3-requests.

The TEE is simulated by the caller: this script prints the 64-byte REPORTDATA
it needs as `REPORT_DATA <hex>` and reads the quote (standard base64) from
the next stdin line, as a guest would hand REPORTDATA to configfs-tsm.

usage: client.py TRANSFER_URL [--nonce] [--ca CERT.pem]
prints `KEY <base64>` on success; exits 1 on any refusal.
"""
import base64
import hashlib
import json
import struct
import sys

import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

HEADERS = {"Accept": "application/json", "Content-Type": "application/json", "Attestation-Type": "TDX"}


def decrypt_container(key, blob):
    """The 12-byte-header container: LE u32 iv_len, tag_len, data_len; IV; ciphertext; tag."""
    iv_len, tag_len, _data_len = struct.unpack("<3I", blob[:12])
    iv = blob[12:12 + iv_len]
    ciphertext_and_tag = blob[12 + iv_len:]
    if tag_len != 16:
        raise ValueError("unexpected tag length")
    return AESGCM(key).decrypt(iv, ciphertext_and_tag, None)


def main(argv):
    url = argv[1]
    use_nonce = "--nonce" in argv
    verify = argv[argv.index("--ca") + 1] if "--ca" in argv else False

    private_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    spki = private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    user_data = base64.b64encode(spki).decode()

    nonce = None
    preimage = b""
    if use_nonce:
        r = requests.post(url, headers={"Accept": "application/json"}, verify=verify, timeout=10)
        if r.status_code != 200:
            print("nonce request refused: %d %s" % (r.status_code, r.text), file=sys.stderr)
            return 1
        nonce = r.json()
        preimage = base64.b64decode(nonce["val"]) + base64.b64decode(nonce["iat"])

    report_data = hashlib.sha512(preimage + spki).digest()
    print("REPORT_DATA " + report_data.hex(), flush=True)
    quote = sys.stdin.readline().strip()

    body = {"quote": quote, "user_data": user_data}
    if nonce is not None:
        body["nonce"] = nonce
    r = requests.post(url, data=json.dumps(body), headers=HEADERS, verify=verify, timeout=10)
    if r.status_code != 200:
        print("transfer refused: %d %s" % (r.status_code, r.text), file=sys.stderr)
        return 1
    answer = r.json()
    swk = private_key.decrypt(
        base64.b64decode(answer["wrapped_swk"]),
        padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None),
    )
    key = decrypt_container(swk, base64.b64decode(answer["wrapped_key"]))
    print("KEY " + base64.b64encode(key).decode(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
