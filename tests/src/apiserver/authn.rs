//! Authentication: a verified client certificate (user = CN, groups = O),
//! else a static bearer token; else nobody (the caller answers 401).

use std::fmt;

use super::identity::UserInfo;

/// A bearer token this server accepts, and who it is.
///
/// `Debug` never prints the token.
#[derive(Clone, PartialEq, Eq)]
pub struct StaticToken {
    /// The token (secret).
    pub token: String,
    /// User name.
    pub user: String,
    /// UID, empty if none.
    pub uid: String,
    /// Groups (`system:authenticated` is added).
    pub groups: Vec<String>,
}

impl StaticToken {
    /// A token for `user` in `groups`.
    pub fn new(token: &str, user: &str, groups: &[&str]) -> StaticToken {
        StaticToken {
            token: token.to_string(),
            user: user.to_string(),
            uid: String::new(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticToken")
            .field("token", &"<redacted>")
            .field("user", &self.user)
            .field("uid", &self.uid)
            .field("groups", &self.groups)
            .finish()
    }
}

/// The subject of a verified client certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientCertSubject {
    /// Subject CN.
    pub common_name: String,
    /// Subject O values, in order.
    pub organizations: Vec<String>,
}

impl ClientCertSubject {
    /// Reads CN and O from a DER certificate; `None` if it does not parse.
    pub fn from_der(der: &[u8]) -> Option<ClientCertSubject> {
        use x509_cert::der::Decode;
        let cert = x509_cert::Certificate::from_der(der).ok()?;
        let mut subject = ClientCertSubject::default();
        for rdn in cert.tbs_certificate.subject.0.iter() {
            for atv in rdn.0.iter() {
                let value = String::from_utf8_lossy(atv.value.value()).into_owned();
                match atv.oid.to_string().as_str() {
                    "2.5.4.3" => subject.common_name = value,
                    "2.5.4.10" => subject.organizations.push(value),
                    _ => {}
                }
            }
        }
        Some(subject)
    }
}

/// Authenticates a request. The certificate, if any, was verified by TLS.
pub fn authenticate(
    cert: Option<&ClientCertSubject>,
    authorization: Option<&str>,
    tokens: &[StaticToken],
) -> Option<UserInfo> {
    if let Some(cert) = cert {
        return Some(UserInfo::authenticated(
            &cert.common_name,
            &cert.organizations,
        ));
    }
    let header = authorization?;
    let (scheme, token) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    let found = tokens.iter().find(|t| t.token == token)?;
    let mut user = UserInfo::authenticated(&found.user, &found.groups);
    user.uid = found.uid.clone();
    Some(user)
}
