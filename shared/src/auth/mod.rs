//! JWT verification by SPEC §1: HS256 pinned, `exp` and `sub` required,
//! `nbf` and `iat` checked when present (a token is not valid before its
//! `nbf` nor issued in the future), `iss` and `aud` checked when configured,
//! at most 60 s of leeway, and no secret shorter than 32 bytes. Why a token
//! was refused is logged (debug), never told to the client.
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::ConfigError;

/// The shortest `JWT_SECRET` accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock leeway for `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The claims the product reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user's UUID.
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    /// The token is malformed, expired, signed otherwise, or fails a claim check.
    #[error("invalid token")]
    Invalid,
    /// `sub` is not a UUID.
    #[error("token subject is not a user id")]
    BadSubject,
}

/// Verifies tokens with one secret and the configured claim checks.
#[derive(Clone)]
pub struct JwtVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Builds a verifier; refuses a secret under [`MIN_SECRET_BYTES`].
    pub fn new(
        secret: &SecretString,
        issuer: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::Invalid {
                var: "JWT_SECRET",
                reason: format!("must be at least {MIN_SECRET_BYTES} bytes"),
            });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        if let Some(iss) = issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".into());
        }
        match audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            None => validation.validate_aud = false,
        }
        Ok(Self { key: DecodingKey::from_secret(bytes), validation })
    }

    /// Verifies a token and returns the user id in its `sub`.
    pub fn verify(&self, token: &str) -> Result<Uuid, AuthError> {
        self.verify_until(token).map(|(user, _)| user)
    }

    /// Verifies a token; returns the user id and the time (seconds since the
    /// epoch, leeway included) after which the token is no longer accepted.
    pub fn verify_until(&self, token: &str) -> Result<(Uuid, u64), AuthError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map_err(|e| {
                tracing::debug!(reason = %e, "token refused");
                AuthError::Invalid
            })?;
        let now = jsonwebtoken::get_current_timestamp();
        if data.claims.iat.is_some_and(|iat| iat > now + LEEWAY_SECS) {
            tracing::debug!(reason = "issued in the future", "token refused");
            return Err(AuthError::Invalid);
        }
        let user = Uuid::parse_str(&data.claims.sub).map_err(|_| {
            tracing::debug!(reason = "sub is not a UUID", "token refused");
            AuthError::BadSubject
        })?;
        Ok((user, data.claims.exp.saturating_add(LEEWAY_SECS)))
    }
}

/// Mints an HS256 token for a user (the dev-token command and tests).
pub fn mint(
    secret: &str,
    user_id: Uuid,
    ttl_secs: u64,
    issuer: Option<&str>,
    audience: Option<&str>,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: user_id.to_string(),
        exp: now + ttl_secs,
        iat: Some(now),
        nbf: None,
        iss: issuer.map(str::to_owned),
        aud: audience.map(str::to_owned),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}

#[cfg(test)]
mod tests;
