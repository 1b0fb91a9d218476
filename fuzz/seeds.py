#!/usr/bin/env python3
"""Regenerates the committed seed corpora (fuzz/corpus/<target>/) from the
repository's own test inputs: the README's examples, xds-server/test_data,
and the cases of the filter's unit tests. Run from anywhere:
`python3 fuzz/seeds.py`. Existing seed files are replaced; other files in
the corpus folders are left alone.

Input formats (see fuzz/src/filter_targets.rs):
  token         `s<header JSON>\\n<payload JSON>\\n<signature bytes>` or `r<raw JWT>`
  route         `<path>\\n<ctx claim>\\n<TLS server name>\\n<config 0|1|2>`
  request_info  `<method>\\n<path>\\n<1 = upgrade>`
  identity      `<issuer 0|1|2><claims JSON>`
  kubeconfig, gateway_config, policy: the YAML text
"""

import base64
import json
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
NOW = 1_795_435_200
PLAIN = "https://issuer.example"
MAPPED = "https://login.example.com"
SA = "https://kubernetes.default.svc.cluster.local"


def target_dir(target):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    for f in d.glob("seed-*"):
        f.unlink()
    return d


def write(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    (d / f"seed-{name}").write_bytes(data)


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def compact(v):
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)


def readme_yaml(marker):
    text = (ROOT / "README.md").read_text()
    blocks = [b.split("\n```")[0] for b in text.split("```yaml\n")[1:]]
    [block] = [b for b in blocks if marker in b]
    return block + "\n"


def token_seeds():
    d = target_dir("token")
    plain = {
        "iss": PLAIN, "aud": "kubeplex", "sub": "alice", "groups": ["dev", "ops"],
        "jti": "jti-1", "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3600,
    }
    mapped = {
        "iss": MAPPED, "aud": ["kubeplex"], "email": "a@example.com", "roles": ["admin"],
        "uid": "u-1", "tenant": ["t1", "t2"], "hd": "example.com", "exp": NOW + 600,
    }
    sa = {
        "iss": SA, "aud": ["kubeplex"], "sub": "system:serviceaccount:ns:builder",
        "exp": NOW + 600, "jti": "sa-jti",
        "kubernetes.io": {
            "namespace": "ns", "serviceaccount": {"name": "builder", "uid": "sa-uid"},
            "pod": {"name": "p", "uid": "pod-uid"}, "node": {"name": "n1", "uid": "node-uid"},
        },
    }
    ctx = dict(plain, ctx="dev-a", jti="jti-ctx")
    # alg → (kid, signature length: raw r||s for ECDSA)
    algs = {"RS256": ("rsa", 256), "RS512": ("rsa512", 256), "ES256": ("p256", 64),
            "ES384": ("p384", 96), "ES512": (None, 132), "EdDSA": ("ed", 64)}
    n = 0
    for alg, (kid, siglen) in algs.items():
        for claims in (plain, mapped, sa, ctx):
            header = {"alg": alg, "typ": "JWT"}
            if kid:
                header["kid"] = kid
            h, p = compact(header).encode(), compact(claims).encode()
            s = bytes((i * 7 + 1) % 256 for i in range(siglen))
            write(d, f"s{n:02}-{alg}", b"s" + h + b"\n" + p + b"\n" + s)
            if claims is plain:
                write(d, f"r{n:02}-{alg}", "r" + ".".join([b64(h), b64(p), b64(s)]))
            n += 1
    refusals = [
        ({"alg": "none"}, plain), ({"alg": "HS256"}, plain), ({"alg": "PS256"}, plain),
        ({"typ": "JWT"}, plain), ({"alg": "RS256", "crit": ["exp"]}, plain),
        ({"alg": "RS256", "kid": "k9"}, plain),
        ({"alg": "RS256"}, dict(plain, exp=NOW - 3600)),
        ({"alg": "RS256"}, dict(plain, nbf=NOW + 3600)),
        ({"alg": "RS256"}, dict(plain, iat=NOW + 3600)),
        ({"alg": "RS256"}, dict(plain, aud="nope")),
        ({"alg": "RS256"}, dict(plain, iss="https://evil.example")),
        ({"alg": "RS256"}, dict(plain, sub="system:admin")),
        ({"alg": "RS256"}, dict(plain, groups=["system:masters"])),
        ({"alg": "RS256"}, dict(plain, exp=1.5e300)),
        ({"alg": "RS256"}, dict(mapped, hd="evil.com")),
    ]
    for i, (header, claims) in enumerate(refusals):
        write(d, f"x{i:02}", b"s" + compact(header).encode() + b"\n"
              + compact(claims).encode() + b"\n" + b"\x01" * 256)
    write(d, "x-dup", b's{"alg":"RS256"}\n{"iss":"https://issuer.example","iss":"x"}\n\x01')
    write(d, "r-malformed", "reyJhbGciOiJSUzI1NiJ9.e30")


