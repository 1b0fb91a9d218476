//! The Markdown report: the filter table (with the ratios against no filter
//! and against `jwt_authn`), the targets, the gateway-vs-direct table, and
//! the whole-gateway table (kubeplex vs `jwt_authn` + cache over TLS and
//! HTTP/2, with its target).

use std::fmt::Write as _;

use super::audit_store::{AuditResult, StoreKind, StoreRun};
use super::discovery_cache::DiscoveryCacheResult;
use super::gateway::{GatewayResult, PathRun};
use super::keys::Alg;
use super::runner::ScenarioResult;
use super::scenarios::BASELINE;
use super::stats::Spread;
use super::whole_gateway::{Variant, WholeGatewayResult};

/// Targets from the issue.
pub const CACHED_TARGET_US: f64 = 25.0;
/// First-sight RS256/ES256: at most this multiple of what `jwt_authn` adds.
pub const FIRST_SIGHT_TARGET_RATIO: f64 = 1.2;
/// The whole gateway: kubeplex's Envoy CPU per request at most this
/// multiple of Envoy with `jwt_authn` + cache.
pub const WHOLE_GATEWAY_TARGET_RATIO: f64 = 1.0;

/// What the report says about the run itself.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// UTC, `YYYY-MM-DD HH:MM:SSZ`.
    pub date: String,
    /// Logical CPUs.
    pub cores: usize,
    /// `envoy --version`, trimmed.
    pub envoy_version: String,
    /// `git describe` of the workspace, if any.
    pub commit: String,
    /// Free text: connections, durations, repetitions.
    pub settings: String,
    /// Wall time of the whole run, seconds.
    pub elapsed_seconds: f64,
    /// Whether the filter scenarios wrote the audit access log.
    pub access_log: bool,
}

/// One filter-table row, computed.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The scenario id.
    pub id: String,
    /// The label.
    pub label: String,
    /// Requests/s.
    pub rps: Spread,
    /// p50 µs.
    pub p50: Spread,
    /// p99 µs.
    pub p99: Spread,
    /// Envoy CPU µs/request.
    pub cpu: Spread,
    /// The same from clock ticks (a cross-check).
    pub tick_cpu: Spread,
    /// CPU added over the baseline, µs (median of per-round differences).
    pub added: Option<Spread>,
    /// `added` ÷ the reference `jwt_authn` scenario's `added`.
    pub vs_jwt_authn: Option<f64>,
    /// Which scenario that reference is.
    pub reference: Option<String>,
}

/// Compute the rows. Needs the baseline among `results` for the `added`
/// column.
pub fn rows(results: &[ScenarioResult]) -> Vec<Row> {
    let baseline = results.iter().find(|r| r.scenario.id == BASELINE);
    let added_of = |r: &ScenarioResult| -> Option<Spread> {
        let base = baseline?;
        if r.scenario.id == BASELINE {
            return None;
        }
        // each run against the baseline window measured just before it;
        // without those (older results), against the same round's
        let deltas: Vec<f64> = if r.paired_baseline_cpu.len() == r.runs.len() {
            r.runs
                .iter()
                .zip(&r.paired_baseline_cpu)
                .map(|(a, b)| a.cpu_us_per_request - b)
                .collect()
        } else {
            r.runs
                .iter()
                .zip(&base.runs)
                .map(|(a, b)| a.cpu_us_per_request - b.cpu_us_per_request)
                .collect()
        };
        Spread::of(&deltas)
    };
    let spread = |r: &ScenarioResult, f: &dyn Fn(&super::runner::Run) -> f64| {
        Spread::of(&r.runs.iter().map(f).collect::<Vec<_>>()).unwrap_or(Spread {
            median: f64::NAN,
            min: f64::NAN,
            max: f64::NAN,
        })
    };
    results
        .iter()
        .map(|r| {
            let added = added_of(r);
            let reference = r
                .scenario
                .reference
                .and_then(|id| results.iter().find(|o| o.scenario.id == id));
            let vs_jwt_authn = match (added, reference.and_then(added_of)) {
                (Some(a), Some(b)) if b.median > 0.0 => Some(a.median / b.median),
                _ => None,
            };
            Row {
                id: r.scenario.id.to_string(),
                label: r.scenario.label(),
                rps: spread(r, &|x| x.requests_per_second),
                p50: spread(r, &|x| f64::from(x.p50_us)),
                p99: spread(r, &|x| f64::from(x.p99_us)),
                cpu: spread(r, &|x| x.cpu_us_per_request),
                tick_cpu: spread(r, &|x| x.tick_cpu_us_per_request),
                added,
                vs_jwt_authn,
                reference: reference.map(|o| o.scenario.id.to_string()),
            }
        })
        .collect()
}

