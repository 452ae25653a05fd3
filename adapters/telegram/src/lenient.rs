//! Bot API answers read with only the fields the hub uses.
//!
//! teloxide's result types require every field of the newest Bot API (`getMe` wants
//! `has_main_web_app` and `can_connect_to_business`, a sent `Message` wants `from.is_bot`),
//! so an older or self-hosted Bot API server would make inbox setup fail, or a reply that was
//! delivered look failed (and be sent again). [`Lenient`] sends teloxide's own request
//! payloads through teloxide's client but reads the answer into the small types below.

use std::marker::PhantomData;
use std::time::Duration;

use serde::{Deserialize, Serialize, Serializer};
use teloxide::requests::{MultipartPayload, Payload};
use teloxide::types::InputFile;

/// A teloxide payload whose answer is read as `O` instead of teloxide's own type.
pub(crate) struct Lenient<P, O> {
    payload: P,
    answer: PhantomData<fn() -> O>,
}

impl<P, O> Lenient<P, O> {
    pub(crate) fn new(payload: P) -> Self {
        Self {
            payload,
            answer: PhantomData,
        }
    }
}

impl<P: Clone, O> Clone for Lenient<P, O> {
    fn clone(&self) -> Self {
        Self::new(self.payload.clone())
    }
}

impl<P: Serialize, O> Serialize for Lenient<P, O> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.payload.serialize(serializer)
    }
}

impl<P: Payload, O> Payload for Lenient<P, O> {
    type Output = O;
    const NAME: &'static str = P::NAME;

    fn timeout_hint(&self) -> Option<Duration> {
        self.payload.timeout_hint()
    }
}

impl<P: MultipartPayload, O> MultipartPayload for Lenient<P, O> {
    fn copy_files(&self, into: &mut dyn FnMut(InputFile)) {
        self.payload.copy_files(into);
    }

    fn move_files(&mut self, into: &mut dyn FnMut(InputFile)) {
        self.payload.move_files(into);
    }
}

/// What `getMe` says about the bot: its id and username are all the hub keeps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub struct BotInfo {
    /// The bot's user id.
    pub id: i64,
    /// The bot's @username (without the @).
    pub username: Option<String>,
    /// The bot's display name.
    pub first_name: String,
}

/// A sent message: only its id matters (for replies' external ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct SentMessage {
    pub(crate) message_id: i32,
}

/// What `getFile` says: where to download the file, and how big it is when known.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FileInfo {
    pub(crate) file_path: Option<String>,
    pub(crate) file_size: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_me_of_an_old_server_reads() {
        let old: BotInfo = serde_json::from_str(
            r#"{"id": 7012345678, "is_bot": true, "first_name": "Support", "username": "kunden_support_bot"}"#,
        )
        .expect("an old getMe answer");
        assert_eq!(old.id, 7_012_345_678);
        assert_eq!(old.username.as_deref(), Some("kunden_support_bot"));
        let minimal: BotInfo = serde_json::from_str(r#"{"id": 1}"#).expect("minimal");
        assert_eq!(minimal.username, None);
    }

    #[test]
    fn sent_message_needs_only_its_id() {
        let sent: SentMessage = serde_json::from_str(
            r#"{"message_id": 42, "chat": {"id": 1}, "date": 0, "from": {"id": 2, "first_name": "Bot"}}"#,
        )
        .expect("a sent message without is_bot");
        assert_eq!(sent.message_id, 42);
    }

    #[test]
    fn file_info_without_size_or_unique_id() {
        let file: FileInfo =
            serde_json::from_str(r#"{"file_id": "x", "file_path": "photos/file_1.jpg"}"#)
                .expect("an old getFile answer");
        assert_eq!(file.file_path.as_deref(), Some("photos/file_1.jpg"));
        assert_eq!(file.file_size, None);
    }
}
