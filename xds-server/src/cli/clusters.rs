//! `kubeplex clusters list|use`, `kubeplex kubectl`, and the user's
//! `kubeplex status`.

use std::io::Write as _;

use anyhow::Context as _;
use kubeplex::login::kubeconfig;
use kubeplex::login::{gateway_api, unix_now};
use kubeplex::user_kubeconfig::cluster_url;
use kubeplex_filter_core::clusters_api::{ClusterList, Health, PolicyRule};
use kubeplex_filter_core::time::rfc3339;

use super::session::{SessionArgs, fresh_session, interaction_here};

/// `kubeplex clusters …`.
#[derive(clap::Subcommand, Debug)]
pub enum ClustersCommand {
    /// List the clusters you may reach through the gateway.
    #[command(after_help = "Examples:
  # The clusters you may reach, the current one marked
  kubeplex clusters list

  # Names only, for scripts
  kubeplex clusters list -o name
  kubeplex clusters list -o json | jq -r '.clusters[].name'")]
    List(ListArgs),
    /// Make NAME the current cluster (the kubeconfig's current context).
    #[command(after_help = "Examples:
  # Work on demo-b from now on (kubectl's current context)
  kubeplex clusters use demo-b
  kubeplex kubectl get pods")]
    Use(UseArgs),
}

/// Output formats of `clusters list`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// A table.
    Table,
    /// The gateway's answer as JSON.
    Json,
    /// The gateway's answer as YAML.
    Yaml,
    /// `cluster/<name>`, one a line.
    Name,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Output,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(clap::Args, Debug)]
pub struct UseArgs {
    /// The cluster.
    pub name: String,
    /// The kubeconfig (default: $KUBECONFIG's first file, else ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
}

/// What `list` and `status` need: the gateway's answer and the current context.
struct View {
    gateway: String,
    list: ClusterList,
    current: Option<String>,
    /// How to ask the clusters themselves: the gateway's CA and the token.
    gateway_ca: Option<String>,
    id_token: String,
}

async fn view(session_args: &SessionArgs) -> anyhow::Result<View> {
    let cache = session_args.cache()?;
    let key = session_args.session_key(&cache)?;
    let session = fresh_session(&cache, &key, interaction_here()).await?;
    let list = gateway_api::clusters(
        &key.gateway,
        session.gateway_ca.as_deref(),
        &session.tokens.id_token,
    )
    .await?;
    let config = kubeconfig::read(&session_args.kubeconfig_path()?)?;
    let current = config
        .current_context
        .clone()
        .filter(|c| kubeconfig::session_of_context(&config, c).as_ref() == Some(&key));
    Ok(View {
        gateway: key.gateway,
        list,
        current,
        gateway_ca: session.gateway_ca,
        id_token: session.tokens.id_token,
    })
}

pub async fn run(command: ClustersCommand) -> anyhow::Result<()> {
    match command {
        ClustersCommand::List(args) => list(args).await,
        ClustersCommand::Use(args) => use_cluster(args),
    }
}

async fn list(args: ListArgs) -> anyhow::Result<()> {
    let mut view = view(&args.session).await?;
    if !matches!(args.output, Output::Name) {
        probe_health(&mut view).await;
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&view.list)?)?,
        Output::Yaml => write!(out, "{}", serde_saphyr::to_string(&view.list)?)?,
        Output::Name => {
            for c in &view.list.clusters {
                writeln!(out, "cluster/{}", c.name)?;
            }
        }
        Output::Table => {
            let rows: Vec<[String; 4]> = view
                .list
                .clusters
                .iter()
                .map(|c| {
                    let current = if view.current.as_deref() == Some(&c.name) {
                        "*"
                    } else {
                        ""
                    };
                    [
                        current.to_string(),
                        c.name.clone(),
                        health_word(c.health).to_string(),
                        cluster_url(&view.gateway, &c.name),
                    ]
                })
                .collect();
            if rows.is_empty() {
                eprintln!("No clusters: the gateway policy lets you reach none.");
            } else {
                print_table(&mut out, &["CURRENT", "NAME", "HEALTH", "SERVER"], &rows)?;
            }
        }
    }
    Ok(())
}

/// Every listed cluster's `/readyz`, asked at once through the gateway.
async fn probe_health(view: &mut View) {
    let urls: Vec<String> = view
        .list
        .clusters
        .iter()
        .map(|c| cluster_url(&view.gateway, &c.name))
        .collect();
    let probes = urls
        .iter()
        .map(|url| gateway_api::cluster_health(url, view.gateway_ca.as_deref(), &view.id_token));
    let healths = futures::future::join_all(probes).await;
    for (cluster, health) in view.list.clusters.iter_mut().zip(healths) {
        cluster.health = health;
    }
}

