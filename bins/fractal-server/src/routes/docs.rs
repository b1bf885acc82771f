//! `/openapi.json` (every route of the server, described by the route table that mounts it)
//! and `/docs` (Swagger UI, served from the binary).

use std::sync::{Mutex, OnceLock};

use crate::user_table::SeaOrmStore;
use actix_web::{HttpResponse, web};
use auth_actix::AuthStack;
use auth_actix::openapi::{self as doc, RouteTable};
use utoipa::openapi::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::Site;

/// The OpenAPI 3.1 document of every route the server mounts for `site` and `stack`.
pub fn document(site: &Site, stack: &AuthStack<SeaOrmStore>) -> OpenApi {
    let mut openapi = doc::document(
        "Fractal Server authentication",
        env!("CARGO_PKG_VERSION"),
        "Fractal Server's /auth and /api/v1 API (FastAPI Users compatible), served by fractal-auth.",
    );
    super::table(site, stack).describe("", &mut openapi);
    if site.metrics {
        crate::metrics::table().describe("", &mut openapi);
    }
    stack.security_schemes(&mut openapi, "/auth/token/login");
    openapi
}

/// The document as JSON, built on first request and shared by the workers (and by apps of
/// the same `Site` in one process); the document itself, megabytes of builder structures, is
/// dropped once serialised.
pub struct DocumentJson {
    site: Site,
    stack: AuthStack<SeaOrmStore>,
}

impl DocumentJson {
    /// The document of `site` and `stack`, not yet built.
    pub fn new(site: Site, stack: AuthStack<SeaOrmStore>) -> Self {
        Self { site, stack }
    }

    fn bytes(&self) -> web::Bytes {
        static BUILT: OnceLock<Mutex<Vec<(Site, web::Bytes)>>> = OnceLock::new();
        let built = BUILT.get_or_init(Mutex::default);
        let mut built = built
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, json)) = built.iter().find(|(site, _)| *site == self.site) {
            return json.clone();
        }
        let json = serde_json::to_vec(&document(&self.site, &self.stack))
            .map(web::Bytes::from)
            .unwrap_or_default();
        built.push((self.site.clone(), json.clone()));
        json
    }
}

/// `GET /docs` answers 200 with the Swagger UI page, as FastAPI does (no redirect). It is
/// Swagger UI's own `index.html` with absolute asset paths, so it works without the slash;
/// `/docs/` and the assets are served by `utoipa-swagger-ui` from the binary.
const DOCS_PAGE: &str = r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<title>Fractal Server - Swagger UI</title>
<link rel="stylesheet" type="text/css" href="/docs/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="/docs/index.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js" charset="UTF-8"></script>
<script src="/docs/swagger-ui-standalone-preset.js" charset="UTF-8"></script>
<script src="/docs/swagger-initializer.js" charset="UTF-8"></script>
</body>
</html>
"#;

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "docs", responses(
    (status = 200, content_type = "application/json", body = Object, description = "This document.")))]
async fn openapi_json(doc: web::Data<DocumentJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.bytes())
}

/// `GET /docs`.
#[utoipa::path(get, path = "/docs", tag = "docs", responses(
    (status = 200, content_type = "text/html", body = String, description = "Swagger UI.")))]
async fn docs_page() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(DOCS_PAGE)
}

/// `/openapi.json` and `/docs` (Swagger UI's assets under `/docs/` are mounted by
/// [`configure`], outside the document).
pub fn table() -> RouteTable {
    RouteTable::without_storage()
        .at(__path_openapi_json, openapi_json)
        .at(__path_docs_page, docs_page)
}

/// The pattern of Swagger UI's assets: served, but not an API operation.
pub const SWAGGER_ASSETS: &str = "/docs/{_:.*}";

/// Registers the document of `site` and `stack` and mounts Swagger UI's assets; the routes of
/// [`table`] are mounted with the rest of [`super::table`].
pub fn configure(
    site: Site,
    stack: AuthStack<SeaOrmStore>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(DocumentJson::new(site, stack)))
            .service(
                SwaggerUi::new(SWAGGER_ASSETS)
                    .config(utoipa_swagger_ui::Config::from("/openapi.json")),
            );
    }
}
