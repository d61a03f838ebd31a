//! Request authentication (`docs/protocol.md` §5): bearer tokens and the
//! webhook's HMAC signature, all compared in constant time.

use crate::http::Request;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use switchboard_protocol::config::Secret;
use switchboard_protocol::{ErrorCode, Refusal};

/// How far a signature's timestamp may be from now.
pub const SIGNATURE_TOLERANCE_SECONDS: i64 = 300;

/// Compares two secrets in constant time, including their lengths (both
/// sides are hashed first).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    let da = Sha256::digest(a.as_bytes());
    let db = Sha256::digest(b.as_bytes());
    da.ct_eq(&db).into()
}

fn unauthorized(message: &str) -> Refusal {
    Refusal::new(ErrorCode::Unauthorized, message)
}

fn bearer(request: &Request) -> Option<&str> {
    let value = request.header("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Checks `Authorization: Bearer <expected>`.
pub fn require_bearer(request: &Request, expected: &Secret) -> Result<(), Refusal> {
    match bearer(request) {
        Some(token) if !expected.expose().is_empty() && secrets_equal(token, expected.expose()) => {
            Ok(())
        }
        Some(_) => Err(unauthorized("the bearer token is not valid")),
        None => Err(unauthorized("missing Authorization: Bearer <token>")),
    }
}

/// Checks a webhook request: a valid bearer token, or a valid
/// `X-Switchboard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
/// "<t>.<raw body>")>` with `t` within five minutes of `now_ms`.
pub fn require_webhook(
    request: &Request,
    token: Option<&Secret>,
    secret: Option<&Secret>,
    now_ms: i64,
) -> Result<(), Refusal> {
    if let (Some(token), Some(_)) = (token, bearer(request)) {
        return require_bearer(request, token);
    }
    if let (Some(secret), Some(header)) = (secret, request.header("x-switchboard-signature")) {
        return verify_signature(header, &request.body, secret, now_ms);
    }
    Err(unauthorized(
        "missing Authorization: Bearer <token> or X-Switchboard-Signature",
    ))
}

/// Verifies an `X-Switchboard-Signature` header over `body`.
pub fn verify_signature(
    header: &str,
    body: &[u8],
    secret: &Secret,
    now_ms: i64,
) -> Result<(), Refusal> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let t = t.ok_or_else(|| unauthorized("the signature has no valid t=<unix seconds>"))?;
    if (now_ms / 1000 - t).abs() > SIGNATURE_TOLERANCE_SECONDS {
        return Err(unauthorized(
            "the signature's timestamp is more than 300 s from now",
        ));
    }
    let expected = sign(secret, t, body);
    let ok = signatures
        .iter()
        .any(|s| s.len() == expected.len() && bool::from(s.as_bytes().ct_eq(expected.as_bytes())));
    if ok {
        Ok(())
    } else {
        Err(unauthorized("the signature does not match the body"))
    }
}

/// The lowercase hex HMAC-SHA256 of `"<t>.<body>"`.
pub fn sign(secret: &Secret, t: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)], body: &[u8]) -> Request {
        Request {
            method: "POST".into(),
            path: "/v1/webhooks/mqtt".into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        }
    }

    const NOW: i64 = 1_763_769_600_000;

    #[test]
    fn bearer_tokens() {
        let token = Secret::new("tok-123");
        assert!(require_bearer(
            &request(&[("Authorization", "Bearer tok-123")], b""),
            &token
        )
        .is_ok());
        assert!(require_bearer(
            &request(&[("authorization", "bearer tok-123")], b""),
            &token
        )
        .is_ok());
        for bad in [
            "Bearer tok-12",
            "Bearer tok-1234",
            "Basic tok-123",
            "tok-123",
            "Bearer ",
        ] {
            let err = require_bearer(&request(&[("authorization", bad)], b""), &token).unwrap_err();
            assert_eq!(err.code, ErrorCode::Unauthorized, "{bad}");
        }
        assert!(require_bearer(&request(&[], b""), &token).is_err());
        assert!(
            require_bearer(
                &request(&[("authorization", "Bearer ")], b""),
                &Secret::new("")
            )
            .is_err(),
            "an empty configured token never matches"
        );
    }

    #[test]
    fn signatures() {
        let secret = Secret::new("whsec");
        let body = br#"{"id":"1"}"#;
        let t = NOW / 1000;
        let good = format!("t={t},v1={}", sign(&secret, t, body));
        let req = request(&[("x-switchboard-signature", &good)], body);
        assert!(require_webhook(&req, None, Some(&secret), NOW).is_ok());
        // Body changed, secret wrong, too old, too new, malformed.
        let tampered = request(&[("x-switchboard-signature", &good)], br#"{"id":"2"}"#);
        assert!(require_webhook(&tampered, None, Some(&secret), NOW).is_err());
        assert!(require_webhook(&req, None, Some(&Secret::new("other")), NOW).is_err());
        assert!(require_webhook(&req, None, Some(&secret), NOW + 301_000).is_err());
        assert!(require_webhook(&req, None, Some(&secret), NOW - 301_000).is_err());
        assert!(require_webhook(&req, None, Some(&secret), NOW + 299_000).is_ok());
        for bad in [
            "",
            "t=abc,v1=00",
            "v1=00",
            &format!("t={t}"),
            &format!("t={t},v1=zz"),
        ] {
            let r = request(&[("x-switchboard-signature", bad)], body);
            assert!(
                require_webhook(&r, None, Some(&secret), NOW).is_err(),
                "{bad}"
            );
        }
        // A signature is useless when only a token is configured.
        assert!(require_webhook(&req, Some(&Secret::new("tok")), None, NOW).is_err());
    }

    #[test]
    fn either_method_when_both_configured() {
        let token = Secret::new("tok");
        let secret = Secret::new("whsec");
        let body = b"{}";
        let t = NOW / 1000;
        let signed = request(
            &[(
                "x-switchboard-signature",
                &format!("t={t},v1={}", sign(&secret, t, body)),
            )],
            body,
        );
        assert!(require_webhook(&signed, Some(&token), Some(&secret), NOW).is_ok());
        let bearer = request(&[("authorization", "Bearer tok")], body);
        assert!(require_webhook(&bearer, Some(&token), Some(&secret), NOW).is_ok());
        let wrong = request(&[("authorization", "Bearer nope")], body);
        assert!(require_webhook(&wrong, Some(&token), Some(&secret), NOW).is_err());
    }

    #[test]
    fn constant_time_equality() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
