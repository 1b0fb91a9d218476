//! The live preflight (`kubeplex check --clusters`, `/status`, a metric,
//! and a log line per change: [`ChangeLog`]): for every context, connect as the
//! gateway does and ask the cluster itself whether the gateway may do what
//! the configuration will ask of it — reach `/readyz`, impersonate users,
//! groups, uids, ServiceAccounts and each extra key it forwards, and read
//! the ServiceAccount issuer keys a `cluster:` issuer needs.
//!
//! The access questions are `SelfSubjectAccessReview`s, answered by the
//! cluster's own authorizer: a rule like `userextras/*` (which real RBAC
//! reads literally) shows up as missing here, before a user meets a 403.
//! What to ask ([`requirements`]) is a pure function of the inputs;
//! asking ([`run`]) is the only I/O.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use tokio::sync::watch;

use crate::cluster_http::{self, Credentials};
use crate::error_chain::error_chain;
use crate::inputs::LastGood;
use crate::inputs::gateway_config::GatewayConfig;
use crate::inputs::kubeconfig::{ClusterTarget, LoadedKubeconfig};
use crate::snapshot::Snapshot;

mod change_log;
#[cfg(test)]
mod tests;

pub use change_log::{ChangeLog, LogLine};

/// Extra keys a cluster's ServiceAccount tokens carry, which the gateway
/// forwards for `cluster:` issuers (k8s.io/kubernetes pkg/serviceaccount).
pub const SERVICE_ACCOUNT_EXTRA_KEYS: [&str; 5] = [
    "authentication.kubernetes.io/credential-id",
    "authentication.kubernetes.io/node-name",
    "authentication.kubernetes.io/node-uid",
    "authentication.kubernetes.io/pod-name",
    "authentication.kubernetes.io/pod-uid",
];

/// Contexts checked at once.
const CONCURRENCY: usize = 16;
/// How often the control plane asks again when nothing changed (RBAC is
/// edited on the clusters, not here).
pub const RECHECK: Duration = Duration::from_secs(300);

/// One thing the configuration needs from a cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Requirement {
    /// `GET /readyz` answers 200 over verified TLS with the gateway's credentials.
    Reachable,
    /// `impersonate` on `<group>/<resource>[/<subresource>]` for any name.
    Impersonate {
        /// `""` or `authentication.k8s.io`.
        group: &'static str,
        /// `users`, `groups`, `serviceaccounts`, `uids`, `userextras`.
        resource: &'static str,
        /// The extra key, for `userextras`.
        subresource: String,
    },
    /// The cluster's ServiceAccount issuer keys, for this issuer.
    IssuerKeys {
        /// The issuer URL that names this context.
        issuer: String,
    },
}

impl Requirement {
    /// The check's name in the table and the metric.
    pub fn name(&self) -> String {
        match self {
            Requirement::Reachable => "reachable".into(),
            Requirement::Impersonate {
                resource,
                subresource,
                ..
            } if subresource.is_empty() => format!("impersonate {resource}"),
            Requirement::Impersonate {
                resource,
                subresource,
                ..
            } => format!("impersonate {resource}/{subresource}"),
            Requirement::IssuerKeys { .. } => "read issuer keys".into(),
        }
    }

    /// The RBAC that grants it, for a user to add (YAML).
    pub fn fix(&self, gateway_user: &str) -> String {
        match self {
            Requirement::Reachable => {
                "check the server URL, CA and credentials in the kubeconfig".into()
            }
            Requirement::Impersonate {
                group,
                resource,
                subresource,
            } => {
                let resource = if subresource.is_empty() {
                    resource.to_string()
                } else {
                    format!("{resource}/{subresource}")
                };
                format!(
                    "- apiGroups: [{group:?}]\n  resources: [{resource:?}]\n  verbs: [impersonate]"
                )
            }
            Requirement::IssuerKeys { .. } => format!(
                "kubectl create clusterrolebinding kubeplex-issuer-discovery \
                 --clusterrole=system:service-account-issuer-discovery --user={gateway_user}"
            ),
        }
    }
}

/// Per context, what it must allow.
pub type Wanted = Vec<(String, Vec<Requirement>)>;

/// What each context must allow, from the clusters and the gateway config:
/// users and groups always; uids when an issuer maps one; ServiceAccounts,
/// uids and the ServiceAccount extras when a `cluster:` issuer exists; each
/// mapped extra key; issuer keys on each `cluster:` issuer's own context.
pub fn requirements(clusters: &[ClusterTarget], gateway: &GatewayConfig) -> Wanted {
    let needs = Needs::of(gateway);
    clusters
        .iter()
        .map(|c| (c.context.clone(), needs.of_context(&c.context)))
        .collect()
}

