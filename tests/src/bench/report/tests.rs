use super::*;
use crate::bench::gateway::Shape;
use crate::bench::runner::{Run, ScenarioResult};
use crate::bench::scenarios;

fn run(cpu: f64) -> Run {
    Run {
        requests: 1000,
        requests_per_second: 1e6 / cpu,
        p50_us: 100,
        p99_us: 300,
        cpu_us_per_request: cpu,
        tick_cpu_us_per_request: cpu,
    }
}

fn result(id: &str, cpus: &[f64]) -> ScenarioResult {
    ScenarioResult {
        scenario: scenarios::all().into_iter().find(|s| s.id == id).unwrap(),
        runs: cpus.iter().copied().map(run).collect(),
        paired_baseline_cpu: Vec::new(),
    }
}

fn sample() -> Vec<ScenarioResult> {
    vec![
        result(BASELINE, &[10.0, 12.0, 11.0]),
        // +20, +21, +20 over the same rounds' baseline
        result("kubeplex-cached", &[30.0, 33.0, 31.0]),
        // +5 each round
        result("jwt_authn-cache-cached", &[15.0, 17.0, 16.0]),
        // +90 vs +60: 1.5×
        result("kubeplex-first-rs256", &[100.0, 102.0, 101.0]),
        result("jwt_authn-first-rs256", &[70.0, 72.0, 71.0]),
    ]
}

#[test]
fn added_cpu_is_the_median_of_per_round_differences() {
    let rows = rows(&sample());
    assert_eq!(rows[0].added, None, "the baseline adds nothing");
    let cached = &rows[1];
    let added = cached.added.unwrap();
    assert_eq!((added.median, added.min, added.max), (20.0, 20.0, 21.0));
    assert_eq!(cached.cpu.median, 31.0);
    assert_eq!(cached.reference.as_deref(), Some("jwt_authn-cache-cached"));
    assert!((cached.vs_jwt_authn.unwrap() - 4.0).abs() < 1e-9);
    assert!((rows[3].vs_jwt_authn.unwrap() - 1.5).abs() < 1e-9);
    assert_eq!(rows[2].vs_jwt_authn, None, "jwt_authn rows are references");
}

#[test]
fn the_table_has_a_line_per_scenario() {
    let rows = rows(&sample());
    let table = filter_table(&rows);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2 + rows.len());
    assert!(lines[0].starts_with("| scenario | req/s | p50 | p99 | Envoy CPU µs/req"));
    assert!(
        table.contains("| +20.0 (+20.0 … +21.0) | 4.00× |"),
        "{table}"
    );
    assert!(table.contains("| 1.50× |"), "{table}");
}

#[test]
fn targets_say_met_or_missed() {
    let text = targets(&rows(&sample()));
    assert!(
        text.contains(
            "adds +20.0 µs of Envoy CPU per request over no filter (target ≤ +25 µs): **met**"
        ),
        "{text}"
    );
    assert!(
        text.contains("RS256: the filter adds +90.0 µs, `jwt_authn` +60.0 µs: 1.50× (target ≤ 1.2×): **missed**"),
        "{text}"
    );
}

#[test]
fn tick_disagreement_is_flagged() {
    let mut results = sample();
    assert!(cross_check(&rows(&results)).is_empty());
    for r in &mut results[1].runs {
        r.tick_cpu_us_per_request = r.cpu_us_per_request * 2.0;
    }
    let flagged = cross_check(&rows(&results));
    assert_eq!(flagged.len(), 1);
    assert!(flagged[0].starts_with("kubeplex-cached:"));
}

