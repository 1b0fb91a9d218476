//! The admin API's optional bearer token (`serve --admin-token-file`):
//! with it, every request on the admin port (gRPC and plain HTTP) must
//! carry `Authorization: Bearer <token>`. The file is read at every
//! request, so a rotated Secret is picked up without a restart; the token
//! is never logged, and it is compared through SHA-256 digests in constant
//! time (what an attacker could time is how much of a digest matched,
//! which says nothing about the token). The probe port never asks for it.
//!
//! The admin port speaks plain HTTP: off loopback the token crosses the
//! network in clear. It is a second lock, not a reason to leave loopback.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

#[cfg(test)]
mod tests;

/// Why the admin token file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AdminTokenError {
    /// The file cannot be read.
    #[error("cannot read the admin token file {}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no token.
    #[error("{}: no token in it", .0.display())]
    Empty(PathBuf),
}

/// The token every admin request must carry.
#[derive(Debug, Clone)]
pub struct AdminToken {
    path: PathBuf,
}

impl AdminToken {
    /// The token in `path` (read now to fail early, and at every request).
    pub fn from_file(path: &Path) -> Result<AdminToken, AdminTokenError> {
        let token = AdminToken {
            path: path.to_path_buf(),
        };
        token.read()?;
        Ok(token)
    }

    fn read(&self) -> Result<String, AdminTokenError> {
        let text = crate::inputs::read_bounded(&self.path, 64 * 1024).map_err(|source| {
            AdminTokenError::Read {
                path: self.path.clone(),
                source,
            }
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(AdminTokenError::Empty(self.path.clone()));
        }
        Ok(token.to_string())
    }

    /// Whether an `Authorization` header carries the token.
    pub fn admits(&self, authorization: Option<&HeaderValue>) -> Result<bool, AdminTokenError> {
        let expected = self.read()?;
        let presented = authorization
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim());
        Ok(presented.is_some_and(|p| same_secret(p.as_bytes(), expected.as_bytes())))
    }
}

/// Equal, in time that does not depend on where the values differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    let difference = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

/// The admin router's guard: the request goes on only with the token; a
/// refused gRPC call gets `UNAUTHENTICATED`, plain HTTP a `401`.
pub async fn require(
    State(token): State<Arc<AdminToken>>,
    request: Request,
    next: Next,
) -> Response {
    let refusal = match token.admits(request.headers().get(header::AUTHORIZATION)) {
        Ok(true) => return next.run(request).await,
        Ok(false) => "the admin API needs its bearer token (--admin-token-file)",
        Err(unreadable) => {
            tracing::warn!(
                "refusing an admin request: {}",
                crate::error_chain::error_chain(&unreadable)
            );
            "the control plane cannot read its admin token file"
        }
    };
    let grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if grpc {
        return tonic::Status::unauthenticated(refusal)
            .into_http::<axum::body::Body>()
            .into_response();
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        format!("{refusal}\n"),
    )
        .into_response()
}
