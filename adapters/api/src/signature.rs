//! HMAC-SHA256 body signatures, used in both directions so each side can authenticate the other.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchboard_channel::InboundError;

/// Header carrying `sha256=<hex HMAC-SHA256(secret, body)>` on webhooks and callbacks.
pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";

const PREFIX: &str = "sha256=";

type HmacSha256 = Hmac<Sha256>;

fn keyed_mac(secret: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of any length (long keys are hashed first), so this cannot fail;
    // the secret is configuration, never request input.
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// Signs `body` with the inbox secret, giving the exact [`SIGNATURE_HEADER`] value:
/// `sha256=` followed by the lowercase hex HMAC-SHA256.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = keyed_mac(secret);
    mac.update(body);
    format!("{PREFIX}{}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks that `header` (the [`SIGNATURE_HEADER`] value, if any) is a valid signature of the raw
/// `body`, so forged or altered webhooks are refused with 401. Hex digits may be upper or lower
/// case; the comparison is constant-time so the signature cannot be guessed byte by byte.
pub fn verify(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), InboundError> {
    let header = header
        .ok_or_else(|| InboundError::Unauthorized(format!("missing {SIGNATURE_HEADER} header")))?;
    let malformed = || {
        InboundError::Unauthorized(format!(
            "{SIGNATURE_HEADER} must be sha256=<64 hex digits of HMAC-SHA256(secret, body)>"
        ))
    };
    let digits = header.trim().strip_prefix(PREFIX).ok_or_else(malformed)?;
    if digits.len() != 64 {
        return Err(malformed());
    }
    let expected = hex::decode(digits).map_err(|_| malformed())?;
    let mut mac = keyed_mac(secret);
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| InboundError::Unauthorized("signature does not match the body".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SIGNATURE: &str =
        "sha256=88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b";

    fn unauthorized(result: Result<(), InboundError>) -> String {
        match result {
            Err(InboundError::Unauthorized(message)) => message,
            other => panic!("expected Unauthorized, got {other:?}"),
        }
    }

    #[test]
    fn known_test_vector() {
        assert_eq!(sign(b"secret", b"hello"), HELLO_SIGNATURE);
        assert_eq!(verify(b"secret", b"hello", Some(HELLO_SIGNATURE)), Ok(()));
    }

    #[test]
    fn round_trip() {
        let body = br#"{"type":"message","external_id":"m-1"}"#;
        let signature = sign(b"inbox secret", body);
        assert_eq!(verify(b"inbox secret", body, Some(&signature)), Ok(()));
    }

    #[test]
    fn accepts_upper_case_hex_and_surrounding_whitespace() {
        let upper = format!("sha256={}", HELLO_SIGNATURE[7..].to_ascii_uppercase());
        assert_eq!(verify(b"secret", b"hello", Some(&upper)), Ok(()));
        let padded = format!("  {HELLO_SIGNATURE} ");
        assert_eq!(verify(b"secret", b"hello", Some(&padded)), Ok(()));
    }

    #[test]
    fn missing_header() {
        assert_eq!(
            unauthorized(verify(b"secret", b"hello", None)),
            "missing X-Switchboard-Signature header"
        );
    }

    #[test]
    fn tampered_body() {
        assert_eq!(
            unauthorized(verify(b"secret", b"hello!", Some(HELLO_SIGNATURE))),
            "signature does not match the body"
        );
    }

    #[test]
    fn wrong_secret() {
        assert_eq!(
            unauthorized(verify(b"other", b"hello", Some(HELLO_SIGNATURE))),
            "signature does not match the body"
        );
    }

    #[test]
    fn malformed_headers() {
        let digits = &HELLO_SIGNATURE[7..];
        for header in [
            digits.to_owned(),                     // no prefix
            format!("sha1={digits}"),              // wrong prefix
            format!("SHA256:{digits}"),            // wrong separator
            format!("sha256={}", &digits[..62]),   // too short
            format!("sha256={digits}00"),          // too long
            format!("sha256={}zz", &digits[..62]), // not hex
            String::new(),                         // empty
        ] {
            let message = unauthorized(verify(b"secret", b"hello", Some(&header)));
            assert!(
                message.starts_with("X-Switchboard-Signature must be sha256="),
                "header {header:?} gave {message:?}"
            );
        }
    }
}
