//! The provider's HTTP endpoints: requests in, [`super::grants`] decides,
//! JSON (or a redirect) out. Errors are OAuth's `{"error": …}` bodies.

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{Value, json};

use super::grants::{GrantError, Granted, random_token};
use super::{Shared, form};
use crate::apiserver::service_accounts::jwt;

type Body = http_body_util::Full<bytes::Bytes>;

const DEVICE_GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Route one request.
pub async fn serve(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = form::decode(req.uri().query().unwrap_or(""));
    let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
        Ok(body) => form::decode(&String::from_utf8_lossy(&body.to_bytes())),
        Err(_) => return oauth_error(400, "invalid_request", "unreadable body"),
    };
    match (method.as_str(), path.as_str()) {
        ("GET", "/.well-known/openid-configuration") => json_response(200, &discovery(shared)),
        ("GET", "/jwks") => json_response(200, &json!({"keys": [shared.key.jwk()]})),
        ("GET", "/authorize") => authorize(shared, &query),
        ("POST", "/device/code") => device_authorization(shared, &body),
        ("POST", "/device") => device_decision(shared, &body),
        ("GET", "/device") => device_page(shared, &query),
        ("POST", "/token") => token(shared, &body),
        ("POST", "/revoke") => {
            shared.counters.revocations.fetch_add(1, Ordering::SeqCst);
            if let Some(token) = body.get("token") {
                shared.grants().revoke(token);
            }
            json_response(200, &json!({}))
        }
        _ => oauth_error(404, "not_found", "no such endpoint"),
    }
}

fn discovery(shared: &Shared) -> Value {
    let iss = &shared.issuer;
    json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/authorize"),
        "token_endpoint": format!("{iss}/token"),
        "jwks_uri": format!("{iss}/jwks"),
        "device_authorization_endpoint": format!("{iss}/device/code"),
        "revocation_endpoint": format!("{iss}/revoke"),
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", DEVICE_GRANT_TYPE],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [shared.key.alg()],
        "scopes_supported": ["openid", "email", "profile", "groups", "offline_access"],
        "token_endpoint_auth_methods_supported": ["none"],
    })
}

/// The authorization endpoint: checks the request like a real provider
/// (client, loopback redirect, PKCE S256), then signs the scripted user in
/// at once and redirects with the code.
fn authorize(shared: &Shared, q: &std::collections::HashMap<String, String>) -> Response<Body> {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != shared.client_id {
        return oauth_error(400, "unauthorized_client", "unknown client_id");
    }
    let redirect_uri = get("redirect_uri");
    if !is_loopback_redirect(redirect_uri) {
        return oauth_error(400, "invalid_request", "redirect_uri must be http loopback");
    }
    let refuse = |error: &str| redirect(redirect_uri, &[("error", error), ("state", get("state"))]);
    if get("response_type") != "code" {
        return refuse("unsupported_response_type");
    }
    if get("code_challenge_method") != "S256" || get("code_challenge").is_empty() {
        return refuse("invalid_request");
    }
    if !has_scope(get("scope"), "openid") {
        return refuse("invalid_scope");
    }
    let Some(user) = shared.user(q.get("login_hint").map(String::as_str)) else {
        return refuse("access_denied");
    };
    let code = shared.grants().issue_code(
        user,
        redirect_uri,
        get("code_challenge"),
        q.get("nonce").cloned(),
        has_scope(get("scope"), "offline_access"),
    );
    redirect(redirect_uri, &[("code", &code), ("state", get("state"))])
}

/// RFC 8252 §7.3: `http://127.0.0.1:<any port>/…` (or `[::1]`, `localhost`).
fn is_loopback_redirect(uri: &str) -> bool {
    let Some(rest) = uri.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _port)| host);
    matches!(host, "127.0.0.1" | "[::1]" | "localhost")
}

fn has_scope(scopes: &str, wanted: &str) -> bool {
    scopes.split(' ').any(|s| s == wanted)
}

fn device_authorization(
    shared: &Shared,
    body: &std::collections::HashMap<String, String>,
) -> Response<Body> {
    if body.get("client_id") != Some(&shared.client_id) {
        return oauth_error(400, "unauthorized_client", "unknown client_id");
    }
    let scope = body.get("scope").map(String::as_str).unwrap_or_default();
    let (device_code, user_code) = shared
        .grants()
        .start_device(has_scope(scope, "offline_access"));
    let verification_uri = format!("{}/device", shared.issuer);
    json_response(
        200,
        &json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": format!("{verification_uri}?user_code={user_code}"),
            "expires_in": 120,
            "interval": shared.device_interval.as_secs(),
        }),
    )
}