def route_seeds():
    d = target_dir("route")
    cases = [
        "/clusters/dev-a/api/v1/pods?watch=1", "/clusters/dev-a", "/clusters/dev-a?timeout=32s",
        "/clusters/dev-a/", "/clusters/kind%20ctx%40x/version", "/api/v1/pods\nprod",
        "/clusters/dev-a/api\ndev-a", "/clusters/prod/api\ndev-a", "/api/v1/pods",
        "/clusters//api", "/clusters", "/clusters/foo/api", "/api\nnope",
        "/clusters/arn%3Aaws%3Aeks%3Aeu-west-1%3A1%3Acluster%2Fx/api/v1/namespaces",
        "/version\n\ndev-a.clusters.kubeplex.internal",
        "/version\n\nprod.CLUSTERS.kubeplex.internal",
        "/version\nprod\ndev-a.clusters.kubeplex.internal",
        "/version\n\ngw.example", "/version\n\n",
        "/clusters/dev-a/api/v1/namespaces/a%2F..%2Fkube-system/secrets",
        "/clusters/dev-a/api/v1/namespaces/%2e%2e/secrets",
        "/clusters/dev-a/api/v1/namespaces/%C3%A9/pods",
        "/clusters/dev-a/api/v1/namespaces/%FF/pods",
        "/clusters/dev-a/api/v1/pods?labelSelector=a%2Fb",
        "/clusters/dev-a/api/v1/namespaces/ns/pods/p/exec?command=ls",
        "/clusters/dev-a/clusters/dev-b/api",
        "/dev-a/api/v1/pods\ndev-a\n\n1",
        "/k8s/clusters/prod/api/v1/pods\n\n\n2",
        "/k8s/clusters/api\n\nprod.clusters.kubeplex.internal\n2",
    ]
    for i, c in enumerate(cases):
        write(d, f"{i:02}", c)


def request_info_seeds():
    d = target_dir("request_info")
    text = (ROOT / "filter-core/src/request_info/tests.rs").read_text()
    n = 0
    for kind, method, url in re.findall(r'^\s*(res|up)\("([A-Z]+)", "([^"]*)"', text, re.M):
        write(d, f"{n:02}", f"{method}\n{url}" + ("\n1" if kind == "up" else ""))
        n += 1
    for extra in ["GET\n/api", "GET\n/api/v1/watch", "GET\n/healthz", "GET\n/apis/apps/v1/proxy",
                  "GET\n/api/v1/pods?fieldSelector=metadata.name%3D..",
                  "HEAD\n/api/v1/namespaces/ns/pods/p/attach\n1"]:
        write(d, f"{n:02}", extra)
        n += 1


def identity_seeds():
    d = target_dir("identity")
    plain = [
        {"sub": "alice", "groups": ["a", "b"]}, {"sub": "a", "groups": "g"}, {"sub": "a"},
        {"sub": "a", "groups": [1]}, {}, {"sub": ""}, {"sub": 42},
        {"sub": "alice\r\nimpersonate-user: admin"}, {"sub": "a", "groups": ["ok", "bad\u0000"]},
        {"sub": "a\tb"}, {"sub": "a", "groups": [" system:masters"]},
        {"sub": "a", "groups": ["system:masters "]}, {"sub": " system:admin"}, {"sub": "admin "},
        {"sub": "Ada Lovelace"}, {"sub": "jürgen"}, {"sub": "system:admin"},
        {"sub": "bob", "groups": ["dev", "system:masters"]}, {"sub": "a", "groups": ["", "g"]},
    ]
    mapped = [
        {"email": "a@x.io", "roles": ["admin"], "uid": "u-1", "tenant": ["t1", "t2"]},
        {"email": "system:admin", "roles": ["system:masters"]}, {"email": "a", "uid": 7},
        {"email": "masters"}, {"email": "a", "uid": " u1"}, {"email": "a", "tenant": ["blue", "red\n"]},
        {"email": "a", "roles": ["", "g"], "tenant": ["", "x"]},
    ]
    sa = [
        {"sub": "system:serviceaccount:ns:builder", "jti": "j1",
         "kubernetes.io": {"namespace": "ns", "serviceaccount": {"name": "builder", "uid": "u"},
                           "pod": {"name": "p", "uid": "pu"}, "node": {"name": "n", "uid": "nu"}}},
        {"sub": "system:serviceaccount:ns:builder", "kubernetes.io": {"namespace": "other"}},
        {"sub": "system:serviceaccount:ns:a:b"}, {"sub": "system:serviceaccount::x"},
        {"sub": "system:serviceaccount:ns:x", "jti": "é"},
    ]
    n = 0
    for selector, claims_list in ((b"0", plain), (b"1", mapped), (b"2", sa)):
        for claims in claims_list:
            write(d, f"{n:02}", selector + compact(claims).encode())
            n += 1


def yaml_seeds():
    data = ROOT / "xds-server/test_data"
    for target, folder, marker in [("kubeconfig", "kubeconfig", None),
                                   ("gateway_config", "gateway", "kind: GatewayConfig"),
                                   ("policy", "policy", "kind: GatewayPolicy")]:
        d = target_dir(target)
        for f in sorted((data / folder).glob("*.yaml")):
            shutil.copy(f, d / f"seed-{f.name}")
        if marker:
            write(d, "readme.yaml", readme_yaml(marker))


if __name__ == "__main__":
    token_seeds()
    route_seeds()
    request_info_seeds()
    identity_seeds()
    yaml_seeds()
    for d in sorted(CORPUS.iterdir()):
        print(f"{d.name}: {len(list(d.glob('seed-*')))} seeds")
