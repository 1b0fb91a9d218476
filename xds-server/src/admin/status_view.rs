//! The two views of `/status`. `contexts=all` (the default, what scripts
//! have always read) lists every context with its health and its cluster
//! check rows: megabytes at 10,000 contexts. `contexts=summary` is what an
//! operator polling every few seconds needs, its size bounded by the
//! problems shown and not by the number of contexts: how many contexts are
//! in each state, and the contexts with a problem (at most
//! [`MAX_PROBLEMS`], by name).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cluster_health::ClusterHealth;
use crate::preflight::{Report, Row};

/// The most contexts with a problem a summary names (the rest are counted:
/// when a whole region is down, the first hundred say enough).
pub const MAX_PROBLEMS: usize = 100;

/// Which `/status` a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusView {
    /// Every context, its health and its check rows (the default).
    All,
    /// Counts by state and the contexts with a problem.
    Summary,
}

/// A `/status` query that asks for no known view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("contexts={0:?}: expected contexts=all or contexts=summary")]
pub struct UnknownView(pub String);

impl StatusView {
    /// The view a `/status` query string asks for (`contexts=all` or
    /// `contexts=summary`; none: all). Other parameters are ignored.
    pub fn from_query(query: Option<&str>) -> Result<StatusView, UnknownView> {
        let asked = query
            .unwrap_or_default()
            .split('&')
            .filter_map(|pair| pair.strip_prefix("contexts="))
            .next_back();
        match asked {
            None | Some("all") => Ok(StatusView::All),
            Some("summary") => Ok(StatusView::Summary),
            Some(other) => Err(UnknownView(other.to_string())),
        }
    }
}

/// The summary's members about contexts: `context_counts`,
/// `context_problems` (a context is a problem when its last health check
/// failed or a cluster check is missing or failed; the checks' RBAC fixes
/// are left to the full view and `kubeplex check --clusters`),
/// `context_problems_omitted`, and `cluster_checks` reduced to its counts.
pub fn context_summary(
    contexts: &[String],
    health: &BTreeMap<String, ClusterHealth>,
    checks: Option<&Report>,
) -> serde_json::Map<String, Value> {
    let mut failed_checks: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in checks.iter().flat_map(|r| r.problems()) {
        failed_checks.entry(&row.context).or_default().push(row);
    }
    let (mut healthy, mut unhealthy, mut unknown, mut failing) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    let mut sorted: Vec<&String> = contexts.iter().collect();
    sorted.sort();
    for context in sorted {
        let h = health.get(context);
        match h.map(|h| h.healthy) {
            Some(true) => healthy += 1,
            Some(false) => unhealthy += 1,
            None => unknown += 1,
        }
        let failed = failed_checks.get(context.as_str());
        failing += failed.is_some() as usize;
        if h.is_some_and(|h| !h.healthy) || failed.is_some() {
            problems.push(problem(context, h, failed.map(Vec::as_slice)));
        }
    }
    let omitted = problems.len().saturating_sub(MAX_PROBLEMS);
    problems.truncate(MAX_PROBLEMS);
    let counts = json!({
        "total": contexts.len(),
        "healthy": healthy,
        "unhealthy": unhealthy,
        "health_unknown": unknown,
        "checks_failed": failing,
        "with_problems": problems.len() + omitted,
    });
    let checks = checks.map(|r| {
        json!({
            "checked_at": r.checked_at,
            "rows": r.rows.len(),
            "failed": r.problems().count(),
        })
    });
    [
        ("context_counts", counts),
        ("context_problems", Value::Array(problems)),
        ("context_problems_omitted", omitted.into()),
        ("cluster_checks", checks.unwrap_or(Value::Null)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// One context with a problem: its health and its failed checks.
fn problem(context: &str, health: Option<&ClusterHealth>, failed: Option<&[&Row]>) -> Value {
    let checks: Vec<Value> = failed
        .unwrap_or_default()
        .iter()
        .map(|r| json!({"check": r.check, "outcome": r.outcome, "detail": r.detail}))
        .collect();
    json!({"context": context, "health": health, "failed_checks": checks})
}
