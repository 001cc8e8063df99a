//! Settings of chat-persistence, from the environment: [`ENV_VARS`] is
//! every variable it reads beyond the common ones, and [`Settings::load`]
//! can read no other.
use std::time::Duration;

use secrecy::SecretString;
use shared::config::{CommonSettings, ConfigError, Env};
use shared::crypto::KeyRing;
use sqlx::postgres::PgConnectOptions;

/// The variables chat-persistence reads beyond
/// [`shared::config::COMMON_ENV_VARS`] (`deploy/check_env.py` reads this list).
pub const ENV_VARS: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "ENCRYPTION_KEY",
    "ENCRYPTION_OLD_KEYS",
    "CHAT_BATCH_MAX",
    "CHAT_BATCH_WAIT_MS",
];

/// Everything chat-persistence reads from its environment.
pub struct Settings {
    /// Listen address, NATS and shutdown settings.
    pub common: CommonSettings,
    /// `DATABASE_URL`, parsed.
    pub database: PgConnectOptions,
    /// `DATABASE_MAX_CONNECTIONS`.
    pub database_max_connections: u32,
    /// `ENCRYPTION_KEY` and `ENCRYPTION_OLD_KEYS`.
    pub keys: KeyRing,
    /// `CHAT_BATCH_MAX`: the most sends committed in one statement.
    pub batch_max: usize,
    /// `CHAT_BATCH_WAIT_MS`: how long a batch may wait for company when the committer was
    /// idle (0: none; batches still form from the sends that arrive during a commit).
    pub batch_wait: Duration,
}

impl Settings {
    /// Loads and validates the settings from the process environment;
    /// errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(&Env::process(ENV_VARS))
    }

    /// Loads and validates the settings from `env`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonSettings::load(env, "0.0.0.0:9101")?;
        let url =
            SecretString::from(env.or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/chat")?);
        let keys = KeyRing::from_base64(
            &env.secret("ENCRYPTION_KEY")?,
            env.var("ENCRYPTION_OLD_KEYS")?.map(SecretString::from).as_ref(),
        )?;
        Ok(Self {
            common,
            database: shared::db::parse_url(&url)?,
            database_max_connections: u32::try_from(env.positive("DATABASE_MAX_CONNECTIONS", 10)?)
                .unwrap_or(u32::MAX),
            keys,
            batch_max: usize::try_from(env.positive("CHAT_BATCH_MAX", 256)?).unwrap_or(256),
            batch_wait: Duration::from_millis(env.parse("CHAT_BATCH_WAIT_MS", 0)?),
        })
    }
}

#[test]
fn settings_read_exactly_the_declared_variables() {
    assert_eq!(
        Env::check_reads(
            ENV_VARS,
            &[("ENCRYPTION_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")],
            Settings::from_env
        ),
        Ok(())
    );
}
