//! From the `rtc_*` Spin variables (PROTOCOL.md §7) to a ready provider.

use std::fmt;

use crate::agora::AgoraProvider;
use crate::aliyun::{AliyunProvider, AliyunScheme};
use crate::livekit::LivekitProvider;
use crate::{JoinRequest, RtcError, RtcJoin, Secret, TokenProvider};

/// The raw `rtc_*` settings, as plain strings. Unset optional variables are
/// `None`; an empty or blank value counts as unset.
#[derive(Clone, Copy, Default)]
pub struct ProviderSettings<'a> {
    /// `rtc_provider`: `aliyun`, `agora` or `livekit`.
    pub provider: &'a str,
    /// `rtc_token_scheme` (Alibaba only): `apptoken` (default) or `artc`.
    /// Other providers ignore it.
    pub token_scheme: Option<&'a str>,
    /// `rtc_app_id`: the Alibaba app ID, Agora App ID, or LiveKit API key.
    pub app_id: &'a str,
    /// `rtc_app_key` (secret): the Alibaba app key, Agora app certificate,
    /// or LiveKit API secret.
    pub app_key: &'a str,
    /// `rtc_gslb` (Alibaba): comma-separated GSLB URLs; unset gives an empty
    /// list, which single-parameter joins do not need.
    pub gslb: Option<&'a str>,
    /// `rtc_url` (LiveKit, required): the server URL devices connect to.
    pub url: Option<&'a str>,
}

impl fmt::Debug for ProviderSettings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("provider", &self.provider)
            .field("token_scheme", &self.token_scheme)
            .field("app_id", &self.app_id)
            .field("app_key", &"<redacted>")
            .field("gslb", &self.gslb)
            .field("url", &self.url)
            .finish()
    }
}

/// The configured provider; it mints by dispatching to the vendor.
#[derive(Debug, Clone)]
pub enum ProviderConfig {
    /// Alibaba Cloud RTC.
    Aliyun(AliyunProvider),
    /// Agora.
    Agora(AgoraProvider),
    /// LiveKit.
    Livekit(LivekitProvider),
}

