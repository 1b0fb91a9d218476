//! Response bodies and the JSON/text/error responses every handler builds.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::Response;
use serde_json::Value;

use super::status::ApiError;

/// The response body type (a full buffer or a watch stream).
pub type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A complete body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed_unsync()
}

/// A JSON response.
pub fn json(status: u16, value: &Value) -> Response<Body> {
    let body = serde_json::to_vec(value).expect("serializable JSON");
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(body))
        .expect("valid response")
}

/// A plain-text response.
pub fn text(status: u16, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .body(full(body))
        .expect("valid response")
}

/// The `Status` response for an error.
pub fn error(e: &ApiError) -> Response<Body> {
    json(e.code, &e.to_status())
}
