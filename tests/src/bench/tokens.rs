//! Minting the benchmark's tokens: compact JWS signed with the fixture
//! keys, every one with its own `jti` (so neither our filter's cache nor
//! `jwt_authn`'s can serve a "first sight" token from an earlier request).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use super::BenchError;
use super::keys::{AUDIENCE, Alg, SigningKeys};

/// The identity every token carries.
pub const SUBJECT: &str = "bench-user";
/// Its groups (the 100-role policy binds every role to `dev`).
pub const GROUPS: [&str; 2] = ["dev", "ops"];
/// Token lifetime: far longer than a run.
const LIFETIME_SECONDS: i64 = 3600;

/// One token of `alg`'s issuer with `jti`, valid from `now - 10` for an
/// hour. The claims are a typical gateway user's: issuer, audience,
/// subject, two groups.
pub fn mint(keys: &SigningKeys, alg: Alg, jti: &str, now: i64) -> Result<String, BenchError> {
    mint_for(keys, alg, SUBJECT, jti, now)
}

/// [`mint`] for another subject (a user of its own).
pub fn mint_for(
    keys: &SigningKeys,
    alg: Alg,
    subject: &str,
    jti: &str,
    now: i64,
) -> Result<String, BenchError> {
    let header = json!({"alg": alg.name(), "typ": "JWT", "kid": alg.kid()});
    let claims = json!({
        "iss": alg.issuer(),
        "aud": AUDIENCE,
        "sub": subject,
        "groups": GROUPS,
        "jti": jti,
        "iat": now - 10,
        "nbf": now - 10,
        "exp": now + LIFETIME_SECONDS,
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = keys.sign(alg, input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// `count` tokens with `jti`s `<prefix>-0`, `<prefix>-1`, ..., signed on
/// `threads` threads (RSA signing is the slow part of preparing a run).
pub fn mint_many(
    keys: &SigningKeys,
    alg: Alg,
    prefix: &str,
    count: usize,
    now: i64,
    threads: usize,
) -> Result<Vec<String>, BenchError> {
    let threads = threads.clamp(1, count.max(1));
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let start = (t * per_thread).min(count);
                let end = ((t + 1) * per_thread).min(count);
                scope.spawn(move || {
                    (start..end)
                        .map(|i| mint(keys, alg, &format!("{prefix}-{i}"), now))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut all = Vec::with_capacity(count);
        for h in handles {
            let part = h
                .join()
                .map_err(|_| BenchError::Crypto("a minting thread panicked".into()))??;
            all.extend(part);
        }
        Ok(all)
    })
}

/// Seconds since the Unix epoch (the filter and `jwt_authn` check `exp` and
/// `nbf` against Envoy's clock, which is this one).
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
