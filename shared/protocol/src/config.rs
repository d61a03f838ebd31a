//! The service's configuration, read from Spin variables
//! (`docs/protocol.md` §7) through a lookup function so it is testable
//! without Spin. Every problem is collected, not only the first, so
//! `GET /v1/health` can list them all.

use crate::topic::Topic;
use serde::Serialize;
use std::fmt;

/// A secret setting. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that must use it (a MAC, an auth header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One invalid or missing setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// The Spin variable's name.
    pub variable: &'static str,
    /// What is wrong (never the secret's value).
    pub message: String,
}

/// Settings for minting RTC join parameters, passed to the token provider.
#[derive(Debug, Clone)]
pub struct RtcSettings {
    /// `aliyun`, `agora` or `livekit`.
    pub provider: String,
    /// Alibaba token scheme: `apptoken` or `artc`.
    pub token_scheme: String,
    /// The RTC app ID (LiveKit: API key).
    pub app_id: String,
    /// The RTC app key (Agora: app certificate; LiveKit: API secret).
    pub app_key: Secret,
    /// Alibaba GSLB URLs, comma-separated.
    pub gslb: String,
    /// LiveKit server URL.
    pub url: String,
    /// Token lifetime in seconds.
    pub ttl_seconds: u32,
}

/// Which broker REST API publishes downstream messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BrokerApi {
    /// EMQX 5 `POST /api/v5/publish/bulk` (also Switchboard's own bridge).
    Emqx,
    /// ApsaraMQ for MQTT `SendMessage`.
    Aliyun,
}

/// Settings for the broker's REST API.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// Which API.
    pub api: BrokerApi,
    /// `scheme://host[:port]`, no path.
    pub api_url: String,
    /// API key (EMQX) or AccessKey ID (Alibaba).
    pub api_key: String,
    /// API secret.
    pub api_secret: Secret,
    /// ApsaraMQ instance ID.
    pub aliyun_instance_id: String,
    /// ApsaraMQ region.
    pub aliyun_region: String,
}

/// The whole configuration, valid by construction.
#[derive(Debug, Clone)]
pub struct Config {
    /// RTC token settings.
    pub rtc: RtcSettings,
    /// Broker API settings.
    pub broker: BrokerSettings,
    /// Parent of devices' upstream topics.
    pub upstream_parent: Topic,
    /// Parent of devices' signaling P2P topics.
    pub downstream_parent: Topic,
    /// Parent of devices' large or low-priority P2P topics.
    pub bulk_parent: Topic,
    /// Messages larger than this go to the bulk parent.
    pub bulk_threshold_bytes: usize,
    /// Longest topic allowed.
    pub max_topic_length: usize,
    /// Static bearer token EMQX sends, if configured.
    pub webhook_token: Option<Secret>,
    /// HMAC secret for `X-Switchboard-Signature`, if configured.
    pub webhook_secret: Option<Secret>,
    /// Bearer token of the admin API.
    pub admin_token: Secret,
    /// How long invitations ring (ms).
    pub ring_timeout_ms: i64,
    /// Messages older than this are stale (ms).
    pub max_message_age_ms: i64,
    /// Messages further in the future than this are refused (ms).
    pub max_clock_skew_ms: i64,
    /// Most users one invite may name.
    pub max_invitees: usize,
}

/// The names of every variable the service reads.
pub const VARIABLES: &[&str] = &[
    "rtc_provider",
    "rtc_token_scheme",
    "rtc_app_id",
    "rtc_app_key",
    "rtc_gslb",
    "rtc_url",
    "rtc_token_ttl_seconds",
    "broker_api",
    "broker_api_url",
    "broker_api_key",
    "broker_api_secret",
    "aliyun_instance_id",
    "aliyun_region",
    "upstream_parent",
    "downstream_parent",
    "bulk_parent",
    "bulk_threshold_bytes",
    "max_topic_length",
    "webhook_token",
    "webhook_secret",
    "admin_token",
    "ring_timeout_seconds",
    "max_message_age_seconds",
    "max_clock_skew_seconds",
    "max_invitees",
];

struct Reader<F> {
    lookup: F,
    errors: Vec<ConfigError>,
}

impl<F: Fn(&str) -> Option<String>> Reader<F> {
    fn text(&self, name: &'static str, default: &str) -> String {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_owned())
    }

