//! `kubeplex audit` and `kubeplex audit sessions`: the audit store, read
//! through the control plane's admin API (no database credentials here).

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use kubeplex::audit::time_text;
use kubeplex::inputs::gateway_config::parse_duration;
use kubeplex_proto::admin::v1::{AuditQuery, AuditSession};
use kubeplex_proto::audit::v1::AuditRecord;

use crate::{DEFAULT_ADMIN_ADDR, parse_addr};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: Option<AuditCommand>,
    #[command(flatten)]
    pub query: QueryArgs,
    /// Keep printing new records as they are stored (Ctrl-C ends).
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum AuditCommand {
    /// One line per kubectl invocation (Kubectl-Session): user, cluster,
    /// command, requests, denied, first and last time.
    Sessions(QueryArgs),
}

/// Which records, how many, how to print them, where to ask.
#[derive(clap::Args, Debug)]
pub struct QueryArgs {
    /// Only this user (as the gateway saw them, prefix included).
    #[arg(long)]
    pub user: Option<String>,
    /// Only this cluster (kubeconfig context).
    #[arg(long)]
    pub cluster: Option<String>,
    /// Only this verb (get, list, watch, create, delete, ...).
    #[arg(long)]
    pub verb: Option<String>,
    /// Only this resource: `secrets`, or with a subresource: `pods/exec`.
    #[arg(long)]
    pub resource: Option<String>,
    /// Only `allow` or `deny`.
    #[arg(long, value_parser = ["allow", "deny"])]
    pub decision: Option<String>,
    /// Only records this recent (90s, 30m, 1h, 7d) or since this time
    /// (2026-05-20T10:00:00.000Z).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<i64>,
    /// Only this kubectl command (`exec`, `kubectl create`: its subcommands too).
    #[arg(long)]
    pub command: Option<String>,
    /// Only this kubectl invocation (Kubectl-Session).
    #[arg(long)]
    pub session: Option<String>,
    /// At most this many, the newest (default 100, at most 10000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// table, json (one array) or jsonl (one record per line).
    #[arg(long, short = 'o', default_value = "table", value_parser = ["table", "json", "jsonl"])]
    pub output: String,
    #[arg(long, default_value = DEFAULT_ADMIN_ADDR, value_parser = parse_addr)]
    pub admin_addr: SocketAddr,
    #[command(flatten)]
    pub auth: super::admin_client::AdminAuthArgs,
}

/// `--since`: a duration back from now, or a time in the store's form;
/// unix milliseconds.
fn parse_since(text: &str) -> Result<i64, String> {
    if let Some(ms) = time_text::parse_unix_ms(text) {
        return Ok(ms);
    }
    let back = parse_duration(text)?;
    Ok(now_ms() - back.as_millis() as i64)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl QueryArgs {
    fn query(&self) -> AuditQuery {
        let text = |v: &Option<String>| v.clone().unwrap_or_default();
        AuditQuery {
            user: text(&self.user),
            cluster: text(&self.cluster),
            verb: text(&self.verb),
            resource: text(&self.resource),
            decision: text(&self.decision),
            since_unix_ms: self.since.unwrap_or(0),
            kubectl_command: text(&self.command),
            kubectl_session: text(&self.session),
            after_seq: 0,
            limit: self.limit,
        }
    }

    async fn client(&self) -> anyhow::Result<super::admin_client::Admin> {
        Ok(super::admin_client::connect(self.admin_addr, &self.auth).await?)
    }
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        Some(AuditCommand::Sessions(query)) => sessions(query).await,
        None => records(args.query, args.follow).await,
    }
}

/// How often `--follow` asks for new records.
const FOLLOW_INTERVAL: Duration = Duration::from_secs(1);

async fn records(args: QueryArgs, follow: bool) -> anyhow::Result<()> {
    let mut client = args.client().await?;
    let mut query = args.query();
    let mut out = Printer::new(&args.output, follow);
    loop {
        let found = client
            .query_audit(query.clone())
            .await
            .map_err(|s| anyhow::anyhow!("{}", s.message()))?
            .into_inner();
        out.records(&found.records)?;
        if !follow {
            return out.finish();
        }
        query.after_seq = found.last_seq;
        query.limit = 10_000;
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_INTERVAL) => {},
            _ = super::shutdown_signal() => return Ok(()),
        }
    }
}

