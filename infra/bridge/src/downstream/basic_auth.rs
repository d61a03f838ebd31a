//! HTTP Basic authentication with the EMQX API key and secret.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::secret::Secret;

/// The API key pair requests must present.
#[derive(Debug, Clone)]
pub struct ApiCredentials {
    key: Secret,
    secret: Secret,
}

impl ApiCredentials {
    /// The expected key (user name) and secret (password).
    pub fn new(key: &str, secret: Secret) -> Self {
        Self {
            key: Secret::new(key),
            secret,
        }
    }

    /// Whether `headers` carry `Authorization: Basic base64(key:secret)`
    /// with the right pair. Both halves are always compared, in constant time.
    pub fn admit(&self, headers: &HeaderMap) -> bool {
        let Some((key, secret)) = presented(headers) else {
            return false;
        };
        let key_ok = self.key.matches(key.as_bytes());
        let secret_ok = self.secret.matches(secret.as_bytes());
        key_ok & secret_ok
    }
}

/// The key and secret in the `Authorization` header, if it is Basic.
fn presented(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (key, secret) = decoded.split_once(':')?;
    Some((key.to_owned(), secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_str(value).expect("test header is valid"),
        );
        headers
    }

    fn basic(user_pass: &str) -> HeaderMap {
        headers(&format!("Basic {}", STANDARD.encode(user_pass)))
    }

    #[test]
    fn admits_only_the_exact_pair() {
        let credentials = ApiCredentials::new("key", Secret::new("se:cret"));
        assert!(credentials.admit(&basic("key:se:cret")));
        assert!(credentials.admit(&headers(&format!(
            "basic {}",
            STANDARD.encode("key:se:cret")
        ))));
        assert!(!credentials.admit(&basic("key:se:cre")));
        assert!(!credentials.admit(&basic("ke:se:cret")));
        assert!(!credentials.admit(&basic("keyse:cret")));
        assert!(!credentials.admit(&headers("Bearer se:cret")));
        assert!(!credentials.admit(&headers("Basic !!!")));
        assert!(!credentials.admit(&HeaderMap::new()));
    }
}