    fn fail(&mut self, variable: &'static str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            variable,
            message: message.into(),
        });
    }

    fn required(&mut self, name: &'static str) -> String {
        let v = self.text(name, "");
        if v.is_empty() {
            self.fail(name, "is required and not set");
        }
        v
    }

    fn secret(&mut self, name: &'static str, required: bool) -> Option<Secret> {
        let v = (self.lookup)(name).unwrap_or_default();
        if v.is_empty() {
            if required {
                self.fail(name, "is required and not set");
            }
            return None;
        }
        Some(Secret(v))
    }

    fn number(&mut self, name: &'static str, default: u64, min: u64, max: u64) -> u64 {
        let raw = self.text(name, &default.to_string());
        match raw.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => n,
            _ => {
                self.fail(name, format!("must be an integer from {min} to {max}"));
                default
            }
        }
    }

    fn one_of(&mut self, name: &'static str, default: &str, allowed: &[&str]) -> String {
        let v = self.text(name, default);
        if !allowed.contains(&v.as_str()) {
            self.fail(name, format!("must be one of {}", allowed.join(", ")));
            return default.to_owned();
        }
        v
    }

    fn topic(&mut self, name: &'static str, default: &str, max_len: usize) -> Topic {
        let v = self.text(name, default);
        match Topic::parse(&v, max_len) {
            Ok(t) => t,
            Err(e) => {
                self.fail(name, e.message);
                Topic::parse(default, usize::MAX).unwrap_or_else(|_| unreachable_topic())
            }
        }
    }
}

fn unreachable_topic() -> Topic {
    // Defaults are literals that parse; this keeps the reader total anyway.
    Topic::parse("x", 1).unwrap_or_else(|_| unreachable_topic())
}

/// Checks that a URL is `http(s)://host[:port]` with no path, query or
/// credentials: Spin's `allowed_outbound_hosts` silently denies every
/// request when the value has a path.
pub fn check_origin_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.is_empty() {
        return Err("has no host".into());
    }
    if rest.contains(['/', '?', '#', '@', ' ']) {
        return Err("must be scheme://host[:port] with no path, query or credentials".into());
    }
    if let Some((host, port)) = rest.rsplit_once(':') {
        if !host.ends_with(']') && (host.is_empty() || port.parse::<u16>().is_err()) {
            return Err("has an invalid port".into());
        }
    }
    Ok(())
}

