//! The two views of `/status`. `contexts=all` (the default, what scripts
//! have always read) lists every context with its health and its cluster
//! check rows: megabytes at 10,000 contexts. `contexts=summary` is what an
//! operator polling every few seconds needs, its size bounded by the
//! problems shown and not by the number of contexts: how many contexts are
//! in each state, and the contexts with a problem (at most
//! [`MAX_PROBLEMS`], by name).

use std::collections::BTreeMap;

use kubeplex_proto::admin::v1 as admin;
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

/// The contexts counted by state and the first [`MAX_PROBLEMS`] with a
/// problem, borrowed from the kubeconfig, the health map and the report:
/// nothing is built per context but what is named.
#[derive(Debug, Default)]
pub struct ContextSummary<'a> {
    /// How many contexts are in each state.
    pub counts: ContextCounts,
    /// The contexts with a problem, by name, at most [`MAX_PROBLEMS`].
    pub problems: Vec<ContextProblem<'a>>,
    /// The contexts with a problem left out of `problems`.
    pub omitted: usize,
}

/// How many contexts are in each state.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ContextCounts {
    /// Every context of the last good kubeconfig.
    pub total: usize,
    /// The last health check passed.
    pub healthy: usize,
    /// The last health check failed.
    pub unhealthy: usize,
    /// Not health-checked yet (or health checks are off).
    pub health_unknown: usize,
    /// At least one cluster check is missing or failed.
    pub checks_failed: usize,
    /// Unhealthy or a cluster check failed.
    pub with_problems: usize,
}

/// One context with a problem: its health and its failed checks.
#[derive(Debug)]
pub struct ContextProblem<'a> {
    /// The context.
    pub context: &'a str,
    /// Its latest health, if it was checked.
    pub health: Option<&'a ClusterHealth>,
    /// Its cluster checks that are missing or failed, in report order.
    pub failed_checks: &'a [&'a Row],
}

/// Count `contexts` by state (a context is a problem when its last health
/// check failed or a cluster check is missing or failed) and keep the
/// first [`MAX_PROBLEMS`] problems by name. `failed` must be
/// [`failed_rows`] of the report.
pub fn summarize<'a, 'c: 'a, 'h: 'a, 'r: 'a>(
    contexts: impl IntoIterator<Item = &'c str>,
    health: &'h BTreeMap<String, ClusterHealth>,
    failed: &'a [&'r Row],
) -> ContextSummary<'a> {
    let mut contexts: Vec<&'c str> = contexts.into_iter().collect();
    if !contexts.is_sorted() {
        contexts.sort_unstable();
    }
    let mut summary = ContextSummary::default();
    let mut rest = failed;
    for context in contexts {
        // Both sorted by context: the rows of contexts no longer in the
        // kubeconfig are skipped, this context's are next.
        rest = &rest[rest.partition_point(|r| r.context.as_str() < context)..];
        let (own, after) = rest.split_at(rest.partition_point(|r| r.context == context));
        rest = after;
        let h = health.get(context);
        let c = &mut summary.counts;
        c.total += 1;
        match h.map(|h| h.healthy) {
            Some(true) => c.healthy += 1,
            Some(false) => c.unhealthy += 1,
            None => c.health_unknown += 1,
        }
        c.checks_failed += !own.is_empty() as usize;
        if h.is_some_and(|h| !h.healthy) || !own.is_empty() {
            c.with_problems += 1;
            if summary.problems.len() < MAX_PROBLEMS {
                summary.problems.push(ContextProblem {
                    context,
                    health: h,
                    failed_checks: own,
                });
            } else {
                summary.omitted += 1;
            }
        }
    }
    summary
}

/// The report's missing and failed rows, sorted by context (a report is
/// in context order already; then this only collects).
pub fn failed_rows(report: Option<&Report>) -> Vec<&Row> {
    let mut failed: Vec<&Row> = report.iter().flat_map(|r| r.problems()).collect();
    if !failed.is_sorted_by_key(|r| r.context.as_str()) {
        failed.sort_by(|a, b| a.context.cmp(&b.context));
    }
    failed
}

/// The summary's members about contexts: `context_counts`,
/// `context_problems` (the checks' RBAC fixes are left to the full view
/// and `kubeplex check --clusters`), `context_problems_omitted`, and
/// `cluster_checks` reduced to its counts.
pub fn context_summary<'c>(
    contexts: impl IntoIterator<Item = &'c str>,
    health: &BTreeMap<String, ClusterHealth>,
    checks: Option<&Report>,
) -> serde_json::Map<String, Value> {
    let failed = failed_rows(checks);
    let summary = summarize(contexts, health, &failed);
    let c = summary.counts;
    let counts = json!({
        "total": c.total,
        "healthy": c.healthy,
        "unhealthy": c.unhealthy,
        "health_unknown": c.health_unknown,
        "checks_failed": c.checks_failed,
        "with_problems": c.with_problems,
    });
    let problems = summary.problems.iter().map(problem).collect();
    let checks = checks.map(|r| {
        json!({
            "checked_at": r.checked_at,
            "rows": r.rows.len(),
            "failed": failed.len(),
        })
    });
    [
        ("context_counts", counts),
        ("context_problems", Value::Array(problems)),
        ("context_problems_omitted", summary.omitted.into()),
        ("cluster_checks", checks.unwrap_or(Value::Null)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// One context with a problem: its health and its failed checks.
fn problem(p: &ContextProblem<'_>) -> Value {
    let checks: Vec<Value> = p
        .failed_checks
        .iter()
        .map(|r| json!({"check": r.check, "outcome": r.outcome, "detail": r.detail}))
        .collect();
    json!({"context": p.context, "health": p.health, "failed_checks": checks})
}

/// The summary as gRPC `GetStatus` carries it: the same counts and
/// problems as the JSON of [`context_summary`].
pub fn summary_message(
    summary: &ContextSummary<'_>,
    checks: Option<&Report>,
) -> admin::ContextSummary {
    let c = summary.counts;
    let problems = summary
        .problems
        .iter()
        .map(|p| admin::ContextProblem {
            context: p.context.to_string(),
            health: p.health.map(|h| admin::ContextHealth {
                healthy: h.healthy,
                since: h.since,
                last_check: h.last_check,
                detail: h.detail.clone(),
            }),
            failed_checks: p
                .failed_checks
                .iter()
                .map(|r| admin::FailedCheck {
                    check: r.check.clone(),
                    outcome: r.outcome.name().to_string(),
                    detail: r.detail.clone(),
                })
                .collect(),
        })
        .collect();
    admin::ContextSummary {
        total: c.total as u64,
        healthy: c.healthy as u64,
        unhealthy: c.unhealthy as u64,
        health_unknown: c.health_unknown as u64,
        checks_failed: c.checks_failed as u64,
        with_problems: c.with_problems as u64,
        problems,
        problems_omitted: summary.omitted as u64,
        checks_checked_at: checks.map_or(0, |r| r.checked_at),
    }
}
