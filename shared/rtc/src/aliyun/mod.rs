//! Alibaba Cloud RTC: the provider and its two token schemes.
//!
//! - [`apptoken`]: the `000…` HMAC AppToken of the RTC console (DingRTC
//!   engine). The same token serves as `token` and `join_token`.
//! - [`artc`]: the SHA-256 token of the ARTC SDK (`AliRtcEngine`), with the
//!   Base64-JSON single-parameter `join_token`.
//!
//! Both take an absolute expiry that the vendor caps at 24 hours, and both
//! always use an empty nonce.

pub mod apptoken;
pub mod artc;

use std::collections::BTreeMap;

use crate::request::{check_identifier, unix_millis, MAX_VENDOR_TTL_SECONDS};
use crate::{AliyunJoin, JoinRequest, RtcError, RtcJoin, Secret, TokenProvider};

/// Which Alibaba token scheme the devices' SDK expects (`rtc_token_scheme`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AliyunScheme {
    /// The `000…` HMAC AppToken ([`apptoken`]), the default.
    AppToken,
    /// The ARTC SHA-256 token ([`artc`]).
    Artc,
}

impl AliyunScheme {
    /// Parses `rtc_token_scheme`: `apptoken` or `artc`.
    pub fn parse(value: &str) -> Result<Self, RtcError> {
        match value {
            "apptoken" => Ok(Self::AppToken),
            "artc" => Ok(Self::Artc),
            other => Err(RtcError::InvalidConfig(format!(
                "rtc_token_scheme must be \"apptoken\" or \"artc\", not {other:?}"
            ))),
        }
    }
}

/// Mints Alibaba Cloud RTC join parameters.
#[derive(Debug, Clone)]
pub struct AliyunProvider {
    app_id: String,
    app_key: Secret,
    gslb: Vec<String>,
    scheme: AliyunScheme,
}

impl AliyunProvider {
    /// A provider for application `app_id`, signing with `app_key`, that
    /// hands devices the `gslb` URLs (may be empty for single-parameter
    /// joins, which need none).
    pub fn new(
        app_id: &str,
        app_key: Secret,
        gslb: Vec<String>,
        scheme: AliyunScheme,
    ) -> Result<Self, RtcError> {
        if app_id.is_empty() || app_id.chars().any(char::is_whitespace) {
            return Err(RtcError::InvalidConfig(
                "rtc_app_id must be a non-empty Alibaba Cloud RTC app ID".to_owned(),
            ));
        }
        if app_key.as_str().is_empty() {
            return Err(RtcError::InvalidConfig(
                "rtc_app_key must be set to the Alibaba Cloud RTC app key".to_owned(),
            ));
        }
        if let Some(url) = gslb.iter().find(|url| !is_http_url(url)) {
            return Err(RtcError::InvalidConfig(format!(
                "rtc_gslb entries must be http(s) URLs, not {url:?}"
            )));
        }
        Ok(Self {
            app_id: app_id.to_owned(),
            app_key,
            gslb,
            scheme,
        })
    }

    fn tokens(&self, req: &JoinRequest<'_>, expiry: u64) -> Result<(String, String), RtcError> {
        match self.scheme {
            AliyunScheme::AppToken => {
                let claims = apptoken::AppTokenClaims {
                    app_id: self.app_id.clone(),
                    issue_timestamp: to_i32_seconds(req.now_unix)?,
                    salt: req.salt,
                    expire_timestamp: to_i32_seconds(expiry)?,
                    channel_id: req.channel.to_owned(),
                    user_id: req.user_id.to_owned(),
                    privilege: None,
                    options: BTreeMap::new(),
                };
                let token = apptoken::encode(&claims, &self.app_key)?;
                Ok((token.clone(), token))
            }
            AliyunScheme::Artc => {
                let info = artc::AuthInfo::sign(
                    &self.app_id,
                    &self.app_key,
                    req.channel,
                    req.user_id,
                    "",
                    expiry,
                );
                let join_token = info.join_token();
                Ok((info.token, join_token))
            }
        }
    }
}