/// What the gateway config asks of the clusters, before it is spelt out
/// per context: the same for every context but a `cluster:` issuer's own,
/// so neither the preflight nor its change detection holds a list per
/// context (10,000 of them).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Needs {
    /// What every context must allow.
    common: Vec<Requirement>,
    /// Each `cluster:` issuer: its context and its URL.
    cluster_issuers: Vec<(String, String)>,
}

impl Needs {
    fn of(gateway: &GatewayConfig) -> Needs {
        let impersonate = |group, resource, subresource: &str| Requirement::Impersonate {
            group,
            resource,
            subresource: subresource.to_string(),
        };
        let cluster_issuers: Vec<(String, String)> = gateway
            .issuers
            .iter()
            .filter_map(|i| Some((i.keys.cluster()?.to_string(), i.url.clone())))
            .collect();
        let service_accounts = !cluster_issuers.is_empty();
        let mut common = vec![
            Requirement::Reachable,
            impersonate("", "users", ""),
            impersonate("", "groups", ""),
        ];
        if service_accounts {
            common.push(impersonate("", "serviceaccounts", ""));
        }
        let uids = service_accounts
            || gateway
                .issuers
                .iter()
                .any(|i| i.keys.cluster().is_none() && i.claim_mappings.uid_claim.is_some());
        if uids {
            common.push(impersonate("authentication.k8s.io", "uids", ""));
        }
        let mut extra_keys: BTreeSet<&str> = gateway
            .issuers
            .iter()
            .filter(|i| i.keys.cluster().is_none())
            .flat_map(|i| i.claim_mappings.extra.iter().map(|(k, _)| k.as_str()))
            .collect();
        if service_accounts {
            extra_keys.extend(SERVICE_ACCOUNT_EXTRA_KEYS);
        }
        for key in extra_keys {
            common.push(impersonate("authentication.k8s.io", "userextras", key));
        }
        Needs {
            common,
            cluster_issuers,
        }
    }

    /// What `context` must allow.
    fn of_context(&self, context: &str) -> Vec<Requirement> {
        let mut reqs = self.common.clone();
        for (issuer_context, issuer) in &self.cluster_issuers {
            if issuer_context == context {
                reqs.push(Requirement::IssuerKeys {
                    issuer: issuer.clone(),
                });
            }
        }
        reqs
    }
}

/// How one check came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Granted / reachable.
    Ok,
    /// The cluster says no: the configuration will fail there.
    Missing,
    /// Could not be checked (unreachable, an error answer).
    Error,
    /// Works, with a caveat (e.g. TLS not verified).
    Warning,
}

impl Outcome {
    /// The outcome as `/status` and the admin API name it.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Missing => "missing",
            Outcome::Error => "error",
            Outcome::Warning => "warning",
        }
    }
}

/// One row of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The context.
    pub context: String,
    /// [`Requirement::name`].
    pub check: String,
    /// The result.
    pub outcome: Outcome,
    /// What the cluster said, briefly.
    pub detail: String,
    /// What to add when not ok (RBAC YAML or a command).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub fix: String,
}

/// Every row, and who the gateway is at each cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Unix seconds.
    pub checked_at: i64,
    /// In context order, then requirement order.
    pub rows: Vec<Row>,
}

impl Report {
    /// True when nothing is missing or failed (warnings pass).
    pub fn ok(&self) -> bool {
        self.rows
            .iter()
            .all(|r| matches!(r.outcome, Outcome::Ok | Outcome::Warning))
    }

    /// The rows that need a person.
    pub fn problems(&self) -> impl Iterator<Item = &Row> {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Missing | Outcome::Error))
    }

    /// A fixed-width table, then the RBAC to add per context.
    pub fn render(&self) -> String {
        let width = |f: fn(&Row) -> &str, title: &str| {
            self.rows
                .iter()
                .map(|r| f(r).len())
                .chain([title.len()])
                .max()
                .unwrap_or(0)
        };
        let (wc, wk) = (
            width(|r| &r.context, "CONTEXT"),
            width(|r| &r.check, "CHECK"),
        );
        let mut out = format!(
            "{:wc$}  {:wk$}  {:8} DETAIL\n",
            "CONTEXT", "CHECK", "RESULT"
        );
        for r in &self.rows {
            let result = match r.outcome {
                Outcome::Ok => "ok",
                Outcome::Missing => "MISSING",
                Outcome::Error => "ERROR",
                Outcome::Warning => "warning",
            };
            let _ = writeln!(
                out,
                "{:wc$}  {:wk$}  {result:8} {}",
                r.context, r.check, r.detail
            );
        }
        let mut context = "";
        for r in self.problems().filter(|r| !r.fix.is_empty()) {
            if r.context != context {
                context = &r.context;
                let _ = writeln!(out, "\nTo fix {context}:");
            }
            let _ = writeln!(out, "{}", r.fix);
        }
        out
    }
}

