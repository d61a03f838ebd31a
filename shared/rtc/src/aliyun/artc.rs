//! The Alibaba Cloud ARTC SHA-256 token (the `AliRtcEngine` SDK), in its
//! multi-parameter form ([`AuthInfo`]) and its single-parameter form (the
//! Base64 JSON [`AuthInfo::join_token`]).
//!
//! ```text
//! token      = hex(SHA-256(app_id + app_key + channel_id + user_id + nonce + timestamp))
//! join token = Base64({"appid","channelid","nonce","timestamp","token","userid"})
//! ```
//!
//! `timestamp` is the expiry in Unix seconds (at most 24 h ahead). The nonce
//! should be empty: Alibaba's own samples disagree on whether it is hashed,
//! and with an empty nonce both readings give the same token.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use serde::{Deserialize, Serialize};

use crate::crypto::{constant_time_eq, hex, sha256};
use crate::{RtcError, Secret};

/// The SDK's `AliRtcAuthInfo`; its JSON form is the single-parameter join
/// token's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthInfo {
    /// The ARTC application ID.
    #[serde(rename = "appid")]
    pub app_id: String,
    /// The channel.
    #[serde(rename = "channelid")]
    pub channel_id: String,
    /// The nonce; empty unless interoperating with old `AK-` clients.
    pub nonce: String,
    /// The token's expiry, Unix seconds.
    pub timestamp: u64,
    /// The 64-hex SHA-256 token.
    pub token: String,
    /// The user.
    #[serde(rename = "userid")]
    pub user_id: String,
}

impl AuthInfo {
    /// Signs the join of `user_id` to `channel_id` until `timestamp`.
    pub fn sign(
        app_id: &str,
        app_key: &Secret,
        channel_id: &str,
        user_id: &str,
        nonce: &str,
        timestamp: u64,
    ) -> Self {
        let token = token(app_id, app_key, channel_id, user_id, nonce, timestamp);
        Self {
            app_id: app_id.to_owned(),
            channel_id: channel_id.to_owned(),
            nonce: nonce.to_owned(),
            timestamp,
            token,
            user_id: user_id.to_owned(),
        }
    }

    /// The single-parameter join token: standard Base64 of the JSON object
    /// with sorted keys and no spaces (what the Go sample produces).
    pub fn join_token(&self) -> String {
        // `json!` builds a map that serializes with sorted keys; the keys
        // are written in sorted order too, so the output is the same when
        // serde_json's `preserve_order` feature is on.
        let json = serde_json::json!({
            "appid": self.app_id,
            "channelid": self.channel_id,
            "nonce": self.nonce,
            "timestamp": self.timestamp,
            "token": self.token,
            "userid": self.user_id,
        });
        STANDARD.encode(json.to_string())
    }
}

/// The 64-hex SHA-256 token.
pub fn token(
    app_id: &str,
    app_key: &Secret,
    channel_id: &str,
    user_id: &str,
    nonce: &str,
    timestamp: u64,
) -> String {
    hex(&sha256(&[
        app_id.as_bytes(),
        app_key.as_bytes(),
        channel_id.as_bytes(),
        user_id.as_bytes(),
        nonce.as_bytes(),
        timestamp.to_string().as_bytes(),
    ]))
}

/// Checks that `info.token` signs the other fields, in constant time. It
/// does not look at the clock or at which application `info` names.
pub fn verify(info: &AuthInfo, app_key: &Secret) -> Result<(), RtcError> {
    let expected = token(
        &info.app_id,
        app_key,
        &info.channel_id,
        &info.user_id,
        &info.nonce,
        info.timestamp,
    );
    if constant_time_eq(expected.as_bytes(), info.token.as_bytes()) {
        Ok(())
    } else {
        Err(RtcError::InvalidToken("signature mismatch"))
    }
}

