//! Closed sets of values stored as text (with a CHECK constraint in both migrations).
//!
//! Text instead of native enums keeps one schema for SQLite and PostgreSQL and makes rows
//! readable in any SQL console. Each type converts to and from SQL, JSON and `&str`.

use std::str::FromStr;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// A stored text that is not one of the type's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not one of: {allowed}")]
pub struct UnknownValue {
    pub value: String,
    pub allowed: String,
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow, Serialize, Deserialize)]
        #[diesel(sql_type = Text)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored and serialized form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownValue {
                        value: value.to_owned(),
                        allowed: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl<DB> ToSql<Text, DB> for $name
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                self.as_str().to_sql(out)
            }
        }

        impl<DB> FromSql<Text, DB> for $name
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                let text = String::from_sql(bytes)?;
                Ok(text.parse()?)
            }
        }
    };
}

text_enum! {
    /// What an agent may do: admins configure the hub, agents answer conversations.
    Role { Admin => "admin", Agent => "agent" }
}

text_enum! {
    /// Presence an agent shows to routing and colleagues. Agents choose online (routing
    /// gives them conversations), busy (working, nothing new) or away (not at the desk:
    /// notifications go by email); offline is never chosen or stored, it is what presence
    /// shows while an agent has no connection.
    Availability { Online => "online", Away => "away", Busy => "busy", Offline => "offline" }
}

text_enum! {
    /// The kind of channel an inbox is connected to.
    ChannelType {
        Api => "api",
        Widget => "widget",
        Telegram => "telegram",
        Whatsapp => "whatsapp",
        Email => "email",
    }
}

text_enum! {
    /// How sure we are that a contact identity belongs to that person.
    Verification {
        /// Claimed by the visitor, unchecked.
        Unverified => "unverified",
        /// Vouched for by the provider (a Telegram user id, a WhatsApp number).
        Provider => "provider",
        /// Signed by the customer's website with the inbox secret.
        Hmac => "hmac",
    }
}

text_enum! {
    /// What a conversation is for.
    ConversationKind {
        Support => "support",
        InternalTicket => "internal_ticket",
        TeamChannel => "team_channel",
        DirectMessage => "direct_message",
    }
}

text_enum! {
    /// Where a conversation stands.
    ConversationStatus {
        Open => "open",
        Pending => "pending",
        Snoozed => "snoozed",
        Resolved => "resolved",
        Closed => "closed",
    }
}

text_enum! {
    /// How urgent a conversation is.
    Priority { None => "none", Low => "low", Medium => "medium", High => "high", Urgent => "urgent" }
}

text_enum! {
    /// Which way a message travelled.
    Direction { Inbound => "inbound", Outbound => "outbound", Internal => "internal" }
}

text_enum! {
    /// Who wrote a message.
    SenderType { Contact => "contact", Agent => "agent", Bot => "bot", System => "system" }
}

text_enum! {
    /// Delivery progress of an outbound message; only ever moves forward (see `rank`).
    DeliveryStatus {
        Queued => "queued",
        Sent => "sent",
        Delivered => "delivered",
        Read => "read",
        Failed => "failed",
    }
}

impl DeliveryStatus {
    /// Position on the queued → sent → delivered → read path; `failed` is terminal.
    pub fn rank(self) -> u8 {
        match self {
            Self::Queued => 0,
            Self::Sent => 1,
            Self::Delivered => 2,
            Self::Read => 3,
            Self::Failed => 4,
        }
    }
}

text_enum! {
    /// Progress of an outbox entry.
    OutboxState { Pending => "pending", InFlight => "in_flight", Done => "done", Failed => "failed" }
}

text_enum! {
    /// Who performed an audited action.
    ActorType { Agent => "agent", System => "system", Cli => "cli" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_unknown_values_are_named() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(*role));
        }
        let err = "owner".parse::<Role>().unwrap_err();
        assert_eq!(err.to_string(), "\"owner\" is not one of: admin, agent");
        assert_eq!(
            serde_json::to_string(&ConversationKind::InternalTicket)
                .ok()
                .as_deref(),
            Some("\"internal_ticket\"")
        );
    }

    #[test]
    fn delivery_ranks_follow_the_forward_path() {
        let path = [
            DeliveryStatus::Queued,
            DeliveryStatus::Sent,
            DeliveryStatus::Delivered,
            DeliveryStatus::Read,
        ];
        assert!(path.windows(2).all(|w| w[0].rank() < w[1].rank()));
    }
}
