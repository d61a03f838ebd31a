//! The authentication header of each webhook attempt (PROTOCOL.md §5).

use hmac::{Hmac, Mac};
use http::header::{HeaderName, HeaderValue, InvalidHeaderValue, AUTHORIZATION};
use sha2::Sha256;

use crate::config::WebhookAuth;

/// Header carrying the HMAC signature.
pub const SIGNATURE_HEADER: &str = "x-switchboard-signature";

/// The header that authenticates `body` sent at `unix_seconds`.
///
/// A signature covers the timestamp, so it is computed afresh for every
/// attempt and a retry an hour later is not refused as too old.
pub fn auth_header(
    auth: &WebhookAuth,
    body: &[u8],
    unix_seconds: u64,
) -> Result<(HeaderName, HeaderValue), InvalidHeaderValue> {
    match auth {
        WebhookAuth::Bearer(token) => {
            let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose()))?;
            value.set_sensitive(true);
            Ok((AUTHORIZATION, value))
        }
        WebhookAuth::Signature(secret) => {
            let value =
                HeaderValue::try_from(signature(secret.expose().as_bytes(), body, unix_seconds))?;
            Ok((HeaderName::from_static(SIGNATURE_HEADER), value))
        }
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], body: &[u8], unix_seconds: u64) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn signature_matches_an_independent_hmac() {
        // HMAC-SHA256("key", "1700000000.{}") computed with openssl:
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac key
        assert_eq!(
            signature(b"key", b"{}", 1_700_000_000),
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn bearer_header_is_sensitive() {
        let (name, value) = auth_header(&WebhookAuth::Bearer(Secret::new("tok")), b"{}", 1)
            .expect("a plain token is a valid header");
        assert_eq!(name, AUTHORIZATION);
        assert_eq!(value, "Bearer tok");
        assert!(value.is_sensitive());
    }

    #[test]
    fn signature_header_changes_with_time() {
        let auth = WebhookAuth::Signature(Secret::new("k"));
        let (name, first) = auth_header(&auth, b"body", 10).expect("valid");
        let (_, second) = auth_header(&auth, b"body", 11).expect("valid");
        assert_eq!(name.as_str(), SIGNATURE_HEADER);
        assert_ne!(first, second);
        assert!(first.to_str().is_ok_and(|v| v.starts_with("t=10,v1=")));
    }
}
