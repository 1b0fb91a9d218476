//! The SQL both stores run, from one builder: the query's filters as a
//! WHERE clause with numbered parameters (`?1` for SQLite, `$1` for
//! PostgreSQL), and the two SELECTs of `kubeplex audit`.

use kubeplex_proto::admin::v1::AuditQuery;

use super::columns::{COLUMNS, Cell, ColumnKind, TABLE, quoted};
use crate::audit::time_text::format_unix_ms;

/// Records returned when the query names no limit.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most records one query returns.
pub const MAX_LIMIT: u32 = 10_000;

/// Where the two SQL dialects differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `?1`, time as text.
    Sqlite,
    /// `$1`, time as TIMESTAMPTZ, groups as JSONB.
    Postgres,
}

impl Dialect {
    /// The `n`th parameter (1-based).
    fn param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// A column as the SELECT reads it: text for time and groups.
    pub fn read(self, name: &str, kind: ColumnKind) -> String {
        match (self, kind) {
            (Dialect::Postgres, ColumnKind::Time) => time_text(&quoted(name)),
            (Dialect::Postgres, ColumnKind::Groups) => format!("{}::text", quoted(name)),
            _ => quoted(name),
        }
    }

    /// A time value (Envoy's text) as the column compares it.
    fn time_param(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => self.param(n),
            Dialect::Postgres => format!("({}::text)::timestamptz", self.param(n)),
        }
    }
}

/// A PostgreSQL TIMESTAMPTZ expression as Envoy's text.
fn time_text(expr: &str) -> String {
    format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")
}

/// A statement and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql {
    /// The SQL text.
    pub text: String,
    /// Its parameters, `?1`/`$1` first.
    pub params: Vec<Cell>,
}

/// The WHERE conditions of a query (always at least `TRUE`).
struct Conditions {
    dialect: Dialect,
    clauses: Vec<String>,
    params: Vec<Cell>,
}

impl Conditions {
    fn new(dialect: Dialect) -> Conditions {
        Conditions {
            dialect,
            clauses: Vec::new(),
            params: Vec::new(),
        }
    }

    /// The next parameter's placeholder, holding `value`.
    fn bind(&mut self, value: Cell) -> usize {
        self.params.push(value);
        self.params.len()
    }

    fn equals(&mut self, column: &str, value: &str) {
        if !value.is_empty() {
            let n = self.bind(Cell::Text(value.to_string()));
            let p = self.dialect.param(n);
            self.clauses.push(format!("{} = {p}", quoted(column)));
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            "1 = 1".to_string()
        } else {
            self.clauses.join(" AND ")
        }
    }
}

/// The query's filters.
fn conditions(q: &AuditQuery, dialect: Dialect) -> Conditions {
    let mut c = Conditions::new(dialect);
    c.equals("user", &q.user);
    c.equals("cluster", &q.cluster);
    c.equals("verb", &q.verb);
    match q.resource.split_once('/') {
        Some((resource, subresource)) => {
            c.equals("resource", resource);
            c.equals("subresource", subresource);
        }
        None => c.equals("resource", &q.resource),
    }
    c.equals("decision", &q.decision);
    c.equals("kubectl_session", &q.kubectl_session);
    if !q.kubectl_command.is_empty() {
        command(&mut c, &q.kubectl_command);
    }
    if q.since_unix_ms > 0 {
        let n = c.bind(Cell::Text(format_unix_ms(q.since_unix_ms)));
        let p = dialect.time_param(n);
        c.clauses.push(format!("\"time\" >= {p}"));
    }
    if q.after_seq > 0 {
        let n = c.bind(Cell::Int(q.after_seq));
        c.clauses.push(format!("seq > {}", dialect.param(n)));
    }
    c
}

/// `exec` or `kubectl exec`: that command, or one of its subcommands
/// (`kubectl create` matches `kubectl create configmap`).
fn command(c: &mut Conditions, wanted: &str) {
    let wanted = wanted.trim();
    let full = if wanted.starts_with("kubectl ") || wanted == "kubectl" {
        wanted.to_string()
    } else {
        format!("kubectl {wanted}")
    };
    let escaped: String = full
        .chars()
        .flat_map(|ch| match ch {
            '%' | '_' | '\\' => vec!['\\', ch],
            _ => vec![ch],
        })
        .collect();
    let exact = c.bind(Cell::Text(full));
    let prefix = c.bind(Cell::Text(format!("{escaped} %")));
    let (exact, prefix) = (c.dialect.param(exact), c.dialect.param(prefix));
    c.clauses.push(format!(
        "(\"kubectl_command\" = {exact} OR \"kubectl_command\" LIKE {prefix} ESCAPE '\\')"
    ));
}

/// The effective limit.
pub fn limit(q: &AuditQuery) -> u32 {
    match q.limit {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

/// `seq` then every column. Following (`after_seq`): the oldest `limit`
/// after it; otherwise the newest `limit` (newest first: the caller
/// reverses).
pub fn records(q: &AuditQuery, dialect: Dialect) -> Sql {
    let mut c = conditions(q, dialect);
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|col| dialect.read(col.name, col.kind))
        .collect();
    let order = if q.after_seq > 0 { "ASC" } else { "DESC" };
    let n = c.bind(Cell::Int(i64::from(limit(q))));
    Sql {
        text: format!(
            "SELECT seq, {} FROM {TABLE} WHERE {} ORDER BY seq {order} LIMIT {}",
            columns.join(", "),
            c.sql(),
            dialect.param(n)
        ),
        params: c.params,
    }
}

/// One row per (session, user, cluster, command): those eight values, the
/// most recent first (the caller reverses).
pub fn sessions(q: &AuditQuery, dialect: Dialect) -> Sql {
    let mut c = conditions(q, dialect);
    c.clauses.insert(0, "\"kubectl_session\" <> ''".to_string());
    let (first, last) = match dialect {
        Dialect::Sqlite => ("MIN(\"time\")".to_string(), "MAX(\"time\")".to_string()),
        Dialect::Postgres => (time_text("MIN(\"time\")"), time_text("MAX(\"time\")")),
    };
    let n = c.bind(Cell::Int(i64::from(limit(q))));
    Sql {
        text: format!(
            "SELECT \"kubectl_session\", \"user\", \"cluster\", \"kubectl_command\", \
             COUNT(*), SUM(CASE WHEN \"decision\" = 'deny' THEN 1 ELSE 0 END), {first}, {last} \
             FROM {TABLE} WHERE {} \
             GROUP BY \"kubectl_session\", \"user\", \"cluster\", \"kubectl_command\" \
             ORDER BY MAX(\"time\") DESC LIMIT {}",
            c.sql(),
            dialect.param(n)
        ),
        params: c.params,
    }
}

/// Delete what is older than `before_unix_ms`.
pub fn prune(before_unix_ms: i64, dialect: Dialect) -> Sql {
    Sql {
        text: format!(
            "DELETE FROM {TABLE} WHERE \"time\" < {}",
            dialect.time_param(1)
        ),
        params: vec![Cell::Text(format_unix_ms(before_unix_ms))],
    }
}
