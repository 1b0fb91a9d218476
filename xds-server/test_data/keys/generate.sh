#!/bin/sh
# Regenerates the key fixtures with openssl (and python3's standard library
# for the JWKS files). The tests compare against the *.pub.der files, which
# are `openssl pkey -pubin -outform DER` of each public key.
set -eu
cd "$(dirname "$0")"
rm -f ./*.pem ./*.der ./*.json

# RSA 2048: PKCS#8 and PKCS#1 private keys, SPKI and PKCS#1 public keys.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.key.pem
openssl rsa -in rsa.key.pem -traditional -out rsa.pkcs1.key.pem
openssl pkey -in rsa.key.pem -pubout -out rsa.pub.pem
openssl rsa -in rsa.key.pem -RSAPublicKey_out -out rsa.pkcs1.pub.pem
# RSA 1024: too small to accept.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024.key.pem
openssl pkey -in rsa1024.key.pem -pubout -out rsa1024.pub.pem

# EC: PKCS#8 (p256, p384) and SEC1 (`EC PRIVATE KEY`) private keys.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.key.pem
openssl ec -in p256.key.pem -out p256.sec1.key.pem
openssl pkey -in p256.key.pem -pubout -out p256.pub.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.key.pem
openssl ec -in p384.key.pem -out p384.sec1.key.pem
openssl pkey -in p384.key.pem -pubout -out p384.pub.pem
# P-521 exactly as multikube's TLS guide makes it (SEC1, no parameters block).
openssl ecparam -name secp521r1 -genkey -noout -out p521.key.pem
openssl pkey -in p521.key.pem -pubout -out p521.pub.pem
openssl pkey -in p521.key.pem -pubout -ec_conv_form compressed -out p521.compressed.pub.pem

# Ed25519.
openssl genpkey -algorithm ED25519 -out ed25519.key.pem
openssl pkey -in ed25519.key.pem -pubout -out ed25519.pub.pem

# Signer certificates (multikube's --tls-signer-certificate).
openssl req -x509 -new -key p521.key.pem -subj /CN=multikube-signer -days 3650 -out p521.cert.pem
openssl req -x509 -new -key rsa.key.pem -subj /CN=rsa-signer -days 3650 -out rsa.cert.pem
openssl req -x509 -new -key p256.key.pem -subj /CN=p256 -days 3650 -out p256.cert.pem
openssl req -x509 -new -key ed25519.key.pem -subj /CN=ed -days 3650 -out ed25519.cert.pem

for k in rsa p256 p384 p521 ed25519; do
  openssl pkey -pubin -in $k.pub.pem -outform DER -out $k.pub.der
done

python3 - <<'PY'
import base64, json, subprocess

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def der(name):
    return open(f"{name}.pub.der", "rb").read()

mod = subprocess.check_output(
    ["openssl", "rsa", "-pubin", "-in", "rsa.pub.pem", "-noout", "-modulus"], text=True
).strip().split("=", 1)[1]
n = bytes.fromhex(mod)
keys = [{"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": b64u(n), "e": "AQAB"}]
for name, crv, size, alg in [("p256", "P-256", 32, "ES256"), ("p384", "P-384", 48, "ES384"), ("p521", "P-521", 66, "ES512")]:
    point = der(name)[-(2 * size + 1):]
    assert point[0] == 4
    keys.append({"kty": "EC", "kid": f"{name}-1", "crv": crv, "alg": alg,
                 "x": b64u(point[1:1 + size]), "y": b64u(point[1 + size:])})
keys.append({"kty": "OKP", "kid": "ed-1", "crv": "Ed25519", "alg": "EdDSA", "x": b64u(der("ed25519")[-32:])})
# An encryption key: skipped, not an error.
keys.append({"kty": "RSA", "kid": "enc-1", "use": "enc", "n": b64u(n), "e": "AQAB"})
json.dump({"keys": keys}, open("jwks.json", "w"), indent=2)

json.dump({"keys": [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}]}, open("jwks-oct.json", "w"), indent=2)
bad_alg = dict(keys[1]); bad_alg["alg"] = "RS256"
json.dump({"keys": [bad_alg]}, open("jwks-bad-alg.json", "w"), indent=2)
short = dict(keys[3]); short["x"] = b64u(base64.urlsafe_b64decode(keys[3]["x"] + "==")[1:])
json.dump({"keys": [short]}, open("jwks-p521-short.json", "w"), indent=2)
off_curve = dict(keys[1]); y = bytearray(base64.urlsafe_b64decode(keys[1]["y"] + "=")); y[-1] ^= 1
off_curve["y"] = b64u(bytes(y))
json.dump({"keys": [off_curve]}, open("jwks-off-curve.json", "w"), indent=2)
PY
