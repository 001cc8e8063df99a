//! What the gateway records of each HTTP request. One request id (the
//! client's `x-request-id` when sane, else a fresh one) is decided when the
//! request arrives: the root span carries it ([`RootSpan`], for
//! tracing-actix-web's `TracingLogger`), the response echoes it, and every
//! NATS request made on the request's behalf copies it
//! ([`shared::nats::REQUEST_ID`]). [`observe`] then writes the access log
//! line (target `access`) and counts the request by route pattern (never
//! the raw path: its ids would make the labels unbounded), method and
//! status class.
use std::{
    future::Future,
    time::{Duration, Instant},
};

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{Service, ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{self, HeaderName, HeaderValue},
    },
};
use metrics::Label;
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};

/// The request id header, read and echoed.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of one HTTP request, kept in its extensions.
#[derive(Clone, Debug)]
struct RequestId(String);

/// The client's id when it is 1 to 64 visible ASCII characters, else a fresh one.
fn request_id(req: &ServiceRequest) -> String {
    if let Some(id) = req.extensions().get::<RequestId>() {
        return id.0.clone();
    }
    let id = req
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    id
}

/// The root span of every HTTP request: method, route pattern, path (never
/// the query: a WebSocket token may be there), request id; status and error
/// recorded at the end. A WebSocket upgrade gets none, because its response
/// body, which would hold the span, lives as long as the connection.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(req: &ServiceRequest) -> Span {
        let id = request_id(req);
        if req.headers().contains_key(header::UPGRADE) {
            return Span::none();
        }
        tracing::info_span!(
            "http.request",
            http.method = %req.method(),
            http.route = %req.match_pattern().as_deref().unwrap_or(UNMATCHED),
            http.path = %req.path(),
            request_id = %id,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// Serves a request inside its request id: echoes the id, writes the access
/// log line and records `gateway_http_requests_total` and
/// `gateway_http_request_duration_seconds`.
pub fn observe<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
{
    let id = request_id(&req);
    let echo = HeaderValue::from_str(&id).ok();
    let route = req.match_pattern();
    let method = req.method().clone();
    let started = Instant::now();
    let call = srv.call(req);
    shared::nats::REQUEST_ID.scope(id.clone(), async move {
        let outcome = call.await;
        let status = match &outcome {
            Ok(res) => res.status(),
            Err(e) => e.as_response_error().status_code(),
        };
        let elapsed = started.elapsed();
        let route = route.unwrap_or_else(|| UNMATCHED.to_owned());
        served(&id, &method, &route, status.as_u16(), elapsed);
        let mut res = outcome?;
        if let Some(v) = echo {
            res.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
        Ok(res)
    })
}

/// The access log line and the request metrics of one request (also of a
/// WebSocket handshake, which actix-http hands over before the app).
pub fn served(request_id: &str, method: &Method, route: &str, status: u16, elapsed: Duration) {
    let method = method_label(method);
    let class = match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    };
    tracing::info!(
        target: "access",
        request_id,
        http.method = method,
        http.route = route,
        http.status_code = status,
        elapsed_ms = elapsed.as_secs_f64() * 1000.0,
        "request served",
    );
    let labels = [
        Label::from_static_parts("method", method),
        Label::new("route", route.to_owned()),
        Label::from_static_parts("status", class),
    ];
    metrics::counter!("gateway_http_requests_total", labels.iter()).increment(1);
    metrics::histogram!("gateway_http_request_duration_seconds", labels.iter())
        .record(elapsed.as_secs_f64());
}

/// The method as a metric label: the standard ones, else `other` (a label
/// must not take any value a client sends).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
#[path = "observe_tests.rs"]
mod tests;
