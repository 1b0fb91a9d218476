use super::*;
use crate::preflight::Outcome;

const REFUSED: &str =
    "GET https://10.0.0.1:6443/readyz: cannot connect: Connection refused (os error 111)";
const NOT_CHECKED: &str = "not checked: the cluster is not reachable";
const RBAC: &str = "- apiGroups: [\"\"]\n  resources: [\"users\"]\n  verbs: [impersonate]";

fn row(context: &str, check: &str, outcome: Outcome, detail: &str, fix: &str) -> Row {
    Row {
        context: context.into(),
        check: check.into(),
        outcome,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// The rows `check_context` writes for an unreachable cluster.
fn unreachable(context: &str, detail: &str) -> Vec<Row> {
    vec![
        row(
            context,
            "reachable",
            Outcome::Error,
            detail,
            "check the server URL",
        ),
        row(
            context,
            "impersonate users",
            Outcome::Error,
            NOT_CHECKED,
            "",
        ),
        row(
            context,
            "impersonate groups",
            Outcome::Error,
            NOT_CHECKED,
            "",
        ),
    ]
}

fn granted(context: &str) -> Vec<Row> {
    vec![
        row(context, "reachable", Outcome::Ok, "/readyz 200", ""),
        row(context, "impersonate users", Outcome::Ok, "allowed", ""),
        row(context, "impersonate groups", Outcome::Ok, "allowed", ""),
    ]
}

fn refused_users(context: &str) -> Vec<Row> {
    let mut rows = granted(context);
    rows[1] = row(
        context,
        "impersonate users",
        Outcome::Missing,
        "not allowed",
        RBAC,
    );
    rows
}

fn report(rows: impl IntoIterator<Item = Vec<Row>>) -> Report {
    Report {
        checked_at: 1,
        rows: rows.into_iter().flatten().collect(),
    }
}

fn name(i: usize) -> String {
    format!("ctx-{i:05}")
}

fn failing_contexts(lines: &[LogLine]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| match l {
            LogLine::Failing { context, .. } => Some(context.as_str()),
            _ => None,
        })
        .collect()
}

/// 10,000 unreachable clusters: the first round names 20 of them, one line
/// each with the error chain, counts the rest and sums up; the next rounds
/// of the same failures say only the summary.
#[test]
fn ten_thousand_unreachable_clusters_are_a_few_lines_not_a_flood() {
    let mut log = ChangeLog::default();
    let all_down = report((0..10_000).map(|i| unreachable(&name(i), REFUSED)));
    let lines = log.round(&all_down, 10_000);
    assert_eq!(lines.len(), MAX_CONTEXT_LINES + 2, "{lines:#?}");
    assert_eq!(
        failing_contexts(&lines),
        (0..20).map(name).collect::<Vec<_>>()
    );
    assert_eq!(
        lines[0].to_string(),
        format!(
            "cluster checks failed at context \"ctx-00000\": reachable: {REFUSED}; \
             impersonate users, impersonate groups: {NOT_CHECKED}; requests that need them will \
             fail there. Add:\ncheck the server URL"
        )
    );
    assert_eq!(
        lines[20],
        LogLine::More {
            failing: 9_980,
            passing: 0
        }
    );
    assert_eq!(
        lines[21].to_string(),
        "10000 of 10000 contexts fail cluster checks: ctx-00000, ctx-00001, ctx-00002, \
         ctx-00003, ctx-00004 and 9995 more (each on /status?contexts=summary and kubeplex \
         check --clusters)"
    );

    // The same failures again, one with another error text: only the sum.
    let mut again = all_down.clone();
    again.rows[3].detail = "GET https://10.0.0.2:6443/readyz: timed out".into();
    let lines = log.round(&again, 10_000);
    assert!(
        matches!(
            lines[..],
            [LogLine::Summary {
                failing: 10_000,
                total: 10_000,
                ..
            }]
        ),
        "{lines:#?}"
    );
}

/// Each change of a context is one line: passing again, failing other
/// checks (reachable now, an impersonation refused); a new failure of a
/// context beyond the first round's twenty gets its line too.
#[test]
fn each_change_of_a_context_is_one_line() {
    let mut log = ChangeLog::default();
    log.round(&report((0..30).map(|i| unreachable(&name(i), REFUSED))), 31);
    let lines = log.round(
        &report((0..31).map(|i| match i {
            0 => granted(&name(i)),
            1 => refused_users(&name(i)),
            30 => unreachable(&name(i), REFUSED),
            _ => unreachable(&name(i), REFUSED),
        })),
        31,
    );
    assert_eq!(
        lines,
        [
            LogLine::Failing {
                context: name(1),
                failures: "impersonate users: not allowed".into(),
                fix: RBAC.into(),
            },
            LogLine::Failing {
                context: name(30),
                failures: format!(
                    "reachable: {REFUSED}; impersonate users, impersonate groups: {NOT_CHECKED}"
                ),
                fix: "check the server URL".into(),
            },
            LogLine::Passing { context: name(0) },
            LogLine::Summary {
                failing: 30,
                total: 31,
                first: (1..6).map(name).collect(),
            },
        ]
    );
    assert_eq!(
        lines[2].to_string(),
        "cluster checks pass again at context \"ctx-00000\""
    );
}

/// When everything passes again: twenty lines, the rest counted, one "all
/// pass" line; then silence while nothing fails.
#[test]
fn recovery_is_said_once_and_then_nothing() {
    let mut log = ChangeLog::default();
    log.round(&report((0..50).map(|i| unreachable(&name(i), REFUSED))), 50);
    let all_up = report((0..50).map(|i| granted(&name(i))));
    let lines = log.round(&all_up, 50);
    assert_eq!(lines.len(), MAX_CONTEXT_LINES + 2, "{lines:#?}");
    assert!(
        lines[..20]
            .iter()
            .all(|l| matches!(l, LogLine::Passing { .. }))
    );
    assert_eq!(
        lines[20].to_string(),
        "this round also: 30 more contexts pass again (not logged one by one: see \
         /status?contexts=summary)"
    );
    assert_eq!(
        lines[21].to_string(),
        "all 50 contexts pass their cluster checks"
    );
    assert_eq!(log.round(&all_up, 50), []);
    assert_eq!(log.round(&report([]), 0), []);
}
