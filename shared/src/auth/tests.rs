//! Unit tests of JWT verification and minting.
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
    let c = B64.encode(serde_json::json!({"sub": id.to_string(), "exp": now() + 60}).to_string());
    for t in [format!("{h}.{c}."), format!("{h}.{c}")] {
        assert_eq!(verifier(None, None).verify(&t), Err(AuthError::Invalid));
    }
}

#[test]
fn another_algorithm_is_refused() {
    let id = Uuid::now_v7();
    let claims =
        Claims { sub: id.to_string(), exp: now() + 60, iat: None, nbf: None, iss: None, aud: None };
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
    let t = mint("another-secret-that-is-long-enough-000", Uuid::now_v7(), 60, None, None).unwrap();
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
