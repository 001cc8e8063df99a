//! `GET /api/openapi.json`: the REST contract, served from `openapi.json`
//! beside this file. The same document tells which methods each path
//! allows, for the 405 answer of a known path asked with another method;
//! `e2e/tests/contract.rs` calls every documented path and method and checks
//! the gateway serves it.
use std::sync::LazyLock;

use actix_web::{HttpRequest, HttpResponse, dev::ResourceDef, web};

static DOCUMENT: &str = include_str!("openapi.json");

/// Every documented path, as a route pattern, with its methods (`GET, POST`).
static ALLOWED: LazyLock<Vec<(ResourceDef, String)>> = LazyLock::new(|| {
    let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
    let Some(paths) = doc.get("paths").and_then(serde_json::Value::as_object) else {
        return Vec::new();
    };
    paths
        .iter()
        .filter_map(|(path, item)| {
            let mut methods: Vec<String> = item
                .as_object()?
                .keys()
                .filter(|m| {
                    matches!(m.as_str(), "get" | "post" | "put" | "patch" | "delete" | "head")
                })
                .map(|m| m.to_uppercase())
                .collect();
            methods.sort();
            Some((ResourceDef::new(path.as_str()), methods.join(", ")))
        })
        .collect()
});

/// Registers the OpenAPI route (no token needed).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi));
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT)
}

/// What no route answered: 405 with `Allow` for a documented path asked with
/// another method, else 404.
pub async fn unrouted(req: HttpRequest) -> HttpResponse {
    let path = req.path();
    match ALLOWED.iter().find(|(def, _)| def.is_match(path)) {
        Some((_, allow)) => HttpResponse::MethodNotAllowed()
            .insert_header(("Allow", allow.as_str()))
            .json(serde_json::json!({
                "error": format!("{} is not allowed here; allowed: {allow}", req.method()),
                "code": "method_not_allowed",
            })),
        None => HttpResponse::NotFound()
            .json(serde_json::json!({"error": "no such route", "code": "not_found"})),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
