//! What the preflight tells the log. At 10,000 contexts a round's report
//! has tens of thousands of rows, and a line per failing check is a flood
//! nobody reads. The log gets one line per context whose failures changed
//! (its first failure, other checks failing than before, passing again),
//! at most [`MAX_CONTEXT_LINES`] a round with the rest counted in one
//! line, then after each round with failures one summary line: how many
//! of how many contexts fail, the first few by name. A failure already
//! logged is not logged again while it lasts (its text may vary: an
//! error's port, a timeout instead of a refusal); every row, with its
//! latest detail, stays on `/status`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{Report, Row};

#[cfg(test)]
mod tests;

/// Contexts whose change gets a line of its own in one round.
pub const MAX_CONTEXT_LINES: usize = 20;
/// Failing contexts the summary line names.
pub const SUMMARY_NAMES: usize = 5;

/// What the log was told: each failing context and its failed checks.
#[derive(Debug, Default)]
pub struct ChangeLog {
    failing: BTreeMap<String, BTreeSet<String>>,
}

/// One line for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogLine {
    /// A context's cluster checks fail: for the first time, or other
    /// checks than before (a warning).
    Failing {
        /// The context.
        context: String,
        /// Each failed check and what the cluster said (the error chain);
        /// checks that failed the same way share one entry.
        failures: String,
        /// The RBAC or command that fixes it, each distinct one once;
        /// empty when nothing to add would (the cluster is not reachable).
        fix: String,
    },
    /// A context that failed passes every check again.
    Passing {
        /// The context.
        context: String,
    },
    /// The changes of this round beyond [`MAX_CONTEXT_LINES`], counted.
    More {
        /// Contexts that started failing (or fail differently).
        failing: usize,
        /// Contexts that pass again.
        passing: usize,
    },
    /// After a round with failures, and after the round in which the last
    /// failing context passes again.
    Summary {
        /// Contexts with a failed check.
        failing: usize,
        /// Contexts checked.
        total: usize,
        /// The first failing contexts by name, at most [`SUMMARY_NAMES`].
        first: Vec<String>,
    },
}

impl ChangeLog {
    /// The lines for this round's `report` of `total` contexts; remembers
    /// what they said.
    pub fn round(&mut self, report: &Report, total: usize) -> Vec<LogLine> {
        let mut now: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
        for row in report.problems() {
            now.entry(row.context.as_str()).or_default().push(row);
        }
        let mut lines = Vec::new();
        let mut more = (0, 0);
        let mut changed = Vec::new();
        for (&context, rows) in &now {
            if self
                .failing
                .get(context)
                .is_some_and(|b| same_checks(b, rows))
            {
                continue;
            }
            changed.push(context);
            if lines.len() < MAX_CONTEXT_LINES {
                lines.push(failing_line(context, rows));
            } else {
                more.0 += 1;
            }
        }
        let passing: Vec<String> = (self.failing.keys())
            .filter(|c| !now.contains_key(c.as_str()))
            .cloned()
            .collect();
        for context in &passing {
            if lines.len() < MAX_CONTEXT_LINES {
                lines.push(LogLine::Passing {
                    context: context.clone(),
                });
            } else {
                more.1 += 1;
            }
            self.failing.remove(context);
        }
        if more != (0, 0) {
            let (failing, passing) = more;
            lines.push(LogLine::More { failing, passing });
        }
        for context in changed {
            let checks = now[context].iter().map(|r| r.check.clone()).collect();
            self.failing.insert(context.to_string(), checks);
        }
        if !now.is_empty() || !passing.is_empty() {
            lines.push(LogLine::Summary {
                failing: now.len(),
                total,
                first: now
                    .keys()
                    .take(SUMMARY_NAMES)
                    .map(|c| c.to_string())
                    .collect(),
            });
        }
        lines
    }
}

/// Whether `rows` fail exactly the checks logged `before`.
fn same_checks(before: &BTreeSet<String>, rows: &[&Row]) -> bool {
    let mut now: Vec<&str> = rows.iter().map(|r| r.check.as_str()).collect();
    now.sort_unstable();
    now.dedup();
    before.iter().map(String::as_str).eq(now)
}

/// A context's failed rows as one line: `check, check: detail; ...`.
fn failing_line(context: &str, rows: &[&Row]) -> LogLine {
    let mut by_detail: Vec<(&str, Vec<&str>)> = Vec::new();
    for row in rows {
        match by_detail
            .iter_mut()
            .find(|(detail, _)| *detail == row.detail)
        {
            Some((_, checks)) => checks.push(&row.check),
            None => by_detail.push((&row.detail, vec![&row.check])),
        }
    }
    let failures: Vec<String> = by_detail
        .iter()
        .map(|(detail, checks)| format!("{}: {detail}", checks.join(", ")))
        .collect();
    let mut fixes: Vec<&str> = Vec::new();
    for row in rows.iter().filter(|r| !r.fix.is_empty()) {
        if !fixes.contains(&row.fix.as_str()) {
            fixes.push(&row.fix);
        }
    }
    LogLine::Failing {
        context: context.to_string(),
        failures: failures.join("; "),
        fix: fixes.join("\n"),
    }
}

impl fmt::Display for LogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogLine::Failing {
                context,
                failures,
                fix,
            } => {
                write!(
                    f,
                    "cluster checks failed at context {context:?}: {failures}; requests that need them will fail there"
                )?;
                if !fix.is_empty() {
                    write!(f, ". Add:\n{fix}")?;
                }
                Ok(())
            }
            LogLine::Passing { context } => {
                write!(f, "cluster checks pass again at context {context:?}")
            }
            LogLine::More { failing, passing } => {
                let mut counts = Vec::new();
                if *failing > 0 {
                    counts.push(format!("{failing} more contexts fail cluster checks"));
                }
                if *passing > 0 {
                    counts.push(format!("{passing} more contexts pass again"));
                }
                write!(
                    f,
                    "this round also: {} (not logged one by one: see /status?contexts=summary)",
                    counts.join(", ")
                )
            }
            LogLine::Summary {
                total, failing: 0, ..
            } => {
                write!(f, "all {total} contexts pass their cluster checks")
            }
            LogLine::Summary {
                failing,
                total,
                first,
            } => {
                write!(
                    f,
                    "{failing} of {total} contexts fail cluster checks: {}",
                    first.join(", ")
                )?;
                if *failing > first.len() {
                    write!(f, " and {} more", failing - first.len())?;
                }
                write!(
                    f,
                    " (each on /status?contexts=summary and kubeplex check --clusters)"
                )
            }
        }
    }
}

impl LogLine {
    /// Log it: a failure as a warning, a recovery as information.
    pub fn emit(&self) {
        match self {
            LogLine::Failing { context, .. } => tracing::warn!(context, "{self}"),
            LogLine::Passing { context } => tracing::info!(context, "{self}"),
            LogLine::Summary { failing: 0, .. } => tracing::info!("{self}"),
            LogLine::More { .. } | LogLine::Summary { .. } => tracing::warn!("{self}"),
        }
    }
}
