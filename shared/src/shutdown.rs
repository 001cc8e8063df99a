//! The process shutdown signal (SIGTERM from Kubernetes, SIGINT from a terminal).

/// Completes when the process receives SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error.cause_chain = ?e, "failed to listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error.cause_chain = ?e, "failed to listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("sigint received"),
        () = term => tracing::info!("sigterm received"),
    }
}

/// How long after the grace period a stopping process may still take.
pub const WATCHDOG_MARGIN: std::time::Duration = std::time::Duration::from_secs(4);

/// [`signal`], then arms a watchdog: if the graceful stop has not ended the
/// process `grace` + [`WATCHDOG_MARGIN`] after the signal (a dependency that
/// hangs, a peer that never reads), the process exits anyway. Every
/// service's stop is bounded step by step; this bounds what was missed.
pub async fn signal_with_watchdog(grace: std::time::Duration) {
    signal().await;
    let limit = grace + WATCHDOG_MARGIN;
    let spawned = std::thread::Builder::new().name("shutdown-watchdog".into()).spawn(move || {
        std::thread::sleep(limit);
        tracing::error!(secs = limit.as_secs(), "graceful stop overran; exiting now");
        std::process::exit(1);
    });
    if let Err(e) = spawned {
        tracing::error!(error.cause_chain = ?e, "failed to start the shutdown watchdog");
    }
}
