#![allow(clippy::unwrap_used)]
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, test, web};
use tracing_actix_web::TracingLogger;

use super::*;

/// Collects what the tracing subscriber writes.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[actix_web::test]
async fn a_request_is_logged_with_its_id_and_counted_by_route_pattern() {
    let metrics = shared::ops::metrics_handle().unwrap();
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = test::init_service(
        App::new()
            .wrap_fn(observe)
            .wrap(TracingLogger::<RootSpan>::new())
            .route("/things/{thing_id}", web::get().to(|| async { HttpResponse::Ok().finish() })),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/things/42?token=secret")
        .insert_header(("x-request-id", "trace-me-7"))
        .to_request();
    let res = test::call_service(&app, req).await;
    assert_eq!(res.headers().get("x-request-id").unwrap(), "trace-me-7");
    let fresh =
        test::call_service(&app, test::TestRequest::get().uri("/nowhere").to_request()).await;
    let fresh_id = fresh.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
    assert_eq!(fresh_id.len(), 32);

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line =
        text.lines().find(|l| l.contains("request served") && l.contains("/things/")).unwrap();
    assert!(line.contains("request_id=trace-me-7"), "{line}");
    assert!(line.contains("http.route=/things/{thing_id}"), "{line}");
    assert!(line.contains("http.status_code=200"), "{line}");
    assert!(line.contains("http.path=/things/42"), "the root span: {line}");
    assert!(!text.contains("secret"), "the query is never logged: {text}");
    assert!(text.lines().any(|l| l.contains(&fresh_id) && l.contains("route=unmatched")));

    let rendered = metrics.render();
    let counted = rendered.lines().find(|l| {
        l.starts_with("gateway_http_requests_total{") && l.contains(r#"route="/things/{thing_id}""#)
    });
    let counted = counted.unwrap_or_else(|| panic!("{rendered}"));
    assert!(
        counted.contains(r#"method="GET""#) && counted.contains(r#"status="2xx""#),
        "{counted}"
    );
    assert!(rendered.contains("gateway_http_request_duration_seconds_bucket{"), "{rendered}");
    assert!(!rendered.contains("/things/42"), "no raw path in a label");
}
