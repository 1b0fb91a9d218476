#!/bin/sh
# Regenerates the kubeconfig fixtures' PKI (a CA, a client cert signed by it,
# its key, and an unrelated key) and the embedded-data kubeconfig.
set -eu
cd "$(dirname "$0")"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ca-key.pem
openssl req -x509 -new -key ca-key.pem -subj /CN=test-cluster-ca -days 3650 -out ca.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out client-key.pem
openssl req -new -key client-key.pem -subj "/CN=kubeplex-gateway/O=system:masters" -out client.csr
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 -out client.pem
rm -f client.csr ca.srl
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other-key.pem
b64() { base64 -w0 "$1"; }
cat > ../embedded.yaml <<YAML
apiVersion: v1
kind: Config
current-context: rancher-a
preferences: {}
clusters:
- name: rancher
  cluster:
    server: https://rancher.example.com/k8s/clusters/c-abc12/
    certificate-authority-data: $(b64 ca.pem)
    tls-server-name: api.rancher.internal
- name: plain
  cluster:
    server: https://plain.example.com
    certificate-authority-data: $(b64 ca.pem)
users:
- name: gateway
  user:
    client-certificate-data: $(b64 client.pem)
    client-key-data: $(b64 client-key.pem)
contexts:
- name: rancher-a
  context:
    cluster: rancher
    user: gateway
    namespace: team-a
- name: plain
  context:
    cluster: plain
    user: gateway
YAML