impl Config {
    /// Reads and validates every setting through `lookup` (a Spin variable
    /// getter: `None` when unset), returning all problems at once.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Vec<ConfigError>> {
        let mut r = Reader {
            lookup,
            errors: Vec::new(),
        };
        let max_topic_length = r.number("max_topic_length", 64, 8, 65_535) as usize;
        let provider = r.one_of("rtc_provider", "aliyun", &["aliyun", "agora", "livekit"]);
        let token_scheme = r.one_of("rtc_token_scheme", "apptoken", &["apptoken", "artc"]);
        let app_id = r.required("rtc_app_id");
        let app_key = r.secret("rtc_app_key", true);
        let url = r.text("rtc_url", "");
        if provider == "livekit" && url.is_empty() {
            r.fail("rtc_url", "is required when rtc_provider is livekit");
        }
        let rtc = RtcSettings {
            provider,
            token_scheme,
            app_id,
            app_key: app_key.unwrap_or_else(|| Secret::new("")),
            gslb: r.text("rtc_gslb", "https://gw.rtn.aliyuncs.com"),
            url,
            ttl_seconds: r.number("rtc_token_ttl_seconds", 3600, 60, 86_400) as u32,
        };
        let api = match r.one_of("broker_api", "emqx", &["emqx", "aliyun"]).as_str() {
            "aliyun" => BrokerApi::Aliyun,
            _ => BrokerApi::Emqx,
        };
        let api_url = r.required("broker_api_url");
        if !api_url.is_empty() {
            if let Err(why) = check_origin_url(&api_url) {
                r.fail("broker_api_url", why);
            }
        }
        let broker = BrokerSettings {
            api,
            api_url: api_url.trim_end_matches('/').to_owned(),
            api_key: r.required("broker_api_key"),
            api_secret: r
                .secret("broker_api_secret", true)
                .unwrap_or_else(|| Secret::new("")),
            aliyun_instance_id: r.text("aliyun_instance_id", ""),
            aliyun_region: r.text("aliyun_region", ""),
        };
        if api == BrokerApi::Aliyun
            && (broker.aliyun_instance_id.is_empty() || broker.aliyun_region.is_empty())
        {
            r.fail(
                "aliyun_instance_id",
                "aliyun_instance_id and aliyun_region are required when broker_api is aliyun",
            );
        }
        let upstream_parent = r.topic("upstream_parent", "sig-up", max_topic_length);
        let downstream_parent = r.topic("downstream_parent", "sig-dn", max_topic_length);
        let bulk_parent = r.topic("bulk_parent", "sig-bulk", max_topic_length);
        if upstream_parent == downstream_parent
            || upstream_parent == bulk_parent
            || downstream_parent == bulk_parent
        {
            r.fail(
                "bulk_parent",
                "upstream_parent, downstream_parent and bulk_parent must all differ",
            );
        }
        let webhook_token = r.secret("webhook_token", false);
        let webhook_secret = r.secret("webhook_secret", false);
        if webhook_token.is_none() && webhook_secret.is_none() {
            r.fail(
                "webhook_token",
                "set webhook_token or webhook_secret (or both) so webhooks can be authenticated",
            );
        }
        let admin_token = r
            .secret("admin_token", true)
            .unwrap_or_else(|| Secret::new(""));
        let config = Config {
            rtc,
            broker,
            upstream_parent,
            downstream_parent,
            bulk_parent,
            bulk_threshold_bytes: r.number("bulk_threshold_bytes", 4096, 256, 1 << 20) as usize,
            max_topic_length,
            webhook_token,
            webhook_secret,
            admin_token,
            ring_timeout_ms: r.number("ring_timeout_seconds", 30, 1, 600) as i64 * 1000,
            max_message_age_ms: r.number("max_message_age_seconds", 60, 1, 3600) as i64 * 1000,
            max_clock_skew_ms: r.number("max_clock_skew_seconds", 30, 0, 3600) as i64 * 1000,
            max_invitees: r.number("max_invitees", 16, 1, 64) as usize,
        };
        if r.errors.is_empty() {
            Ok(config)
        } else {
            Err(r.errors)
        }
    }

    /// How long the deduplication of a message must be remembered: as long
    /// as it could still arrive without being stale (ms).
    pub fn dedup_window_ms(&self) -> i64 {
        self.max_message_age_ms + self.max_clock_skew_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn base() -> HashMap<&'static str, String> {
        HashMap::from([
            ("rtc_app_id", "app".to_string()),
            ("rtc_app_key", "key".to_string()),
            ("broker_api_url", "http://127.0.0.1:18083".to_string()),
            ("broker_api_key", "k".to_string()),
            ("broker_api_secret", "s".to_string()),
            ("webhook_token", "w".to_string()),
            ("admin_token", "a".to_string()),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<Config, Vec<ConfigError>> {
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    fn failing_variables(vars: &HashMap<&'static str, String>) -> Vec<&'static str> {
        load(vars)
            .unwrap_err()
            .into_iter()
            .map(|e| e.variable)
            .collect()
    }

    #[test]
    fn defaults_apply() {
        let c = load(&base()).unwrap();
        assert_eq!(c.rtc.provider, "aliyun");
        assert_eq!(c.rtc.token_scheme, "apptoken");
        assert_eq!(c.upstream_parent.as_str(), "sig-up");
        assert_eq!(c.downstream_parent.as_str(), "sig-dn");
        assert_eq!(c.bulk_parent.as_str(), "sig-bulk");
        assert_eq!(c.ring_timeout_ms, 30_000);
        assert_eq!(c.max_invitees, 16);
        assert_eq!(c.dedup_window_ms(), 90_000);
        assert_eq!(c.broker.api, BrokerApi::Emqx);
    }

    #[test]
    fn reports_every_missing_required_setting() {
        let errors = load(&HashMap::new()).unwrap_err();
        let vars: Vec<_> = errors.iter().map(|e| e.variable).collect();
        for v in [
            "rtc_app_id",
            "rtc_app_key",
            "broker_api_url",
            "broker_api_key",
            "broker_api_secret",
            "webhook_token",
            "admin_token",
        ] {
            assert!(vars.contains(&v), "{v} missing from {vars:?}");
        }
    }

    #[test]
    fn refuses_invalid_values() {
        let cases: &[(&'static str, &str)] = &[
            ("broker_api_url", "http://127.0.0.1:18083/api/v5"),
            ("broker_api_url", "127.0.0.1:18083"),
            ("broker_api_url", "http://h:notaport"),
            ("ring_timeout_seconds", "0"),
            ("ring_timeout_seconds", "thirty"),
            ("max_invitees", "1000"),
            ("rtc_provider", "twilio"),
            ("rtc_token_scheme", "v9"),
            ("broker_api", "hivemq"),
            ("upstream_parent", "sig/+"),
            ("downstream_parent", "sig-up"),
        ];
        for (name, value) in cases {
            let mut vars = base();
            vars.insert(name, value.to_string());
            let failing = failing_variables(&vars);
            assert!(!failing.is_empty(), "{name}={value} was accepted");
        }
        let mut vars = base();
        vars.insert("rtc_provider", "livekit".into());
        assert_eq!(failing_variables(&vars), vec!["rtc_url"]);
    }

    #[test]
    fn secrets_are_never_printed() {
        let mut vars = base();
        vars.insert("admin_token", "very-secret-admin".into());
        let c = load(&vars).unwrap();
        let debug = format!("{c:?}");
        assert!(!debug.contains("very-secret-admin"));
        assert!(debug.contains("redacted"));
        vars.insert("ring_timeout_seconds", "x".into());
        let errors = format!("{:?}", load(&vars).unwrap_err());
        assert!(!errors.contains("very-secret-admin"));
    }

    #[test]
    fn origin_urls() {
        assert!(check_origin_url("http://127.0.0.1:18083").is_ok());
        assert!(check_origin_url("https://emqx.example.com").is_ok());
        assert!(check_origin_url("https://emqx.example.com/").is_ok());
        assert!(check_origin_url("https://emqx.example.com/api").is_err());
        assert!(check_origin_url("ftp://x").is_err());
        assert!(check_origin_url("http://u:p@x").is_err());
    }
}
