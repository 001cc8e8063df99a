//! Redis for the services that keep keys there: a client that reconnects on
//! its own, and key names under the service's configurable prefix.
use std::time::Duration;

use fred::prelude::*;

use crate::config::ConfigError;

/// Builds a Redis client from `REDIS_URL` and starts connecting in the background.
pub async fn connect(url: &str) -> Result<Client, ConfigError> {
    if !["redis://", "rediss://", "redis-sentinel://", "redis-cluster://", "unix://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        return Err(ConfigError::Invalid {
            var: "REDIS_URL",
            reason: "must be a redis:// or rediss:// URL".into(),
        });
    }
    let config = Config::from_url(url)
        .map_err(|e| ConfigError::Invalid { var: "REDIS_URL", reason: e.details().to_string() })?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(2);
            c.internal_command_timeout = Duration::from_secs(2);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(2);
        })
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build()
        .map_err(|e| ConfigError::Invalid { var: "REDIS_URL", reason: e.details().to_string() })?;
    let _connection_task = client.connect();
    Ok(client)
}

/// Returns whether Redis answers a PING within a second.
pub async fn ping(client: &Client) -> bool {
    let check = client.ping::<String>(None);
    matches!(tokio::time::timeout(Duration::from_secs(1), check).await, Ok(Ok(_)))
}
