//! Agora RTC: the provider and the AccessToken2 format.
//!
//! Devices join with a string user account (the user ID) and publisher
//! privileges (join, publish audio, video and data), all valid for the
//! token's lifetime, at most 24 hours.

mod access_token2;

pub use access_token2::{
    encode, verify, RtcTokenClaims, PRIVILEGE_JOIN_CHANNEL, PRIVILEGE_PUBLISH_AUDIO,
    PRIVILEGE_PUBLISH_DATA, PRIVILEGE_PUBLISH_VIDEO, SERVICE_RTC, VERSION,
};

use crate::request::{check_identifier, unix_millis, MAX_VENDOR_TTL_SECONDS};
use crate::{AgoraJoin, JoinRequest, RtcError, RtcJoin, Secret, TokenProvider};

/// Agora's reference builders draw the salt from `1..=99_999_999`.
const SALT_RANGE: u32 = 99_999_999;

/// Characters Agora allows in channel names and user accounts.
const AGORA_CHARS: &str =
    "A-Z a-z 0-9 space and ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { } | ~ ,";

/// Mints Agora join parameters.
#[derive(Debug, Clone)]
pub struct AgoraProvider {
    app_id: String,
    app_certificate: Secret,
}

impl AgoraProvider {
    /// A provider for App ID `app_id` signing with its primary
    /// `app_certificate`; both are 32 hex digits.
    pub fn new(app_id: &str, app_certificate: Secret) -> Result<Self, RtcError> {
        if !is_32_hex(app_id) {
            return Err(RtcError::InvalidConfig(
                "rtc_app_id must be a 32-hex-digit Agora App ID".to_owned(),
            ));
        }
        if !is_32_hex(app_certificate.as_str()) {
            return Err(RtcError::InvalidConfig(
                "rtc_app_key must be a 32-hex-digit Agora app certificate".to_owned(),
            ));
        }
        Ok(Self {
            app_id: app_id.to_owned(),
            app_certificate,
        })
    }
}

impl TokenProvider for AgoraProvider {
    fn mint(&self, req: &JoinRequest<'_>) -> Result<RtcJoin, RtcError> {
        check_identifier("channel", req.channel, 63, AGORA_CHARS, is_agora_char)?;
        check_identifier("user_id", req.user_id, 255, AGORA_CHARS, is_agora_char)?;
        let issue_ts = u32::try_from(req.now_unix).map_err(|_| {
            RtcError::InvalidInput("time is beyond AccessToken2's 32-bit range".to_owned())
        })?;
        let ttl = req.ttl_capped_at(MAX_VENDOR_TTL_SECONDS)?;
        let expiry = req.expiry_unix(ttl)?;
        let claims = RtcTokenClaims {
            app_id: self.app_id.clone(),
            issue_ts,
            expire: ttl,
            salt: agora_salt(req.salt),
            channel_name: req.channel.to_owned(),
            uid: req.user_id.to_owned(),
            privileges: [
                PRIVILEGE_JOIN_CHANNEL,
                PRIVILEGE_PUBLISH_AUDIO,
                PRIVILEGE_PUBLISH_VIDEO,
                PRIVILEGE_PUBLISH_DATA,
            ]
            .into_iter()
            .map(|privilege| (privilege, ttl))
            .collect(),
        };
        Ok(RtcJoin::Agora(AgoraJoin {
            app_id: self.app_id.clone(),
            channel: req.channel.to_owned(),
            uid: req.user_id.to_owned(),
            token: encode(&claims, &self.app_certificate)?,
            expires_at: unix_millis(expiry),
        }))
    }

    fn provider(&self) -> &'static str {
        "agora"
    }
}

/// Maps the caller's random `i32` into the range Agora's builders use.
fn agora_salt(salt: i32) -> u32 {
    // Reinterpreting the bits keeps every input distinct before the modulo.
    1 + (salt as u32) % SALT_RANGE
}

fn is_32_hex(value: &str) -> bool {
    value.len() == 32 && value.chars().all(|c| c.is_ascii_hexdigit())
}

