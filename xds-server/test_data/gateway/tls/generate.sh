#!/bin/sh
# Regenerates the gateway listener's certificate and key, and a client CA.
set -eu
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout gateway-key.pem \
  -subj /CN=kubeplex.example.com -addext subjectAltName=DNS:kubeplex.example.com -days 3650 -out gateway.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout clients-ca-key.pem \
  -subj /CN=kubeplex-clients -days 3650 -out clients-ca.pem
rm clients-ca-key.pem
