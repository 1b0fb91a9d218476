#!/usr/bin/env python3
"""Where a proxy-wasm filter's instructions go in Envoy, per request.

Reads the callgrind dumps `cpu_per_request_in_envoy` leaves behind with
KUBEPLEX_CALLGRIND=1 KUBEPLEX_KEEP_TEST_DIRS=1 (one dump per measurement:
callgrind.out.2 = baseline, .4 = empty filter, .6 = cached token, ...; the
odd ones are the gaps between measurements) and splits each into Envoy
outside the VM, the V8 JIT-ed wasm code, the host calls it makes, and
Envoy's allocator. Envoy's binary is stripped, so functions are addresses:
the JIT-ed code is the unnamed code above 4 GiB, tcmalloc is Envoy's
`google_malloc` section, which valgrind does not attribute to the binary
(unnamed, below 256 MiB). Host functions are told apart by their calls per
request (filter/README.md, "Cost per request", names them).

    scripts/callgrind_breakdown.py DIR/callgrind.out.2 DIR/callgrind.out.6 [requests]
"""
import collections
import re
import sys


def parse(path):
    """Self cost per (object, function), and calls + inclusive cost per edge."""
    objects, functions = {}, {}
    self_cost = collections.Counter()
    edges = collections.defaultdict(lambda: [0, 0])
    ob = fn = callee_ob = callee_fn = None
    calls = None

    def name(table, text):
        m = re.match(r"\((\d+)\)(?: (.*))?", text)
        if not m:
            return text
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table[m.group(1)]

    for line in open(path):
        line = line.rstrip("\n")
        if line.startswith("ob="):
            ob = name(objects, line[3:])
        elif line.startswith("fn="):
            fn, callee_ob = name(functions, line[3:]), None
        elif line.startswith("cob="):
            callee_ob = name(objects, line[4:])
        elif line.startswith("cfn="):
            callee_fn = name(functions, line[4:])
        elif line.startswith("calls="):
            calls = int(line[6:].split()[0])
        elif line[:1] and line[0] in "0123456789+-*":
            parts = line.split()
            if len(parts) < 2:
                continue
            cost = int(parts[1])
            if calls is None:
                self_cost[(ob, fn)] += cost
            else:
                edge = edges[((ob, fn), (callee_ob or ob, callee_fn))]
                edge[0] += calls
                edge[1] += cost
                calls, callee_ob = None, None
    return self_cost, edges


def kind(function):
    ob, fn = function
    if ob != "???":
        return ob.rsplit("/", 1)[-1]
    if not fn.startswith("0x"):
        return "other"
    return "tcmalloc" if int(fn, 16) < 0x10000000 else "jit"


def summary(path, requests):
    self_cost, edges = parse(path)
    k = lambda v: v / requests / 1000
    by_kind = collections.Counter()
    for f, v in self_cost.items():
        by_kind[kind(f)] += v
    host = collections.defaultdict(lambda: [0, 0])
    entry = 0
    for (caller, callee), (calls, incl) in edges.items():
        if kind(caller) == "jit" and kind(callee) != "jit":
            host[callee][0] += calls
            host[callee][1] += incl
        if kind(caller) != "jit" and kind(callee) == "jit":
            entry += incl
    return {
        "total": k(sum(self_cost.values())),
        "kinds": {name: k(v) for name, v in by_kind.items()},
        "entries into the VM (incl.)": k(entry),
        "host": {f[1]: (c / requests, k(i)) for f, (c, i) in host.items()},
        "edges": edges,
    }


def main():
    base_path, filter_path = sys.argv[1], sys.argv[2]
    requests = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
    base, filt = summary(base_path, requests), summary(filter_path, requests)
    print(f"k instructions per request; {filter_path} over {base_path}")
    print(f"  total {filt['total']:.1f} - {base['total']:.1f} = {filt['total'] - base['total']:+.1f}")
    for name in sorted(set(base["kinds"]) | set(filt["kinds"])):
        a, b = base["kinds"].get(name, 0), filt["kinds"].get(name, 0)
        print(f"  self in {name:10} {b:7.1f} ({b - a:+.1f})")
    print(f"  entries into the VM, inclusive: {filt['entries into the VM (incl.)']:.1f}")
    print("  calls from the JIT-ed code out of the VM (callee, calls/request, inclusive k):")
    for fn, (calls, incl) in sorted(filt["host"].items(), key=lambda x: -x[1][1]):
        if incl >= 0.05:
            print(f"    {fn} {calls:6.2f} {incl:7.2f}")
    # the busiest callee is V8's trampoline to the host functions: one
    # level down, each host function
    trampoline = max(filt["host"].items(), key=lambda x: x[1][1])[0]
    print(f"  behind {trampoline} (callee, calls/request, inclusive k, k per call):")
    for (caller, callee), (calls, incl) in sorted(
        filt["edges"].items(), key=lambda x: -x[1][1]
    ):
        if caller[1] == trampoline and incl / requests >= 50:
            c = calls / requests
            print(f"    {kind(callee):8} {callee[1]} {c:6.2f} {incl / requests / 1000:7.2f} {incl / max(calls, 1) / 1000:6.2f}")


if __name__ == "__main__":
    main()
