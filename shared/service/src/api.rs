//! Routing: which request goes where, with which authentication, and the
//! one place a refusal becomes an HTTP error.

use crate::auth;
use crate::directory;
use crate::http::{Request, Response};
use crate::minter::{self, RtcMinter};
use crate::platform::Platform;
use crate::signaling::Ctx;
use crate::tasks;
use crate::webhook;
use crate::{MAX_ADMIN_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES};
use serde_json::json;
use switchboard_protocol::config::{BrokerApi, ConfigError};
use switchboard_protocol::{CallId, ClientId, Config, ErrorCode, Refusal, UserId};

/// Which routes a component serves: each Spin component gets only the
/// capabilities its routes need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// `/v1/webhooks/...`
    Webhooks,
    /// `/v1/users/...`, `/v1/calls/...`, `/v1/tasks/...`
    Admin,
    /// `/v1/health` and a JSON 404 for every unknown path.
    Health,
}

/// The routes, matched on decoded path segments.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Health,
    WebhookMqtt,
    WebhookPresence,
    Device(UserId, ClientId),
    User(UserId),
    Call(CallId),
    EndCall(CallId),
    Expire,
}

impl Route {
    fn surface(&self) -> Surface {
        match self {
            Route::Health => Surface::Health,
            Route::WebhookMqtt | Route::WebhookPresence => Surface::Webhooks,
            _ => Surface::Admin,
        }
    }

    fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::Health | Route::User(_) | Route::Call(_) => &["GET"],
            Route::Device(..) => &["PUT", "DELETE"],
            _ => &["POST"],
        }
    }
}

/// Decodes `%XX` escapes; `None` for bad escapes or non-UTF-8 results.
fn percent_decode(segment: &str) -> Option<String> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn route(path: &str) -> Result<Route, Refusal> {
    let not_found = || Refusal::new(ErrorCode::NotFound, "no such route");
    let raw: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let mut segments = Vec::with_capacity(raw.len());
    for s in &raw {
        segments.push(percent_decode(s).ok_or_else(|| {
            Refusal::new(
                ErrorCode::InvalidMessage,
                "the path has an invalid %-escape",
            )
        })?);
    }
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    Ok(match s.as_slice() {
        ["v1", "health"] => Route::Health,
        ["v1", "webhooks", "mqtt"] => Route::WebhookMqtt,
        ["v1", "webhooks", "presence"] => Route::WebhookPresence,
        ["v1", "users", user, "devices", client] => {
            Route::Device(UserId::parse(user)?, ClientId::parse(client)?)
        }
        ["v1", "users", user] => Route::User(UserId::parse(user)?),
        ["v1", "calls", call] => Route::Call(CallId::parse(call)?),
        ["v1", "calls", call, "end"] => Route::EndCall(CallId::parse(call)?),
        ["v1", "tasks", "expire"] => Route::Expire,
        _ => return Err(not_found()),
    })
}

fn load_config<P: Platform>(platform: &P) -> Result<Config, Vec<ConfigError>> {
    Config::from_lookup(|name| platform.variable(name))
}

fn misconfigured(errors: &[ConfigError]) -> Refusal {
    let names: Vec<&str> = errors.iter().map(|e| e.variable).collect();
    Refusal::new(
        ErrorCode::Misconfigured,
        format!(
            "the service is misconfigured ({}); see GET /v1/health",
            names.join(", ")
        ),
    )
}

/// Handles one request for the routes of `surface`.
pub async fn handle<P: Platform>(platform: &P, surface: Surface, request: Request) -> Response {
    match dispatch(platform, surface, &request).await {
        Ok(response) => response,
        Err(refusal) => {
            if refusal.code.http_status() >= 500 {
                eprintln!(
                    "switchboard: {} {} -> {}: {}",
                    request.method, request.path, refusal.code, refusal.message
                );
            }
            let mut response = Response::error(&refusal);
            if refusal.code == ErrorCode::MethodNotAllowed {
                if let Ok(route) = route(&request.path) {
                    response
                        .headers
                        .push(("allow".into(), route.methods().join(", ")));
                }
            }
            response
        }
    }
}

