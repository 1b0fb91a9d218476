//! The Prometheus Operator's ServiceMonitor (monitoring.coreos.com/v1), a
//! CRD: no generated type here. These types hold the fields this install
//! uses, as the CRD's openAPIV3Schema (prometheus-operator 0.84) defines
//! them, and refuse any other; the values are checked against the schema's
//! patterns and enums.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ServiceMonitor {
    api_version: String,
    kind: String,
    metadata: ObjectMeta,
    spec: Spec,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Spec {
    selector: LabelSelector,
    endpoints: Vec<Endpoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_label: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Endpoint {
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheme: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scrape_timeout: Option<String>,
}

/// The CRD's value constraints on those fields: `scheme` is `http` or
/// `https`; `interval` and `scrapeTimeout` are Prometheus durations
/// (`^(0|(([0-9]+)y)?(([0-9]+)w)?...(([0-9]+)ms)?)$`).
pub fn check_values(object: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let endpoints = object["spec"]["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, e) in endpoints.iter().enumerate() {
        if let Some(s) = e["scheme"].as_str()
            && !["http", "https"].contains(&s)
        {
            problems.push(format!(
                "spec.endpoints[{i}].scheme: {s:?} is not http or https"
            ));
        }
        for field in ["interval", "scrapeTimeout"] {
            if let Some(d) = e[field].as_str()
                && !is_prometheus_duration(d)
            {
                problems.push(format!(
                    "spec.endpoints[{i}].{field}: {d:?} is not a duration"
                ));
            }
        }
    }
    problems
}

/// `0`, or number+unit pairs in the order y w d h m s ms, each at most once.
fn is_prometheus_duration(d: &str) -> bool {
    if d == "0" {
        return true;
    }
    let units = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = d;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        // "ms" before "m": the longest unit that the text starts with
        let Some(pos) = units[next_unit..]
            .iter()
            .enumerate()
            .filter(|(_, u)| rest.starts_with(**u))
            .max_by_key(|(_, u)| u.len())
            .map(|(i, _)| next_unit + i)
        else {
            return false;
        };
        rest = &rest[units[pos].len()..];
        next_unit = pos + 1;
    }
    !d.is_empty()
}

#[test]
fn prometheus_durations() {
    for ok in ["0", "30s", "1m30s", "500ms", "1h", "2w3d"] {
        assert!(is_prometheus_duration(ok), "{ok}");
    }
    for bad in ["", "30", "s", "1s1m", "30 s", "1.5s", "30sec"] {
        assert!(!is_prometheus_duration(bad), "{bad}");
    }
}
