//! Settings of chat-persistence, from the environment.
use std::time::Duration;

use secrecy::SecretString;
use shared::config::{self, CommonSettings, ConfigError};
use shared::crypto::KeyRing;
use sqlx::postgres::PgConnectOptions;

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
    /// Loads and validates the settings; errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        let common = CommonSettings::load("0.0.0.0:9101")?;
        let url = SecretString::from(config::or(
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:5432/chat",
        ));
        let keys = KeyRing::from_base64(
            &config::secret("ENCRYPTION_KEY")?,
            config::var("ENCRYPTION_OLD_KEYS").map(SecretString::from).as_ref(),
        )?;
        Ok(Self {
            common,
            database: shared::db::parse_url(&url)?,
            database_max_connections: u32::try_from(config::positive(
                "DATABASE_MAX_CONNECTIONS",
                10,
            )?)
            .unwrap_or(u32::MAX),
            keys,
            batch_max: usize::try_from(config::positive("CHAT_BATCH_MAX", 256)?).unwrap_or(256),
            batch_wait: Duration::from_millis(config::parse("CHAT_BATCH_WAIT_MS", 0)?),
        })
    }
}
