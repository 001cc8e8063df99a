//! Settings of presence, from the environment: [`ENV_VARS`] is every
//! variable it reads beyond the common ones, and [`Settings::load`] can
//! read no other.
use std::time::Duration;

use shared::config::{CommonSettings, ConfigError, Env};

/// The variables presence reads beyond [`shared::config::COMMON_ENV_VARS`]
/// (`deploy/check_env.py` reads this list).
pub const ENV_VARS: &[&str] =
    &["REDIS_URL", "REDIS_KEY_PREFIX", "PRESENCE_GRACE_MS", "PRESENCE_GATEWAY_TTL_SECS"];

/// Everything presence reads from its environment.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Listen address, NATS and shutdown settings.
    pub common: CommonSettings,
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `REDIS_KEY_PREFIX`: every key this service writes starts with it.
    pub redis_prefix: String,
    /// `PRESENCE_GRACE_MS`: how long a user may be without any connection
    /// before contacts are told they went offline; a reconnect within it
    /// sends nothing (default 2000).
    pub grace: Duration,
    /// `PRESENCE_GATEWAY_TTL_SECS`: the longest a gateway's connections count
    /// without a fresh heartbeat (default 15). A heartbeat may ask for less.
    pub gateway_ttl: Duration,
}

impl Settings {
    /// Loads and validates the settings from the process environment;
    /// errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(&Env::process(ENV_VARS))
    }

    /// Loads and validates the settings from `env`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let grace_ms: u64 = env.parse("PRESENCE_GRACE_MS", 2000)?;
        if grace_ms > 20_000 {
            return Err(ConfigError::Invalid {
                var: "PRESENCE_GRACE_MS",
                reason: "must be at most 20000 (offline is promised within 30 s)".into(),
            });
        }
        let ttl = env.positive("PRESENCE_GATEWAY_TTL_SECS", 15)?;
        if ttl > 25 {
            return Err(ConfigError::Invalid {
                var: "PRESENCE_GATEWAY_TTL_SECS",
                reason: "must be at most 25 (offline is promised within 30 s of a gateway dying)"
                    .into(),
            });
        }
        Ok(Self {
            common: CommonSettings::load(env, "0.0.0.0:9103")?,
            redis_url: env.or("REDIS_URL", "redis://127.0.0.1:6379")?,
            redis_prefix: env.or("REDIS_KEY_PREFIX", "")?,
            grace: Duration::from_millis(grace_ms),
            gateway_ttl: Duration::from_secs(ttl),
        })
    }
}

#[test]
fn settings_read_exactly_the_declared_variables() {
    assert_eq!(Env::check_reads(ENV_VARS, &[], Settings::from_env), Ok(()));
}
