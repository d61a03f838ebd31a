//! The decoders of bytes that come from devices and the broker.

use switchboard_protocol::envelope::{
    decode_events, MAX_ENVELOPE_ID_LEN, MAX_EVENTS_PER_REQUEST, MAX_PAYLOAD_BYTES,
};
use switchboard_protocol::upstream::{MAX_META_BYTES, MAX_TO_ENTRIES};
use switchboard_protocol::{CallId, ErrorCode, MessageId, Op, Refusal, Upstream};

/// Longest refusal message: untrusted input is quoted only in previews.
const MAX_MESSAGE_LEN: usize = 512;

fn check_refusal(refusal: &Refusal, allowed: &[ErrorCode]) {
    assert!(
        allowed.contains(&refusal.code),
        "unexpected code {:?}: {}",
        refusal.code,
        refusal.message
    );
    assert!(
        (400..500).contains(&refusal.code.http_status()),
        "a decoding refusal is the sender's fault: {refusal:?}"
    );
    assert!(
        !refusal.message.is_empty() && refusal.message.len() <= MAX_MESSAGE_LEN,
        "refusal message of {} bytes",
        refusal.message.len()
    );
}

/// Decodes a webhook body: never panics, refuses with the contract's codes,
/// and every envelope it accepts is within the contract's limits.
pub fn envelope(data: &[u8]) {
    let events = match decode_events(data) {
        Ok(events) => events,
        Err(refusal) => {
            check_refusal(
                &refusal,
                &[
                    ErrorCode::InvalidJson,
                    ErrorCode::InvalidEnvelope,
                    ErrorCode::PayloadTooLarge,
                ],
            );
            return;
        }
    };
    assert!((1..=MAX_EVENTS_PER_REQUEST).contains(&events.len()));
    for event in events {
        match event {
            Ok(envelope) => {
                assert!((1..=MAX_ENVELOPE_ID_LEN).contains(&envelope.id.len()));
                assert!(envelope.payload.len() <= MAX_PAYLOAD_BYTES);
                assert_ne!(envelope.username.as_deref(), Some("undefined"));
            }
            Err((id, refusal)) => {
                assert!(id.len() <= MAX_ENVELOPE_ID_LEN);
                check_refusal(
                    &refusal,
                    &[ErrorCode::InvalidEnvelope, ErrorCode::PayloadTooLarge],
                );
            }
        }
    }
}

/// Decodes an MQTT payload (arbitrary UTF-8): never panics, and a decoded
/// message has a valid ID, a positive timestamp and exactly the fields its
/// op allows, within the contract's limits.
pub fn upstream(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let message = match Upstream::decode(text) {
        Ok(message) => message,
        Err(failure) => {
            check_refusal(
                &failure.refusal,
                &[
                    ErrorCode::InvalidJson,
                    ErrorCode::InvalidMessage,
                    ErrorCode::UnsupportedVersion,
                    ErrorCode::UnknownOp,
                    ErrorCode::InvalidUserId,
                    ErrorCode::TooManyInvitees,
                    ErrorCode::PayloadTooLarge,
                ],
            );
            if let Some(id) = failure.id {
                assert!(MessageId::parse(id.as_str()).is_ok());
            }
            return;
        }
    };
    assert!(MessageId::parse(message.id.as_str()).is_ok());
    assert!(message.ts > 0);
    if let Some(call) = message.op.call() {
        assert!(CallId::parse(call.as_str()).is_ok());
    }
    match &message.op {
        Op::Invite { to, meta, .. } => {
            assert!((1..=MAX_TO_ENTRIES).contains(&to.len()));
            for (i, user) in to.iter().enumerate() {
                assert!(!to[..i].contains(user), "duplicate invitee {user}");
            }
            if let Some(meta) = meta {
                let size = serde_json::to_vec(meta).map_or(usize::MAX, |v| v.len());
                assert!(size <= MAX_META_BYTES);
            }
        }
        Op::Cancel { to: Some(to), .. } => assert!(to.len() <= MAX_TO_ENTRIES),
        _ => {}
    }
    assert!(!message.op.name().is_empty());
}
