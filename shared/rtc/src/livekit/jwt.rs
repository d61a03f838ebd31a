//! LiveKit access tokens: HS256 JSON Web Tokens signed with the API secret,
//! as `livekit/protocol` `auth/accesstoken.go` builds and `auth/verifier.go`
//! checks them.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde::{Deserialize, Serialize};

use crate::crypto::{hmac_sha256, hmac_sha256_matches};
use crate::{RtcError, Secret};

/// The JOSE header of every token we sign.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The claims LiveKit reads. Fields are in alphabetical order, so the JSON
/// matches what other implementations that sort keys produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Expiry, Unix seconds. LiveKit checks it only on the first connection.
    pub exp: u64,
    /// The API key; the server picks the secret by it.
    pub iss: String,
    /// The participant's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Not valid before, Unix seconds.
    pub nbf: u64,
    /// The participant identity.
    #[serde(default)]
    pub sub: String,
    /// What the participant may do in which room.
    #[serde(default)]
    pub video: VideoGrant,
}

/// The `video` grant. An absent `can_*` flag means *allowed* to LiveKit, so
/// we always write them explicitly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VideoGrant {
    /// May publish tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish: Option<bool>,
    /// May publish data messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_publish_data: Option<bool>,
    /// May subscribe to other participants' tracks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_subscribe: Option<bool>,
    /// The room the grant is for.
    #[serde(default)]
    pub room: String,
    /// May join `room`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room_join: Option<bool>,
}

/// Signs `claims` with the API secret.
pub fn sign(claims: &Claims, api_secret: &Secret) -> Result<String, RtcError> {
    let payload = serde_json::to_vec(claims)
        .map_err(|err| RtcError::InvalidInput(format!("claims do not serialize: {err}")))?;
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = hmac_sha256(api_secret.as_bytes(), &[signing_input.as_bytes()]);
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Checks an HS256 token's signature with the API secret (in constant time)
/// and returns its claims. Any other algorithm is refused. It does not look
/// at the clock: compare `nbf`/`exp` with the current time, and `iss` with
/// the expected API key, yourself.
pub fn verify(jwt: &str, api_secret: &Secret) -> Result<Claims, RtcError> {
    const NOT_A_JWT: RtcError = RtcError::InvalidToken("not a three-part JWT");
    let (signing_input, signature) = jwt.rsplit_once('.').ok_or(NOT_A_JWT)?;
    let (header, payload) = signing_input.split_once('.').ok_or(NOT_A_JWT)?;
    if payload.contains('.') {
        return Err(NOT_A_JWT);
    }
    let header: Header = serde_json::from_slice(&decode(header)?)
        .map_err(|_| RtcError::InvalidToken("malformed JWT header"))?;
    if header.alg != "HS256" {
        return Err(RtcError::InvalidToken("JWT algorithm is not HS256"));
    }
    if !hmac_sha256_matches(
        api_secret.as_bytes(),
        signing_input.as_bytes(),
        &decode(signature)?,
    ) {
        return Err(RtcError::InvalidToken("signature mismatch"));
    }
    serde_json::from_slice(&decode(payload)?)
        .map_err(|_| RtcError::InvalidToken("malformed JWT claims"))
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

fn decode(part: &str) -> Result<Vec<u8>, RtcError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| RtcError::InvalidToken("JWT part is not base64url"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    /// Self-computed in wire-formats.md §3, cross-checked with Node crypto.
    const VECTOR: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDM2MDAsImlzcyI6IkFQSWV4YW1wbGVLZXkiLCJuYW1lIjoiQWxpY2UiLCJuYmYiOjE3MDAwMDAwMDAsInN1YiI6InVzZXItMSIsInZpZGVvIjp7ImNhblB1Ymxpc2giOnRydWUsImNhblB1Ymxpc2hEYXRhIjp0cnVlLCJjYW5TdWJzY3JpYmUiOnRydWUsInJvb20iOiJjYWxsLTQyIiwicm9vbUpvaW4iOnRydWV9fQ.GXPKP4f-qWLpYcm56a8s21ZB4OfXOH0W2zUBOThD1jI";

    fn secret() -> Secret {
        Secret::new("exampleSecretexampleSecretexampleSecret")
    }

    fn vector_claims() -> Claims {
        Claims {
            exp: 1_700_003_600,
            iss: "APIexampleKey".to_owned(),
            name: Some("Alice".to_owned()),
            nbf: 1_700_000_000,
            sub: "user-1".to_owned(),
            video: VideoGrant {
                can_publish: Some(true),
                can_publish_data: Some(true),
                can_subscribe: Some(true),
                room: "call-42".to_owned(),
                room_join: Some(true),
            },
        }
    }

    #[test]
    fn reproduces_the_reference_token_exactly() {
        assert_eq!(sign(&vector_claims(), &secret()).as_deref(), Ok(VECTOR));
        assert_eq!(verify(VECTOR, &secret()), Ok(vector_claims()));
    }

    #[test]
    fn reads_livekit_docs_claims_with_unknown_fields() {
        let payload = r#"{"exp":1621657263,"iss":"APIMmxiL8rquKztZEoZJV9Fb","sub":"myidentity","nbf":1619065263,"video":{"room":"myroom","roomJoin":true},"metadata":""}"#;
        let jwt = {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(HEADER),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let signature = hmac_sha256(secret().as_bytes(), &[input.as_bytes()]);
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
        };
        let claims = verify(&jwt, &secret()).unwrap_or_else(|err| panic!("{err}"));
        assert_eq!(claims.sub, "myidentity");
        assert_eq!(claims.video.room, "myroom");
        assert_eq!(claims.video.room_join, Some(true));
        assert_eq!(claims.video.can_publish, None);
    }

    #[test]
    fn refuses_tampered_and_foreign_tokens() {
        let (signing_input, _) = VECTOR.rsplit_once('.').unwrap_or_default();
        let (header, _) = VECTOR.split_once('.').unwrap_or_default();
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                sub: "mallory".to_owned(),
                ..vector_claims()
            })
            .unwrap_or_default(),
        );
        let signature = &VECTOR[signing_input.len() + 1..];
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let payload = &signing_input[header.len() + 1..];
        let cases = [
            format!("{header}.{forged_payload}.{signature}"),
            format!("{none_header}.{payload}."),
            format!("{none_header}.{payload}.{signature}"),
            format!("{signing_input}."),
            format!("{VECTOR}.x"),
            signing_input.to_owned(),
            format!("{signing_input}.{}", &signature[1..]),
            "a.b.c".to_owned(),
            String::new(),
        ];
        for jwt in &cases {
            assert!(verify(jwt, &secret()).is_err(), "accepted {jwt}");
        }
        assert_eq!(
            verify(VECTOR, &Secret::new("another secret")),
            Err(RtcError::InvalidToken("signature mismatch"))
        );
    }

    #[test]
    fn any_changed_character_is_refused() {
        let mut rng = Rng::new(0x1c);
        for _ in 0..200 {
            let mut bytes = VECTOR.as_bytes().to_vec();
            let at = rng.below(bytes.len());
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap_or_default();
            assert!(verify(&tampered, &secret()).is_err(), "position {at}");
        }
    }
}
