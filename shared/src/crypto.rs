//! The AES-256-GCM envelope of SPEC §5.
//!
//! Layout: `version (1) ‖ key id (8) ‖ nonce (12) ‖ ciphertext ‖ tag (16)`.
//! Every seal draws a fresh random 96-bit nonce; the caller's record id is
//! bound as associated data, so a ciphertext moved to another row fails to
//! open. The key id is a fingerprint of the key itself (the first 8 bytes of
//! SHA-256 over a domain label and the key), so keys rotate with no ids to
//! manage: `ENCRYPTION_KEY` seals, `ENCRYPTION_OLD_KEYS` still open.
use aes_gcm::{
    Aes256Gcm, Nonce,
    aead::{Aead, KeyInit, Payload},
};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// A key's fingerprint, stored with every ciphertext it sealed.
pub type KeyId = [u8; KEY_ID_LEN];

/// Why an envelope did not open.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The envelope is shorter than a header and tag, or of an unknown version.
    #[error("malformed envelope")]
    Malformed,
    /// No configured key has this envelope's key id.
    #[error("unknown key")]
    UnknownKey,
    /// Authentication failed: damaged data, wrong associated data, or wrong key.
    #[error("authentication failed")]
    Tampered,
    /// The system random source failed.
    #[error("random source failed")]
    Random,
}

struct Key {
    id: KeyId,
    cipher: Aes256Gcm,
}

/// The current sealing key and the older keys that still open.
pub struct KeyRing {
    current: Key,
    old: Vec<Key>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("old_keys", &self.old.len()).finish_non_exhaustive()
    }
}

fn fingerprint(key: &[u8]) -> KeyId {
    let digest =
        Sha256::new().chain_update(b"chat-envelope-key-id:v1\0").chain_update(key).finalize();
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    id
}

fn key_from_bytes(bytes: &[u8]) -> Option<Key> {
    let cipher = Aes256Gcm::new_from_slice(bytes).ok()?;
    Some(Key { id: fingerprint(bytes), cipher })
}

fn decode_key(var: &'static str, b64: &str) -> Result<Key, ConfigError> {
    let bytes = B64.decode(b64.trim()).map_err(|_| ConfigError::Invalid {
        var,
        reason: "must be base64 (standard alphabet, padded)".into(),
    })?;
    if bytes.len() != 32 {
        return Err(ConfigError::Invalid {
            var,
            reason: format!("must decode to 32 bytes, got {}", bytes.len()),
        });
    }
    key_from_bytes(&bytes)
        .ok_or_else(|| ConfigError::Invalid { var, reason: "not an AES-256 key".into() })
}

impl KeyRing {
    /// Builds the ring from `ENCRYPTION_KEY` and `ENCRYPTION_OLD_KEYS` values (base64).
    pub fn from_base64(
        current: &SecretString,
        old: Option<&SecretString>,
    ) -> Result<Self, ConfigError> {
        let current = decode_key("ENCRYPTION_KEY", current.expose_secret())?;
        let mut keys = Vec::new();
        if let Some(old) = old {
            for part in old.expose_secret().split(',').filter(|p| !p.trim().is_empty()) {
                let key = decode_key("ENCRYPTION_OLD_KEYS", part)?;
                if key.id != current.id {
                    keys.push(key);
                }
            }
        }
        Ok(Self { current, old: keys })
    }

    /// Seals `plaintext` bound to `associated` (the record id).
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::Random)?;
        let ct = self
            .current
            .cipher
            .encrypt(&Nonce::from(nonce), Payload { msg: plaintext, aad: associated })
            .map_err(|_| CryptoError::Tampered)?;
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&self.current.id);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens an envelope sealed by the current key or any old key.
    pub fn open(&self, envelope: &[u8], associated: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if envelope.len() < HEADER_LEN + TAG_LEN || envelope[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let id = &envelope[1..1 + KEY_ID_LEN];
        let key = std::iter::once(&self.current)
            .chain(self.old.iter())
            .find(|k| k.id == id)
            .ok_or(CryptoError::UnknownKey)?;
        let nonce = Nonce::try_from(&envelope[1 + KEY_ID_LEN..HEADER_LEN])
            .map_err(|_| CryptoError::Malformed)?;
        key.cipher
            .decrypt(&nonce, Payload { msg: &envelope[HEADER_LEN..], aad: associated })
            .map_err(|_| CryptoError::Tampered)
    }

    /// Opens an envelope holding UTF-8 text.
    pub fn open_text(&self, envelope: &[u8], associated: &[u8]) -> Result<String, CryptoError> {
        String::from_utf8(self.open(envelope, associated)?).map_err(|_| CryptoError::Tampered)
    }
}

