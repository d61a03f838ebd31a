//! The service's admin API (`Authorization: Bearer <admin_token>`), as the
//! app backend uses it.

use serde_json::Value;

use crate::error::{HarnessError, Result};
use crate::http::{segment, Answer, Credential, Endpoint};

/// A client of the admin API.
#[derive(Clone)]
pub struct Admin {
    endpoint: Endpoint,
}

impl Admin {
    /// A client for the service at `http_base` (`http://127.0.0.1:<port>`).
    pub fn new(http_base: &str, admin_token: &str) -> Self {
        Self {
            endpoint: Endpoint::new(http_base.to_owned(), Credential::bearer(admin_token)),
        }
    }

    /// `PUT /v1/users/{user}/devices/{clientId}`: 201 when added, 200 when
    /// already registered to that user; anything else fails.
    pub fn register(&self, user: &str, client_id: &str) -> Result<u16> {
        let path = device_path(user, client_id);
        Ok(self
            .endpoint
            .expect("PUT", &path, None, &[200, 201])?
            .status)
    }

    /// `DELETE /v1/users/{user}/devices/{clientId}`.
    pub fn unregister(&self, user: &str, client_id: &str) -> Result<()> {
        let path = device_path(user, client_id);
        self.endpoint
            .expect("DELETE", &path, None, &[200, 204])
            .map(drop)
    }

    /// `GET /v1/users/{user}`: devices, presence, current call.
    pub fn user(&self, user: &str) -> Result<Value> {
        let path = format!("/v1/users/{}", segment(user));
        Ok(self.endpoint.expect("GET", &path, None, &[200])?.json)
    }