async fn sessions(args: QueryArgs) -> anyhow::Result<()> {
    let mut client = args.client().await?;
    let sessions = client
        .audit_sessions(args.query())
        .await
        .map_err(|s| anyhow::anyhow!("{}", s.message()))?
        .into_inner()
        .sessions;
    let mut stdout = std::io::stdout().lock();
    match args.output.as_str() {
        "json" => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&sessions.iter().map(session_json).collect::<Vec<_>>())?
        )?,
        "jsonl" => {
            for s in &sessions {
                writeln!(stdout, "{}", session_json(s))?;
            }
        }
        _ => {
            let rows: Vec<Vec<String>> = sessions
                .iter()
                .map(|s| {
                    vec![
                        s.last_time.clone(),
                        s.user.clone(),
                        s.cluster.clone(),
                        s.kubectl_command.clone(),
                        s.requests.to_string(),
                        s.denied.to_string(),
                        s.first_time.clone(),
                        s.kubectl_session.clone(),
                    ]
                })
                .collect();
            let header = [
                "LAST", "USER", "CLUSTER", "COMMAND", "REQUESTS", "DENIED", "FIRST", "SESSION",
            ];
            write_table(&mut stdout, &header, &rows)?;
        }
    }
    Ok(())
}

fn session_json(s: &AuditSession) -> serde_json::Value {
    serde_json::json!({
        "kubectl_session": s.kubectl_session, "user": s.user, "cluster": s.cluster,
        "kubectl_command": s.kubectl_command, "requests": s.requests, "denied": s.denied,
        "first_time": s.first_time, "last_time": s.last_time,
    })
}

/// Prints records as they come.
struct Printer {
    format: String,
    follow: bool,
    /// `-o json` without `--follow`: one array at the end.
    all: Vec<serde_json::Value>,
    header_printed: bool,
}

const RECORD_HEADER: [&str; 10] = [
    "TIME",
    "USER",
    "CLUSTER",
    "COMMAND",
    "VERB",
    "RESOURCE",
    "NAMESPACE/NAME",
    "DECISION",
    "REASON",
    "CODE",
];

impl Printer {
    fn new(format: &str, follow: bool) -> Printer {
        Printer {
            format: format.to_string(),
            follow,
            all: Vec::new(),
            header_printed: false,
        }
    }

    fn records(&mut self, records: &[AuditRecord]) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        match self.format.as_str() {
            "json" if !self.follow => {
                self.all.extend(
                    records
                        .iter()
                        .map(|r| serde_json::to_value(r).unwrap_or_default()),
                );
            }
            "json" | "jsonl" => {
                for r in records {
                    writeln!(stdout, "{}", r.to_line())?;
                }
            }
            _ => {
                let rows: Vec<Vec<String>> = records.iter().map(record_row).collect();
                if self.follow {
                    // widths cannot be known ahead: tab-separated
                    if !self.header_printed {
                        writeln!(stdout, "{}", RECORD_HEADER.join("\t"))?;
                        self.header_printed = true;
                    }
                    for row in rows {
                        writeln!(stdout, "{}", row.join("\t"))?;
                    }
                } else {
                    write_table(&mut stdout, &RECORD_HEADER, &rows)?;
                }
            }
        }
        stdout.flush()?;
        Ok(())
    }

    fn finish(self) -> anyhow::Result<()> {
        if self.format == "json" && !self.follow {
            println!("{}", serde_json::to_string_pretty(&self.all)?);
        }
        Ok(())
    }
}

/// One record as a table row.
fn record_row(r: &AuditRecord) -> Vec<String> {
    let resource = match (r.resource.as_str(), r.subresource.as_str()) {
        ("", _) => r.path.clone(),
        (res, "") => res.to_string(),
        (res, sub) => format!("{res}/{sub}"),
    };
    let object = match (r.namespace.as_str(), r.name.as_str()) {
        ("", name) => name.to_string(),
        (ns, name) => format!("{ns}/{name}"),
    };
    vec![
        r.time.clone(),
        r.user.clone(),
        r.cluster.clone(),
        r.kubectl_command.clone(),
        r.verb.clone(),
        resource,
        object,
        r.decision.clone(),
        r.reason.clone(),
        r.code.to_string(),
    ]
}

/// Columns padded to their widest cell; control characters shown escaped
/// (the values are what clients sent).
fn write_table(
    out: &mut impl std::io::Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    let clean = |s: &str| s.chars().flat_map(char::escape_default).collect::<String>();
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in &rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