fn is_agora_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " !#$%&()+-:;<=.>?@[]^_{}|~,".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const APP_ID: &str = "970CA35de60c44645bbae8a215061b33";
    const CERTIFICATE: &str = "5CFd2fd1755d40ecb72977518be15d3b";

    fn provider() -> AgoraProvider {
        AgoraProvider::new(APP_ID, Secret::new(CERTIFICATE)).unwrap_or_else(|err| panic!("{err}"))
    }

    fn mint(req: &JoinRequest<'_>) -> AgoraJoin {
        match provider().mint(req) {
            Ok(RtcJoin::Agora(join)) => join,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn mints_a_publisher_token_for_the_user_account() {
        let req = JoinRequest {
            channel: "c-01JD",
            user_id: "bob.smith",
            now_unix: 1_700_000_000,
            ttl_seconds: 3600,
            salt: -5,
        };
        let join = mint(&req);
        assert_eq!(
            (join.app_id.as_str(), join.channel.as_str()),
            (APP_ID, "c-01JD")
        );
        assert_eq!(join.uid, "bob.smith");
        assert_eq!(join.expires_at, 1_700_003_600_000);
        assert_eq!(
            verify(&join.token, &Secret::new(CERTIFICATE)),
            Ok(RtcTokenClaims {
                app_id: APP_ID.to_owned(),
                issue_ts: 1_700_000_000,
                expire: 3600,
                salt: agora_salt(-5),
                channel_name: "c-01JD".to_owned(),
                uid: "bob.smith".to_owned(),
                privileges: (1..=4).map(|privilege| (privilege, 3600)).collect(),
            })
        );
    }

    #[test]
    fn ttl_is_capped_at_24_hours() {
        let req = JoinRequest {
            channel: "c",
            user_id: "u",
            now_unix: 1_700_000_000,
            ttl_seconds: u32::MAX,
            salt: 0,
        };
        let join = mint(&req);
        assert_eq!(join.expires_at, (1_700_000_000 + 86_400) * 1000);
        let claims = verify(&join.token, &Secret::new(CERTIFICATE));
        assert_eq!(claims.map(|claims| claims.expire), Ok(86_400));
    }

    #[test]
    fn salt_stays_in_agoras_range() {
        for salt in [i32::MIN, -1, 0, 1, 99_999_998, i32::MAX] {
            assert!((1..=SALT_RANGE).contains(&agora_salt(salt)), "{salt}");
        }
        assert_ne!(agora_salt(-1), agora_salt(1));
    }

    #[test]
    fn refuses_bad_identifiers_and_times() {
        let long_channel = "c".repeat(64);
        let long_user = "u".repeat(256);
        let cases = [
            ("", "u", 0),
            ("c", "", 0),
            ("c/1", "u", 0),
            ("c", "u\u{e9}", 0),
            (long_channel.as_str(), "u", 0),
            ("c", long_user.as_str(), 0),
            ("c", "u", u64::from(u32::MAX) + 1),
        ];
        for (channel, user_id, now_unix) in cases {
            let req = JoinRequest {
                channel,
                user_id,
                now_unix,
                ttl_seconds: 60,
                salt: 1,
            };
            assert!(
                matches!(provider().mint(&req), Err(RtcError::InvalidInput(_))),
                "{channel:?}/{user_id:?}/{now_unix}"
            );
        }
    }

    #[test]
    fn refuses_bad_configuration_without_echoing_the_certificate() {
        let cases = [
            AgoraProvider::new("not-hex", Secret::new(CERTIFICATE)),
            AgoraProvider::new(APP_ID, Secret::new("short-secret")),
        ];
        for result in cases {
            let Err(err) = result else {
                panic!("accepted a bad configuration");
            };
            assert!(matches!(err, RtcError::InvalidConfig(_)));
            assert!(!err.to_string().contains("short-secret"));
        }
        assert!(!format!("{:?}", provider()).contains(CERTIFICATE));
    }

    #[test]
    fn random_requests_mint_verifiable_tokens() {
        let mut rng = Rng::new(0xa90);
        for _ in 0..32 {
            let channel = rng.identifier(1, 63);
            let user = rng.identifier(1, 255);
            let req = JoinRequest {
                channel: &channel,
                user_id: &user,
                now_unix: rng.next_u64() % u64::from(u32::MAX),
                ttl_seconds: 1 + (rng.next_u64() % 100_000) as u32,
                salt: rng.next_i32(),
            };
            let join = mint(&req);
            let claims = verify(&join.token, &Secret::new(CERTIFICATE))
                .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!((claims.channel_name, claims.uid), (channel, user));
            assert_eq!(
                u64::from(claims.issue_ts) + u64::from(claims.expire),
                join.expires_at / 1000
            );
        }
    }
}