/// The filter table.
pub fn filter_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| scenario | req/s | p50 | p99 | Envoy CPU µs/req | +µs vs no filter | × jwt_authn |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let added = r
            .added
            .map(|a| format!("{:+.1} ({:+.1} … {:+.1})", a.median, a.min, a.max))
            .unwrap_or_else(|| "—".into());
        let ratio = r
            .vs_jwt_authn
            .map(|x| format!("{x:.2}×"))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} µs | {:.0} µs | {:.1} ({:.1} … {:.1}) | {added} | {ratio} |",
            r.label, r.rps.median, r.p50.median, r.p99.median, r.cpu.median, r.cpu.min, r.cpu.max
        );
    }
    out
}

/// The targets, each met or missed, and the EdDSA explanation.
pub fn targets(rows: &[Row]) -> String {
    let find = |id: &str| rows.iter().find(|r| r.id == id);
    let verdict = |ok: bool| if ok { "**met**" } else { "**missed**" };
    let mut out = String::new();
    if let Some(r) = find("kubeplex-cached").and_then(|r| r.added.map(|a| (r, a))) {
        let (_, a) = r;
        let _ = writeln!(
            out,
            "- Cached token: the filter adds {:+.1} µs of Envoy CPU per request over no filter \
             (target ≤ +{CACHED_TARGET_US:.0} µs): {}.",
            a.median,
            verdict(a.median <= CACHED_TARGET_US)
        );
    }
    if let (Some(empty), Some(cached)) = (
        find(super::scenarios::EMPTY_WASM).and_then(|r| r.added),
        find("kubeplex-cached").and_then(|r| r.added),
    ) {
        let _ = writeln!(
            out,
            "- Of that, {:+.1} µs is the floor of any proxy-wasm filter in Envoy's V8 (a \
             filter that does nothing); the kubeplex filter's own work on a cache hit is the \
             other {:+.1} µs.",
            empty.median,
            cached.median - empty.median
        );
    }
    if let Some(a) = find("kubeplex-policy-cached").and_then(|r| r.added) {
        let _ = writeln!(
            out,
            "- Cached token with the 100-role policy (every role bound to the caller's group, \
             only the last one allowing): {:+.1} µs over no filter.",
            a.median
        );
    }
    for alg in Alg::ALL {
        let kubeplex = format!("kubeplex-first-{}", alg.provider());
        let jwt_authn = format!("jwt_authn-first-{}", alg.provider());
        let (Some(k), Some(j)) = (find(&kubeplex), find(&jwt_authn)) else {
            continue;
        };
        let (Some(ka), Some(ja)) = (k.added, j.added) else {
            continue;
        };
        let ratio = k.vs_jwt_authn.unwrap_or(f64::NAN);
        if alg == Alg::EdDsa {
            // what a first sight costs beyond a cache hit, per algorithm
            let hit = find("kubeplex-cached").and_then(|r| r.added);
            let beyond = |a: Alg| {
                let first = find(&format!("kubeplex-first-{}", a.provider()))?.added?;
                Some(format!("{} {:.0} µs", a.name(), first.median - hit?.median))
            };
            let others: Vec<String> = [Alg::Rs256, Alg::Es256]
                .into_iter()
                .filter_map(beyond)
                .collect();
            let beyond_hit = match (beyond(Alg::EdDsa), others.is_empty()) {
                (Some(ed), false) => format!(
                    " Beyond a cache hit, a first sight costs the filter {ed} (against {} \
                     through Envoy's native check).",
                    others.join(", ")
                ),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "- First sight, EdDSA: the filter adds {:+.1} µs, `jwt_authn` {:+.1} µs \
                 ({ratio:.2}×); no target.{beyond_hit} Why: Envoy's `verify_signature` \
                 foreign function always hashes the text before verifying (the RSA/ECDSA \
                 scheme), while Ed25519 verifies the message itself, so the filter checks \
                 EdDSA in Rust (ed25519-dalek) inside V8 — wasm code without BoringSSL's \
                 native assembly (no 64×64→128-bit multiply, no SIMD). Every later request \
                 with the same token is a cache hit (the cached-token row).",
                ka.median, ja.median
            );
        } else {
            let _ = writeln!(
                out,
                "- First sight, {}: the filter adds {:+.1} µs, `jwt_authn` {:+.1} µs: {ratio:.2}× \
                 (target ≤ {FIRST_SIGHT_TARGET_RATIO}×): {}.",
                alg.name(),
                ka.median,
                ja.median,
                verdict(ratio <= FIRST_SIGHT_TARGET_RATIO)
            );
        }
    }
    out
}

