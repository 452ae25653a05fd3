//! The one place where errors become HTTP responses: `{"error": {"code", "message"}}`.
//!
//! Handlers return `Result<_, ApiError>`; the errors of the layers below (the store, the
//! inbound door, channel setup, conversations, files, passwords) convert into it here, so
//! each status code and error code is decided here and nowhere else, and nothing below the
//! HTTP layer knows about HTTP.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::auth::{GateError, HashError};
use crate::channels::setup::SetupError;
use crate::channels::{ConnectError, SettingsError};
use crate::conversations::ConversationError;
use crate::db::StoreError;
use crate::files::{FileError, StorageRefusal};
use crate::inbound::InboundError;
use crate::media::MediaError;
use crate::store::agents::AgentChangeError;

/// An error answer of the API.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    /// The request could not be understood (malformed JSON, bad query string).
    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Well-formed input with a value that breaks a rule; the message names the field.
    pub(crate) fn invalid(field: &str, reason: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_input",
            format!("{field}: {reason}"),
        )
    }

    /// Well-formed input the hub cannot act on (an update that still does not parse).
    pub(crate) fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    pub(crate) fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    pub(crate) fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 404 with a specific code (`unknown_widget`), for callers that tell kinds apart.
    pub(crate) fn not_found_code(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub(crate) fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "too many attempts; try again in {} s",
                    retry_after_secs.max(1)
                ),
            )
        }
    }

    /// A server the hub depends on (a mail server) refused or could not be reached: 502.
    pub(crate) fn upstream(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_GATEWAY, code, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// Momentarily overloaded: 503 with `Retry-After: 1`.
    pub(crate) fn busy(message: impl Into<String>) -> Self {
        Self {
            retry_after_secs: Some(1),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        }
    }

    /// Over a widget storage quota: 429 with when enough of the window will have aged out.
    pub(crate) fn storage_quota_exceeded(
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        Self {
            retry_after_secs: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "storage_quota_exceeded",
                message,
            )
        }
    }

    /// The blob store's disk is at its floor (`attachments.min_free_disk_mb`): 507.
    pub(crate) fn insufficient_storage(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "insufficient_storage",
            message,
        )
    }

    pub(crate) fn payload_too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    pub(crate) fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub(crate) fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            message,
        )
    }

    /// A fault of ours: logged in full, answered without internals.
    pub(crate) fn internal(error: impl fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the details are in the server log",
        )
    }

    pub(crate) fn code(&self) -> &'static str {
        self.code
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from(secs)));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"switchboard\""),
            ));
        }
        response.json(json!({"error": {"code": self.code, "message": self.message}}))
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(reason) => {
                tracing::warn!(%reason, "database unavailable");
                Self::unavailable("the database is not reachable right now")
            }
            StoreError::Conflict(detail) => {
                Self::conflict("conflict", format!("already exists ({detail})"))
            }
            other => Self::internal(other),
        }
    }
}

impl From<AgentChangeError> for ApiError {
    fn from(error: AgentChangeError) -> Self {
        match error {
            AgentChangeError::NotFound => Self::not_found("no agent with that id"),
            AgentChangeError::LastAdmin => Self::conflict("last_admin", error.to_string()),
            AgentChangeError::EmailTaken => Self::conflict("email_taken", error.to_string()),
            AgentChangeError::Store(e) => e.into(),
        }
    }
}

impl From<GateError> for ApiError {
    fn from(error: GateError) -> Self {
        match error {
            GateError::Busy => Self::busy(error.to_string()),
            GateError::Failed(_) => Self::internal(error),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(error: HashError) -> Self {
        Self::internal(error)
    }
}

impl From<FileError> for ApiError {
    /// A refused or failed file: the file's own fault is 4xx, ours 5xx.
    fn from(error: FileError) -> Self {
        match error {
            FileError::Media(MediaError::Disallowed { .. }) => {
                Self::unsupported_media_type(error.to_string())
            }
            FileError::Media(_) => Self::invalid("file", error),
            FileError::TooLarge { .. } => Self::payload_too_large(error.to_string()),
            FileError::Upload(_) => Self::bad_request("upload_failed", error.to_string()),
            FileError::Fetch(_) => Self::invalid("attachments", error),
            FileError::FetchUnavailable(_) => Self::unavailable(error.to_string()),
            FileError::Storage(_) | FileError::Io(_) => Self::internal(error),
            FileError::Refused(refusal) => refusal.into(),
        }
    }
}

impl From<StorageRefusal> for ApiError {
    /// Quotas get a minute here; the widget route answers them itself, with the time the
    /// window frees enough.
    fn from(refusal: StorageRefusal) -> Self {
        match refusal {
            StorageRefusal::DiskFloor => Self::insufficient_storage(refusal.to_string()),
            StorageRefusal::VisitorQuota | StorageRefusal::InboxQuota => {
                Self::storage_quota_exceeded(refusal.to_string(), 60)
            }
        }
    }
}

impl From<InboundError> for ApiError {
    fn from(error: InboundError) -> Self {
        match error {
            InboundError::File(error) => error.into(),
            InboundError::TooManyFiles { .. } => Self::invalid("attachments", error),
            InboundError::Store(error) => error.into(),
            InboundError::Unavailable(reason) => Self::unavailable(reason),
            InboundError::NotFound(_) => Self::not_found(error.to_string()),
            InboundError::Replay {
                code: "already_replayed",
                reason,
            } => Self::conflict("already_replayed", reason),
            InboundError::Replay { code, reason } => Self::unprocessable(code, reason),
        }
    }
}

impl From<SettingsError> for ApiError {
    fn from(error: SettingsError) -> Self {
        Self::invalid(&error.field, error.reason)
    }
}

impl From<ConnectError> for ApiError {
    fn from(error: ConnectError) -> Self {
        match error {
            ConnectError::Refused(refused) => refused.into(),
            ConnectError::Unreachable(reason) => Self::unavailable(reason),
            ConnectError::Internal(reason) => Self::internal(reason),
        }
    }
}

impl From<SetupError> for ApiError {
    fn from(error: SetupError) -> Self {
        match error {
            SetupError::Invalid(error) => error.into(),
            SetupError::Connect(error) => error.into(),
            SetupError::NotFound => Self::not_found(error.to_string()),
            SetupError::HasHistory => Self::conflict("inbox_has_history", error.to_string()),
            SetupError::Store(error) => error.into(),
        }
    }
}

impl From<ConversationError> for ApiError {
    fn from(error: ConversationError) -> Self {
        match error {
            ConversationError::NotFound => Self::not_found(error.to_string()),
            ConversationError::Invalid { field, reason } => Self::invalid(&field, reason),
            ConversationError::NothingToChange(message) => {
                Self::bad_request("nothing_to_change", message)
            }
            ConversationError::TooLarge(message) => Self::payload_too_large(message),
            ConversationError::Refused(reason) => Self::conflict("not_allowed", reason),
            ConversationError::Lost => Self::conflict("conflict", error.to_string()),
            ConversationError::Store(error) => error.into(),
            ConversationError::Unavailable(reason) => Self::unavailable(reason),
        }
    }
}
