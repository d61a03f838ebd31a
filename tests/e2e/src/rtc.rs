//! Proof that the `rtc` join parameters a device received would be
//! accepted by the RTC vendor: the token verifies with the app key, and it
//! names the call as the channel and the right user.
//!
//! The stack's default provider is Alibaba Cloud RTC with the `000…`
//! AppToken ([`switchboard_rtc::aliyun::apptoken`]); the ARTC SHA-256
//! scheme is checked too when the stack is configured for it.

use serde_json::Value;
use switchboard_rtc::aliyun::{apptoken, artc};
use switchboard_rtc::{AliyunJoin, RtcJoin, Secret};

use crate::error::{HarnessError, Result};
use crate::upstream::now_ms;

/// What a verified token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The RTC application.
    pub app_id: String,
    /// The media channel (the call ID).
    pub channel: String,
    /// The RTC user.
    pub user_id: String,
    /// When the token expires, ms since the epoch.
    pub expires_at: i64,
}

/// Verifies join parameters with the stack's RTC app ID and key.
pub struct TokenVerifier {
    app_id: String,
    app_key: Secret,
}

impl TokenVerifier {
    /// A verifier for application `app_id` signing with `app_key`.
    pub fn new(app_id: &str, app_key: &str) -> Self {
        Self {
            app_id: app_id.to_owned(),
            app_key: Secret::new(app_key),
        }
    }

    /// Checks `rtc` (the contract's `rtc` object) for a device of `user` in
    /// `call`: an Alibaba join whose fields and token name this app, the
    /// call as channel and the user, whose signature verifies and which has
    /// not expired.
    pub fn verify(&self, rtc: Option<&Value>, call: &str, user: &str) -> Result<Grant> {
        let rtc = rtc.ok_or_else(|| HarnessError::Rtc("the message has no rtc object".into()))?;
        let join: RtcJoin = serde_json::from_value(rtc.clone())
            .map_err(|e| HarnessError::Rtc(format!("not a contract rtc object: {e}")))?;
        let RtcJoin::Aliyun(join) = join else {
            return Err(HarnessError::Rtc(
                "the harness verifies Alibaba Cloud RTC joins only".into(),
            ));
        };
        let grant = if join.token.starts_with(apptoken::VERSION) {
            self.verify_apptoken(&join)?
        } else {
            self.verify_artc(&join)?
        };
        let expected = Grant {
            app_id: self.app_id.clone(),
            channel: call.to_owned(),
            user_id: user.to_owned(),
            expires_at: grant.expires_at,
        };
        if grant != expected || join.channel != call || join.user_id != user {
            return Err(HarnessError::Rtc(format!(
                "expected a token for {user} in {call} of app {}, got one for {} in {} \
                 (fields: user {}, channel {})",
                self.app_id, grant.user_id, grant.channel, join.user_id, join.channel
            )));
        }
        if u64::try_from(grant.expires_at).ok() != Some(join.expires_at) {
            return Err(HarnessError::Rtc(format!(
                "expires_at {} differs from the token's expiry {}",
                join.expires_at, grant.expires_at
            )));
        }
        if grant.expires_at <= now_ms() {
            return Err(HarnessError::Rtc("the token has already expired".into()));
        }
        Ok(grant)
    }

    fn verify_apptoken(&self, join: &AliyunJoin) -> Result<Grant> {
        let claims = apptoken::verify(&join.token, &self.app_key)?;
        if join.join_token != join.token {
            return Err(HarnessError::Rtc(
                "with the AppToken scheme, join_token must be the token itself".into(),
            ));
        }
        Ok(Grant {
            app_id: claims.app_id,
            channel: claims.channel_id,
            user_id: claims.user_id,
            expires_at: i64::from(claims.expire_timestamp) * 1000,
        })
    }

    fn verify_artc(&self, join: &AliyunJoin) -> Result<Grant> {
        let info = artc::verify_join_token(&join.join_token, &self.app_key)?;
        if info.token != join.token || info.timestamp != join.timestamp {
            return Err(HarnessError::Rtc(
                "the join token and the separate fields disagree".into(),
            ));
        }
        let expires_at = i64::try_from(info.timestamp)
            .ok()
            .and_then(|seconds| seconds.checked_mul(1000))
            .ok_or_else(|| HarnessError::Rtc("the token's timestamp is out of range".into()))?;
        Ok(Grant {
            app_id: info.app_id,
            channel: info.channel_id,
            user_id: info.user_id,
            expires_at,
        })
    }
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("app_id", &self.app_id)
            .field("app_key", &self.app_key)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;

    fn minted(app_key: &str, channel: &str, user: &str) -> Value {
        let expire = i32::try_from(now_ms() / 1000 + 3600).expect("2038 is far");
        let claims = apptoken::AppTokenClaims {
            app_id: "app".into(),
            issue_timestamp: expire - 3600,
            salt: 7,
            expire_timestamp: expire,
            channel_id: channel.into(),
            user_id: user.into(),
            privilege: None,
            options: BTreeMap::new(),
        };
        let token = apptoken::encode(&claims, &Secret::new(app_key)).expect("encodes");
        json!({
            "provider": "aliyun", "app_id": "app", "channel": channel, "user_id": user,
            "nonce": "", "timestamp": expire, "token": token, "gslb": [],
            "join_token": token, "expires_at": i64::from(expire) * 1000
        })
    }

    #[test]
    fn accepts_a_token_for_the_call_and_user() {
        let verifier = TokenVerifier::new("app", "key");
        let grant = verifier
            .verify(Some(&minted("key", "c-1", "bob")), "c-1", "bob")
            .expect("valid");
        assert_eq!(grant.channel, "c-1");
        assert_eq!(grant.user_id, "bob");
    }

    #[test]
    fn refuses_the_wrong_key_call_or_user() {
        let verifier = TokenVerifier::new("app", "key");
        let rtc = minted("key", "c-1", "bob");
        assert!(verifier.verify(Some(&rtc), "c-2", "bob").is_err());
        assert!(verifier.verify(Some(&rtc), "c-1", "alice").is_err());
        let forged = minted("other-key", "c-1", "bob");
        assert!(verifier.verify(Some(&forged), "c-1", "bob").is_err());
        assert!(verifier.verify(None, "c-1", "bob").is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let text = format!("{:?}", TokenVerifier::new("app", "very-secret"));
        assert!(!text.contains("very-secret"));
    }
}