    /// The calls `user` is ringing for or joined to, from `GET
    /// /v1/users/{user}` (deadlines already applied).
    pub fn live_calls(&self, user: &str) -> Result<Vec<String>> {
        let view = self.user(user)?;
        Ok(view
            .get("calls")
            .and_then(Value::as_array)
            .map(|calls| {
                calls
                    .iter()
                    .filter_map(|c| c.get("call").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// `GET /v1/calls/{call}`: the call's state (200 expected).
    pub fn call(&self, call: &str) -> Result<CallState> {
        let path = format!("/v1/calls/{}", segment(call));
        Ok(CallState(
            self.endpoint.expect("GET", &path, None, &[200])?.json,
        ))
    }

    /// `GET /v1/calls/{call}` with whatever status it answers (404 for an
    /// unknown or purged call).
    pub fn call_answer(&self, call: &str) -> Result<Answer> {
        let path = format!("/v1/calls/{}", segment(call));
        self.endpoint.send("GET", &path, None)
    }

    /// `POST /v1/calls/{call}/end`, as the app backend ends a call.
    pub fn end_call(&self, call: &str) -> Result<CallState> {
        let path = format!("/v1/calls/{}/end", segment(call));
        Ok(CallState(
            self.endpoint.expect("POST", &path, None, &[200])?.json,
        ))
    }

    /// `POST /v1/tasks/expire`: applies passed ring deadlines now. Returns
    /// the task's report (`calls`, `expired`, `resent`, `purged`, `failures`).
    pub fn expire(&self) -> Result<Value> {
        Ok(self
            .endpoint
            .expect("POST", "/v1/tasks/expire", None, &[200])?
            .json)
    }
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("base", &self.endpoint.base())
            .finish_non_exhaustive()
    }
}

fn device_path(user: &str, client_id: &str) -> String {
    format!("/v1/users/{}/devices/{}", segment(user), segment(client_id))
}

/// What `GET /v1/calls/{call}` shows, with accessors for what tests check.
#[derive(Debug, Clone, PartialEq)]
pub struct CallState(pub Value);

impl CallState {
    /// `ringing`, `active` or `ended`.
    pub fn state(&self) -> &str {
        self.0
            .get("state")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The host's user ID.
    pub fn host(&self) -> &str {
        self.0
            .get("host")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// Why the call ended (`ended.reason`), if it did.
    pub fn end_reason(&self) -> Option<&str> {
        self.0.pointer("/ended/reason").and_then(Value::as_str)
    }

    /// The call that replaced this one after glare (`ended.replaced_by`).
    pub fn replaced_by(&self) -> Option<&str> {
        self.0.pointer("/ended/replaced_by").and_then(Value::as_str)
    }

    /// The participant state of `user` (`invited`, `joined`, `declined`,
    /// `cancelled`, `missed`, `left`, `removed`).
    pub fn participant_state(&self, user: &str) -> Option<&str> {
        self.participant(user)
            .and_then(|p| p.get("state"))
            .and_then(Value::as_str)
    }

    /// The device `user` joined with, if joined.
    pub fn joined_device(&self, user: &str) -> Option<&str> {
        self.participant(user)
            .and_then(|p| p.get("device"))
            .and_then(Value::as_str)
    }

    /// The media the host asked `user` not to send.
    pub fn muted(&self, user: &str) -> Vec<&str> {
        self.participant(user)
            .and_then(|p| p.get("muted"))
            .and_then(Value::as_array)
            .map(|media| media.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    }

    /// Every participant as `(user, state)`, host first.
    pub fn participants(&self) -> Vec<(&str, &str)> {
        self.0
            .get("participants")
            .and_then(Value::as_array)
            .map(|all| {
                all.iter()
                    .map(|p| {
                        let field = |name| p.get(name).and_then(Value::as_str).unwrap_or_default();
                        (field("user"), field("state"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Downstream messages still waiting in the call's outbox.
    pub fn pending_messages(&self) -> u64 {
        self.0
            .get("pending_messages")
            .and_then(Value::as_u64)
            .unwrap_or_default()
    }

    /// Whether the call is still ringing or active.
    pub fn is_live(&self) -> bool {
        matches!(self.state(), "ringing" | "active")
    }

    /// Fails unless the call is `state` (and, when given, ended for
    /// `reason`).
    pub fn check(&self, state: &str, reason: Option<&str>) -> Result<()> {
        if self.state() == state && (reason.is_none() || self.end_reason() == reason) {
            Ok(())
        } else {
            Err(HarnessError::Check(format!(
                "expected the call {state}{}, it is {}",
                reason.map(|r| format!(" ({r})")).unwrap_or_default(),
                self.0
            )))
        }
    }

    fn participant(&self, user: &str) -> Option<&Value> {
        self.0
            .get("participants")
            .and_then(Value::as_array)?
            .iter()
            .find(|p| p.get("user").and_then(Value::as_str) == Some(user))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn call_state_accessors_read_the_admin_view() {
        let view = CallState(json!({
            "call": "c-1", "state": "ended", "host": "alice",
            "ended": {"reason": "cancelled", "at": 1, "replaced_by": "c-0"},
            "participants": [
                {"user": "alice", "state": "joined", "device": "GID_e2e@@@a"},
                {"user": "bob", "state": "cancelled", "muted": ["audio"]}
            ],
            "pending_messages": 0
        }));
        assert_eq!(view.state(), "ended");
        assert_eq!(view.host(), "alice");
        assert_eq!(view.end_reason(), Some("cancelled"));
        assert_eq!(view.replaced_by(), Some("c-0"));
        assert_eq!(view.participant_state("bob"), Some("cancelled"));
        assert_eq!(view.joined_device("alice"), Some("GID_e2e@@@a"));
        assert_eq!(view.muted("bob"), ["audio"]);
        assert_eq!(
            view.participants(),
            [("alice", "joined"), ("bob", "cancelled")]
        );
        assert!(!view.is_live());
        assert!(view.check("ended", Some("cancelled")).is_ok());
        assert!(view.check("ended", Some("timeout")).is_err());
    }
}
