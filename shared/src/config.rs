//! Typed settings from the environment (SPEC §6). Each service parses its
//! variables once at start-up and fails fast with a message naming the
//! variable; defaults make the local run work with no configuration.
use std::{cell::RefCell, collections::HashMap, net::SocketAddr, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A variable that is missing or malformed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set.
    #[error("{0} is required but not set")]
    Missing(&'static str),
    /// A service reads a variable it does not declare (a bug).
    #[error("{0} is read but not declared in the service's ENV_VARS")]
    Undeclared(&'static str),
    /// A variable is set but does not parse.
    #[error("{var} is invalid: {reason}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// What is wrong with it (never the value of a secret).
        reason: String,
    },
}

/// Variables every service reads: [`CommonSettings::load`] reads all but
/// `RUST_LOG` and `LOG_FORMAT`, which [`crate::telemetry::init`] reads.
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

/// The environment as one service sees it: the variables it declares (its
/// own `ENV_VARS`, listed beside its `Settings::load`, and
/// [`COMMON_ENV_VARS`]) and nothing else. Reading a variable the service
/// does not declare is an error, so the list is the one the service reads
/// (`deploy/check_env.py` and the README's table are checked against it).
pub struct Env {
    own: &'static [&'static str],
    /// Values given by a test; `None` reads the process environment.
    given: Option<HashMap<&'static str, String>>,
    read: RefCell<Vec<&'static str>>,
}

impl Env {
    /// The process environment, for a service declaring `own`.
    pub fn process(own: &'static [&'static str]) -> Self {
        Self { own, given: None, read: RefCell::default() }
    }

    /// Only the given values (for tests: the process environment is shared).
    pub fn given(own: &'static [&'static str], values: &[(&'static str, &str)]) -> Self {
        let given = values.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        Self { own, given: Some(given), read: RefCell::default() }
    }

    /// Every declared variable: the common ones, then the service's own.
    pub fn declared(&self) -> impl Iterator<Item = &'static str> + '_ {
        COMMON_ENV_VARS.iter().chain(self.own).copied()
    }

    /// The declared variables nothing has read yet.
    pub fn unread(&self) -> Vec<&'static str> {
        let read = self.read.borrow();
        self.declared().filter(|v| !read.contains(v)).collect()
    }

    /// Runs a service's `load` on only the `given` values and checks that
    /// it read every variable the service declares (all but `RUST_LOG` and
    /// `LOG_FORMAT`, which telemetry reads). For the unit test that keeps a
    /// service's list exact: `load` also fails on a variable it reads but
    /// does not declare.
    pub fn check_reads<T>(
        own: &'static [&'static str],
        given: &[(&'static str, &str)],
        load: impl FnOnce(&Env) -> Result<T, ConfigError>,
    ) -> Result<(), String> {
        let env = Self::given(own, given);
        load(&env).map_err(|e| format!("load failed: {e}"))?;
        let unread: Vec<&str> =
            env.unread().into_iter().filter(|v| !["RUST_LOG", "LOG_FORMAT"].contains(v)).collect();
        match unread.is_empty() {
            true => Ok(()),
            false => Err(format!("declared but never read: {}", unread.join(", "))),
        }
    }

    /// Reads a declared variable; unset and empty are both `None`.
    pub fn var(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        if !self.declared().any(|v| v == name) {
            return Err(ConfigError::Undeclared(name));
        }
        self.read.borrow_mut().push(name);
        let value = match &self.given {
            Some(given) => given.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        Ok(value.filter(|v| !v.trim().is_empty()))
    }

    /// Reads a required variable.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.var(name)?.ok_or(ConfigError::Missing(name))
    }

    /// Reads a variable with a default.
    pub fn or(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        Ok(self.var(name)?.unwrap_or_else(|| default.to_owned()))
    }

    /// Reads and parses a variable, with a default when unset.
    pub fn parse<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.var(name)? {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e: T::Err| ConfigError::Invalid { var: name, reason: e.to_string() }),
        }
    }

    /// Reads a positive whole number with a default.
    pub fn positive(&self, name: &'static str, default: u64) -> Result<u64, ConfigError> {
        let v: u64 = self.parse(name, default)?;
        if v == 0 {
            return Err(ConfigError::Invalid {
                var: name,
                reason: "must be greater than 0".into(),
            });
        }
        Ok(v)
    }

    /// Reads a boolean (`true/false/1/0/yes/no/on/off`) with a default.
    pub fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.var(name)?.map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "no" | "off") => Ok(false),
            Some(_) => {
                Err(ConfigError::Invalid { var: name, reason: "expected true or false".into() })
            }
        }
    }

    /// Reads a required secret; it is never logged or shown.
    pub fn secret(&self, name: &'static str) -> Result<SecretString, ConfigError> {
        self.required(name).map(SecretString::from)
    }
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
    pub fn load(env: &Env, default_http_addr: &str) -> Result<Self, ConfigError> {
        let http_addr = env.or("HTTP_ADDR", default_http_addr)?;
        let http_addr =
            http_addr.parse().map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                var: "HTTP_ADDR",
                reason: format!("{e} (expected host:port, e.g. 0.0.0.0:3000)"),
            })?;
        let url = env.or("NATS_URL", "nats://127.0.0.1:4222")?;
        if !url.split(',').all(|u| {
            let u = u.trim();
            !u.is_empty() && !u.contains(char::is_whitespace)
        }) {
            return Err(ConfigError::Invalid {
                var: "NATS_URL",
                reason: "expected a comma list of nats:// URLs".into(),
            });
        }
        let prefix = env.or("NATS_SUBJECT_PREFIX", "")?;
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
                request_timeout: Duration::from_millis(
                    env.positive("NATS_REQUEST_TIMEOUT_MS", 3000)?,
                ),
                creds_file: env.var("NATS_CREDS_FILE")?,
                require_tls: env.flag("NATS_REQUIRE_TLS", false)?,
            },
            shutdown_grace: Duration::from_secs(env.parse("SHUTDOWN_GRACE_SECS", 20)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_declared_variables_are_read() {
        let env = Env::given(&["OWN"], &[("OWN", "x"), ("NATS_URL", " ")]);
        assert_eq!(env.var("OWN").ok().flatten().as_deref(), Some("x"));
        assert!(matches!(env.var("NATS_URL"), Ok(None)), "blank is unset");
        assert!(matches!(env.var("OTHER"), Err(ConfigError::Undeclared("OTHER"))));
        assert!(!env.unread().contains(&"OWN") && env.unread().contains(&"HTTP_ADDR"));
        let common = CommonSettings::load(&env, "127.0.0.1:1").map(|c| c.http_addr.port());
        assert_eq!(common.ok(), Some(1));
        assert_eq!(env.unread(), ["RUST_LOG", "LOG_FORMAT"]);
        let read_one = |env: &Env| env.var("OWN").map(drop);
        let unread = Env::check_reads(&["OWN", "NEVER"], &[], read_one).unwrap_err();
        assert!(unread.contains("NEVER") && unread.contains("HTTP_ADDR"), "{unread}");
    }
}
