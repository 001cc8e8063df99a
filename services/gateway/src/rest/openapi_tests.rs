use std::collections::BTreeSet;

use actix_web::{App, HttpRequest, HttpResponse, test as atest, web};
use serde_json::Value;

use super::*;

fn doc_json() -> Value {
    serde_json::to_value(&*DOCUMENT).unwrap()
}

#[test]
fn the_document_names_the_methods_of_each_path() {
    let allow = |p: &str| {
        ALLOWED.iter().find(|(d, _)| d.is_match(p)).map(|(_, a)| a.clone()).unwrap_or_default()
    };
    assert_eq!(allow("/api/posts"), "GET, POST");
    assert_eq!(allow("/api/posts/0190e7b2-0000-7000-8000-000000000000/like"), "DELETE, POST");
    assert_eq!(allow("/api/messages"), "GET");
    assert_eq!(allow("/api/nothing"), "");
}

/// Routes that are not part of the REST API: the WebSocket, operations, the
/// docs page (and the try-it page's files, [`crate::web::is_asset`]).
const NOT_API: &[&str] =
    &["/ws/chat/{user_id}", "/healthz", "/readyz", "/metrics", "/api/docs", "/api/docs/{_:.*}"];

#[actix_web::test]
async fn every_registered_route_is_documented_and_every_documented_one_registered() {
    let readiness: shared::ops::Readiness = std::sync::Arc::new(|| Box::pin(async { Vec::new() }));
    let app = atest::init_service(
        App::new().configure(|cfg| crate::startup::routes(cfg, readiness)).default_service(
            web::to(|req: HttpRequest| async move {
                HttpResponse::Ok().body(format!("{:?}", req.resource_map()))
            }),
        ),
    )
    .await;
    let map =
        atest::call_and_read_body(&app, atest::TestRequest::get().uri("/nowhere").to_request())
            .await;
    let map = String::from_utf8(map.to_vec()).unwrap();
    // actix's resource map lists each resource's pattern as `Single("...")`.
    let registered: BTreeSet<String> = map
        .split("Single(\"")
        .skip(1)
        .filter_map(|s| s.split_once("\")").map(|(p, _)| p.replace("\\\\", "\\")))
        .filter(|p| !p.is_empty())
        .collect();
    let documented: BTreeSet<String> = DOCUMENT.paths.paths.keys().cloned().collect();
    assert!(registered.len() > NOT_API.len(), "the resource map was read: {map}");
    for path in &registered {
        assert!(
            documented.contains(path)
                || NOT_API.contains(&path.as_str())
                || crate::web::is_asset(path),
            "{path} is routed but not in the OpenAPI document"
        );
    }
    for path in &documented {
        assert!(registered.contains(path), "{path} is documented but not routed");
    }
}

#[test]
fn every_operation_documents_its_errors_with_the_error_body() {
    let doc = doc_json();
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]));
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations += 1;
            let responses = op["responses"].as_object().unwrap();
            if path == "/api/openapi.json" {
                assert_eq!(op["security"], serde_json::json!([{}]), "the document is public");
                continue;
            }
            for status in ["401", "429", "503"] {
                assert!(responses.contains_key(status), "{method} {path} lacks {status}");
            }
            for status in ["429", "503"] {
                assert!(
                    responses[status]["headers"].get("Retry-After").is_some(),
                    "{method} {path} {status} without Retry-After"
                );
            }
            let takes_input =
                op.get("parameters").is_some_and(|p| !p.as_array().unwrap().is_empty())
                    || op.get("requestBody").is_some();
            assert_eq!(responses.contains_key("400"), takes_input, "{method} {path}: 400");
            assert_eq!(responses.contains_key("413"), op.get("requestBody").is_some());
            for (status, r) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(operations >= 19, "{operations} operations");
}

#[test]
fn bodies_take_unknown_members_as_the_server_does_and_limits_come_from_shared() {
    let doc = doc_json();
    let schemas = &doc["components"]["schemas"];
    for name in ["NewPost", "NewComment"] {
        assert_ne!(schemas[name]["additionalProperties"], Value::Bool(false), "{name}");
        let content = &schemas[name]["properties"]["content"];
        assert_eq!(content["maxLength"], shared::limits::POST_CONTENT_MAX_CHARS);
        assert_eq!(content["pattern"], shared::limits::content_pattern());
    }
    assert_eq!(schemas["NewPost"]["required"], serde_json::json!(["content"]));
    assert_eq!(
        schemas["NewPost"]["properties"]["media_url"]["pattern"],
        shared::limits::MEDIA_URL_PATTERN
    );
}
