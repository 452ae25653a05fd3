//! Who a widget visitor is: anonymous visitor tokens, and identities vouched for by the website.
//!
//! A visitor token `{visitor_id}.{inbox_id}.{sig}` lives in the browser's localStorage; the
//! signature (HMAC-SHA256 with a hub key) lets the hub trust it without a database lookup, and
//! binding the inbox id means one site's token is useless on another. A site that knows its
//! user signs their identifier with the inbox secret ([`identifier_hash`]) so a visitor cannot
//! claim to be someone else.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Domain separation for token signatures, so the hub key signs nothing else by accident.
const TOKEN_CONTEXT: &str = "switchboard-widget-visitor";

/// Length of an HMAC-SHA256 token signature, before base64url encoding.
const SIGNATURE_BYTES: usize = 32;

/// Longest visitor id accepted inside a token (issued ids are 22 characters).
const MAX_VISITOR_ID_CHARS: usize = 64;

/// An HMAC-SHA256 keyed with `key`, built without a fallible constructor: HMAC zero-pads keys
/// up to the block size and hashes longer ones first, which is exactly what this does.
fn keyed_mac(key: &[u8]) -> HmacSha256 {
    let mut block = Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let digest = Sha256::digest(key);
        block[..digest.len()].copy_from_slice(&digest);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    <HmacSha256 as KeyInit>::new(&block)
}

