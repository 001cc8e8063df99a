//! Tracing setup: `RUST_LOG` filters (default `info`), `LOG_FORMAT=json` for
//! structured production logs.
use tracing_subscriber::{EnvFilter, fmt};

/// Installs the global tracing subscriber once; later calls do nothing.
pub fn init(service: &'static str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let result = if json {
        fmt().with_env_filter(filter).json().with_current_span(false).try_init()
    } else {
        fmt().with_env_filter(filter).with_target(false).try_init()
    };
    if result.is_ok() {
        tracing::info!(service, version = env!("CARGO_PKG_VERSION"), "starting");
    }
}
