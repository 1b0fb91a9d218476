//! Serving the control plane: ADS on the xDS port, the admin API on the
//! admin port, and reloads on input changes. Shared by `serve` and `up`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::AggregatedDiscoveryServiceServer;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::info;

use crate::ads::service::Ads;
use crate::control_plane::ControlPlane;
use crate::key_fetch::KeyFetcher;
use kubeplex_proto::admin::v1::key_refresh_server::{KeyRefresh, KeyRefreshServer};
use kubeplex_proto::admin::v1::{RefreshKeysRequest, RefreshKeysResponse};

/// The control plane's listening sockets, bound before anything starts so
/// port 0 can be resolved and printed.
pub struct Listeners {
    pub xds: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    pub async fn bind(xds: SocketAddr, admin: SocketAddr) -> Result<Listeners, String> {
        let xds = TcpListener::bind(xds)
            .await
            .map_err(|e| format!("xDS address {xds}: {e}"))?;
        let admin = TcpListener::bind(admin)
            .await
            .map_err(|e| format!("admin address {admin}: {e}"))?;
        Ok(Listeners { xds, admin })
    }

    pub fn xds_addr(&self) -> SocketAddr {
        self.xds.local_addr().expect("bound socket has an address")
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .expect("bound socket has an address")
    }
}

/// Handles of the running servers; any of them ending is fatal.
pub struct Running {
    pub xds: JoinHandle<Result<(), String>>,
    pub admin: JoinHandle<Result<(), String>>,
    pub watcher: JoinHandle<()>,
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

/// Start ADS, admin, key fetching and the file watcher. Remote issuers'
/// keys are fetched once before Envoy can connect, so the first config it
/// gets already trusts them.
pub async fn start(cp: Arc<ControlPlane>, listeners: Listeners) -> Result<Running, String> {
    let fetcher = KeyFetcher::new(cp.clone());
    if fetcher.run_once().await {
        let cp = cp.clone();
        tokio::task::spawn_blocking(move || cp.reload())
            .await
            .map_err(|e| e.to_string())?;
    }
    fetcher.spawn();
    info!(xds = %listeners.xds_addr(), admin = %listeners.admin_addr(), "control plane listening");
    let ads = Ads::new(cp.subscribe(), cp.registry.clone());
    let xds_listener = listeners.xds;
    let refresh = KeyRefreshServer::new(KeyRefreshService { fetcher });
    let xds = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_service(refresh)
            .add_service(
                AggregatedDiscoveryServiceServer::new(ads).max_encoding_message_size(64 << 20),
            )
            .serve_with_incoming(TcpListenerStream::new(xds_listener))
            .await
            .map_err(|e| format!("xDS server: {e}"))
    });
    let admin_cp = cp.clone();
    let admin_listener = listeners.admin;
    let admin = tokio::spawn(async move {
        crate::admin::serve(admin_cp, admin_listener)
            .await
            .map_err(|e| format!("admin server: {e}"))
    });
    crate::preflight::spawn(cp.clone());
    let watcher =
        crate::file_watch::spawn(cp).map_err(|e| format!("cannot watch input files: {e}"))?;
    Ok(Running {
        xds,
        admin,
        watcher,
    })
}
