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
mod tests {
    use super::*;
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn verifier(iss: Option<&str>, aud: Option<&str>) -> JwtVerifier {
        JwtVerifier::new(&SecretString::from(SECRET), iss, aud).unwrap()
    }

    fn token_with(header: &str, claims: serde_json::Value, key: &str) -> String {
        let h = B64.encode(header);
        let c = B64.encode(claims.to_string());
        let signing_input = format!("{h}.{c}");
        let sig = jsonwebtoken::crypto::sign(
            signing_input.as_bytes(),
            &EncodingKey::from_secret(key.as_bytes()),
            Algorithm::HS256,
        )
        .unwrap();
        format!("{signing_input}.{sig}")
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    #[test]
    fn valid_token_yields_its_subject() {
        let id = Uuid::now_v7();
        let t = mint(SECRET, id, 60, None, None).unwrap();
        assert_eq!(verifier(None, None).verify(&t), Ok(id));
    }

    #[test]
    fn expired_token_is_refused() {
        let id = Uuid::now_v7();
        let t = token_with(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            serde_json::json!({"sub": id.to_string(), "exp": now() - 3600}),
            SECRET,
        );
        assert_eq!(verifier(None, None).verify(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn a_token_not_yet_valid_or_issued_in_the_future_is_refused() {
        let id = Uuid::now_v7();
        let v = verifier(None, None);
        let claims = |extra: serde_json::Value| {
            let mut c = serde_json::json!({"sub": id.to_string(), "exp": now() + 7200});
            c.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            token_with(r#"{"alg":"HS256","typ":"JWT"}"#, c, SECRET)
        };
        assert_eq!(
            v.verify(&claims(serde_json::json!({"nbf": now() + 3600}))),
            Err(AuthError::Invalid)
        );
        assert_eq!(
            v.verify(&claims(serde_json::json!({"iat": now() + 3600}))),
            Err(AuthError::Invalid)
        );
        // Within the leeway, clocks that differ a little still agree.
        assert_eq!(
            v.verify(&claims(serde_json::json!({"nbf": now() + 10, "iat": now() + 10}))),
            Ok(id)
        );
        assert_eq!(v.verify(&claims(serde_json::json!({"nbf": now() - 10}))), Ok(id));
    }

    #[test]
    fn verify_until_gives_the_expiry_with_its_leeway() {
        let id = Uuid::now_v7();
        let t = mint(SECRET, id, 60, None, None).unwrap();
        let (user, until) = verifier(None, None).verify_until(&t).unwrap();
        assert_eq!(user, id);
        assert!((now() + 60 + LEEWAY_SECS).abs_diff(until) <= 1);
    }

    #[test]
    fn alg_none_is_refused() {
        let id = Uuid::now_v7();
        let h = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let c =
            B64.encode(serde_json::json!({"sub": id.to_string(), "exp": now() + 60}).to_string());
        for t in [format!("{h}.{c}."), format!("{h}.{c}")] {
            assert_eq!(verifier(None, None).verify(&t), Err(AuthError::Invalid));
        }
    }

    #[test]
    fn another_algorithm_is_refused() {
        let id = Uuid::now_v7();
        let claims = Claims {
            sub: id.to_string(),
            exp: now() + 60,
            iat: None,
            nbf: None,
            iss: None,
            aud: None,
        };
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert_eq!(verifier(None, None).verify(&t), Err(AuthError::Invalid));
        // A header that claims HS384 over an HS256 signature is refused too.
        let t = token_with(
            r#"{"alg":"HS384","typ":"JWT"}"#,
            serde_json::json!({"sub": id.to_string(), "exp": now() + 60}),
            SECRET,
        );
        assert_eq!(verifier(None, None).verify(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn wrong_key_is_refused() {
        let t =
            mint("another-secret-that-is-long-enough-000", Uuid::now_v7(), 60, None, None).unwrap();
        assert_eq!(verifier(None, None).verify(&t), Err(AuthError::Invalid));
    }

    #[test]
    fn audience_and_issuer_are_checked_when_configured() {
        let id = Uuid::now_v7();
        let v = verifier(Some("idp"), Some("chat"));
        let good = mint(SECRET, id, 60, Some("idp"), Some("chat")).unwrap();
        assert_eq!(v.verify(&good), Ok(id));
        let wrong_aud = mint(SECRET, id, 60, Some("idp"), Some("other")).unwrap();
        assert_eq!(v.verify(&wrong_aud), Err(AuthError::Invalid));
        let wrong_iss = mint(SECRET, id, 60, Some("evil"), Some("chat")).unwrap();
        assert_eq!(v.verify(&wrong_iss), Err(AuthError::Invalid));
        let missing = mint(SECRET, id, 60, None, None).unwrap();
        assert_eq!(v.verify(&missing), Err(AuthError::Invalid));
    }

    #[test]
    fn missing_sub_or_exp_is_refused() {
        let no_sub = token_with(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            serde_json::json!({"exp": now() + 60}),
            SECRET,
        );
        assert_eq!(verifier(None, None).verify(&no_sub), Err(AuthError::Invalid));
        let no_exp = token_with(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            serde_json::json!({"sub": Uuid::now_v7().to_string()}),
            SECRET,
        );
        assert_eq!(verifier(None, None).verify(&no_exp), Err(AuthError::Invalid));
        let bad_sub = token_with(
            r#"{"alg":"HS256","typ":"JWT"}"#,
            serde_json::json!({"sub": "alice", "exp": now() + 60}),
            SECRET,
        );
        assert_eq!(verifier(None, None).verify(&bad_sub), Err(AuthError::BadSubject));
    }

    #[test]
    fn short_secret_is_refused() {
        let err = JwtVerifier::new(&SecretString::from("too-short"), None, None).unwrap_err();
        assert!(err.to_string().contains("JWT_SECRET"), "{err}");
    }
}