/// Ask every cluster, [`CONCURRENCY`] contexts at a time.
pub async fn run(clusters: &[ClusterTarget], gateway: &GatewayConfig) -> Report {
    run_needs(clusters, &Needs::of(gateway)).await
}

/// [`run`], each context's requirements spelt out only while it is asked.
async fn run_needs(clusters: &[ClusterTarget], needs: &Needs) -> Report {
    // By index: a closure over `&ClusterTarget` makes the spawned
    // preflight's future not provably `Send` (rust-lang/rust#64552).
    let per_context = futures::stream::iter((0..clusters.len()).map(|i| async move {
        let target = &clusters[i];
        check_context(target, &needs.of_context(&target.context)).await
    }))
    .buffered(CONCURRENCY)
    .collect::<Vec<_>>()
    .await;
    Report {
        checked_at: crate::clock::unix_now(),
        rows: per_context.into_iter().flatten().collect(),
    }
}

/// The latest report of the control plane's preflight, for `/status` and
/// `/metrics`.
#[derive(Debug, Default)]
pub struct ClusterChecks {
    latest: Mutex<Option<Arc<Report>>>,
}

impl ClusterChecks {
    /// The latest report; None before the first one.
    pub fn latest(&self) -> Option<Arc<Report>> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replace the latest report (the preflight's; a measurement's own).
    pub fn set(&self, report: Report) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(report));
    }
}

/// The control plane's preflight: at start, whenever the clusters or the
/// issuers change, and every [`RECHECK`]. The report goes to `checks`
/// (`/status` and `/metrics`); the log gets what changed ([`ChangeLog`]).
/// `snapshots` says when the configuration changed, `inputs` what it was
/// made from.
pub fn spawn(
    mut snapshots: watch::Receiver<Arc<Snapshot>>,
    inputs: watch::Receiver<Option<LastGood>>,
    checks: Arc<ClusterChecks>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // What the last run checked: the loaded kubeconfig itself (shared
        // with the control plane's last good inputs, not a copy of its
        // targets) and what the gateway config asked.
        let mut checked: Option<(Arc<LoadedKubeconfig>, Needs)> = None;
        let mut log = ChangeLog::default();
        let mut due = true;
        loop {
            let last_good = inputs.borrow().clone();
            if let Some(LastGood {
                kubeconfig,
                gateway,
            }) = last_good
            {
                let needs = Needs::of(&gateway);
                let same = checked.as_ref().is_some_and(|(before, before_needs)| {
                    *before_needs == needs
                        && (Arc::ptr_eq(before, &kubeconfig)
                            || before.clusters == kubeconfig.clusters)
                });
                if due || !same {
                    // The previous kubeconfig goes now, not after the run.
                    let (kubeconfig, needs) = checked.insert((kubeconfig, needs));
                    let report = run_needs(&kubeconfig.clusters, needs).await;
                    for line in log.round(&report, kubeconfig.clusters.len()) {
                        line.emit();
                    }
                    checks.set(report);
                }
            }
            tokio::select! {
                changed = snapshots.changed() => {
                    if changed.is_err() { return; }
                    due = false;
                }
                () = tokio::time::sleep(RECHECK) => due = true,
            }
        }
    })
}

