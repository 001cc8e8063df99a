//! The OpenAPI document, generated from the handlers' annotations
//! ([`super::routes`]) at first use: served at `/api/openapi.json`, shown at
//! `/api/docs` (Swagger UI, its assets built in), and read for the 405
//! answer of a known path asked with another method ([`super::unrouted`]).
//! The answers every route shares (400, 401, 413, 429, 503) are added here
//! from what the route takes, so an annotation lists only its own (success,
//! 403, 404). `openapi_tests.rs` checks that every route the gateway
//! registers is in the document and every documented one is registered.
use std::sync::LazyLock;

use actix_web::{HttpResponse, dev::ResourceDef, get, web};
use utoipa::{
    Modify, OpenApi,
    openapi::{
        ContentBuilder, HeaderBuilder, ObjectBuilder, OpenApi as Document, Ref, RefOr,
        ResponseBuilder, Type,
        path::Operation,
        response::Response,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};
use utoipa_actix_web::AppExt;

use crate::wire::rest::response::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Chat and social feed API",
        description = "The REST edge of the gateway. Every route but this document needs \
            `Authorization: Bearer <JWT>` (HS256, `sub` = the user's UUID). Errors are \
            `{\"error\", \"code\", \"field\"?}`. A documented path asked with another method \
            answers 405 with `Allow`. Any authenticated route may answer 429 with \
            `Retry-After` (per-user rate limits) and 503 with `Retry-After` (a backend is \
            down). The WebSocket protocol at `/ws/chat/{user_id}` is in docs/protocol.md."
    ),
    components(schemas(ErrorBody)),
    security(("bearer" = [])),
    modifiers(&Bearer),
)]
struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build(),
            ),
        );
    }
}

/// The whole document: the handlers' paths and schemas, and the shared answers.
pub fn document() -> Document {
    let (_, mut doc) = actix_web::App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(super::routes)
        .split_for_parts();
    for item in doc.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            add_shared_answers(op);
        }
    }
    doc
}

fn error(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
    )
}

fn retry_after(r: ResponseBuilder, description: &str) -> Response {
    let seconds = ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0));
    r.header(
        "Retry-After",
        HeaderBuilder::new().schema(Some(seconds)).description(Some(description)).build(),
    )
    .build()
}

/// Adds what a route can answer because of what it takes: 400 for a bad
/// parameter or body (with the field), 413 for a body over 64 KiB, and for
/// a route that needs a token 401, 429 and 503.
fn add_shared_answers(op: &mut Operation) {
    let public = op.security.as_ref().is_some_and(|reqs| {
        reqs.iter().all(|r| serde_json::to_value(r).is_ok_and(|v| v == serde_json::json!({})))
    });
    let mut add = |status: &str, response: Response| {
        op.responses.responses.entry(status.to_owned()).or_insert(RefOr::T(response));
    };
    if public {
        return;
    }
    add("401", error("no token, or a token that is not valid").build());
    add(
        "429",
        retry_after(error("over the user's rate limit"), "seconds until a request is accepted"),
    );
    add("503", retry_after(error("a backend is down; retry"), "seconds to wait"));
    let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    if op.request_body.is_some() {
        add("413", error("the body is over 64 KiB").build());
    }
    if has_params || op.request_body.is_some() {
        add("400", error("bad input; `field` names it").build());
    }
}

static DOCUMENT: LazyLock<Document> = LazyLock::new(document);

static DOCUMENT_JSON: LazyLock<String> =
    LazyLock::new(|| serde_json::to_string(&*DOCUMENT).unwrap_or_default());

/// Every documented path, as a route pattern, with its methods (`GET, POST`).
static ALLOWED: LazyLock<Vec<(ResourceDef, String)>> = LazyLock::new(|| {
    DOCUMENT
        .paths
        .paths
        .iter()
        .map(|(path, item)| {
            let mut methods: Vec<&str> = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ]
            .into_iter()
            .filter_map(|(m, present)| present.then_some(m))
            .collect();
            methods.sort_unstable();
            (ResourceDef::new(path.as_str()), methods.join(", "))
        })
        .collect()
});

/// The methods of the documented path `path` matches (`GET, POST`), if any.
pub fn allowed_methods(path: &str) -> Option<&'static str> {
    ALLOWED.iter().find(|(def, _)| def.is_match(path)).map(|(_, allow)| allow.as_str())
}

/// This document.
#[utoipa::path(
    tag = "meta",
    security(()),
    responses((status = 200, description = "the OpenAPI document", content_type = "application/json")),
)]
#[get("/api/openapi.json")]
pub async fn document_json() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(DOCUMENT_JSON.as_str())
}

/// Registers the docs page (`/api/docs`, not part of the API).
pub fn configure_docs(cfg: &mut web::ServiceConfig) {
    cfg.service(
        utoipa_swagger_ui::SwaggerUi::new("/api/docs/{_:.*}")
            .config(utoipa_swagger_ui::Config::new(["/api/openapi.json"])),
    )
    .route(
        "/api/docs",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect().insert_header(("Location", "/api/docs/")).finish()
        }),
    );
}

#[cfg(test)]
#[path = "openapi_tests.rs"]
mod tests;
