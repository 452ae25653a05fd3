//! Why the inbound door refused or could not store events. Mapped to HTTP answers in one
//! place (`routes::error`); the polling loop and the widget socket read
//! [`InboundError::is_retryable`] instead.

use crate::db::StoreError;
use crate::files::{FileError, MAX_FILES};

/// Why events were not stored. Nothing of them is stored then, and no fetched file is left.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InboundError {
    /// A file was refused (type, size, an address the hub does not fetch) or could not be
    /// had right now.
    #[error(transparent)]
    File(#[from] FileError),
    /// A message carries more files than one message may.
    #[error("message {external_id}: at most {MAX_FILES} files per message")]
    TooManyFiles { external_id: String },
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A part of the hub the door needs has stopped (shutting down).
    #[error("{0}")]
    Unavailable(String),
    /// No kept unreadable update has this id in this inbox.
    #[error("no unreadable update {0} in this inbox")]
    NotFound(i64),
    /// A kept update still cannot be read (or was replayed before); the text says which.
    #[error("{reason}")]
    Replay { code: &'static str, reason: String },
}

impl InboundError {
    /// Whether the same events may be stored later: the provider (or the polling loop)
    /// should try again. Refusals of the input itself are final.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Self::File(error) => !error.is_bad_input() && !matches!(error, FileError::Fetch(_)),
            Self::TooManyFiles { .. } | Self::NotFound(_) | Self::Replay { .. } => false,
            // A conflict (a write that raced another) passes on the next try.
            Self::Store(_) | Self::Unavailable(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_final_and_outages_are_retried() {
        assert!(InboundError::File(FileError::FetchUnavailable("host down".into())).is_retryable());
        assert!(InboundError::Store(StoreError::Unavailable("pool".into())).is_retryable());
        assert!(InboundError::Store(StoreError::Conflict("raced".into())).is_retryable());
        assert!(InboundError::Unavailable("stopping".into()).is_retryable());
        assert!(!InboundError::File(FileError::Fetch("404".into())).is_retryable());
        assert!(
            !InboundError::File(FileError::Upload("cut".into())).is_retryable(),
            "a broken upload is the sender's to repeat"
        );
        assert!(
            !InboundError::TooManyFiles {
                external_id: "m".into()
            }
            .is_retryable()
        );
    }
}
