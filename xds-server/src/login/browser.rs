//! Sign in with a browser: authorization code + PKCE (RFC 7636) with a
//! loopback redirect (RFC 8252 §7.3): a one-shot HTTP listener on
//! `127.0.0.1:<free port>` receives the code, the CLI trades it (with the
//! PKCE verifier only it knows) for tokens.

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::LoginError;
use super::oidc::{Provider, TokenResponse, encode_form};

/// The path the provider redirects to.
pub const CALLBACK_PATH: &str = "/callback";

/// What the browser flow needs besides the provider.
#[derive(Debug, Clone)]
pub struct BrowserSignIn<'a> {
    /// The OAuth client.
    pub client_id: &'a str,
    /// Scopes to ask for.
    pub scopes: &'a [String],
    /// Open the system browser (else only print the URL).
    pub open_browser: bool,
    /// `login_hint`: which account, for providers that honour it.
    pub login_hint: Option<&'a str>,
    /// How long to wait for the redirect.
    pub timeout: Duration,
}

/// A random base64url string of `bytes` random bytes.
fn random(bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(raw)
}

/// PKCE: `(verifier, S256 challenge)`.
pub fn pkce_pair() -> (String, String) {
    let verifier = random(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Run the flow; the token answer and the nonce its ID token must carry.
pub async fn sign_in(
    provider: &Provider,
    request: &BrowserSignIn<'_>,
) -> Result<(TokenResponse, String), LoginError> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| LoginError::Browser(format!("cannot listen on 127.0.0.1: {e}")))?;
    let port = listener
        .local_addr()
        .map_err(|e| LoginError::Browser(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
    let (verifier, challenge) = pkce_pair();
    let (state, nonce) = (random(16), random(16));
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", request.client_id),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", state.as_str()),
        ("nonce", nonce.as_str()),
    ];
    let scope = request.scopes.join(" ");
    params.push(("scope", &scope));
    if let Some(hint) = request.login_hint {
        params.push(("login_hint", hint));
    }
    let separator = if provider.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{separator}{}",
        provider.authorization_endpoint,
        encode_form(&params)
    );
    eprintln!("Sign in with your browser; if it does not open, visit:\n\n    {url}\n");
    if request.open_browser {
        open_in_browser(&url);
    }
    let query = tokio::time::timeout(request.timeout, wait_for_callback(listener))
        .await
        .map_err(|_| LoginError::TimedOut(request.timeout))??;
    let code = check_callback(&query, &state)?;
    let answer = provider
        .exchange_code(request.client_id, &code, &redirect_uri, &verifier)
        .await?;
    Ok((answer, nonce))
}

/// The code from the redirect's query, once its `state` is ours.
fn check_callback(query: &HashMap<String, String>, state: &str) -> Result<String, LoginError> {
    if query.get("state").map(String::as_str) != Some(state) {
        return Err(LoginError::Browser(
            "the redirect's state is not this login's (another login running?)".into(),
        ));
    }
    if let Some(error) = query.get("error") {
        return Err(LoginError::Refused {
            what: "the sign-in".into(),
            error: error.clone(),
            description: query.get("error_description").cloned().unwrap_or_default(),
        });
    }
    query
        .get("code")
        .cloned()
        .ok_or_else(|| LoginError::Browser("the redirect carries no code".into()))
}

/// `$BROWSER`, else the platform's opener; failures are only reported
/// (the URL is printed anyway).
fn open_in_browser(url: &str) {
    let opener = std::env::var("BROWSER").ok().filter(|b| !b.is_empty());
    let opener = opener.as_deref().unwrap_or(if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    });
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = started {
        eprintln!("(could not start {opener}: {e})");
    }
}

/// Serve the loopback listener until a request reaches the callback path;
/// its query.
async fn wait_for_callback(listener: TcpListener) -> Result<HashMap<String, String>, LoginError> {
    let (found, mut found_rx) = mpsc::channel::<HashMap<String, String>>(1);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (tcp, _) = accepted.map_err(|e| LoginError::Browser(e.to_string()))?;
                let found = found.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                        let found = found.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(req, &found)) }
                    });
                    // One request per connection: the answer is complete
                    // once the connection task ends.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
            Some(query) = found_rx.recv() => {
                // Let the browser have its page before the listener goes.
                let _ = tokio::time::timeout(CALLBACK_PAGE_GRACE, async {
                    while connections.join_next().await.is_some() {}
                })
                .await;
                return Ok(query);
            }
        }
    }
}

/// How long the callback page may take to reach the browser.
const CALLBACK_PAGE_GRACE: Duration = Duration::from_secs(2);

fn answer(
    req: hyper::Request<Incoming>,
    found: &mpsc::Sender<HashMap<String, String>>,
) -> hyper::Response<Full<bytes::Bytes>> {
    if req.uri().path() != CALLBACK_PATH {
        return page(404, "Not found.");
    }
    let query = decode_query(req.uri().query().unwrap_or_default());
    let signed_in = query.contains_key("code");
    let _ = found.try_send(query);
    if signed_in {
        page(
            200,
            "Signed in to kubeplex. You can close this window and go back to the terminal.",
        )
    } else {
        page(400, "The sign-in failed: see the terminal.")
    }
}

fn page(status: u16, text: &'static str) -> hyper::Response<Full<bytes::Bytes>> {
    hyper::Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Full::new(bytes::Bytes::from_static(text.as_bytes())))
        .expect("a valid response")
}

/// A query string's parameters (the first of a repeated name).
pub fn decode_query(query: &str) -> HashMap<String, String> {
    let unescape = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    let mut out = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(unescape(name)).or_insert_with(|| unescape(value));
    }
    out
}
