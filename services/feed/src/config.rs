//! Settings of feed, from the environment: [`ENV_VARS`] is every variable
//! it reads beyond the common ones, and [`Settings::load`] can read no other.
use secrecy::SecretString;
use shared::config::{CommonSettings, ConfigError, Env};
use sqlx::postgres::PgConnectOptions;

/// The variables feed reads beyond [`shared::config::COMMON_ENV_VARS`]
/// (`deploy/check_env.py` reads this list).
pub const ENV_VARS: &[&str] = &[
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "REDIS_URL",
    "REDIS_KEY_PREFIX",
    "FEED_TIMELINE_CAP",
    "FEED_FANOUT_MAX_FOLLOWERS",
];

/// Everything feed reads from its environment.
pub struct Settings {
    /// Listen address, NATS and shutdown settings.
    pub common: CommonSettings,
    /// `DATABASE_URL`, parsed.
    pub database: PgConnectOptions,
    /// `DATABASE_MAX_CONNECTIONS`.
    pub database_max_connections: u32,
    /// `REDIS_URL`.
    pub redis_url: String,
    /// `REDIS_KEY_PREFIX`: every key this service writes starts with it.
    pub redis_prefix: String,
    /// `FEED_TIMELINE_CAP`: post ids kept per Redis timeline (Mastodon keeps 400);
    /// pages beyond it are read from PostgreSQL.
    pub timeline_cap: usize,
    /// `FEED_FANOUT_MAX_FOLLOWERS`: authors with more followers than this are
    /// not fanned out on write (nor live-notified of new posts); their posts
    /// are merged into followers' timelines on read.
    pub fanout_max_followers: usize,
}

impl Settings {
    /// Loads and validates the settings from the process environment;
    /// errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(&Env::process(ENV_VARS))
    }

    /// Loads and validates the settings from `env`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonSettings::load(env, "0.0.0.0:9102")?;
        let url =
            SecretString::from(env.or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/feed")?);
        Ok(Self {
            common,
            database: shared::db::parse_url(&url)?,
            database_max_connections: u32::try_from(env.positive("DATABASE_MAX_CONNECTIONS", 10)?)
                .unwrap_or(u32::MAX),
            redis_url: env.or("REDIS_URL", "redis://127.0.0.1:6379")?,
            redis_prefix: env.or("REDIS_KEY_PREFIX", "")?,
            timeline_cap: usize::try_from(env.positive("FEED_TIMELINE_CAP", 400)?).unwrap_or(400),
            fanout_max_followers: usize::try_from(
                env.parse("FEED_FANOUT_MAX_FOLLOWERS", 10_000u64)?,
            )
            .unwrap_or(10_000),
        })
    }
}

#[test]
fn settings_read_exactly_the_declared_variables() {
    assert_eq!(Env::check_reads(ENV_VARS, &[], Settings::from_env), Ok(()));
}
