//! The try-it web app and what browsers need from the API: the static
//! files of `services/gateway/web/` (embedded in the binary, so there is no
//! separate server and no build step) served at `/`, and CORS on `/api/*`,
//! so a page loaded from one gateway can go on with another when its own
//! dies (the client module takes a list of gateway URLs). CORS follows
//! `ALLOWED_ORIGINS` (empty: any origin). REST authenticates with a bearer
//! token, never a cookie, so an allowed origin gains nothing without a token.
use std::future::Future;

use actix_web::{
    HttpRequest, HttpResponse,
    dev::{Service, ServiceRequest, ServiceResponse},
    http::{
        Method,
        header::{self, HeaderValue},
    },
    web,
};

use shared::proto::common::v1::ErrorCode;

use crate::{error::ApiError, state::AppState};

/// One embedded file: its path, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: include_str!("../web/index.html"),
    },
    Asset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/app.js"),
    },
    Asset {
        path: "/client.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/client.js"),
    },
    Asset {
        path: "/chat.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/chat.js"),
    },
    Asset {
        path: "/feed.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/feed.js"),
    },
    Asset {
        path: "/ui.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../web/ui.js"),
    },
    Asset {
        path: "/logo.svg",
        content_type: "image/svg+xml",
        body: include_str!("../web/logo.svg"),
    },
    Asset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../web/style.css"),
    },
];

/// What the page may load and connect to: its own files; the API and
/// WebSockets of any gateway (the failover list); photos and videos from
/// any http(s) URL (posts link them). No inline script, no plugins, no frames.
const CSP: &str = "default-src 'self'; connect-src 'self' http: https: ws: wss:; \
    img-src 'self' http: https: data:; media-src http: https:; object-src 'none'; \
    base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// Whether `path` is one of the page's files (or `/`).
pub fn is_asset(path: &str) -> bool {
    path == "/" || ASSETS.iter().any(|a| a.path == path)
}

/// Registers `/` and every file of the page.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(asset));
    for a in ASSETS {
        cfg.route(a.path, web::get().to(asset));
    }
}

async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = if req.path() == "/" { "/index.html" } else { req.path() };
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => Ok(HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .body(a.body)),
        None => Err(ApiError::coded(ErrorCode::NotFound, "no such route")),
    }
}

/// The request's `Origin`, when it is an API request from an allowed origin.
fn allowed_origin(req: &ServiceRequest) -> Option<HeaderValue> {
    if !req.path().starts_with("/api/") {
        return None;
    }
    let origin = req.headers().get(header::ORIGIN)?;
    let allowed = &req.app_data::<web::Data<AppState>>()?.settings.allowed_origins;
    let text = origin.to_str().ok()?.trim_end_matches('/');
    (allowed.is_empty() || allowed.iter().any(|a| a == text)).then(|| origin.clone())
}

fn preflight(origin: HeaderValue) -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, origin))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, DELETE"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "authorization, content-type, x-request-id",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"))
        .insert_header((header::VARY, "Origin"))
        .finish()
}

/// CORS for `/api/*`: answers a preflight from an allowed origin (204) and
/// marks the other answers to it readable by that origin.
pub fn cors<S>(
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse, actix_web::Error>> + use<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse, Error = actix_web::Error>,
{
    let origin = allowed_origin(&req);
    let step = match origin {
        Some(o)
            if req.method() == Method::OPTIONS
                && req.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) =>
        {
            Err(req.into_response(preflight(o)))
        }
        origin => Ok((srv.call(req), origin)),
    };
    async move {
        let (call, origin) = match step {
            Err(answered) => return Ok(answered),
            Ok(call) => call,
        };
        let mut res = call.await?;
        if let Some(origin) = origin {
            let headers = res.headers_mut();
            headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("retry-after, x-request-id"),
            );
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        Ok(res)
    }
}
