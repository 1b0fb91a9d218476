//! Serving the control plane: ADS on the xDS port, the admin API on the
//! admin port, the kubelet's probes and metrics on an optional probe port,
//! and reloads on input changes. Shared by `serve` and `up`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::{info, warn};

use crate::admin::token::AdminToken;
use crate::ads::service::Ads;
use crate::audit::Audit;
use crate::audit::als::AuditLogReceiver;
use crate::control_plane::{ControlPlane, KubeconfigSource};
use crate::key_fetch::KeyFetcher;
use kubeplex_proto::admin::v1::key_refresh_server::{KeyRefresh, KeyRefreshServer};
use kubeplex_proto::admin::v1::{RefreshKeysRequest, RefreshKeysResponse};

/// Why serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A port could not be bound.
    #[error("{what} address {addr}")]
    Bind {
        /// `xDS`, `admin` or `probe`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The xDS (gRPC) server stopped.
    #[error("xDS server")]
    Xds(#[source] tonic::transport::Error),
    /// The admin server stopped.
    #[error("admin server")]
    Admin(#[source] std::io::Error),
    /// The probe server stopped.
    #[error("probe server")]
    Probes(#[source] std::io::Error),
    /// The input files cannot be watched.
    #[error("cannot watch input files")]
    Watch(#[source] notify::Error),
    /// The audit spill folder cannot be used.
    #[error("audit")]
    Audit(#[source] crate::audit::spill::SpillError),
}

/// The control plane's listening sockets, bound before anything starts so
/// port 0 can be resolved and printed.
pub struct Listeners {
    xds: TcpListener,
    admin: TcpListener,
    probes: Option<TcpListener>,
    admin_token: Option<AdminToken>,
    xds_addr: SocketAddr,
    admin_addr: SocketAddr,
    probe_addr: Option<SocketAddr>,
}

/// Bind one port (port 0: any free port); the listener and its address.
async fn bind(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(SocketAddr, TcpListener), ServeError> {
    TcpListener::bind(addr)
        .await
        .and_then(|l| Ok((l.local_addr()?, l)))
        .map_err(|source| ServeError::Bind { what, addr, source })
}

impl Listeners {
    /// Bind the xDS and admin ports (port 0: any free port).
    pub async fn bind(xds: SocketAddr, admin: SocketAddr) -> Result<Listeners, ServeError> {
        let (xds_addr, xds) = bind("xDS", xds).await?;
        let (admin_addr, admin) = bind("admin", admin).await?;
        Ok(Listeners {
            xds,
            admin,
            probes: None,
            admin_token: None,
            xds_addr,
            admin_addr,
            probe_addr: None,
        })
    }

    /// Also bind the probe port: `/healthz`, `/readyz` and `/metrics`
    /// only ([`crate::admin::serve_probes`]).
    pub async fn with_probes(mut self, probes: SocketAddr) -> Result<Listeners, ServeError> {
        let (probe_addr, probes) = bind("probe", probes).await?;
        self.probes = Some(probes);
        self.probe_addr = Some(probe_addr);
        Ok(self)
    }

    /// Where Envoy connects for ADS.
    pub fn xds_addr(&self) -> SocketAddr {
        self.xds_addr
    }

    /// Ask every admin request for this bearer token.
    pub fn with_admin_token(mut self, token: AdminToken) -> Listeners {
        self.admin_token = Some(token);
        self
    }

    /// The admin API's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The probe port's address, when there is one.
    pub fn probe_addr(&self) -> Option<SocketAddr> {
        self.probe_addr
    }
}

/// The warning for an admin API bound where others can reach it (None on
/// loopback): it revokes tokens and answers the audit trail, without
/// authentication, or with a bearer token that crosses the network in
/// clear (the admin port speaks plain HTTP).
pub fn admin_exposure_warning(admin: SocketAddr, has_token: bool) -> Option<String> {
    let exposure = if has_token {
        "its bearer token crosses the network in clear (plain HTTP): anyone on the path \
         can read it and then"
    } else {
        "it has no authentication: anyone who reaches it can"
    };
    (!admin.ip().is_loopback()).then(|| {
        format!(
            "INSECURE: the admin API listens on {admin}, not on loopback, and {exposure} \
             revoke tokens, read the status and query the audit trail. Bind it to 127.0.0.1 \
             (the default) and reach it with kubectl port-forward or kubectl exec; the \
             kubelet's probes and Prometheus use --probe-addr"
        )
    })
}

/// Handles of the running servers; any of them ending is fatal.
pub struct Running {
    /// ADS and the filter's key-refresh signal.
    pub xds: JoinHandle<Result<(), ServeError>>,
    /// The admin API.
    pub admin: JoinHandle<Result<(), ServeError>>,
    /// The probe port, when one was bound.
    pub probes: Option<JoinHandle<Result<(), ServeError>>>,
    /// Reloads on input changes.
    pub watcher: JoinHandle<()>,
    /// The audit trail (stop it last: it stores what is still in memory).
    pub audit: Arc<Audit>,
}

/// The filter's "unknown kid" signal, served next to ADS.
struct KeyRefreshService {
    fetcher: Arc<KeyFetcher>,
}

#[tonic::async_trait]
impl KeyRefresh for KeyRefreshService {
    async fn refresh_keys(
        &self,
        request: tonic::Request<RefreshKeysRequest>,
    ) -> Result<tonic::Response<RefreshKeysResponse>, tonic::Status> {
        let r = request.into_inner();
        let scheduled = self.fetcher.request_refresh(&r.issuer);
        if scheduled {
            info!(
                issuer = r.issuer,
                kid = r.kid,
                "a token named an unknown key id: refetching the issuer's keys"
            );
        }
        Ok(tonic::Response::new(RefreshKeysResponse { scheduled }))
    }
}

/// Start ADS, the audit log receiver, admin, key fetching and the file
/// watcher. Remote issuers' keys are fetched once before Envoy can
/// connect, so the first config it gets already trusts them.
pub async fn start(cp: Arc<ControlPlane>, listeners: Listeners) -> Result<Running, ServeError> {
    let publish_keys = {
        let cp = cp.clone();
        Arc::new(move || {
            cp.reload();
        })
    };
    let fetcher = KeyFetcher::new(cp.key_store(), cp.last_good(), publish_keys);
    fetcher.fetch_due().await;
    fetcher.spawn();
    info!(
        xds = %listeners.xds_addr(),
        admin = %listeners.admin_addr(),
        probes = ?listeners.probe_addr(),
        "control plane listening"
    );
    let has_token = listeners.admin_token.is_some();
    if let Some(warning) = admin_exposure_warning(listeners.admin_addr(), has_token) {
        warn!("{warning}");
    }
    let ads = Ads::new(cp.subscribe(), cp.registry.clone());
    let xds_listener = listeners.xds;
    let refresh = KeyRefreshServer::new(KeyRefreshService { fetcher });
    let agent_api = crate::agent_api::AgentApi::new(cp.clone());
    {
        // A weak reference: the registry lives inside the control plane.
        let weak = Arc::downgrade(&cp);
        cp.agents.set_on_change(move || {
            if let Some(cp) = weak.upgrade() {
                cp.reload();
            }
        });
    }
    let audit = Audit::start(&cp.settings.state_dir, cp.last_good())
        .await
        .map_err(ServeError::Audit)?;
    cp.agents.set_audit_pipeline(audit.pipeline.clone());
    let audit_log = AuditLogReceiver::server(audit.pipeline.clone());
    let xds = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(refresh)
            .add_service(agent_api)
            .add_service(audit_log)
            .add_service(
                AggregatedDiscoveryServiceServer::new(ads).max_encoding_message_size(64 << 20),
            )
            .serve_with_incoming(TcpListenerStream::new(xds_listener))
            .await
            .map_err(ServeError::Xds)
    });
    let admin_cp = cp.clone();
    let admin_audit = audit.clone();
    let (admin_listener, admin_token) = (listeners.admin, listeners.admin_token);
    let admin = tokio::spawn(async move {
        crate::admin::serve(admin_cp, admin_audit, admin_listener, admin_token)
            .await
            .map_err(ServeError::Admin)
    });
    let probes = listeners.probes.map(|listener| {
        let (cp, audit) = (cp.clone(), audit.clone());
        tokio::spawn(async move {
            crate::admin::serve_probes(cp, audit, listener)
                .await
                .map_err(ServeError::Probes)
        })
    });
    crate::preflight::spawn(cp.subscribe(), cp.last_good(), cp.cluster_checks());
    crate::cluster_health::spawn(cp.last_good(), cp.cluster_health());
    if let KubeconfigSource::Url(remote) = &cp.settings.kubeconfig {
        let weak = Arc::downgrade(&cp);
        remote.clone().spawn(move || {
            if let Some(cp) = weak.upgrade() {
                cp.reload();
            }
        });
    }
    let watcher = crate::file_watch::spawn(cp).map_err(ServeError::Watch)?;
    Ok(Running {
        xds,
        admin,
        probes,
        watcher,
        audit,
    })
}