/// The "person at the browser": `user_code` and `user` (a subject), or
/// `deny=true`.
fn device_decision(
    shared: &Shared,
    body: &std::collections::HashMap<String, String>,
) -> Response<Body> {
    let user_code = body
        .get("user_code")
        .map(String::as_str)
        .unwrap_or_default();
    let user = if body.get("deny").is_some_and(|d| d == "true") {
        None
    } else {
        match shared.user(body.get("user").map(String::as_str)) {
            Some(user) => Some(user),
            None => return oauth_error(400, "invalid_request", "no such user"),
        }
    };
    if shared.grants().decide_device(user_code, user) {
        json_response(200, &json!({"decided": user_code}))
    } else {
        oauth_error(
            404,
            "invalid_request",
            "no pending device grant with this user_code",
        )
    }
}

/// What a person's browser sees at the verification URI: with the user
/// code in the link (`verification_uri_complete`), the scripted user (the
/// first) approves at once, as `/authorize` does.
fn device_page(shared: &Shared, q: &std::collections::HashMap<String, String>) -> Response<Body> {
    let Some(user_code) = q.get("user_code") else {
        return text_page(
            200,
            "kubeplex test identity provider: open the link with the code (…/device?user_code=XXXX-XXXX).",
        );
    };
    match shared.user(None) {
        Some(user) if shared.grants().decide_device(user_code, Some(user.clone())) => text_page(
            200,
            &format!(
                "Approved: signed in as {} ({}). Go back to the terminal.",
                user.subject, user.email
            ),
        ),
        _ => text_page(
            404,
            "No sign-in waits for this code (expired or already approved).",
        ),
    }
}

fn text_page(status: u16, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(text.to_string()))
        .expect("valid response")
}

fn token(shared: &Shared, body: &std::collections::HashMap<String, String>) -> Response<Body> {
    let get = |k: &str| body.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != shared.client_id {
        return oauth_error(401, "invalid_client", "unknown client_id");
    }
    let counters = &shared.counters;
    let granted = match get("grant_type") {
        "authorization_code" => shared
            .grants()
            .redeem_code(get("code"), get("redirect_uri"), get("code_verifier"))
            .inspect(|_| {
                counters.code_grants.fetch_add(1, Ordering::SeqCst);
            }),
        DEVICE_GRANT_TYPE => shared
            .grants()
            .poll_device(get("device_code"), shared.device_interval)
            .inspect(|_| {
                counters.device_grants.fetch_add(1, Ordering::SeqCst);
            }),
        "refresh_token" => {
            counters.refresh_attempts.fetch_add(1, Ordering::SeqCst);
            shared
                .grants()
                .redeem_refresh_token(get("refresh_token"))
                .map(|user| Granted {
                    user,
                    nonce: None,
                    offline: true,
                })
                .inspect(|_| {
                    counters.refreshes.fetch_add(1, Ordering::SeqCst);
                })
        }
        _ => return oauth_error(400, "unsupported_grant_type", "unknown grant_type"),
    };
    match granted {
        Ok(granted) => issue_tokens(shared, granted),
        Err(e) => oauth_error(400, &e.to_string(), grant_error_description(e)),
    }
}

fn grant_error_description(e: GrantError) -> &'static str {
    match e {
        GrantError::InvalidGrant => "the grant is unknown, used, expired or revoked",
        GrantError::AuthorizationPending => "the user has not approved yet",
        GrantError::SlowDown => "polling too fast",
        GrantError::AccessDenied => "the user denied the request",
        GrantError::ExpiredToken => "the device code expired",
        GrantError::InvalidRequest => "malformed request",
    }
}

/// ID token (signed), opaque access token, and a new refresh token when
/// offline access was granted.
fn issue_tokens(shared: &Shared, granted: Granted) -> Response<Body> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ttl_ms = shared.token_ttl_ms.load(Ordering::SeqCst);
    // Whole seconds, as JWT times are; at least one.
    let ttl = (ttl_ms / 1000).max(1);
    let user = &granted.user;
    let mut claims = json!({
        "iss": shared.issuer,
        "sub": user.subject,
        "aud": shared.client_id,
        "iat": now.as_secs(),
        "exp": now.as_secs() + ttl,
        "jti": random_token(12),
        "email": user.email,
        "email_verified": true,
        "groups": user.groups,
    });
    if let Some(nonce) = &granted.nonce {
        claims["nonce"] = json!(nonce);
    }
    let id_token = match jwt::sign(&shared.key, &claims) {
        Ok(token) => token,
        Err(e) => return oauth_error(500, "server_error", &e.to_string()),
    };
    let mut response = json!({
        "access_token": random_token(24),
        "token_type": "Bearer",
        "expires_in": ttl,
        "id_token": id_token,
        "scope": if granted.offline { "openid offline_access" } else { "openid" },
    });
    if granted.offline {
        response["refresh_token"] = json!(shared.grants().issue_refresh_token(user.clone()));
    }
    json_response(200, &response)
}

fn redirect(to: &str, params: &[(&str, &str)]) -> Response<Body> {
    let separator = if to.contains('?') { '&' } else { '?' };
    let location = format!("{to}{separator}{}", form::encode(params));
    Response::builder()
        .status(302)
        .header("location", location)
        .body(Body::default())
        .expect("valid response")
}

fn json_response(status: u16, value: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(Body::from(value.to_string()))
        .expect("valid response")
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}
