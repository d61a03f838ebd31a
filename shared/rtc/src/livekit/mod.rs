//! LiveKit: the provider and its JWT access tokens.
//!
//! A device connects to `rtc_url` with a token whose identity is the user
//! ID and whose `video` grant lets it join the call's room, publish and
//! subscribe. LiveKit has no maximum lifetime, so the TTL is used as given.

mod jwt;

pub use jwt::{sign, verify, Claims, VideoGrant};

use crate::request::{check_identifier, unix_millis};
use crate::{JoinRequest, LivekitJoin, RtcError, RtcJoin, Secret, TokenProvider};

/// LiveKit accepts any text; we only refuse what cannot be meant.
const ROOM_AND_IDENTITY_CHARS: &str = "any characters but control characters";
const MAX_ROOM_AND_IDENTITY_LEN: usize = 256;

/// Mints LiveKit join parameters.
#[derive(Debug, Clone)]
pub struct LivekitProvider {
    url: String,
    api_key: String,
    api_secret: Secret,
}

impl LivekitProvider {
    /// A provider for the server at `url` (`wss://`, `ws://`, `https://` or
    /// `http://`), signing as `api_key` with `api_secret`.
    pub fn new(url: &str, api_key: &str, api_secret: Secret) -> Result<Self, RtcError> {
        let has_host = ["wss://", "ws://", "https://", "http://"]
            .iter()
            .find_map(|scheme| url.strip_prefix(scheme))
            .is_some_and(|rest| !rest.is_empty() && !rest.chars().any(char::is_whitespace));
        if !has_host {
            return Err(RtcError::InvalidConfig(
                "rtc_url must be the LiveKit server's ws(s):// or http(s):// URL".to_owned(),
            ));
        }
        if api_key.is_empty() || api_key.chars().any(char::is_whitespace) {
            return Err(RtcError::InvalidConfig(
                "rtc_app_id must be the LiveKit API key".to_owned(),
            ));
        }
        if api_secret.as_str().is_empty() {
            return Err(RtcError::InvalidConfig(
                "rtc_app_key must be set to the LiveKit API secret".to_owned(),
            ));
        }
        Ok(Self {
            url: url.to_owned(),
            api_key: api_key.to_owned(),
            api_secret,
        })
    }
}

impl TokenProvider for LivekitProvider {
    fn mint(&self, req: &JoinRequest<'_>) -> Result<RtcJoin, RtcError> {
        for (what, value) in [("channel", req.channel), ("user_id", req.user_id)] {
            check_identifier(
                what,
                value,
                MAX_ROOM_AND_IDENTITY_LEN,
                ROOM_AND_IDENTITY_CHARS,
                |c| !c.is_control(),
            )?;
        }
        let ttl = req.ttl_capped_at(u32::MAX)?;
        let expiry = req.expiry_unix(ttl)?;
        let claims = Claims {
            exp: expiry,
            iss: self.api_key.clone(),
            name: None,
            nbf: req.now_unix,
            sub: req.user_id.to_owned(),
            video: VideoGrant {
                can_publish: Some(true),
                can_publish_data: Some(true),
                can_subscribe: Some(true),
                room: req.channel.to_owned(),
                room_join: Some(true),
            },
        };
        Ok(RtcJoin::Livekit(LivekitJoin {
            url: self.url.clone(),
            room: req.channel.to_owned(),
            identity: req.user_id.to_owned(),
            token: sign(&claims, &self.api_secret)?,
            expires_at: unix_millis(expiry),
        }))
    }

    fn provider(&self) -> &'static str {
        "livekit"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const SECRET: &str = "exampleSecretexampleSecretexampleSecret";

    fn provider() -> LivekitProvider {
        LivekitProvider::new("wss://lk.example.com", "APIexampleKey", Secret::new(SECRET))
            .unwrap_or_else(|err| panic!("{err}"))
    }

    fn mint(req: &JoinRequest<'_>) -> LivekitJoin {
        match provider().mint(req) {
            Ok(RtcJoin::Livekit(join)) => join,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn mints_a_token_that_verifies_with_the_room_grant() {
        let req = JoinRequest {
            channel: "c-01JD",
            user_id: "alice",
            now_unix: 1_700_000_000,
            ttl_seconds: 3600,
            salt: 9,
        };
        let join = mint(&req);
        assert_eq!(join.url, "wss://lk.example.com");
        assert_eq!(
            (join.room.as_str(), join.identity.as_str()),
            ("c-01JD", "alice")
        );
        assert_eq!(join.expires_at, 1_700_003_600_000);
        let claims = verify(&join.token, &Secret::new(SECRET));
        assert_eq!(
            claims,
            Ok(Claims {
                exp: 1_700_003_600,
                iss: "APIexampleKey".to_owned(),
                name: None,
                nbf: 1_700_000_000,
                sub: "alice".to_owned(),
                video: VideoGrant {
                    can_publish: Some(true),
                    can_publish_data: Some(true),
                    can_subscribe: Some(true),
                    room: "c-01JD".to_owned(),
                    room_join: Some(true),
                },
            })
        );
        assert!(verify(&join.token, &Secret::new("wrong")).is_err());
    }

    #[test]
    fn refuses_bad_requests_and_configuration() {
        let req = JoinRequest {
            channel: "c\n1",
            user_id: "alice",
            now_unix: 1,
            ttl_seconds: 60,
            salt: 0,
        };
        assert!(matches!(
            provider().mint(&req),
            Err(RtcError::InvalidInput(_))
        ));
        let zero_ttl = JoinRequest {
            channel: "c",
            ttl_seconds: 0,
            ..req
        };
        assert!(provider().mint(&zero_ttl).is_err());
        let secret = || Secret::new(SECRET);
        for result in [
            LivekitProvider::new("lk.example.com", "key", secret()),
            LivekitProvider::new("wss://", "key", secret()),
            LivekitProvider::new("wss://lk", "", secret()),
            LivekitProvider::new("wss://lk", "key", Secret::new("")),
        ] {
            assert!(matches!(result, Err(RtcError::InvalidConfig(_))));
        }
        assert!(!format!("{:?}", provider()).contains(SECRET));
    }

    #[test]
    fn random_requests_mint_verifiable_tokens() {
        let mut rng = Rng::new(0x11e);
        for _ in 0..32 {
            let channel = rng.identifier(1, 256);
            let user = rng.identifier(1, 256);
            let req = JoinRequest {
                channel: &channel,
                user_id: &user,
                now_unix: rng.next_u64() >> 24,
                ttl_seconds: 1 + (rng.next_u64() >> 40) as u32,
                salt: rng.next_i32(),
            };
            let join = mint(&req);
            let claims =
                verify(&join.token, &Secret::new(SECRET)).unwrap_or_else(|err| panic!("{err}"));
            assert_eq!((claims.sub, claims.video.room), (user, channel));
            assert_eq!(claims.exp * 1000, join.expires_at);
        }
    }
}
