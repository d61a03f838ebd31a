//! The contract's `rtc` object (PROTOCOL.md §4): what a device needs to join
//! the media channel of a call.

use serde::{Deserialize, Serialize};

/// Join parameters for one device, serialized exactly as the contract's `rtc`
/// object: `{"provider": "aliyun" | "agora" | "livekit", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum RtcJoin {
    /// Alibaba Cloud RTC.
    Aliyun(AliyunJoin),
    /// Agora RTC with an AccessToken2.
    Agora(AgoraJoin),
    /// LiveKit with an access-token JWT.
    Livekit(LivekitJoin),
}

impl RtcJoin {
    /// When the token stops being accepted, milliseconds since the epoch.
    pub fn expires_at(&self) -> u64 {
        match self {
            Self::Aliyun(join) => join.expires_at,
            Self::Agora(join) => join.expires_at,
            Self::Livekit(join) => join.expires_at,
        }
    }
}

/// Alibaba Cloud RTC: the fields of the SDK's `AliRtcAuthInfo` plus a
/// single-parameter `join_token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliyunJoin {
    /// The RTC application ID.
    pub app_id: String,
    /// The channel (the call ID).
    pub channel: String,
    /// The user ID.
    pub user_id: String,
    /// Always empty, as Alibaba recommends.
    pub nonce: String,
    /// The token's expiry, Unix **seconds** (the vendor's field).
    pub timestamp: u64,
    /// The multi-parameter token (for the `000` AppToken scheme, the AppToken
    /// itself; for the ARTC scheme, the 64-hex SHA-256 token).
    pub token: String,
    /// GSLB server URLs, from `rtc_gslb`.
    pub gslb: Vec<String>,
    /// The single-parameter token (AppToken, or Base64 JSON for ARTC).
    pub join_token: String,
    /// The token's expiry, milliseconds since the epoch.
    pub expires_at: u64,
}

/// Agora RTC: join with a string user account and an AccessToken2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgoraJoin {
    /// The Agora App ID.
    pub app_id: String,
    /// The channel name (the call ID).
    pub channel: String,
    /// The user account the token is bound to (the user ID).
    pub uid: String,
    /// The `007…` AccessToken2.
    pub token: String,
    /// The token's expiry, milliseconds since the epoch.
    pub expires_at: u64,
}

/// LiveKit: connect to `url` with the JWT `token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LivekitJoin {
    /// The LiveKit server URL, from `rtc_url`.
    pub url: String,
    /// The room (the call ID).
    pub room: String,
    /// The participant identity (the user ID).
    pub identity: String,
    /// The HS256 access token.
    pub token: String,
    /// The token's expiry, milliseconds since the epoch.
    pub expires_at: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_as_the_contract_rtc_object() {
        let join = RtcJoin::Agora(AgoraJoin {
            app_id: "a".into(),
            channel: "c-1".into(),
            uid: "bob".into(),
            token: "007x".into(),
            expires_at: 1_700_000_000_000,
        });
        let value = serde_json::to_value(&join).ok();
        assert_eq!(
            value,
            Some(
                json!({"provider": "agora", "app_id": "a", "channel": "c-1", "uid": "bob",
                        "token": "007x", "expires_at": 1_700_000_000_000_u64})
            )
        );
        assert_eq!(join.expires_at(), 1_700_000_000_000);
    }

    #[test]
    fn round_trips_every_provider() {
        let joins = [
            RtcJoin::Aliyun(AliyunJoin {
                app_id: "a".into(),
                channel: "c".into(),
                user_id: "u".into(),
                nonce: String::new(),
                timestamp: 2,
                token: "t".into(),
                gslb: vec!["https://rgslb.rtc.aliyuncs.com".into()],
                join_token: "j".into(),
                expires_at: 2000,
            }),
            RtcJoin::Livekit(LivekitJoin {
                url: "wss://lk".into(),
                room: "c".into(),
                identity: "u".into(),
                token: "t".into(),
                expires_at: 3000,
            }),
        ];
        for join in joins {
            let text = serde_json::to_string(&join).unwrap_or_default();
            assert_eq!(serde_json::from_str::<RtcJoin>(&text).ok(), Some(join));
        }
    }

    #[test]
    fn aliyun_has_exactly_the_contract_fields() {
        let join = RtcJoin::Aliyun(AliyunJoin {
            app_id: "a".into(),
            channel: "c".into(),
            user_id: "u".into(),
            nonce: String::new(),
            timestamp: 2,
            token: "t".into(),
            gslb: vec![],
            join_token: "j".into(),
            expires_at: 2000,
        });
        let value = serde_json::to_value(&join).unwrap_or_default();
        let mut keys: Vec<&str> = value
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "app_id",
                "channel",
                "expires_at",
                "gslb",
                "join_token",
                "nonce",
                "provider",
                "timestamp",
                "token",
                "user_id"
            ]
        );
    }
}