impl ProviderConfig {
    /// Validates the settings and builds the provider they name. Errors
    /// name the faulty variable and never contain the secret.
    pub fn from_settings(settings: &ProviderSettings<'_>) -> Result<Self, RtcError> {
        let app_id = settings.app_id.trim();
        let app_key = Secret::new(settings.app_key);
        match settings.provider.trim() {
            "aliyun" => {
                let scheme = set(settings.token_scheme)
                    .map_or(Ok(AliyunScheme::AppToken), AliyunScheme::parse)?;
                let gslb = set(settings.gslb)
                    .map(|list| {
                        list.split(',')
                            .map(str::trim)
                            .filter(|url| !url.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                AliyunProvider::new(app_id, app_key, gslb, scheme).map(Self::Aliyun)
            }
            "agora" => AgoraProvider::new(app_id, app_key).map(Self::Agora),
            "livekit" => {
                let url = set(settings.url).ok_or_else(|| {
                    RtcError::InvalidConfig("rtc_url must be set for livekit".to_owned())
                })?;
                LivekitProvider::new(url, app_id, app_key).map(Self::Livekit)
            }
            other => Err(RtcError::InvalidConfig(format!(
                "rtc_provider must be \"aliyun\", \"agora\" or \"livekit\", not {other:?}"
            ))),
        }
    }
}

impl TokenProvider for ProviderConfig {
    fn mint(&self, req: &JoinRequest<'_>) -> Result<RtcJoin, RtcError> {
        match self {
            Self::Aliyun(provider) => provider.mint(req),
            Self::Agora(provider) => provider.mint(req),
            Self::Livekit(provider) => provider.mint(req),
        }
    }

    fn provider(&self) -> &'static str {
        match self {
            Self::Aliyun(provider) => provider.provider(),
            Self::Agora(provider) => provider.provider(),
            Self::Livekit(provider) => provider.provider(),
        }
    }
}

/// A setting's trimmed value, if it is set and not blank.
fn set(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{agora, aliyun, livekit};

    const AGORA_ID: &str = "970CA35de60c44645bbae8a215061b33";
    const AGORA_CERT: &str = "5CFd2fd1755d40ecb72977518be15d3b";

    const REQUEST: JoinRequest<'static> = JoinRequest {
        channel: "c-01JD",
        user_id: "alice",
        now_unix: 1_700_000_000,
        ttl_seconds: 3600,
        salt: 42,
    };

    fn build(settings: ProviderSettings<'_>) -> ProviderConfig {
        ProviderConfig::from_settings(&settings).unwrap_or_else(|err| panic!("{err}"))
    }

    #[test]
    fn aliyun_defaults_to_apptoken_and_splits_gslb() {
        let config = build(ProviderSettings {
            provider: "aliyun",
            app_id: "app",
            app_key: "key",
            gslb: Some(" https://a.example , https://b.example,"),
            ..ProviderSettings::default()
        });
        assert_eq!(config.provider(), "aliyun");
        let Ok(RtcJoin::Aliyun(join)) = config.mint(&REQUEST) else {
            panic!("not an aliyun join");
        };
        assert_eq!(join.gslb, ["https://a.example", "https://b.example"]);
        let claims = aliyun::apptoken::verify(&join.join_token, &Secret::new("key"));
        assert_eq!(claims.map(|claims| claims.user_id), Ok("alice".to_owned()));
    }

    #[test]
    fn aliyun_artc_scheme_and_blank_gslb() {
        let config = build(ProviderSettings {
            provider: "aliyun",
            token_scheme: Some("artc"),
            app_id: "app",
            app_key: "key",
            gslb: Some("  "),
            ..ProviderSettings::default()
        });
        let Ok(RtcJoin::Aliyun(join)) = config.mint(&REQUEST) else {
            panic!("not an aliyun join");
        };
        assert!(join.gslb.is_empty());
        assert_eq!(join.token.len(), 64);
        let info = aliyun::artc::verify_join_token(&join.join_token, &Secret::new("key"));
        assert_eq!(info.map(|info| info.channel_id), Ok("c-01JD".to_owned()));
    }

    #[test]
    fn agora_and_livekit_mint_verifiable_tokens() {
        let agora_config = build(ProviderSettings {
            provider: "agora",
            token_scheme: Some("ignored"),
            app_id: AGORA_ID,
            app_key: AGORA_CERT,
            ..ProviderSettings::default()
        });
        assert_eq!(agora_config.provider(), "agora");
        let Ok(RtcJoin::Agora(join)) = agora_config.mint(&REQUEST) else {
            panic!("not an agora join");
        };
        assert!(agora::verify(&join.token, &Secret::new(AGORA_CERT)).is_ok());

        let livekit_config = build(ProviderSettings {
            provider: "livekit",
            app_id: "APIkey",
            app_key: "secret",
            url: Some("wss://lk.example.com"),
            ..ProviderSettings::default()
        });
        assert_eq!(livekit_config.provider(), "livekit");
        let Ok(RtcJoin::Livekit(join)) = livekit_config.mint(&REQUEST) else {
            panic!("not a livekit join");
        };
        let claims = livekit::verify(&join.token, &Secret::new("secret"));
        assert_eq!(claims.map(|claims| claims.iss), Ok("APIkey".to_owned()));
    }

    #[test]
    fn invalid_settings_are_reported_without_the_secret() {
        let secret = "TOP-SECRET-VALUE";
        let base = ProviderSettings {
            provider: "aliyun",
            app_id: "app",
            app_key: secret,
            ..ProviderSettings::default()
        };
        let cases = [
            ProviderSettings {
                provider: "zoom",
                ..base
            },
            ProviderSettings {
                provider: "",
                ..base
            },
            ProviderSettings {
                token_scheme: Some("hmac"),
                ..base
            },
            ProviderSettings {
                gslb: Some("rgslb.rtc.aliyuncs.com"),
                ..base
            },
            ProviderSettings { app_id: "", ..base },
            ProviderSettings {
                provider: "agora",
                ..base
            },
            ProviderSettings {
                provider: "livekit",
                url: Some(""),
                ..base
            },
        ];
        for settings in cases {
            let result = ProviderConfig::from_settings(&settings);
            let Err(err) = result else {
                panic!("accepted {settings:?}");
            };
            assert!(matches!(err, RtcError::InvalidConfig(_)), "{err:?}");
            assert!(!err.to_string().contains(secret), "{err}");
        }
        assert!(!format!("{base:?}").contains(secret));
        let built = build(base);
        assert!(!format!("{built:?}").contains(secret));
    }
}