impl TokenProvider for AliyunProvider {
    fn mint(&self, req: &JoinRequest<'_>) -> Result<RtcJoin, RtcError> {
        check_identifier(
            "channel",
            req.channel,
            64,
            IDENTIFIER_CHARS,
            is_identifier_char,
        )?;
        if req.channel == "0" {
            return Err(RtcError::InvalidInput(
                "channel must not be \"0\" for Alibaba Cloud RTC".to_owned(),
            ));
        }
        check_identifier(
            "user_id",
            req.user_id,
            64,
            IDENTIFIER_CHARS,
            is_identifier_char,
        )?;
        let ttl = req.ttl_capped_at(MAX_VENDOR_TTL_SECONDS)?;
        let expiry = req.expiry_unix(ttl)?;
        let (token, join_token) = self.tokens(req, expiry)?;
        Ok(RtcJoin::Aliyun(AliyunJoin {
            app_id: self.app_id.clone(),
            channel: req.channel.to_owned(),
            user_id: req.user_id.to_owned(),
            nonce: String::new(),
            timestamp: expiry,
            token,
            gslb: self.gslb.clone(),
            join_token,
            expires_at: unix_millis(expiry),
        }))
    }

    fn provider(&self) -> &'static str {
        "aliyun"
    }
}

/// Alibaba documents channel and user IDs as 1 to 64 characters of these.
const IDENTIFIER_CHARS: &str = "A-Z a-z 0-9 - _";

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

fn is_http_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    rest.is_some_and(|rest| !rest.is_empty() && !rest.chars().any(char::is_whitespace))
}

