//! What the control plane knows of each agent cluster: whether its agent
//! is connected (its heartbeat session is open and it reports its reverse
//! tunnel up), since when, its last heartbeat and version. Every change of
//! "connected" is an audit line and republishes the routes, whose 503 for
//! a cluster without a tunnel names when its agent was last seen.
//!
//! Audit lines go to the audit file and stdout as configured and, when the
//! gateway has an audit store, to the store through the same pipeline as
//! Envoy's records (a record with `reason` the event, see
//! [`AgentRegistry::set_audit_pipeline`]).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use kubeplex_filter_core::time::rfc3339;
use kubeplex_proto::audit::v1::AuditRecord;
use rand::RngCore as _;
use tracing::{info, warn};

use crate::audit::pipeline::AuditPipeline;
use crate::audit::time_text::format_unix_ms;
use crate::clock::unix_now;
use crate::inputs::gateway_config::{AuditConfig, StoreConfig};

/// One agent cluster's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct AgentState {
    /// A session is open and the agent reports its tunnel up.
    pub connected: bool,
    /// Unix seconds of the last change of `connected`.
    pub since: Option<i64>,
    /// Unix seconds of the last heartbeat.
    pub last_heartbeat: Option<i64>,
    /// The agent's version, from its heartbeats.
    pub agent_version: String,
    /// Whether the agent's Envoy reports its reverse tunnel established.
    pub tunnel_up: bool,
    /// Where the agent's session comes from (its address, as Envoy saw it).
    pub source: String,
    /// Unix seconds when the agent's current certificate expires.
    pub certificate_expires_at: Option<i64>,
    /// Open sessions (normally 0 or 1; a restarted agent may briefly have 2).
    #[serde(skip)]
    sessions: u32,
}

impl AgentState {
    /// What a request is told while the agent has no tunnel.
    pub fn not_connected_message(&self, name: &str) -> String {
        let seen = self.last_heartbeat.or(self.since);
        match seen {
            Some(t) => format!(
                "cluster \"{name}\" is not connected (agent last seen {})",
                rfc3339(t)
            ),
            None => format!("cluster \"{name}\" is not connected (agent never seen)"),
        }
    }
}

/// A heartbeat: what the agent says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Heartbeat {
    /// The agent's version.
    #[serde(default)]
    pub version: String,
    /// Whether its reverse tunnel is established.
    #[serde(default)]
    pub tunnel: bool,
}

type OnChange = Box<dyn Fn() + Send + Sync>;

/// Every agent cluster's state, by name.
#[derive(Default)]
pub struct AgentRegistry {
    states: Mutex<BTreeMap<String, AgentState>>,
    audit: Mutex<AuditConfig>,
    pipeline: Mutex<Option<Arc<AuditPipeline>>>,
    on_change: Mutex<Option<Arc<OnChange>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection change, for the audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEvent {
    /// The agent is connected (session open, tunnel up).
    Connected,
    /// It no longer is.
    Disconnected,
    /// An agent was refused (unknown cluster, wrong token, bad request).
    Refused,
    /// An agent was issued a certificate.
    CertificateIssued,
}

impl AgentEvent {
    fn as_str(self) -> &'static str {
        match self {
            AgentEvent::Connected => "agent_connected",
            AgentEvent::Disconnected => "agent_disconnected",
            AgentEvent::Refused => "agent_refused",
            AgentEvent::CertificateIssued => "agent_certificate_issued",
        }
    }
}

impl AgentRegistry {
    /// Call `f` (off the async runtime) whenever an agent's "connected"
    /// changes: the control plane republishes the routes.
    pub fn set_on_change(&self, f: impl Fn() + Send + Sync + 'static) {
        *lock(&self.on_change) = Some(Arc::new(Box::new(f)));
    }

    /// Where audit lines go (the gateway config's `audit`).
    pub fn set_audit(&self, audit: AuditConfig) {
        *lock(&self.audit) = audit;
    }

    /// The audit store's pipeline: each audit line also becomes a record
    /// there while the gateway config names a store (`audit.store` not
    /// `none`), like Envoy's records.
    pub fn set_audit_pipeline(&self, pipeline: Arc<AuditPipeline>) {
        *lock(&self.pipeline) = Some(pipeline);
    }

    /// A copy of every known state.
    pub fn states(&self) -> BTreeMap<String, AgentState> {
        lock(&self.states).clone()
    }

    /// The state of one cluster (default: never seen).
    pub fn state(&self, name: &str) -> AgentState {
        lock(&self.states).get(name).cloned().unwrap_or_default()
    }