/// The lowercase hex HMAC-SHA256 of `identifier` keyed with the inbox secret: what the
/// website's server computes and passes as `identifier_hash` to `Switchboard('identify', …)`.
pub fn identifier_hash(secret: &[u8], identifier: &str) -> String {
    let mut mac = keyed_mac(secret);
    mac.update(identifier.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `given_hash` is [`identifier_hash`] of `identifier` under `secret`. Hex digits may be
/// upper or lower case; anything that is not 64 hex digits is simply false. The comparison is
/// constant-time, so the hash cannot be guessed byte by byte from response times.
pub fn verify_identifier(secret: &[u8], identifier: &str, given_hash: &str) -> bool {
    let Ok(given) = hex::decode(given_hash) else {
        return false;
    };
    let mut mac = keyed_mac(secret);
    mac.update(identifier.as_bytes());
    mac.verify_slice(&given).is_ok()
}

/// A new anonymous visitor id from 16 random bytes (the caller supplies them, keeping this pure):
/// 22 characters of unpadded base64url, safe in tokens, URLs and external ids.
pub fn new_visitor_id(random: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// What a valid visitor token says. The caller still checks `inbox_id` against the inbox the
/// request is for: a token from another inbox is genuine but not valid there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitorToken {
    /// The inbox the token was issued for.
    pub inbox_id: i64,
    /// The visitor it identifies.
    pub visitor_id: String,
}

/// Why a visitor token was refused; either way the widget starts a new session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not shaped like `{visitor_id}.{inbox_id}.{signature}`: corrupted storage or garbage.
    #[error("visitor token is malformed: {0}")]
    Malformed(&'static str),
    /// Well-formed but the signature does not match: forged, altered, or signed with an old key.
    #[error("visitor token signature does not match")]
    Forged,
}

fn token_signature(key: &[u8], inbox_id: i64, visitor_id: &str) -> HmacSha256 {
    let mut mac = keyed_mac(key);
    mac.update(format!("{TOKEN_CONTEXT}\n{inbox_id}\n{visitor_id}").as_bytes());
    mac
}

/// Signs a visitor token for `inbox_id`: `{visitor_id}.{inbox_id}.{sig}`, where `sig` is the
/// unpadded base64url HMAC-SHA256 of `switchboard-widget-visitor\n{inbox_id}\n{visitor_id}`.
/// `visitor_id` should come from [`new_visitor_id`]; one containing `.` would not verify.
pub fn sign_visitor_token(key: &[u8], inbox_id: i64, visitor_id: &str) -> String {
    let sig = token_signature(key, inbox_id, visitor_id)
        .finalize()
        .into_bytes();
    format!("{visitor_id}.{inbox_id}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Checks a token made by [`sign_visitor_token`] with the same `key` and says whom it names.
/// The inbox id must be written canonically and the signature must be canonical base64url, so
/// each visitor has exactly one valid token per inbox; the comparison is constant-time.
pub fn verify_visitor_token(key: &[u8], token: &str) -> Result<VisitorToken, TokenError> {
    let mut parts = token.split('.');
    let (Some(visitor_id), Some(inbox), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed(
            "expected visitor_id.inbox_id.signature",
        ));
    };
    if visitor_id.is_empty()
        || visitor_id.len() > MAX_VISITOR_ID_CHARS
        || !visitor_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(TokenError::Malformed("bad visitor id"));
    }
    let inbox_id = inbox
        .parse::<i64>()
        .ok()
        .filter(|id| id.to_string() == inbox)
        .ok_or(TokenError::Malformed("bad inbox id"))?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .ok()
        .filter(|sig| sig.len() == SIGNATURE_BYTES)
        .ok_or(TokenError::Malformed(
            "signature is not 43 characters of base64url",
        ))?;
    token_signature(key, inbox_id, visitor_id)
        .verify_slice(&sig)
        .map_err(|_| TokenError::Forged)?;
    Ok(VisitorToken {
        inbox_id,
        visitor_id: visitor_id.to_owned(),
    })
}

/// The external id of a visitor message, `{visitor_id}:{client_id}`: unique per inbox, so the
/// hub's inbound dedupe turns a resent `client_id` into the stored message instead of a copy.
pub fn client_external_id(visitor_id: &str, client_id: &str) -> String {
    format!("{visitor_id}:{client_id}")
}

/// The contact identifier of an anonymous visitor, `visitor:{visitor_id}`, kept apart from
/// identifiers the website vouches for.
pub fn visitor_identifier(visitor_id: &str) -> String {
    format!("visitor:{visitor_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hmac.new(b"s3cr3t", b"u-42", hashlib.sha256).hexdigest()` in Python.
    const U42_HASH: &str = "cb4b7c5bacbfe40078a7c708f0d8a4ed85326d24c4da26fe1bc22628f844f656";

    /// Visitor id of bytes 0..16 and its token for inbox 3 under key `token-key`, computed with
    /// Python's base64 and hmac modules.
    const VISITOR_ID: &str = "AAECAwQFBgcICQoLDA0ODw";
    const TOKEN: &str = "AAECAwQFBgcICQoLDA0ODw.3.YXky3KY6xwd6wHN_4UOMxzNJ432W2JZPt_yHD1755VU";
    const KEY: &[u8] = b"token-key";

    fn random() -> [u8; 16] {
        std::array::from_fn(|i| i as u8)
    }

    #[test]
    fn identifier_hash_known_vector() {
        assert_eq!(identifier_hash(b"s3cr3t", "u-42"), U42_HASH);
    }

    #[test]
    fn identifier_hash_with_empty_and_long_secrets() {
        // Python: hmac.new(b"", b"u-42", ...) and hmac.new(b"k" * 100, b"u-42", ...).
        assert_eq!(
            identifier_hash(b"", "u-42"),
            "e4764c48bd22850f68f92dee162c995a25c2d41edf71d1dd29490997b5dec5c8"
        );
        assert_eq!(
            identifier_hash(&[b'k'; 100], "u-42"),
            "541841758fc0bcaacdc0b850a1018d8f9788ceb3fa5f34b1a23b265b902bec04"
        );
    }

    #[test]
    fn verify_identifier_accepts_either_case() {
        assert!(verify_identifier(b"s3cr3t", "u-42", U42_HASH));
        assert!(verify_identifier(
            b"s3cr3t",
            "u-42",
            &U42_HASH.to_ascii_uppercase()
        ));
    }

    #[test]
    fn verify_identifier_refuses_wrong_or_malformed_hashes() {
        assert!(!verify_identifier(b"s3cr3t", "u-43", U42_HASH));
        assert!(!verify_identifier(b"other", "u-42", U42_HASH));
        for given in [
            String::new(),
            U42_HASH[..63].to_owned(),        // odd length
            U42_HASH[..62].to_owned(),        // truncated
            format!("{U42_HASH}00"),          // too long
            format!("{}zz", &U42_HASH[..62]), // not hex
            format!(" {U42_HASH}"),           // whitespace
            format!("sha256={U42_HASH}"),     // prefixed
        ] {
            assert!(!verify_identifier(b"s3cr3t", "u-42", &given), "{given:?}");
        }
    }

    #[test]
    fn visitor_ids_are_base64url_without_padding() {
        assert_eq!(new_visitor_id(random()), VISITOR_ID);
        assert_eq!(new_visitor_id([0xff; 16]), "_____________________w");
        assert_eq!(new_visitor_id([0; 16]).len(), 22);
    }

    #[test]
    fn token_known_vector_and_round_trip() {
        assert_eq!(sign_visitor_token(KEY, 3, VISITOR_ID), TOKEN);
        assert_eq!(
            verify_visitor_token(KEY, TOKEN),
            Ok(VisitorToken {
                inbox_id: 3,
                visitor_id: VISITOR_ID.into()
            })
        );
        let id = new_visitor_id([7; 16]);
        let token = sign_visitor_token(b"another key", 1_234_567_890_123, &id);
        assert_eq!(
            verify_visitor_token(b"another key", &token),
            Ok(VisitorToken {
                inbox_id: 1_234_567_890_123,
                visitor_id: id
            })
        );
    }

    #[test]
    fn forged_tokens() {
        // Wrong key.
        assert_eq!(
            verify_visitor_token(b"other", TOKEN),
            Err(TokenError::Forged)
        );
        // Another visitor id or inbox id with the original signature.
        let sig = TOKEN.rsplit('.').next().expect("has a signature");
        for token in [
            format!("{}.3.{sig}", new_visitor_id([1; 16])),
            format!("{VISITOR_ID}.4.{sig}"),
        ] {
            assert_eq!(
                verify_visitor_token(KEY, &token),
                Err(TokenError::Forged),
                "{token}"
            );
        }
        // A flipped character in the signature.
        let mut flipped = TOKEN.to_owned();
        flipped.replace_range(TOKEN.len() - 5..TOKEN.len() - 4, "A");
        assert_ne!(flipped, TOKEN);
        assert_eq!(verify_visitor_token(KEY, &flipped), Err(TokenError::Forged));
        // Truncated tokens are malformed, see below.
    }

    #[test]
    fn malformed_tokens() {
        let sig = TOKEN.rsplit('.').next().expect("has a signature");
        for token in [
            String::new(),
            "garbage".to_owned(),
            VISITOR_ID.to_owned(),
            format!("{VISITOR_ID}.3"),
            format!("{VISITOR_ID}.3.{sig}.extra"),
            format!(".3.{sig}"),
            format!("{VISITOR_ID}..{sig}"),
            format!("{VISITOR_ID}.03.{sig}"),
            format!("{VISITOR_ID}.+3.{sig}"),
            format!("{VISITOR_ID}.three.{sig}"),
            format!("{VISITOR_ID}.99999999999999999999.{sig}"),
            format!("{VISITOR_ID}.3.{sig}="),
            format!("{VISITOR_ID}.3.{}", sig.replace('_', "/")),
            format!("{VISITOR_ID}.3."),
            // Truncated: characters cut off the end, or a shorter MAC canonically encoded.
            TOKEN[..TOKEN.len() - 4].to_owned(),
            TOKEN[..TOKEN.len() - 1].to_owned(),
            format!("{VISITOR_ID}.3.{}", &sig[..22]),
            format!("{VISITOR_ID}.3.{sig}AA"),
            format!("vis itor.3.{sig}"),
            format!("{}.3.{sig}", "v".repeat(65)),
            format!("visitor:x.3.{sig}"),
        ] {
            assert!(
                matches!(
                    verify_visitor_token(KEY, &token),
                    Err(TokenError::Malformed(_))
                ),
                "{token:?} gave {:?}",
                verify_visitor_token(KEY, &token)
            );
        }
        assert_eq!(
            TokenError::Malformed("bad inbox id").to_string(),
            "visitor token is malformed: bad inbox id"
        );
    }

    #[test]
    fn a_token_for_another_inbox_verifies_but_names_that_inbox() {
        let token = sign_visitor_token(KEY, 4, VISITOR_ID);
        let verified = verify_visitor_token(KEY, &token).expect("genuine token");
        assert_eq!(verified.inbox_id, 4);
        assert_ne!(verified.inbox_id, 3, "the caller refuses it for inbox 3");
    }

    #[test]
    fn external_ids_and_identifiers() {
        assert_eq!(
            client_external_id(VISITOR_ID, "c-12345678"),
            "AAECAwQFBgcICQoLDA0ODw:c-12345678"
        );
        assert_eq!(
            visitor_identifier(VISITOR_ID),
            "visitor:AAECAwQFBgcICQoLDA0ODw"
        );
    }
}