/// Rows whose tick-based CPU disagrees with the schedstat figure by more
/// than the ticks' resolution allows (a sign of a measurement problem).
pub fn cross_check(rows: &[Row]) -> Vec<String> {
    rows.iter()
        .filter(|r| {
            let (a, b) = (r.cpu.median, r.tick_cpu.median);
            a.is_finite() && b.is_finite() && (a - b).abs() > 0.15 * a.max(b) && (a - b).abs() > 5.0
        })
        .map(|r| {
            format!(
                "{}: schedstat {:.1} µs/req, utime+stime {:.1} µs/req",
                r.id, r.cpu.median, r.tick_cpu.median
            )
        })
        .collect()
}

/// The gateway-vs-direct table: per load shape, both paths and their
/// ratio.
pub fn gateway_table(result: &GatewayResult) -> String {
    let med = |runs: &[PathRun], f: &dyn Fn(&PathRun) -> f64| {
        Spread::of(&runs.iter().map(f).collect::<Vec<_>>())
            .map(|s| s.median)
            .unwrap_or(f64::NAN)
    };
    let mut out = String::from(
        "| connections | path | req/s | p50 | p99 | gateway Envoy CPU µs/req |\n\
         |---:|---|---:|---:|---:|---:|\n",
    );
    for shape in &result.shapes {
        let k = shape.connections;
        let (d_rps, d50, d99) = (
            med(&shape.direct, &|r| r.requests_per_second),
            med(&shape.direct, &|r| f64::from(r.p50_us)),
            med(&shape.direct, &|r| f64::from(r.p99_us)),
        );
        let (g_rps, g50, g99) = (
            med(&shape.gateway, &|r| r.requests_per_second),
            med(&shape.gateway, &|r| f64::from(r.p50_us)),
            med(&shape.gateway, &|r| f64::from(r.p99_us)),
        );
        let g_cpu = med(&shape.gateway, &|r| {
            r.envoy_cpu_us_per_request.unwrap_or(f64::NAN)
        });
        let cpu = if g_cpu.is_finite() {
            format!("{g_cpu:.1}")
        } else {
            "n/a".into()
        };
        let _ = writeln!(
            out,
            "| {k} | direct to the test apiserver (TLS, client certificate) | {d_rps:.0} | {d50:.0} µs | {d99:.0} µs | — |"
        );
        let _ = writeln!(
            out,
            "| {k} | through the gateway (TLS, token; filter, impersonation, mTLS upstream) | {g_rps:.0} | {g50:.0} µs | {g99:.0} µs | {cpu} |"
        );
        let _ = writeln!(
            out,
            "| {k} | **gateway ÷ direct** | **{:.2}×** | **{:.2}×** | **{:.2}×** | |",
            g_rps / d_rps,
            g50 / d50,
            g99 / d99
        );
        let _ = writeln!(
            out,
            "| {k} | gateway − direct | {:+.0} req/s | {:+.0} µs | {:+.0} µs | |",
            g_rps - d_rps,
            g50 - d50,
            g99 - d99
        );
    }
    out
}

/// Per round, `variant`'s Envoy CPU per request ÷ `reference`'s (the same
/// round: the machine's load of that moment falls on both).
pub fn whole_gateway_ratios(
    result: &WholeGatewayResult,
    variant: Variant,
    reference: Variant,
) -> Vec<f64> {
    let runs = |v: Variant| {
        result
            .variants
            .iter()
            .find(|(w, _)| *w == v)
            .map(|(_, r)| r.as_slice())
            .unwrap_or_default()
    };
    runs(variant)
        .iter()
        .zip(runs(reference))
        .map(|(a, b)| a.cpu_us_per_request / b.cpu_us_per_request)
        .filter(|r| r.is_finite())
        .collect()
}

