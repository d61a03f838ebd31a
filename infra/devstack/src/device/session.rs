//! What a simulated device remembers between messages.

use super::display::{Downstream, SeenIds};

/// How many downstream message IDs are remembered for deduplication.
const SEEN_CAPACITY: usize = 1024;

/// The last call seen and the downstream IDs already shown.
#[derive(Debug, Clone)]
pub struct Session {
    last_call: Option<String>,
    seen: SeenIds,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            last_call: None,
            seen: SeenIds::new(SEEN_CAPACITY),
        }
    }
}

impl Session {
    /// The call a command without a call ID refers to.
    pub fn last_call(&self) -> Option<&str> {
        self.last_call.as_deref()
    }

    /// Takes in one downstream payload received at `now_ms` (`bulk` when it
    /// came on the bulk topic) and returns the line to print. Repeats and
    /// expired messages are shown tagged and otherwise ignored, as the
    /// contract asks of devices.
    pub fn receive(&mut self, payload: &[u8], bulk: bool, now_ms: u64) -> String {
        let channel = if bulk { " [bulk]" } else { "" };
        let message = match Downstream::parse(payload) {
            Ok(message) => message,
            Err(error) => {
                let text = String::from_utf8_lossy(payload);
                return format!("<-{channel} unreadable message ({error}): {text}");
            }
        };
        let repeat = message.id().is_some_and(|id| !self.seen.first_time(id));
        let expired = message.is_expired(now_ms);
        let tag = match (repeat, expired) {
            (true, _) => " (repeat, ignored)",
            (false, true) => " (expired, ignored)",
            (false, false) => {
                if let Some(call) = message.call() {
                    self.last_call = Some(call.to_owned());
                }
                ""
            }
        };
        format!("<-{channel} {}{tag}", message.summary())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_fresh_call_is_remembered() {
        let mut session = Session::default();
        assert_eq!(session.last_call(), None);
        let line = session.receive(
            br#"{"id":"e-1","event":"call.created","call":"c-1","expires_at":100}"#,
            false,
            50,
        );
        assert_eq!(line, "<- call.created call=c-1");
        assert_eq!(session.last_call(), Some("c-1"));
    }

    #[test]
    fn repeats_and_expired_messages_are_tagged_and_ignored() {
        let mut session = Session::default();
        let first = br#"{"id":"e-1","event":"call.invitation","call":"c-1"}"#;
        session.receive(first, false, 0);
        assert_eq!(
            session.receive(first, true, 0),
            "<- [bulk] call.invitation call=c-1 (repeat, ignored)"
        );
        let stale = br#"{"id":"e-2","event":"call.invitation","call":"c-2","expires_at":10}"#;
        assert_eq!(
            session.receive(stale, false, 11),
            "<- call.invitation call=c-2 (expired, ignored)"
        );
        assert_eq!(session.last_call(), Some("c-1"));
    }

    #[test]
    fn unreadable_payloads_are_shown_raw() {
        let mut session = Session::default();
        let line = session.receive(b"not json", false, 0);
        assert!(line.starts_with("<- unreadable message"), "{line}");
        assert!(line.ends_with(": not json"), "{line}");
    }
}
