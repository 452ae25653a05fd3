//! Domain newtypes that parse at the boundary: once a value has one of these types it is
//! known to be valid, so handlers and storage never re-check it.

pub mod attributes;
pub mod csat;
mod ids;

use std::fmt;

use serde::Serialize;

pub use attributes::AttributeKind;
pub use ids::{AgentId, ContactId, ConversationId, InboxId, MessageId, PublicId};

/// A normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Accepts `local@domain.tld`; refuses spaces, control characters and oversize input.
    pub fn parse(input: &str) -> Result<Self, String> {
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err("an email address is required".into());
        }
        if email.len() > 254 {
            return Err("the email address is longer than 254 characters".into());
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("the email address must not contain spaces".into());
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(format!("{email:?} is not an email address (no @)"));
        };
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@')
            && !domain.contains("..");
        if local.is_empty() || !domain_ok {
            return Err(format!("{email:?} is not an email address"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A human-facing name (agent, team, token): trimmed, 1 to 100 characters, printable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, String> {
        let name = input.trim();
        if name.is_empty() {
            return Err("a name is required".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "the name is longer than {} characters",
                Self::MAX_CHARS
            ));
        }
        if name.chars().any(char::is_control) {
            return Err("the name must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password that meets the policy; `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Long passphrases beat complexity rules (NIST SP 800-63B), so only length is checked.
    pub const MIN_CHARS: usize = 10;
    /// Bounds the argon2 input so a huge body cannot be used to burn CPU.
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(input: &str) -> Result<Self, String> {
        let count = input.chars().count();
        if count < Self::MIN_CHARS {
            return Err(format!(
                "the password must have at least {} characters",
                Self::MIN_CHARS
            ));
        }
        if count > Self::MAX_CHARS {
            return Err(format!(
                "the password must have at most {} characters",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            EmailAddress::parse("  Ann@Example.COM ").map(|e| e.0),
            Ok("ann@example.com".to_owned())
        );
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "a b@example.com",
            "a@b",
            "a@.com",
            "a@b..com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            DisplayName::parse(" Support ").map(|n| n.0),
            Ok("Support".into())
        );
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(101)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn password_policy_is_length_only_and_debug_hides_it() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse(&"p".repeat(1025)).is_err());
        let pw = Password::parse("a long passphrase").map_err(|e| e.to_string());
        assert_eq!(format!("{:?}", pw.as_ref().map(|_| ())), "Ok(())");
        assert_eq!(
            format!("{:?}", Password("secret-value".into())),
            "Password(***)"
        );
    }
}