#[test]
fn gateway_table_has_the_ratios() {
    let path = |rps: f64, p50: u32, p99: u32, cpu: Option<f64>| PathRun {
        requests_per_second: rps,
        p50_us: p50,
        p99_us: p99,
        envoy_cpu_us_per_request: cpu,
    };
    let result = GatewayResult {
        shapes: vec![
            Shape {
                connections: 4,
                direct: vec![path(1000.0, 200, 400, None)],
                gateway: vec![path(500.0, 500, 1200, Some(150.0))],
            },
            Shape {
                connections: 1,
                direct: vec![path(2000.0, 100, 300, None)],
                gateway: vec![path(1000.0, 250, 600, Some(120.0))],
            },
        ],
        response_bytes: 2000,
    };
    let table = gateway_table(&result);
    assert!(
        table.contains("| 4 | **gateway ÷ direct** | **0.50×** | **2.50×** | **3.00×** | |"),
        "{table}"
    );
    assert!(table.contains("| 150.0 |"), "{table}");
    assert!(table.contains("| 4 | gateway − direct | -500 req/s | +300 µs | +800 µs | |"));
    assert!(
        table.contains("| 1 | **gateway ÷ direct** | **0.50×** | **2.50×** | **2.00×** | |"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 2 + 2 * 4);
}

#[test]
fn utc_dates() {
    assert_eq!(utc_date(0), "1970-01-01 00:00:00Z");
    assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00Z");
    assert_eq!(utc_date(1_795_435_200 + 3661), "2026-11-23 13:01:01Z");
    assert_eq!(utc_date(4_107_542_399), "2100-02-28 23:59:59Z");
}

#[test]
fn eddsa_is_explained_with_its_cost_beyond_a_cache_hit() {
    let mut results = sample();
    // kubeplex: +150 (hit +20 → 130 beyond); jwt_authn +60
    results.push(result("kubeplex-first-eddsa", &[160.0, 162.0, 161.0]));
    results.push(result("jwt_authn-first-eddsa", &[70.0, 72.0, 71.0]));
    let text = targets(&rows(&results));
    let line = text
        .lines()
        .find(|l| l.starts_with("- First sight, EdDSA"))
        .expect("an EdDSA line");
    assert!(
        line.contains("the filter adds +150.0 µs, `jwt_authn` +60.0 µs (2.50×)"),
        "{line}"
    );
    assert!(
        line.contains("a first sight costs the filter EdDSA 130 µs (against RS256 70 µs"),
        "{line}"
    );
    assert!(line.contains("always hashes"), "{line}");
    assert!(
        !line.contains("**missed**") && !line.contains("**met**"),
        "no target"
    );
}

#[test]
fn paired_baselines_take_precedence_over_rounds() {
    let mut results = sample();
    // the baseline window just before each kubeplex run: 25, 25, 20
    results[1].paired_baseline_cpu = vec![25.0, 25.0, 20.0];
    let rows = rows(&results);
    let added = rows[1].added.unwrap();
    // 30-25, 33-25, 31-20
    assert_eq!((added.median, added.min, added.max), (8.0, 5.0, 11.0));
}

#[test]
fn the_wasm_floor_is_split_out_when_measured() {
    let mut results = sample();
    assert!(!targets(&rows(&results)).contains("floor"));
    // +8 each round
    results.push(result(scenarios::EMPTY_WASM, &[18.0, 20.0, 19.0]));
    let text = targets(&rows(&results));
    assert!(
        text.contains("Of that, +8.0 µs is the floor of any proxy-wasm filter"),
        "{text}"
    );
    assert!(text.contains("the other +12.0 µs"), "{text}");
}

#[test]
fn discovery_cache_table_has_the_reduction_against_no_cache() {
    use crate::bench::discovery_cache::{DiscoveryCacheResult, PathResult};
    let path = |label: &str, discovery: usize| PathResult {
        label: label.into(),
        upstream_discovery: discovery,
        upstream_total: discovery + 20,
        wall_ms: vec![100.0, 200.0],
    };
    let table = discovery_cache_table(&DiscoveryCacheResult {
        users: 20,
        paths: vec![
            path("direct (client certificate)", 200),
            path("gateway, no cache", 200),
            path("gateway, cache shared: true", 10),
        ],
    });
    assert!(
        table.contains("| gateway, cache shared: true | 10 | 30 | 95% | 100 ms | 0.3 s |"),
        "{table}"
    );
    assert!(
        table.contains("| direct (client certificate) | 200 | 220 | — |"),
        "{table}"
    );
}

fn whole(kubeplex: &[f64], jwt_authn: &[f64]) -> WholeGatewayResult {
    let runs = |cpus: &[f64]| cpus.iter().copied().map(run).collect::<Vec<_>>();
    WholeGatewayResult {
        variants: vec![
            (Variant::NoFilter, runs(&[100.0, 200.0, 100.0])),
            (Variant::JwtAuthnCache, runs(jwt_authn)),
            (Variant::Kubeplex, runs(kubeplex)),
            (Variant::KubeplexPolicy, runs(&[130.0, 260.0, 130.0])),
        ],
        response_bytes: 15_000,
        connections: 16,
        tuning: Vec::new(),
    }
}

#[test]
fn the_tuning_table_divides_each_change_by_kubeplex_of_the_same_round() {
    let mut w = whole(&[100.0, 200.0, 100.0], &[100.0, 200.0, 100.0]);
    let runs = |cpus: &[f64]| cpus.iter().copied().map(run).collect::<Vec<_>>();
    w.tuning = vec![(
        crate::bench::tuning::Change::DynamicStats,
        runs(&[90.0, 180.0, 90.0]),
    )];
    let table = tuning_table(&w);
    assert_eq!(table.lines().count(), 3, "{table}");
    assert!(table.contains("| 0.90× (0.90 … 0.90) |"), "{table}");
    assert!(table.contains("dynamic stats on"), "{table}");
}

#[test]
fn whole_gateway_ratios_pair_the_same_rounds() {
    // a slow second round for everyone: per-round ratios stay 1.2
    let w = whole(&[132.0, 264.0, 132.0], &[110.0, 220.0, 110.0]);
    let ratios = whole_gateway_ratios(&w, Variant::Kubeplex, Variant::JwtAuthnCache);
    assert_eq!(ratios.len(), 3);
    assert!(ratios.iter().all(|r| (r - 1.2).abs() < 1e-9), "{ratios:?}");
    let table = whole_gateway_table(&w);
    assert_eq!(table.lines().count(), 2 + 4, "{table}");
    assert!(table.contains("| 1.20× (1.20 … 1.20) |"), "{table}");
    // the reference's own cell is a dash
    assert!(table.contains("| — |"), "{table}");
}

#[test]
fn whole_gateway_target_says_met_or_missed() {
    let missed = whole(&[132.0, 264.0, 132.0], &[110.0, 220.0, 110.0]);
    assert!(
        whole_gateway_target(&missed).contains("1.20× (rounds: 1.20 … 1.20): **missed**"),
        "{}",
        whole_gateway_target(&missed)
    );
    let met = whole(&[100.0, 200.0, 100.0], &[110.0, 220.0, 110.0]);
    assert!(whole_gateway_target(&met).contains("**met**"));
    let document = document(&RunInfo::default(), &[], None, Some(&met));
    assert!(document.contains("## The whole gateway"), "{document}");
    assert!(document.contains("15000 bytes"), "{document}");
}