async fn dispatch<P: Platform>(
    platform: &P,
    surface: Surface,
    request: &Request,
) -> Result<Response, Refusal> {
    let route = match route(&request.path) {
        Ok(route) if route.surface() == surface => route,
        Ok(_) => return Err(Refusal::new(ErrorCode::NotFound, "no such route")),
        Err(refusal) if refusal.code == ErrorCode::NotFound => return Err(refusal),
        // A malformed ID in a known route shape.
        Err(refusal) => return Err(refusal),
    };
    if !route.methods().contains(&request.method.as_str()) {
        return Err(Refusal::new(
            ErrorCode::MethodNotAllowed,
            format!("use {}", route.methods().join(" or ")),
        ));
    }
    if route == Route::Health {
        return Ok(health(platform));
    }
    let limit = if surface == Surface::Webhooks {
        MAX_WEBHOOK_BODY_BYTES
    } else {
        MAX_ADMIN_BODY_BYTES
    };
    if request.body.len() > limit {
        return Err(Refusal::new(
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than {limit} bytes"),
        ));
    }
    let config = load_config(platform).map_err(|e| misconfigured(&e))?;
    let now = platform.now_ms();
    match &route {
        Route::WebhookMqtt | Route::WebhookPresence => {
            auth::require_webhook(
                request,
                config.webhook_token.as_ref(),
                config.webhook_secret.as_ref(),
                now,
            )?;
            let json = request
                .header("content-type")
                .and_then(|v| v.split(';').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
            if !json {
                return Err(Refusal::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the events as content-type: application/json",
                ));
            }
        }
        _ => auth::require_bearer(request, &config.admin_token)?,
    }
    if route == Route::WebhookPresence {
        return Ok(webhook::presence(platform, request));
    }
    let provider = minter::provider(&config).map_err(|e| {
        eprintln!("switchboard: RTC provider settings are invalid: {e}");
        Refusal::new(
            ErrorCode::Misconfigured,
            "the RTC provider settings are invalid; see GET /v1/health",
        )
    })?;
    let minter = RtcMinter {
        provider: &provider,
        platform,
        ttl_seconds: config.rtc.ttl_seconds,
    };
    let ctx = Ctx {
        platform,
        config: &config,
        minter: &minter,
        now,
    };
    match route {
        Route::WebhookMqtt => Ok(webhook::messages(&ctx, request).await),
        Route::Device(user, client) if request.method == "PUT" => {
            directory::register(platform, &config, &user, &client)
        }
        Route::Device(user, client) => directory::unregister(platform, &user, &client),
        Route::User(user) => directory::show(platform, &user),
        Route::Call(call) => tasks::show(platform, &call),
        Route::EndCall(call) => tasks::end(platform, &config, &call).await,
        Route::Expire => tasks::expire_all(platform, &config).await,
        Route::Health | Route::WebhookPresence => {
            Err(Refusal::new(ErrorCode::NotFound, "no such route"))
        }
    }
}

/// `GET /v1/health`: 200 when the configuration is usable, 503 with every
/// problem (variable names and reasons, never values) otherwise.
fn health<P: Platform>(platform: &P) -> Response {
    let mut problems: Vec<serde_json::Value> = Vec::new();
    let mut settings = json!(null);
    match load_config(platform) {
        Ok(config) => {
            if let Err(e) = minter::provider(&config) {
                problems.push(json!({"variable": "rtc_provider", "message": e.to_string()}));
            }
            if config.broker.api == BrokerApi::Aliyun {
                problems.push(json!({"variable": "broker_api", "message": "aliyun publishing is not supported by this build; use emqx"}));
            }
            settings = json!({
                "rtc_provider": config.rtc.provider,
                "broker_api": config.broker.api,
                "broker_api_url": config.broker.api_url,
                "upstream_parent": config.upstream_parent.as_str(),
                "downstream_parent": config.downstream_parent.as_str(),
                "bulk_parent": config.bulk_parent.as_str(),
                "webhook_auth": {
                    "token": config.webhook_token.is_some(),
                    "signature": config.webhook_secret.is_some(),
                },
                "ring_timeout_seconds": config.ring_timeout_ms / 1000,
                "max_message_age_seconds": config.max_message_age_ms / 1000,
                "max_clock_skew_seconds": config.max_clock_skew_ms / 1000,
                "max_invitees": config.max_invitees,
            });
        }
        Err(errors) => problems.extend(
            errors
                .iter()
                .map(|e| json!({"variable": e.variable, "message": e.message})),
        ),
    }
    let ok = problems.is_empty();
    Response::json(
        if ok { 200 } else { 503 },
        &json!({
            "status": if ok { "ok" } else { "misconfigured" },
            "version": env!("CARGO_PKG_VERSION"),
            "settings": settings,
            "problems": problems,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_decode_and_validate_segments() {
        assert_eq!(route("/v1/health").unwrap(), Route::Health);
        assert!(matches!(
            route("/v1/users/alice/devices/GID_demo%40%40%40phone").unwrap(),
            Route::Device(u, c) if u.as_str() == "alice" && c.as_str() == "GID_demo@@@phone"
        ));
        assert!(matches!(
            route("/v1/users/alice/devices/GID_demo@@@phone").unwrap(),
            Route::Device(..)
        ));
        assert_eq!(
            route("/v1/users/..%2F..%2Fetc").unwrap_err().code,
            ErrorCode::InvalidUserId
        );
        assert_eq!(
            route("/v1/users/%2E%2E").unwrap_err().code,
            ErrorCode::InvalidUserId
        );
        assert_eq!(
            route("/v1/users/a%ZZ").unwrap_err().code,
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            route("/v1/users/a%FF").unwrap_err().code,
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            route("/v1/calls/c..1").unwrap_err().code,
            ErrorCode::InvalidMessage
        );
        assert_eq!(route("/v1/nope").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(route("/").unwrap_err().code, ErrorCode::NotFound);
        assert_eq!(
            route("/v1/users/alice/devices/notaclient")
                .unwrap_err()
                .code,
            ErrorCode::InvalidClientId
        );
    }
}
