//! The HTTP server: what `actix_web::HttpServer` builds (same timeouts,
//! `TCP_NODELAY`, graceful stop), plus the one thing it cannot do: hand a
//! WebSocket upgrade over with the raw `TcpStream`. actix-http calls the
//! upgrade service for every request with `Upgrade: websocket`; everything
//! else goes to the actix-web `App`.
use std::{fmt, net::TcpListener, sync::Arc, time::Duration};

use actix_codec::Framed;
use actix_http::{HttpService, Request, Response, body::MessageBody, h1};
use actix_server::{Server, ServerBuilder};
use actix_service::{
    IntoServiceFactory, ServiceFactory, ServiceFactoryExt as _, fn_service, map_config,
};
use actix_web::dev::AppConfig;
use tokio::net::TcpStream;

use crate::state::AppState;

/// Pending connections the kernel holds for the accept loop (a reconnect
/// storm arrives all at once; capped by `net.core.somaxconn`).
pub const BACKLOG: u32 = 4096;

/// Binds `addr` with a [`BACKLOG`]-deep accept queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)?.into_std()
}

/// An upgraded request and its connection, as actix-http hands it over.
pub type Upgraded = (Request, Framed<TcpStream, h1::Codec>);

/// Serves `app` on `listener`, WebSocket upgrades through
/// [`crate::ws::upgrade`]; `grace` bounds a graceful stop.
pub fn serve<F, I, S, B>(
    listener: TcpListener,
    grace: Duration,
    state: Arc<AppState>,
    app: F,
) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let builder = ServerBuilder::default();
    let signal = builder.graceful_shutdown_signal();
    Ok(builder
        .disable_signals()
        .shutdown_timeout(grace.as_secs().max(1))
        .listen("gateway", listener, move || {
            let signal = signal.clone();
            let state = state.clone();
            let upgrade = fn_service(move |(req, framed): Upgraded| {
                let state = state.clone();
                async move {
                    metrics::gauge!("gateway_upgrades_in_progress").increment(1.0);
                    crate::ws::upgrade(state, req, framed).await;
                    metrics::gauge!("gateway_upgrades_in_progress").decrement(1.0);
                    Ok::<_, std::convert::Infallible>(())
                }
            });
            let app = app().into_factory().map_err(|err| err.into().error_response());
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = signal.clone();
                    async move { signal.notified().await }
                })
                .keep_alive(actix_http::KeepAlive::default())
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .tcp_nodelay(true)
                .local_addr(addr)
                .upgrade(upgrade)
                .finish(map_config(app, |_| AppConfig::default()))
                .tcp()
        })?
        .run())
}