/// Decodes a single-parameter join token (any key order and whitespace, as
/// the official samples differ) and [`verify`]s it.
pub fn verify_join_token(join_token: &str, app_key: &Secret) -> Result<AuthInfo, RtcError> {
    let json = STANDARD
        .decode(join_token)
        .map_err(|_| RtcError::InvalidToken("not Base64"))?;
    let info: AuthInfo = serde_json::from_slice(&json)
        .map_err(|_| RtcError::InvalidToken("not an ARTC auth info object"))?;
    verify(&info, app_key)?;
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const DOC_TOKEN: &str = "3c9ee8d9f8734f0b7560ed8022a0590659113955819724fc9345ab8eedf84f31";
    const GO_JOIN_TOKEN: &str = "eyJhcHBpZCI6ImFiYyIsImNoYW5uZWxpZCI6ImFiY0NoYW5uZWwiLCJub25jZSI6IiIsInRpbWVzdGFtcCI6MTY5OTQyMzYzNCwidG9rZW4iOiIzYzllZThkOWY4NzM0ZjBiNzU2MGVkODAyMmEwNTkwNjU5MTEzOTU1ODE5NzI0ZmM5MzQ1YWI4ZWVkZjg0ZjMxIiwidXNlcmlkIjoiYWJjVXNlciJ9";
    const PYTHON_JOIN_TOKEN: &str = "eyJhcHBpZCI6ICJhYmMiLCAiY2hhbm5lbGlkIjogImFiY0NoYW5uZWwiLCAidXNlcmlkIjogImFiY1VzZXIiLCAibm9uY2UiOiAiIiwgInRpbWVzdGFtcCI6IDE2OTk0MjM2MzQsICJ0b2tlbiI6ICIzYzllZThkOWY4NzM0ZjBiNzU2MGVkODAyMmEwNTkwNjU5MTEzOTU1ODE5NzI0ZmM5MzQ1YWI4ZWVkZjg0ZjMxIn0=";

    fn key() -> Secret {
        Secret::new("abckey")
    }

    fn doc_info() -> AuthInfo {
        AuthInfo::sign("abc", &key(), "abcChannel", "abcUser", "", 1_699_423_634)
    }

    #[test]
    fn official_vector() {
        assert_eq!(doc_info().token, DOC_TOKEN);
    }

    #[test]
    fn nonce_is_hashed_after_the_user() {
        let nonce = "AK-2b9be4b25c2d38c409c376ffd2372be1";
        let info = AuthInfo::sign("abc", &key(), "abcChannel", "abcUser", nonce, 1_699_423_634);
        assert_eq!(
            info.token,
            "7034a32b083a753c76bc7a6607dfe4d59f4aee3cd404c71ea5bbfe7158812198"
        );
        assert_eq!(verify(&info, &key()), Ok(()));
    }

    #[test]
    fn join_token_matches_the_go_sample_exactly() {
        assert_eq!(doc_info().join_token(), GO_JOIN_TOKEN);
    }

    #[test]
    fn join_tokens_of_both_samples_verify_to_the_same_fields() {
        assert_eq!(verify_join_token(GO_JOIN_TOKEN, &key()), Ok(doc_info()));
        assert_eq!(verify_join_token(PYTHON_JOIN_TOKEN, &key()), Ok(doc_info()));
    }

    #[test]
    fn refuses_tampering_and_garbage() {
        let mut info = doc_info();
        info.user_id = "abcUser2".to_owned();
        let forged = info.join_token();
        let wrong_key = Secret::new("abckey2");
        let cases = [
            (GO_JOIN_TOKEN, &wrong_key),
            (forged.as_str(), &key()),
            ("not base64!", &key()),
            ("e30=", &key()), // {}
        ];
        for (join_token, app_key) in cases {
            assert!(
                verify_join_token(join_token, app_key).is_err(),
                "accepted {join_token}"
            );
        }
        let mut uppercase = doc_info();
        uppercase.token = uppercase.token.to_uppercase();
        assert!(verify(&uppercase, &key()).is_err());
    }

    #[test]
    fn random_join_tokens_round_trip() {
        let mut rng = Rng::new(0xa47c);
        for _ in 0..64 {
            let key = Secret::new(rng.identifier(1, 64));
            let info = AuthInfo::sign(
                &rng.identifier(1, 32),
                &key,
                &rng.identifier(1, 64),
                &rng.identifier(1, 64),
                "",
                rng.next_u64() >> 20,
            );
            assert_eq!(info.token.len(), 64);
            assert_eq!(verify_join_token(&info.join_token(), &key), Ok(info));
        }
    }
}