/// The HEALTH column, kubectl-like words; `-` when not known.
fn health_word(health: Option<Health>) -> &'static str {
    match health {
        Some(Health::Ready) => "Ready",
        Some(Health::NotReady) => "NotReady",
        Some(Health::Unreachable) => "Unreachable",
        None => "-",
    }
}

fn use_cluster(args: UseArgs) -> anyhow::Result<()> {
    let path = kubeconfig::default_path(args.kubeconfig.as_deref())?;
    let mut config = kubeconfig::read(&path)?;
    if kubeconfig::session_of_context(&config, &args.name).is_none() {
        let known: Vec<&str> = config
            .contexts
            .iter()
            .filter(|c| kubeconfig::session_of_context(&config, &c.name).is_some())
            .map(|c| c.name.as_str())
            .collect();
        anyhow::bail!(
            "no cluster {:?} in {} (yours: {}); `kubeplex clusters list` shows what you may reach, `kubeplex login` adds new ones",
            args.name,
            path.display(),
            if known.is_empty() {
                "none: run kubeplex login".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    config.current_context = Some(args.name.clone());
    kubeconfig::write(&path, &config)?;
    println!("Switched to cluster {:?}.", args.name);
    Ok(())
}

/// `kubeplex kubectl ARGS…`: the real kubectl, same environment, same
/// terminal; its exit code is ours (on Unix this process becomes kubectl).
pub fn kubectl(args: Vec<std::ffi::OsString>) -> anyhow::Result<std::process::ExitCode> {
    let program = std::env::var_os("KUBEPLEX_KUBECTL").unwrap_or_else(|| "kubectl".into());
    let mut command = std::process::Command::new(&program);
    command.args(&args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        Err(error).with_context(|| format!("cannot run {}", program.to_string_lossy()))
    }
    #[cfg(not(unix))]
    {
        let status = command
            .status()
            .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
        Ok(std::process::ExitCode::from(
            status.code().unwrap_or(1).clamp(0, 255) as u8,
        ))
    }
}

/// The user's `kubeplex status`: who the gateway takes you for, your token,
/// your cluster and what the gateway policy lets you do there.
pub async fn user_status(session: SessionArgs) -> anyhow::Result<()> {
    let view = view(&session).await?;
    let user = &view.list.user;
    let left = user.expires_at - unix_now();
    let mut out = std::io::stdout().lock();
    writeln!(out, "Gateway:  {}", view.gateway)?;
    writeln!(out, "User:     {}", user.username)?;
    writeln!(out, "Groups:   {}", user.groups.join(", "))?;
    writeln!(out, "Issuer:   {}", user.issuer)?;
    writeln!(
        out,
        "Token:    valid until {} ({}; refreshed automatically)",
        rfc3339(user.expires_at),
        if left > 0 {
            format!("{left}s left")
        } else {
            "expired".to_string()
        }
    )?;
    let Some(current) = &view.current else {
        writeln!(
            out,
            "Cluster:  none selected (kubeplex clusters use NAME; {} reachable)",
            view.list.clusters.len()
        )?;
        return Ok(());
    };
    writeln!(out, "Cluster:  {current}")?;
    let Some(entry) = view.list.clusters.iter().find(|c| &c.name == current) else {
        writeln!(
            out,
            "\nThe gateway policy no longer lets you reach {current}: run kubeplex login to update your contexts."
        )?;
        return Ok(());
    };
    if !view.list.policy {
        writeln!(
            out,
            "\nThe gateway has no policy: {current}'s own RBAC decides (kubeplex kubectl auth can-i --list)."
        )?;
        return Ok(());
    }
    writeln!(out, "\nWhat the gateway policy allows you on {current}:")?;
    print_rules(&mut out, &entry.rules)?;
    Ok(())
}

/// Rules the way `kubectl auth can-i --list` prints them, plus namespaces.
fn print_rules(out: &mut impl std::io::Write, rules: &[PolicyRule]) -> std::io::Result<()> {
    let list = |items: &[String]| format!("[{}]", items.join(" "));
    let rows: Vec<[String; 5]> = rules
        .iter()
        .map(|r| {
            [
                r.resources.join(", "),
                list(&r.non_resource_urls),
                list(&r.resource_names),
                list(&r.verbs),
                list(&r.namespaces),
            ]
        })
        .collect();
    print_table(
        out,
        &[
            "Resources",
            "Non-Resource URLs",
            "Resource Names",
            "Verbs",
            "Namespaces",
        ],
        &rows,
    )
}

/// Columns padded like kubectl's (three spaces between).
fn print_table<const N: usize>(
    out: &mut impl std::io::Write,
    header: &[&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<w$}   "));
            }
        }
        text.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}
