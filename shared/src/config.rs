//! Typed settings from the environment (SPEC §6). Each service parses its
//! variables once at start-up and fails fast with a message naming the
//! variable; defaults make the local run work with no configuration.
use std::{net::SocketAddr, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is required but not set")]
    Missing(&'static str),
    /// A variable is set but does not parse.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// What is wrong with it (never the value of a secret).
        reason: String,
    },
}

/// Variables every service reads.
pub const COMMON_ENV_VARS: &[&str] = &[
    "HTTP_ADDR",
    "NATS_URL",
    "NATS_SUBJECT_PREFIX",
    "NATS_REQUEST_TIMEOUT_MS",
    "NATS_CREDS_FILE",
    "NATS_REQUIRE_TLS",
    "SHUTDOWN_GRACE_SECS",
    "RUST_LOG",
    "LOG_FORMAT",
];

/// Variables each service reads beyond [`COMMON_ENV_VARS`], by binary name.
/// Deployment manifests are checked against this list.
pub const SERVICE_ENV_VARS: &[(&str, &[&str])] = &[
    (
        "gateway",
        &[
            "JWT_SECRET",
            "JWT_ISSUER",
            "JWT_AUDIENCE",
            "ALLOWED_ORIGINS",
            "GATEWAY_ID",
            "WS_MAX_FRAME_BYTES",
            "WS_IDLE_TIMEOUT_SECS",
            "WS_PING_INTERVAL_SECS",
            "WS_RATE_PER_SEC",
            "WS_RATE_BURST",
            "API_RATE_PER_SEC",
            "API_RATE_BURST",
            "WS_SEND_RATE_PER_SEC",
            "WS_SEND_RATE_BURST",
            "WS_TYPING_RATE_PER_SEC",
            "WS_TYPING_RATE_BURST",
            "WS_RECEIPT_RATE_PER_SEC",
            "WS_RECEIPT_RATE_BURST",
            "WS_SYNC_RATE_PER_SEC",
            "WS_SYNC_RATE_BURST",
            "API_WRITE_RATE_PER_SEC",
            "API_WRITE_RATE_BURST",
            "WS_MAX_CONNECTIONS_PER_USER",
            "WS_OUTBOUND_QUEUE",
            "PRESENCE_HEARTBEAT_SECS",
            "DEV_MODE",
        ],
    ),
    (
        "chat-persistence",
        &[
            "DATABASE_URL",
            "DATABASE_MAX_CONNECTIONS",
            "ENCRYPTION_KEY",
            "ENCRYPTION_OLD_KEYS",
            "CHAT_BATCH_MAX",
            "CHAT_BATCH_WAIT_MS",
        ],
    ),
    (
        "feed",
        &[
            "DATABASE_URL",
            "DATABASE_MAX_CONNECTIONS",
            "REDIS_URL",
            "REDIS_KEY_PREFIX",
            "FEED_TIMELINE_CAP",
            "FEED_FANOUT_MAX_FOLLOWERS",
        ],
    ),
    (
        "presence",
        &["REDIS_URL", "REDIS_KEY_PREFIX", "PRESENCE_GRACE_MS", "PRESENCE_GATEWAY_TTL_SECS"],
    ),
];

/// Reads a variable; unset and empty are both `None`.
pub fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Reads a required variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    var(name).ok_or(ConfigError::Missing(name))
}

/// Reads a variable with a default.
pub fn or(name: &'static str, default: &str) -> String {
    var(name).unwrap_or_else(|| default.to_owned())
}

/// Reads and parses a variable, with a default when unset.
pub fn parse<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|e: T::Err| ConfigError::Invalid { var: name, reason: e.to_string() }),
    }
}

/// Reads a positive whole number with a default.
pub fn positive(name: &'static str, default: u64) -> Result<u64, ConfigError> {
    let v: u64 = parse(name, default)?;
    if v == 0 {
        return Err(ConfigError::Invalid { var: name, reason: "must be greater than 0".into() });
    }
    Ok(v)
}

/// Reads a boolean (`true/false/1/0/yes/no`) with a default.
pub fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
        Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
        Some(_) => Err(ConfigError::Invalid { var: name, reason: "expected true or false".into() }),
    }
}

/// Reads a secret; it is never logged or shown.
pub fn secret(name: &'static str) -> Result<SecretString, ConfigError> {
    required(name).map(SecretString::from)
}

/// Settings of the NATS connection, common to every service.
#[derive(Clone, Debug)]
pub struct NatsSettings {
    /// Server URL(s), comma separated (`NATS_URL`).
    pub url: String,
    /// Prefix applied to every subject (`NATS_SUBJECT_PREFIX`).
    pub subject_prefix: String,
    /// How long a request waits for its reply (`NATS_REQUEST_TIMEOUT_MS`).
    pub request_timeout: Duration,
    /// Credentials file for NATS auth in production (`NATS_CREDS_FILE`).
    pub creds_file: Option<String>,
    /// Whether TLS to NATS is required (`NATS_REQUIRE_TLS`).
    pub require_tls: bool,
}

/// Settings every service has.
#[derive(Clone, Debug)]
pub struct CommonSettings {
    /// Address of the HTTP listener (`HTTP_ADDR`).
    pub http_addr: SocketAddr,
    /// NATS connection settings.
    pub nats: NatsSettings,
    /// How long a graceful shutdown may take before it is cut short (`SHUTDOWN_GRACE_SECS`).
    pub shutdown_grace: Duration,
}

impl CommonSettings {
    /// Loads the common settings, with the service's default listen address.
    pub fn load(default_http_addr: &str) -> Result<Self, ConfigError> {
        let http_addr = or("HTTP_ADDR", default_http_addr);
        let http_addr =
            http_addr.parse().map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                var: "HTTP_ADDR",
                reason: format!("{e} (expected host:port, e.g. 0.0.0.0:3000)"),
            })?;
        let url = or("NATS_URL", "nats://127.0.0.1:4222");
        if !url.split(',').all(|u| {
            let u = u.trim();
            !u.is_empty() && !u.contains(char::is_whitespace)
        }) {
            return Err(ConfigError::Invalid {
                var: "NATS_URL",
                reason: "expected a comma list of nats:// URLs".into(),
            });
        }
        let prefix = or("NATS_SUBJECT_PREFIX", "");
        if prefix.contains(|c: char| c.is_whitespace() || c == '*' || c == '>') {
            return Err(ConfigError::Invalid {
                var: "NATS_SUBJECT_PREFIX",
                reason: "must not contain whitespace, '*' or '>'".into(),
            });
        }
        Ok(Self {
            http_addr,
            nats: NatsSettings {
                url,
                subject_prefix: prefix,
                request_timeout: Duration::from_millis(positive("NATS_REQUEST_TIMEOUT_MS", 3000)?),
                creds_file: var("NATS_CREDS_FILE"),
                require_tls: flag("NATS_REQUIRE_TLS", false)?,
            },
            shutdown_grace: Duration::from_secs(parse("SHUTDOWN_GRACE_SECS", 20)?),
        })
    }
}

/// Returns every variable a service reads (common ones first).
pub fn env_vars_of(service: &str) -> Option<Vec<&'static str>> {
    SERVICE_ENV_VARS
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, vars)| COMMON_ENV_VARS.iter().chain(vars.iter()).copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_service_has_a_variable_list() {
        for svc in ["gateway", "chat-persistence", "feed", "presence"] {
            let vars = env_vars_of(svc).unwrap_or_default();
            assert!(vars.contains(&"HTTP_ADDR") && vars.contains(&"NATS_URL"), "{svc}");
        }
        assert!(env_vars_of("nope").is_none());
    }
}
