//! Settings of the gateway, from the environment: [`ENV_VARS`] is every
//! variable it reads beyond the common ones, and [`Settings::load`] can
//! read no other.
use std::time::Duration;

use secrecy::SecretString;
use shared::auth::JwtVerifier;
use shared::config::{CommonSettings, ConfigError, Env};

/// The variables the gateway reads beyond
/// [`shared::config::COMMON_ENV_VARS`] (`deploy/check_env.py` reads this list).
pub const ENV_VARS: &[&str] = &[
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
];

/// What the gateway needs to mint development tokens (`DEV_MODE=true` only).
pub struct DevTokens {
    /// `JWT_SECRET`, to sign with.
    pub secret: SecretString,
    /// `JWT_ISSUER`, put in the tokens when set.
    pub issuer: Option<String>,
    /// `JWT_AUDIENCE`, put in the tokens when set.
    pub audience: Option<String>,
}

/// Everything the gateway reads from its environment.
pub struct Settings {
    /// Listen address, NATS and shutdown settings.
    pub common: CommonSettings,
    /// Verifies tokens (`JWT_SECRET`, `JWT_ISSUER`, `JWT_AUDIENCE`).
    pub verifier: JwtVerifier,
    /// Origins allowed to open WebSockets (`ALLOWED_ORIGINS`; empty allows any).
    pub allowed_origins: Vec<String>,
    /// This instance's id in presence reports (`GATEWAY_ID`; random by default).
    pub gateway_id: String,
    /// Largest accepted text frame in bytes (`WS_MAX_FRAME_BYTES`).
    pub max_frame_bytes: usize,
    /// Connections silent for longer are closed (`WS_IDLE_TIMEOUT_SECS`).
    pub idle_timeout: Duration,
    /// Interval of protocol pings (`WS_PING_INTERVAL_SECS`).
    pub ping_interval: Duration,
    /// Sustained frames per second per user (`WS_RATE_PER_SEC`).
    pub rate_per_sec: u32,
    /// Burst of frames per user (`WS_RATE_BURST`).
    pub rate_burst: u32,
    /// Sustained REST requests per second per user (`API_RATE_PER_SEC`).
    pub api_rate_per_sec: u32,
    /// Burst of REST requests per user (`API_RATE_BURST`).
    pub api_rate_burst: u32,
    /// Limits per action, within the budgets above.
    pub actions: ActionRates,
    /// Most connections one user may hold on this instance (`WS_MAX_CONNECTIONS_PER_USER`).
    pub max_connections_per_user: usize,
    /// Outbound queue length per connection (`WS_OUTBOUND_QUEUE`).
    pub outbound_queue: usize,
    /// Interval of the heartbeat to presence (`PRESENCE_HEARTBEAT_SECS`).
    pub presence_heartbeat: Duration,
    /// Set when `DEV_MODE=true`: `POST /api/dev/token` hands out tokens.
    pub dev_tokens: Option<DevTokens>,
}

/// A sustained rate per second and a burst.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    /// Sustained per second.
    pub per_sec: u32,
    /// Burst.
    pub burst: u32,
}

/// Per-user limits of each kind of action, on top of the frame and request
/// budgets (`WS_RATE_*`, `API_RATE_*`). Each is per gateway.
#[derive(Clone, Copy, Debug)]
pub struct ActionRates {
    /// `private_message` frames (`WS_SEND_RATE_PER_SEC`/`_BURST`; default: the frame budget).
    pub sends: Rate,
    /// `typing` frames (`WS_TYPING_RATE_PER_SEC`/`_BURST`; default 5, 10).
    pub typing: Rate,
    /// `read_receipt` frames (`WS_RECEIPT_RATE_PER_SEC`/`_BURST`; default: the frame budget).
    pub receipts: Rate,
    /// `sync` frames (`WS_SYNC_RATE_PER_SEC`/`_BURST`; default 5, 20).
    pub syncs: Rate,
    /// REST requests that change something (`API_WRITE_RATE_PER_SEC`/`_BURST`; default: the request budget).
    pub api_writes: Rate,
}