/// One context: reachability first (nothing else can be asked without it).
async fn check_context(target: &ClusterTarget, reqs: &[Requirement]) -> Vec<Row> {
    let creds = Credentials::for_cluster(target);
    let base = cluster_http::base_url(target);
    let row = |req: &Requirement, outcome, detail: String, fix: String| Row {
        context: target.context.clone(),
        check: req.name(),
        outcome,
        detail,
        fix,
    };
    let reachable = reachable(&base, &creds).await;
    let mut rows = Vec::with_capacity(reqs.len());
    let gateway_user = match &reachable {
        Ok(_) => who_am_i(&base, &creds).await,
        Err(_) => None,
    };
    let user = gateway_user.as_deref().unwrap_or("<the gateway's user>");
    for req in reqs {
        let (outcome, detail) = match (req, &reachable) {
            (Requirement::Reachable, Ok(())) if target.insecure_skip_tls_verify => (
                Outcome::Warning,
                "reachable, but insecure-skip-tls-verify: the server is not verified".into(),
            ),
            (Requirement::Reachable, Ok(())) => (
                Outcome::Ok,
                format!("/readyz 200, the gateway is {user:?} here"),
            ),
            (Requirement::Reachable, Err(e)) => (Outcome::Error, e.clone()),
            (_, Err(_)) => (
                Outcome::Error,
                "not checked: the cluster is not reachable".into(),
            ),
            (Requirement::Impersonate { .. }, Ok(())) => may_impersonate(&base, &creds, req).await,
            (Requirement::IssuerKeys { issuer }, Ok(())) => {
                issuer_keys(&base, &creds, issuer).await
            }
        };
        // a fix only where this row is the cause
        let fix = match (&outcome, &reachable, req) {
            (Outcome::Missing | Outcome::Error, Err(_), Requirement::Reachable)
            | (Outcome::Missing | Outcome::Error, Ok(()), _) => req.fix(user),
            _ => String::new(),
        };
        rows.push(row(req, outcome, detail, fix));
    }
    rows
}

/// `GET <base>/readyz` answers 200 with these credentials.
pub(crate) async fn reachable(base: &str, creds: &Credentials) -> Result<(), String> {
    match cluster_http::get(&format!("{base}/readyz"), "text/plain", creds).await {
        Ok(r) if r.status == 200 => Ok(()),
        Ok(r) => Err(format!(
            "/readyz answered HTTP {}: {}",
            r.status,
            short(&r.body)
        )),
        Err(e) => Err(error_chain(&e)),
    }
}

/// The gateway's username at the cluster (`SelfSubjectReview`), if the
/// cluster answers it.
async fn who_am_i(base: &str, creds: &Credentials) -> Option<String> {
    let body = br#"{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}"#;
    let url = format!("{base}/apis/authentication.k8s.io/v1/selfsubjectreviews");
    let reply = cluster_http::post_json(&url, body, creds).await.ok()?;
    let v: serde_json::Value = serde_json::from_slice(&reply.body).ok()?;
    v["status"]["userInfo"]["username"]
        .as_str()
        .map(String::from)
}

/// One `SelfSubjectAccessReview` for `impersonate`.
async fn may_impersonate(base: &str, creds: &Credentials, req: &Requirement) -> (Outcome, String) {
    let Requirement::Impersonate {
        group,
        resource,
        subresource,
    } = req
    else {
        return (Outcome::Error, "not an impersonation check".into());
    };
    let review = serde_json::json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {
            "verb": "impersonate",
            "group": group,
            "resource": resource,
            "subresource": subresource,
        }},
    });
    let url = format!("{base}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    let reply = match cluster_http::post_json(&url, review.to_string().as_bytes(), creds).await {
        Ok(r) => r,
        Err(e) => return (Outcome::Error, error_chain(&e)),
    };
    if reply.status != 201 && reply.status != 200 {
        return (
            Outcome::Error,
            format!(
                "SelfSubjectAccessReview answered HTTP {}: {}",
                reply.status,
                short(&reply.body)
            ),
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    if v["status"]["allowed"] == true {
        (Outcome::Ok, "allowed".into())
    } else {
        let why = v["status"]["reason"].as_str().unwrap_or_default();
        let detail = if why.is_empty() {
            "not allowed".to_string()
        } else {
            format!("not allowed: {why}")
        };
        (Outcome::Missing, detail)
    }
}

/// The issuer's discovery document and JWKS, as the key fetcher reads them.
async fn issuer_keys(base: &str, creds: &Credentials, issuer: &str) -> (Outcome, String) {
    for path in ["/.well-known/openid-configuration", "/openid/v1/jwks"] {
        match cluster_http::get(&format!("{base}{path}"), "application/json", creds).await {
            Ok(r) if r.status == 200 => {}
            Ok(r) if r.status == 401 || r.status == 403 => {
                return (
                    Outcome::Missing,
                    format!("{path} answered HTTP {} (issuer {issuer})", r.status),
                );
            }
            Ok(r) => return (Outcome::Error, format!("{path} answered HTTP {}", r.status)),
            Err(e) => return (Outcome::Error, error_chain(&e)),
        }
    }
    (Outcome::Ok, format!("keys readable (issuer {issuer})"))
}

/// The start of a body, on one line.
fn short(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    line.chars().take(160).collect()
}