/// The whole-gateway table: each variant's medians, and its CPU per
/// request over no filter's and over `jwt_authn` + cache's (medians of the
/// per-round ratios).
pub fn whole_gateway_table(result: &WholeGatewayResult) -> String {
    let mut out = String::from(
        "| Envoy | req/s | p50 | p99 | Envoy CPU µs/req | × no filter | × jwt_authn + cache |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let ratio = |v: Variant, reference: Variant| {
        if v == reference {
            return "—".to_string();
        }
        Spread::of(&whole_gateway_ratios(result, v, reference))
            .map(|s| format!("{:.2}× ({:.2} … {:.2})", s.median, s.min, s.max))
            .unwrap_or_else(|| "n/a".into())
    };
    for (variant, runs) in &result.variants {
        let med = |f: &dyn Fn(&super::runner::Run) -> f64| {
            Spread::of(&runs.iter().map(f).collect::<Vec<_>>())
        };
        let m = |s: Option<Spread>| s.map(|s| s.median).unwrap_or(f64::NAN);
        let cpu = med(&|r| r.cpu_us_per_request)
            .map(|s| format!("{:.1} ({:.1} … {:.1})", s.median, s.min, s.max))
            .unwrap_or_else(|| "n/a".into());
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} µs | {:.0} µs | {cpu} | {} | {} |",
            variant.label(),
            m(med(&|r| r.requests_per_second)),
            m(med(&|r| f64::from(r.p50_us))),
            m(med(&|r| f64::from(r.p99_us))),
            ratio(*variant, Variant::NoFilter),
            ratio(*variant, Variant::JwtAuthnCache),
        );
    }
    out
}

/// The whole-gateway target, met or missed.
pub fn whole_gateway_target(result: &WholeGatewayResult) -> String {
    let Some(s) = Spread::of(&whole_gateway_ratios(
        result,
        Variant::Kubeplex,
        Variant::JwtAuthnCache,
    )) else {
        return "- kubeplex ≤ 1.0× `jwt_authn` + cache: not measured\n".into();
    };
    let verdict = if s.median <= WHOLE_GATEWAY_TARGET_RATIO {
        "**met**"
    } else {
        "**missed**"
    };
    format!(
        "- kubeplex ≤ {WHOLE_GATEWAY_TARGET_RATIO:.1}× `jwt_authn` + cache in Envoy CPU per request: \
         {:.2}× (rounds: {:.2} … {:.2}): {verdict}\n",
        s.median, s.min, s.max
    )
}

