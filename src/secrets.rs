//! The hub's signing key: configured, or generated on first start and kept in the data
//! directory so sessions' CSRF tokens (and later signed URLs) survive restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// File name of the generated key inside the data directory.
pub(crate) const KEY_FILE: &str = "secret.key";

/// A key of at least 32 bytes; `Debug` never shows it.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Why the key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read or create the secret key at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the secret key file {0} is damaged (expected 64 hex characters); restore it or delete it to generate a new one (this logs everyone out)"
    )]
    Damaged(PathBuf),
}

impl SecretKey {
    /// Uses the configured key, else reads `<data_dir>/secret.key`, else creates it
    /// (readable by the owner only).
    pub fn load_or_generate(
        data_dir: &Path,
        configured: Option<&str>,
    ) -> Result<Self, SecretError> {
        if let Some(key) = configured {
            return Ok(Self(key.as_bytes().to_vec()));
        }
        let path = data_dir.join(KEY_FILE);
        let io = |source| SecretError::Io {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                #[cfg(unix)]
                if let Ok(meta) = std::fs::metadata(&path) {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(
                            path = %path.display(),
                            "the secret key is readable by other users; run chmod 600 on it"
                        );
                    }
                }
                let bytes =
                    hex::decode(text.trim()).map_err(|_| SecretError::Damaged(path.clone()))?;
                if bytes.len() < 32 {
                    return Err(SecretError::Damaged(path));
                }
                Ok(Self(bytes))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = crate::auth::random_bytes::<32>();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(io)?;
                file.write_all(hex::encode(key).as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                tracing::info!(path = %path.display(), "generated a new secret key");
                Ok(Self(key.to_vec()))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// HMAC-SHA256 of `data` under this key, domain-separated by `purpose`.
    pub fn sign(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        self.mac(purpose, data).finalize().into_bytes().into()
    }

    /// Constant-time check of a signature made by [`SecretKey::sign`].
    pub fn verify(&self, purpose: &str, data: &[u8], signature: &[u8]) -> bool {
        self.mac(purpose, data).verify_slice(signature).is_ok()
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any size"));
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_is_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretKey::load_or_generate(dir.path(), None).unwrap();
        let again = SecretKey::load_or_generate(dir.path(), None).unwrap();
        assert_eq!(first.0, again.0);
        assert_eq!(first.0.len(), 32);
        let sig = first.sign("csrf", b"token");
        assert!(again.verify("csrf", b"token", &sig));
        assert!(!again.verify("other", b"token", &sig));
    }

    #[test]
    fn damaged_key_file_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "nonsense").unwrap();
        let err = SecretKey::load_or_generate(dir.path(), None).unwrap_err();
        assert!(err.to_string().contains("damaged"));
        assert_eq!(
            std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(),
            "nonsense"
        );
    }
}