/// Returns a fresh random key, base64 encoded (for `ENCRYPTION_KEY`).
pub fn generate_key_base64() -> Result<String, CryptoError> {
    let mut k = [0u8; 32];
    getrandom::fill(&mut k).map_err(|_| CryptoError::Random)?;
    Ok(B64.encode(k))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    impl KeyRing {
        /// Builds a ring from raw 32-byte keys.
        fn from_raw(current: &[u8; 32], old: &[[u8; 32]]) -> Self {
            let mk =
                |k: &[u8; 32]| Key { id: fingerprint(k), cipher: Aes256Gcm::new(&(*k).into()) };
            Self { current: mk(current), old: old.iter().map(mk).collect() }
        }

        /// Returns the fingerprint of the sealing key.
        fn current_key_id(&self) -> KeyId {
            self.current.id
        }
    }

    fn ring() -> KeyRing {
        KeyRing::from_raw(&[7u8; 32], &[])
    }

    #[test]
    fn seal_then_open_round_trips() {
        let r = ring();
        let env = r.seal("¡Hola! ¿Cómo estás?".as_bytes(), b"id-1").unwrap();
        assert_eq!(r.open_text(&env, b"id-1").unwrap(), "¡Hola! ¿Cómo estás?");
        assert!(!env.windows(4).any(|w| w == b"Hola"));
    }

    #[test]
    fn no_nonce_repeats_over_100k_encryptions() {
        let r = ring();
        let mut seen = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let env = r.seal(b"x", b"a").unwrap();
            let nonce: [u8; NONCE_LEN] = env[1 + KEY_ID_LEN..HEADER_LEN].try_into().unwrap();
            assert!(seen.insert(nonce), "nonce repeated");
        }
    }

    #[test]
    fn any_flipped_bit_fails_cleanly() {
        let r = ring();
        let env = r.seal(b"secret message", b"id").unwrap();
        // Nonce, ciphertext and tag: every bit of each.
        for byte in (1 + KEY_ID_LEN)..env.len() {
            for bit in 0..8 {
                let mut bad = env.clone();
                bad[byte] ^= 1 << bit;
                assert_eq!(r.open(&bad, b"id"), Err(CryptoError::Tampered), "byte {byte}");
            }
        }
        let mut bad = env.clone();
        bad[1] ^= 1;
        assert_eq!(r.open(&bad, b"id"), Err(CryptoError::UnknownKey));
        let mut bad = env.clone();
        bad[0] = 9;
        assert_eq!(r.open(&bad, b"id"), Err(CryptoError::Malformed));
        assert_eq!(r.open(&env[..10], b"id"), Err(CryptoError::Malformed));
    }

    #[test]
    fn swapped_associated_id_fails() {
        let r = ring();
        let env = r.seal(b"m", b"message-a").unwrap();
        assert_eq!(r.open(&env, b"message-b"), Err(CryptoError::Tampered));
    }

    #[test]
    fn old_key_still_opens_after_rotation() {
        let before = KeyRing::from_raw(&[1u8; 32], &[]);
        let env = before.seal(b"sealed long ago", b"id").unwrap();
        let after = KeyRing::from_raw(&[2u8; 32], &[[1u8; 32]]);
        assert_eq!(after.open(&env, b"id").unwrap(), b"sealed long ago");
        let new = after.seal(b"new", b"id").unwrap();
        assert_eq!(&new[1..9], &after.current_key_id());
        assert_ne!(&new[1..9], &env[1..9]);
        let forgot = KeyRing::from_raw(&[2u8; 32], &[]);
        assert_eq!(forgot.open(&env, b"id"), Err(CryptoError::UnknownKey));
    }

    #[test]
    fn keys_from_environment_values_are_checked() {
        let k = SecretString::from(B64.encode([3u8; 32]));
        let old =
            SecretString::from(format!("{}, {}", B64.encode([4u8; 32]), B64.encode([5u8; 32])));
        let r = KeyRing::from_base64(&k, Some(&old)).unwrap();
        assert_eq!(r.old.len(), 2);
        let short = SecretString::from(B64.encode([3u8; 16]));
        let e = KeyRing::from_base64(&short, None).unwrap_err().to_string();
        assert!(e.contains("ENCRYPTION_KEY") && e.contains("32 bytes"), "{e}");
        let junk = SecretString::from("not base64!".to_owned());
        let e = KeyRing::from_base64(&k, Some(&junk)).unwrap_err().to_string();
        assert!(e.contains("ENCRYPTION_OLD_KEYS"), "{e}");
    }
}