/// The whole document.
pub fn document(
    info: &RunInfo,
    rows: &[Row],
    gateway: Option<&GatewayResult>,
    whole: Option<&WholeGatewayResult>,
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# kubeplex benchmark\n");
    let _ = writeln!(
        out,
        "{} · {} cores · {} · commit {} · {:.0} s\n",
        info.date, info.cores, info.envoy_version, info.commit, info.elapsed_seconds
    );
    let _ = writeln!(out, "{}\n", info.settings);
    if !rows.is_empty() {
        let _ = writeln!(out, "## The filter in Envoy vs no filter vs `jwt_authn`\n");
        let _ = writeln!(
            out,
            "Each row: its own Envoy (`--concurrency 1`), plaintext HTTP/1.1 keep-alive \
             (a micro-benchmark of the filter, not of TLS), \
             `GET /clusters/bench/api/v1/namespaces/default/configmaps` answered by a \
             `direct_response` 200 (no upstream), {}. Envoy CPU is its process's time on \
             CPU (all threads) during the window, divided by the requests. Medians over the \
             rounds, (min … max) in brackets. \"+µs vs no filter\" is the median of the \
             differences to the no-filter window measured just before each run; \
             \"× jwt_authn\" divides it by what `jwt_authn` adds on the same tokens \
             (cached rows: `jwt_authn` with `jwt_cache_config` on the same cached token; \
             first-sight rows: `jwt_authn` without cache on the same new tokens).\n",
            if info.access_log {
                "the gateway's audit access log (its exact line) on every scenario"
            } else {
                "**no access log** in any scenario (`--no-access-log`; the gateway always logs)"
            }
        );
        out.push_str(&filter_table(rows));
        let _ = writeln!(out, "\n### Targets\n");
        out.push_str(&targets(rows));
        let mismatches = cross_check(rows);
        if !mismatches.is_empty() {
            let _ = writeln!(
                out,
                "\nWarning: the tick-based CPU (utime+stime) disagrees with the schedstat figure: {}",
                mismatches.join("; ")
            );
        }
    }
    if let Some(g) = gateway {
        let _ = writeln!(out, "\n## Gateway vs direct\n");
        let _ = writeln!(
            out,
            "`kubeplex up` (control plane + Envoy + filter, access log on) in front of one \
             Kubernetes API test server, against the same server directly; the same client \
             and request (`GET /api/v1/namespaces/default/configmaps`, {} configmaps, \
             {} bytes), TLS both ways, HTTP/1.1 keep-alive; one connection (a request \
             alone: the latency the gateway adds) and several (throughput). The client, the \
             test server and Envoy (one worker) share the machine's cores. Medians over the \
             rounds.\n",
            super::gateway::seeded_configmaps(),
            g.response_bytes
        );
        out.push_str(&gateway_table(g));
    }
    if let Some(w) = whole {
        let _ = writeln!(
            out,
            "\n## The whole gateway: kubeplex vs `jwt_authn` + cache\n"
        );
        let _ = writeln!(
            out,
            "What users pay for: Envoy CPU per request through the whole gateway. One Envoy per row \
             (`--concurrency 1`), identical but for the HTTP filter, shaped like the gateway \
             `kubeplex up` configures (TLS listener with ALPN h2, path normalization, {}, \
             mTLS and HTTP/2 to one of our Kubernetes API test servers); the same client \
             request, `kubectl get configmaps` through the path-prefix URL (`GET {}`, {} \
             configmaps, {} bytes of JSON), with one cached RS256 token, over TLS and HTTP/2 \
             on {} connections (one stream in flight on each). Interleaved rounds; medians, \
             (min … max) in brackets; the ratios are medians of per-round ratios. The load \
             client and the test server share the cores with Envoy.\n",
            if info.access_log {
                "the audit access log"
            } else {
                "**no access log**"
            },
            super::whole_gateway::PATH,
            super::whole_gateway::CONFIGMAPS,
            w.response_bytes,
            w.connections
        );
        out.push_str(&whole_gateway_table(w));
        let _ = writeln!(out, "\n### Target\n");
        out.push_str(&whole_gateway_target(w));
        if !w.tuning.is_empty() {
            let _ = writeln!(out, "\n### Tuning: each change's effect\n");
            let _ = writeln!(
                out,
                "The kubeplex row's Envoy again, once per change (each alone, its own \
                 Envoy, in the same rounds); × kubeplex is the median of per-round ratios \
                 to the kubeplex row above (below 1: the change saves CPU).\n"
            );
            out.push_str(&tuning_table(w));
        }
    }
    out
}

/// The tuning run: each change's Envoy CPU per request and its per-round
/// ratio to the unchanged kubeplex variant.
pub fn tuning_table(result: &WholeGatewayResult) -> String {
    let mut out = String::from(
        "| change | req/s | Envoy CPU µs/req | × kubeplex (same round) |\n\
         |---|---:|---:|---:|\n",
    );
    let base = result
        .variants
        .iter()
        .find(|(v, _)| *v == Variant::Kubeplex)
        .map(|(_, r)| r.as_slice())
        .unwrap_or_default();
    for (change, runs) in &result.tuning {
        let ratios: Vec<f64> = runs
            .iter()
            .zip(base)
            .map(|(a, b)| a.cpu_us_per_request / b.cpu_us_per_request)
            .filter(|r| r.is_finite())
            .collect();
        let cell = |s: Option<Spread>, digits: usize, suffix: &str| {
            s.map(|s| {
                format!(
                    "{:.d$}{suffix} ({:.d$} … {:.d$})",
                    s.median,
                    s.min,
                    s.max,
                    d = digits
                )
            })
            .unwrap_or_else(|| "n/a".into())
        };
        let rps = Spread::of(
            &runs
                .iter()
                .map(|r| r.requests_per_second)
                .collect::<Vec<_>>(),
        )
        .map(|s| format!("{:.0}", s.median))
        .unwrap_or_else(|| "n/a".into());
        let cpu = Spread::of(
            &runs
                .iter()
                .map(|r| r.cpu_us_per_request)
                .collect::<Vec<_>>(),
        );
        let _ = writeln!(
            out,
            "| {} | {rps} | {} | {} |",
            change.label(),
            cell(cpu, 1, ""),
            cell(Spread::of(&ratios), 2, "×"),
        );
    }
    out
}

