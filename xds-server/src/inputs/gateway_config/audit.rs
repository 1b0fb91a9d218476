//! `audit`: where Envoy writes the audit log (file, stdout) and where the
//! control plane stores it (`store`, `retention`).

use std::time::Duration;

use super::AuditConfig;
use super::read::Files;
use super::{PostgresConfig, StoreConfig};
use crate::inputs::pem_material;
use crate::inputs::problems::{Fields, Problems};
use crate::inputs::yaml_tree::{Node, Value};
use crate::sensitive::Sensitive;

/// Records are kept this long unless `retention` says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(90 * 86_400);

/// The `audit` section.
pub fn read(p: &mut Problems, node: &Node, files: &mut Files) -> AuditConfig {
    let f = Fields::new(p, node, "audit", &["path", "stdout", "store", "retention"]);
    AuditConfig {
        path: f.str(p, "path").map(|s| files.resolve(&s)),
        stdout: f.bool(p, "stdout").unwrap_or(false),
        store: f
            .get("store")
            .map_or_else(StoreConfig::default, |node| store(p, &f, node, files)),
        retention: f
            .str(p, "retention")
            .and_then(|text| {
                parse_duration(&text)
                    .map_err(|reason| {
                        p.add(f.line_of("retention"), &f.path_of("retention"), reason)
                    })
                    .ok()
            })
            .unwrap_or(DEFAULT_RETENTION),
    }
}

/// `store`: `none`, `{sqlite: {path}}` or `{postgres: {url, passwordFile, caFile}}`.
fn store(p: &mut Problems, parent: &Fields<'_>, node: &Node, files: &mut Files) -> StoreConfig {
    let path = parent.path_of("store");
    if let Value::Str(text) = &node.value {
        if text == "none" {
            return StoreConfig::Disabled;
        }
        p.add(
            parent.line_of("store"),
            &path,
            format!("expected `none`, `sqlite: {{...}}` or `postgres: {{...}}`, found `{text}`"),
        );
        return StoreConfig::default();
    }
    let f = Fields::new(p, node, &path, &["sqlite", "postgres"]);
    match (f.get("sqlite"), f.get("postgres")) {
        (Some(_), Some(_)) => {
            p.add(
                f.line_of("postgres"),
                &path,
                "name one store: sqlite or postgres",
            );
            StoreConfig::default()
        }
        (Some(sqlite), None) => {
            let s = Fields::new(p, sqlite, &f.path_of("sqlite"), &["path"]);
            StoreConfig::Sqlite {
                path: s.str(p, "path").map(|s| files.resolve(&s)),
            }
        }
        (None, Some(postgres)) => {
            let pg = Fields::new(
                p,
                postgres,
                &f.path_of("postgres"),
                &["url", "passwordFile", "caFile"],
            );
            match postgres_config(p, &pg, files) {
                Some(config) => StoreConfig::Postgres(config),
                None => StoreConfig::default(),
            }
        }
        (None, None) => {
            p.add(
                parent.line_of("store"),
                &path,
                "name a store: `sqlite: {}`, `postgres: {url: ...}` or `none`",
            );
            StoreConfig::default()
        }
    }
}

/// `postgres`: the URL (checked by the client's own parser), the password
/// file and CA file read now (and watched).
fn postgres_config(p: &mut Problems, f: &Fields<'_>, files: &mut Files) -> Option<PostgresConfig> {
    let url = f.req_str(p, "url")?;
    if let Err(e) = url.parse::<tokio_postgres::Config>() {
        p.add(
            f.line_of("url"),
            &f.path_of("url"),
            format!("not a PostgreSQL URL: {e}"),
        );
        return None;
    }
    let password = match f.has("passwordFile") {
        true => Some(files.read(p, f, "passwordFile")?.1),
        false => None,
    };
    let ca_pem = match f.has("caFile") {
        true => {
            let (path, pem) = files.read(p, f, "caFile")?;
            if let Err(reason) = pem_material::check_certificates(&pem) {
                p.add(
                    f.line_of("caFile"),
                    &f.path_of("caFile"),
                    format!("{}: {reason}", path.display()),
                );
                return None;
            }
            Some(pem)
        }
        false => None,
    };
    Some(PostgresConfig {
        url: Sensitive(url),
        // a password file ends with a newline more often than not
        password: password.map(|pw| Sensitive(pw.trim_end_matches(['\n', '\r']).to_string())),
        ca_pem,
    })
}

/// `90d`, `12h`, `30m`, `45s`: a whole number and one unit, at least 1s.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration like 90d, 12h, 30m or 45s");
    let unit = text.chars().last().ok_or_else(bad)?;
    let seconds_per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let number = &text[..text.len() - 1];
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = number.parse().map_err(|_| bad())?;
    match n.checked_mul(seconds_per) {
        Some(0) => Err(format!("`{text}`: the retention must be at least 1s")),
        Some(secs) if secs <= 100 * 365 * 86_400 => Ok(Duration::from_secs(secs)),
        _ => Err(format!("`{text}` is longer than 100 years")),
    }
}