    /// A session opened.
    pub fn session_opened(&self, name: &str, source: &str) {
        let mut states = lock(&self.states);
        let s = states.entry(name.to_string()).or_default();
        s.sessions += 1;
        s.source = source.to_string();
    }

    /// A heartbeat arrived on an open session.
    pub fn heartbeat(&self, name: &str, beat: &Heartbeat) {
        let changed = {
            let mut states = lock(&self.states);
            let s = states.entry(name.to_string()).or_default();
            s.last_heartbeat = Some(unix_now());
            s.agent_version = beat.version.clone();
            s.tunnel_up = beat.tunnel;
            Self::settle(s)
        };
        self.after(name, changed);
    }

    /// A session ended (the agent went away, or stopped beating).
    pub fn session_closed(&self, name: &str) {
        let changed = {
            let mut states = lock(&self.states);
            let s = states.entry(name.to_string()).or_default();
            s.sessions = s.sessions.saturating_sub(1);
            if s.sessions == 0 {
                s.tunnel_up = false;
            }
            Self::settle(s)
        };
        self.after(name, changed);
    }

    /// A certificate was issued to the agent.
    pub fn certificate_issued(&self, name: &str, expires_at: i64, source: &str) {
        lock(&self.states)
            .entry(name.to_string())
            .or_default()
            .certificate_expires_at = Some(expires_at);
        self.audit(AgentEvent::CertificateIssued, name, source, "");
    }

    /// An agent was refused: logged loudly and audited.
    pub fn refused(&self, name: &str, source: &str, reason: &str) {
        warn!(cluster = name, source, reason, "agent refused");
        self.audit(AgentEvent::Refused, name, source, reason);
    }

    /// Recompute `connected`; the new value when it changed.
    fn settle(s: &mut AgentState) -> Option<bool> {
        let connected = s.sessions > 0 && s.tunnel_up;
        if connected == s.connected {
            return None;
        }
        s.connected = connected;
        s.since = Some(unix_now());
        Some(connected)
    }

    fn after(&self, name: &str, changed: Option<bool>) {
        let Some(connected) = changed else {
            return;
        };
        let state = self.state(name);
        let event = if connected {
            info!(
                cluster = name,
                version = state.agent_version,
                source = state.source,
                "agent connected"
            );
            AgentEvent::Connected
        } else {
            info!(cluster = name, "agent disconnected");
            AgentEvent::Disconnected
        };
        self.audit(event, name, &state.source, "");
        let on_change = lock(&self.on_change).clone();
        if let Some(f) = on_change {
            tokio::task::spawn_blocking(move || f());
        }
    }

    /// One JSON line to the audit destinations. Appends are single writes
    /// with O_APPEND, so they never split Envoy's lines in the same file.
    fn audit(&self, event: AgentEvent, name: &str, source: &str, reason: &str) {
        let state = self.state(name);
        let line = serde_json::json!({
            "time": rfc3339(unix_now()),
            "event": event.as_str(),
            "cluster": name,
            "source": source,
            "agent_version": state.agent_version,
            "reason": reason,
        })
        .to_string()
            + "\n";
        let audit = lock(&self.audit).clone();
        if let Some(path) = &audit.path {
            append(path, &line);
        }
        if audit.stdout {
            print!("{line}");
        }
        let pipeline = lock(&self.pipeline).clone();
        if let Some(pipeline) = pipeline.filter(|_| audit.store != StoreConfig::Disabled) {
            pipeline.submit(agent_record(event, name, source, reason, &state));
        }
    }
}

/// An agent event as an audit store record: `reason` the event
/// (`agent_connected`, ...), `decision` deny for a refusal, `message` why,
/// `user_agent` the agent's version; `kubeplex audit --cluster X` lists
/// them with the requests.
fn agent_record(
    event: AgentEvent,
    name: &str,
    source: &str,
    reason: &str,
    state: &AgentState,
) -> AuditRecord {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    AuditRecord {
        // The store's key: unique, and never an Envoy request id.
        request_id: format!(
            "{}-{now_ms}-{:016x}",
            event.as_str(),
            rand::thread_rng().next_u64()
        ),
        time: format_unix_ms(now_ms),
        cluster: name.to_string(),
        source: source.to_string(),
        decision: if event == AgentEvent::Refused {
            "deny"
        } else {
            "allow"
        }
        .to_string(),
        reason: event.as_str().to_string(),
        message: reason.to_string(),
        user_agent: if state.agent_version.is_empty() {
            String::new()
        } else {
            format!("kubeplex-agent/{}", state.agent_version)
        },
        ..Default::default()
    }
}

fn append(path: &PathBuf, line: &str) {
    let result = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = result {
        warn!(path = %path.display(), "cannot append to the audit log: {e}");
    }
}

#[cfg(test)]
mod tests;