fn rate(
    env: &Env,
    prefix: &'static str,
    burst: &'static str,
    default: Rate,
) -> Result<Rate, ConfigError> {
    Ok(Rate {
        per_sec: small(env, prefix, u64::from(default.per_sec))?,
        burst: small(env, burst, u64::from(default.burst))?,
    })
}

fn small(env: &Env, name: &'static str, default: u64) -> Result<u32, ConfigError> {
    u32::try_from(env.positive(name, default)?)
        .map_err(|_| ConfigError::Invalid { var: name, reason: "too large".into() })
}

impl Settings {
    /// Loads and validates the settings from the process environment;
    /// errors name the variable.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env(&Env::process(ENV_VARS))
    }

    /// Loads and validates the settings from `env`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonSettings::load(env, "0.0.0.0:3000")?;
        let secret = env.secret("JWT_SECRET")?;
        let (issuer, audience) = (env.var("JWT_ISSUER")?, env.var("JWT_AUDIENCE")?);
        let verifier = JwtVerifier::new(&secret, issuer.as_deref(), audience.as_deref())?;
        let dev_tokens =
            env.flag("DEV_MODE", false)?.then_some(DevTokens { secret, issuer, audience });
        let allowed_origins = env
            .or("ALLOWED_ORIGINS", "")?
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_owned())
            .filter(|o| !o.is_empty())
            .collect();
        let frames = Rate {
            per_sec: small(env, "WS_RATE_PER_SEC", 20)?,
            burst: small(env, "WS_RATE_BURST", 40)?,
        };
        let requests = Rate {
            per_sec: small(env, "API_RATE_PER_SEC", 50)?,
            burst: small(env, "API_RATE_BURST", 100)?,
        };
        let actions = ActionRates {
            sends: rate(env, "WS_SEND_RATE_PER_SEC", "WS_SEND_RATE_BURST", frames)?,
            typing: rate(
                env,
                "WS_TYPING_RATE_PER_SEC",
                "WS_TYPING_RATE_BURST",
                Rate { per_sec: 5, burst: 10 },
            )?,
            receipts: rate(env, "WS_RECEIPT_RATE_PER_SEC", "WS_RECEIPT_RATE_BURST", frames)?,
            syncs: rate(
                env,
                "WS_SYNC_RATE_PER_SEC",
                "WS_SYNC_RATE_BURST",
                Rate { per_sec: 5, burst: 20 },
            )?,
            api_writes: rate(env, "API_WRITE_RATE_PER_SEC", "API_WRITE_RATE_BURST", requests)?,
        };
        Ok(Self {
            common,
            verifier,
            actions,
            allowed_origins,
            gateway_id: env
                .var("GATEWAY_ID")?
                .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
            max_frame_bytes: small(env, "WS_MAX_FRAME_BYTES", 64 * 1024)? as usize,
            idle_timeout: Duration::from_secs(env.positive("WS_IDLE_TIMEOUT_SECS", 60)?),
            ping_interval: Duration::from_secs(env.positive("WS_PING_INTERVAL_SECS", 20)?),
            rate_per_sec: frames.per_sec,
            rate_burst: frames.burst,
            api_rate_per_sec: requests.per_sec,
            api_rate_burst: requests.burst,
            max_connections_per_user: small(env, "WS_MAX_CONNECTIONS_PER_USER", 8)? as usize,
            outbound_queue: small(env, "WS_OUTBOUND_QUEUE", 256)?.max(8) as usize,
            presence_heartbeat: Duration::from_secs(env.positive("PRESENCE_HEARTBEAT_SECS", 5)?),
            dev_tokens,
        })
    }
}

#[test]
fn settings_read_exactly_the_declared_variables() {
    assert_eq!(
        Env::check_reads(
            ENV_VARS,
            &[("JWT_SECRET", "a-test-secret-of-at-least-32-bytes")],
            Settings::from_env
        ),
        Ok(())
    );
}
