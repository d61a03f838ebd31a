//! RTC join parameters for the call state machine, from the configured
//! token provider, with fresh randomness per token.

use crate::platform::Platform;
use serde_json::Value;
use switchboard_calls::Minter;
use switchboard_protocol::{CallId, ClientId, Config, ErrorCode, Refusal, UserId};
use switchboard_rtc::{JoinRequest, ProviderConfig, ProviderSettings, RtcError, TokenProvider};

/// Builds the token provider from the configuration.
pub fn provider(config: &Config) -> Result<ProviderConfig, RtcError> {
    let rtc = &config.rtc;
    ProviderConfig::from_settings(&ProviderSettings {
        provider: &rtc.provider,
        token_scheme: Some(&rtc.token_scheme),
        app_id: &rtc.app_id,
        app_key: rtc.app_key.expose(),
        gslb: Some(&rtc.gslb),
        url: Some(&rtc.url),
    })
}

/// Mints with `provider`, a random salt per token, and the platform clock.
pub struct RtcMinter<'a, P> {
    /// The token provider.
    pub provider: &'a ProviderConfig,
    /// Randomness and time.
    pub platform: &'a P,
    /// Token lifetime.
    pub ttl_seconds: u32,
}

impl<P: Platform> Minter for RtcMinter<'_, P> {
    fn mint(&self, call: &CallId, user: &UserId, _device: &ClientId) -> Result<Value, Refusal> {
        let request = JoinRequest {
            channel: call.as_str(),
            user_id: user.as_str(),
            now_unix: (self.platform.now_ms() / 1000).max(0) as u64,
            ttl_seconds: self.ttl_seconds,
            salt: self.platform.random_u64() as i32,
        };
        match self.provider.mint(&request) {
            Ok(join) => Ok(serde_json::to_value(join).unwrap_or(Value::Null)),
            Err(RtcError::InvalidInput(why)) => Err(Refusal::new(
                ErrorCode::InvalidUserId,
                format!("user {user} cannot join with the RTC provider: {why}"),
            )),
            Err(e) => {
                eprintln!("switchboard: RTC token minting failed: {e}");
                Err(Refusal::new(
                    ErrorCode::Misconfigured,
                    "RTC tokens cannot be minted with the current configuration",
                ))
            }
        }
    }
}