/// The discovery cache section of the report (appended to [`document`]).
pub fn discovery_cache_section(c: &DiscoveryCacheResult) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n## Discovery cache: cold kubectl as {} users\n",
        c.users
    );
    let _ = writeln!(
        out,
        "`kubectl get pods` with an empty `--cache-dir` each time (as a CI job or a new \
         container), each of {} users once per path, interleaved user by user; each path \
         in front of a test apiserver of its own, whose requests are counted (health \
         checks excluded). \"Discovery\" is `/api`, `/apis`, group versions and \
         `/openapi`. The last row runs the same users again through the per-caller cache \
         (still cold kubectls).\n",
        c.users
    );
    out.push_str(&discovery_cache_table(c));
    out
}

/// The discovery cache table: upstream requests and wall time per path,
/// and the reduction against the gateway without a cache.
pub fn discovery_cache_table(result: &DiscoveryCacheResult) -> String {
    let mut out = String::from(
        "| path | upstream discovery requests | upstream requests (all) | fewer discovery requests than no cache | kubectl median | kubectl total |\n|---|---:|---:|---:|---:|---:|\n",
    );
    let baseline = result
        .paths
        .iter()
        .find(|p| p.label == "gateway, no cache")
        .map(|p| p.upstream_discovery);
    for p in &result.paths {
        let fewer = match baseline {
            Some(base) if base > 0 && p.label.starts_with("gateway") => format!(
                "{:.0}%",
                100.0 * (base as f64 - p.upstream_discovery as f64) / base as f64
            ),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.0} ms | {:.1} s |",
            p.label,
            p.upstream_discovery,
            p.upstream_total,
            fewer,
            p.median_ms(),
            p.total_s()
        );
    }
    out
}

/// The audit store section: one row per store, medians over the rounds.
pub fn audit_section(result: &AuditResult) -> String {
    let mut out = String::from("\n## The audit store\n\n");
    let _ = writeln!(
        out,
        "The gateway (`kubeplex up` in front of one test apiserver, as in gateway vs direct) \
         once per `audit.store` (every one also writes the audit file), {} connections, interleaved rounds. Envoy CPU per request is measured from a window's \
         first request until every record of it is in the audit file and, with a store, \
         stored (so both sinks' flushes count): what streaming the records over the gRPC \
         access log service costs Envoy over the file sink alone. \"stored/s\" is the \
         records of a window over that same time (bounded by the gateway's request rate: \
         the store kept up when it equals req/s); \"store takes\" is records stored per \
         second of batch writing (the store's own capacity at this batch size), from the \
         control plane's `/metrics`. Medians, (min … max).\n",
        result.connections
    );
    out.push_str(
        "| audit | req/s | Envoy CPU µs/req | + vs file only | stored/s | store takes (records/s) | batch write | records/batch | all written after the window |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let spread = |runs: &[StoreRun], f: &dyn Fn(&StoreRun) -> Option<f64>| {
        Spread::of(&runs.iter().filter_map(f).collect::<Vec<_>>())
    };
    let file_only_cpu = result
        .stores
        .iter()
        .find(|(k, _)| *k == StoreKind::FileOnly)
        .and_then(|(_, runs)| spread(runs, &|r| Some(r.envoy_cpu_us_per_request)))
        .map(|s| s.median);
    let median = |s: Option<Spread>, unit: &str, digits: usize| {
        s.map_or("—".to_string(), |s| {
            format!("{:.digits$}{unit}", s.median)
        })
    };
    for (kind, runs) in &result.stores {
        let cpu = spread(runs, &|r| Some(r.envoy_cpu_us_per_request));
        let extra = match (kind, &cpu, file_only_cpu) {
            (StoreKind::FileOnly, _, _) => "—".to_string(),
            (_, Some(c), Some(base)) => format!("{:+.1}", c.median - base),
            _ => "n/a".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {extra} | {} | {} | {} | {} | {} |",
            kind.label(),
            median(spread(runs, &|r| Some(r.requests_per_second)), "", 0),
            cpu.map_or("n/a".to_string(), |c| format!(
                "{:.1} ({:.1} … {:.1})",
                c.median, c.min, c.max
            )),
            median(spread(runs, &|r| r.stored_per_second), "", 0),
            median(spread(runs, &|r| r.store_capacity), "", 0),
            median(spread(runs, &|r| r.batch_ms), " ms", 2),
            median(spread(runs, &|r| r.records_per_batch), "", 0),
            median(spread(runs, &|r| r.drain_ms), " ms", 0),
        );
    }
    for why in &result.skipped {
        let _ = writeln!(out, "\nSkipped: {why}.");
    }
    out
}

/// `YYYY-MM-DD HH:MM:SSZ` of a Unix time (UTC), without a date crate.
pub fn utc_date(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = kubeplex_filter_core::time::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests;
