//! The contract's machine-readable error codes (`docs/protocol.md` §6).

use serde::Serialize;
use std::fmt;

/// A stable, machine-readable error code. Its [`ErrorCode::as_str`] form is
/// what devices and app backends see; [`ErrorCode::http_status`] is the one
/// place that maps a code to an HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Missing or wrong credentials or signature.
    Unauthorized,
    /// The body or payload is not valid JSON (or not UTF-8).
    InvalidJson,
    /// The broker's event envelope lacks or mistypes a required field.
    InvalidEnvelope,
    /// A body or payload exceeds its size limit.
    PayloadTooLarge,
    /// The message's `v` is not a version this service speaks.
    UnsupportedVersion,
    /// The upstream message lacks or mistypes a field.
    InvalidMessage,
    /// The upstream `op` is not one of the contract's.
    UnknownOp,
    /// A client ID breaks the `GroupID@@@DeviceID` rules.
    InvalidClientId,
    /// A user ID breaks the user ID rules.
    InvalidUserId,
    /// A topic breaks the topic rules.
    InvalidTopic,
    /// The event's topic is not the sender's own upstream topic.
    WrongTopic,
    /// A device's topics would exceed `max_topic_length`.
    TopicTooLong,
    /// The sender's client ID is not registered.
    UnknownDevice,
    /// The user is not known (has no devices).
    UnknownUser,
    /// The user already has the maximum number of devices.
    TooManyDevices,
    /// An invite names more users than `max_invitees`.
    TooManyInvitees,
    /// The message is older than `max_message_age_seconds`.
    StaleMessage,
    /// The message is further in the future than `max_clock_skew_seconds`.
    FutureMessage,
    /// No such call.
    UnknownCall,
    /// The sender may not do this.
    Forbidden,
    /// The call or invitation is not in a state that allows this.
    InvalidState,
    /// The broker's API failed; retry later.
    BrokerUnavailable,
    /// The key-value store failed; retry later.
    StorageUnavailable,
    /// The same message is being processed by another instance; retry later.
    InProgress,
    /// The request's content type is not `application/json`.
    UnsupportedMediaType,
    /// No such route or resource.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The service's configuration is missing or invalid.
    Misconfigured,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::InvalidJson => "invalid_json",
            Self::InvalidEnvelope => "invalid_envelope",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidMessage => "invalid_message",
            Self::UnknownOp => "unknown_op",
            Self::InvalidClientId => "invalid_client_id",
            Self::InvalidUserId => "invalid_user_id",
            Self::InvalidTopic => "invalid_topic",
            Self::WrongTopic => "wrong_topic",
            Self::TopicTooLong => "topic_too_long",
            Self::UnknownDevice => "unknown_device",
            Self::UnknownUser => "unknown_user",
            Self::TooManyDevices => "too_many_devices",
            Self::TooManyInvitees => "too_many_invitees",
            Self::StaleMessage => "stale_message",
            Self::FutureMessage => "future_message",
            Self::UnknownCall => "unknown_call",
            Self::Forbidden => "forbidden",
            Self::InvalidState => "invalid_state",
            Self::BrokerUnavailable => "broker_unavailable",
            Self::StorageUnavailable => "storage_unavailable",
            Self::InProgress => "in_progress",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Misconfigured => "misconfigured",
        }
    }

    /// The HTTP status this code is answered with when it fails a whole request.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::NotFound | Self::UnknownDevice | Self::UnknownUser | Self::UnknownCall => 404,
            Self::MethodNotAllowed => 405,
            Self::InvalidState | Self::TooManyDevices => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::BrokerUnavailable | Self::StorageUnavailable | Self::InProgress => 503,
            Self::Misconfigured => 500,
            Self::InvalidJson
            | Self::InvalidEnvelope
            | Self::UnsupportedVersion
            | Self::InvalidMessage
            | Self::UnknownOp
            | Self::InvalidClientId
            | Self::InvalidUserId
            | Self::InvalidTopic
            | Self::WrongTopic
            | Self::TopicTooLong
            | Self::TooManyInvitees
            | Self::StaleMessage
            | Self::FutureMessage => 400,
        }
    }

    /// Whether a failure with this code is temporary, so the caller should retry.
    pub fn is_retryable(self) -> bool {
        self.http_status() == 503
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: an error code with a human-readable message that never
/// contains secrets or backend details.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// What went wrong, for a developer reading logs or the device's error event.
    pub message: String,
}

impl Refusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}
