//! Typed ids: a conversation id cannot be passed where a message id is expected. Inside the
//! hub they wrap the stored integer; outside (JSON, paths) they are strings (`"42"`), and
//! integers are accepted on input too.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Parses an id as clients send it: a positive integer, as a string or a number.
fn deserialize_positive<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct IdVisitor;
    impl Visitor<'_> for IdVisitor {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an id such as \"42\"")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            v.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            i64::try_from(v)
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Some(v)
                .filter(|id| *id > 0)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(v), &self))
        }
    }
    deserializer.deserialize_any(IdVisitor)
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl $name {
            /// The stored integer.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_positive(d).map(Self)
            }
        }
    };
}

typed_id!(
    /// Any stored record's id, for the records without a type of their own (teams, canned
    /// responses, tokens).
    PublicId
);
typed_id!(
    /// A conversation.
    ConversationId
);
typed_id!(
    /// An inbox (one configured channel).
    InboxId
);
typed_id!(
    /// An agent (or admin).
    AgentId
);
typed_id!(
    /// A contact (a customer, across channels).
    ContactId
);
typed_id!(
    /// A message of a conversation.
    MessageId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_strings_outside_and_positive() {
        let id: ConversationId = serde_json::from_str("\"42\"").expect("string");
        assert_eq!(id, ConversationId(42));
        let id: MessageId = serde_json::from_str("7").expect("number");
        assert_eq!(id.get(), 7);
        assert_eq!(
            serde_json::to_string(&AgentId(3)).expect("serializes"),
            "\"3\""
        );
        for bad in ["\"0\"", "-1", "\"x\"", "\"\"", "1.5", "null"] {
            assert!(
                serde_json::from_str::<InboxId>(bad).is_err(),
                "{bad} accepted"
            );
        }
    }
}