/// AppToken timestamps are signed 32-bit (they run out in January 2038).
fn to_i32_seconds(unix: u64) -> Result<i32, RtcError> {
    i32::try_from(unix).map_err(|_| {
        RtcError::InvalidInput("time is beyond the AppToken's 32-bit range".to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::Rng;

    const NOW: u64 = 1_712_805_770;

    fn provider(scheme: AliyunScheme) -> AliyunProvider {
        let gslb = vec!["https://rgslb.rtc.aliyuncs.com".to_owned()];
        AliyunProvider::new("appId", Secret::new("appKey"), gslb, scheme)
            .unwrap_or_else(|err| panic!("{err}"))
    }

    fn request<'a>(channel: &'a str, user_id: &'a str, ttl_seconds: u32) -> JoinRequest<'a> {
        JoinRequest {
            channel,
            user_id,
            now_unix: NOW,
            ttl_seconds,
            salt: 1_275_850_363,
        }
    }

    fn mint(scheme: AliyunScheme, req: &JoinRequest<'_>) -> AliyunJoin {
        match provider(scheme).mint(req) {
            Ok(RtcJoin::Aliyun(join)) => join,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn apptoken_join_carries_one_verifiable_token() {
        let join = mint(AliyunScheme::AppToken, &request("test1", "test2", 10_001));
        assert_eq!(join.token, join.join_token);
        assert_eq!(join.nonce, "");
        assert_eq!(join.timestamp, NOW + 10_001);
        assert_eq!(join.expires_at, (NOW + 10_001) * 1000);
        assert_eq!(join.gslb, ["https://rgslb.rtc.aliyuncs.com"]);
        let claims = apptoken::verify(&join.token, &Secret::new("appKey"));
        let Ok(claims) = claims else {
            panic!("minted token does not verify: {claims:?}");
        };
        assert_eq!(
            (
                claims.app_id.as_str(),
                claims.channel_id.as_str(),
                claims.user_id.as_str()
            ),
            ("appId", "test1", "test2")
        );
        assert_eq!(claims.issue_timestamp, 1_712_805_770);
        assert_eq!(claims.expire_timestamp, 1_712_815_771);
        assert_eq!(claims.salt, 1_275_850_363);
        assert_eq!(claims.privilege, None);
    }

    #[test]
    fn artc_join_carries_both_forms_of_the_token() {
        let join = mint(AliyunScheme::Artc, &request("abcChannel", "abcUser", 600));
        let info = artc::verify_join_token(&join.join_token, &Secret::new("appKey"));
        assert_eq!(
            info,
            Ok(artc::AuthInfo {
                app_id: "appId".to_owned(),
                channel_id: "abcChannel".to_owned(),
                nonce: String::new(),
                timestamp: NOW + 600,
                token: join.token.clone(),
                user_id: "abcUser".to_owned(),
            })
        );
        assert_eq!(join.timestamp, NOW + 600);
    }

    #[test]
    fn ttl_is_capped_at_24_hours_for_both_schemes() {
        for scheme in [AliyunScheme::AppToken, AliyunScheme::Artc] {
            let join = mint(scheme, &request("c-1", "u", 7 * 86_400));
            assert_eq!(join.timestamp, NOW + 86_400, "{scheme:?}");
        }
    }

    #[test]
    fn refuses_identifiers_alibaba_does_not_allow() {
        let aliyun = provider(AliyunScheme::AppToken);
        let long = "x".repeat(65);
        for (channel, user) in [("", "u"), ("c", ""), ("0", "u"), ("c", "a.b"), (&long, "u")] {
            let result = aliyun.mint(&request(channel, user, 60));
            assert!(
                matches!(result, Err(RtcError::InvalidInput(_))),
                "{channel:?}/{user:?}: {result:?}"
            );
        }
    }

    #[test]
    fn refuses_times_beyond_2038_for_apptoken_only() {
        let req = JoinRequest {
            now_unix: i32::MAX as u64,
            ..request("c", "u", 60)
        };
        assert!(provider(AliyunScheme::AppToken).mint(&req).is_err());
        assert!(provider(AliyunScheme::Artc).mint(&req).is_ok());
    }

    #[test]
    fn refuses_bad_configuration_without_echoing_the_key() {
        let key = || Secret::new("s3cret-key");
        let cases = [
            AliyunProvider::new("", key(), vec![], AliyunScheme::AppToken),
            AliyunProvider::new("app", Secret::new(""), vec![], AliyunScheme::AppToken),
            AliyunProvider::new("app", key(), vec!["ftp://x".into()], AliyunScheme::Artc),
            AliyunProvider::new("app", key(), vec!["https://".into()], AliyunScheme::Artc),
        ];
        for result in cases {
            let Err(err) = result else {
                panic!("accepted a bad configuration");
            };
            assert!(matches!(err, RtcError::InvalidConfig(_)));
            assert!(!err.to_string().contains("s3cret"));
        }
        assert!(!format!("{:?}", provider(AliyunScheme::Artc)).contains("appKey"));
        assert_eq!(AliyunScheme::parse("artc"), Ok(AliyunScheme::Artc));
        assert!(AliyunScheme::parse("ARTC").is_err());
    }

    #[test]
    fn random_requests_mint_verifiable_tokens() {
        let mut rng = Rng::new(0xa11);
        let key = Secret::new("appKey");
        for _ in 0..32 {
            let channel = rng.identifier(1, 64);
            let user = rng.identifier(1, 64);
            let req = JoinRequest {
                channel: &channel,
                user_id: &user,
                now_unix: 1_600_000_000 + rng.next_u64() % 100_000_000,
                ttl_seconds: 1 + (rng.next_u64() % 200_000) as u32,
                salt: rng.next_i32(),
            };
            let app = mint(AliyunScheme::AppToken, &req);
            let claims = apptoken::verify(&app.token, &key).unwrap_or_else(|err| panic!("{err}"));
            assert_eq!(
                (claims.channel_id, claims.user_id),
                (channel.clone(), user.clone())
            );
            assert_eq!(i64::from(claims.expire_timestamp), app.timestamp as i64);

            let artc_join = mint(AliyunScheme::Artc, &req);
            let info = artc::verify_join_token(&artc_join.join_token, &key)
                .unwrap_or_else(|err| panic!("{err}"));
            assert_eq!((info.channel_id, info.user_id), (channel, user));
            assert_eq!(info.token, artc_join.token);
        }
    }
}
