//! `/openapi.json` documents every route the server mounts; `/docs` is served from the binary.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn openapi_lists_every_route_with_its_statuses() {
    let app = spawn_app().await;
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"].as_str().unwrap().chars().next(), Some('3'));
    let expected: &[(&str, &str, &[&str])] = &[
        (
            "/auth/token/login",
            "post",
            &["200", "400", "422", "429", "503"],
        ),
        ("/auth/token/logout", "post", &["204", "401", "503"]),
        ("/auth/login", "post", &["204", "400", "422", "429", "503"]),
        ("/auth/logout", "post", &["204", "401", "503"]),
        ("/auth/logout-all", "post", &["204", "401", "503"]),
        (
            "/auth/register",
            "post",
            &["201", "400", "401", "403", "422", "429", "503"],
        ),
        (
            "/auth/forgot-password",
            "post",
            &["202", "422", "429", "503"],
        ),
        (
            "/auth/reset-password",
            "post",
            &["200", "400", "422", "503"],
        ),
        (
            "/auth/request-verify-token",
            "post",
            &["202", "422", "429", "503"],
        ),
        ("/auth/verify", "post", &["200", "400", "422", "503"]),
        ("/auth/users/me", "get", &["200", "401", "403", "503"]),
        (
            "/auth/users/me",
            "patch",
            &["200", "400", "401", "403", "409", "422", "503"],
        ),
        (
            "/auth/users/{id}",
            "get",
            &["200", "401", "403", "404", "422", "503"],
        ),
        (
            "/auth/users/{id}",
            "patch",
            &["200", "400", "401", "403", "404", "409", "422", "503"],
        ),
        (
            "/auth/users/{id}",
            "delete",
            &["204", "401", "403", "404", "422", "503"],
        ),
        (
            "/auth/users/{id}/logout-all",
            "post",
            &["204", "401", "403", "404", "422", "503"],
        ),
        ("/auth/whoami", "get", &["200", "401", "503"]),
        ("/auth/current-user", "get", &["200", "401", "503"]),
        (
            "/auth/current-user",
            "patch",
            &["200", "401", "409", "422", "503"],
        ),
        (
            "/auth/userlist",
            "get",
            &["200", "401", "403", "422", "503"],
        ),
        ("/auth/users", "get", &["200", "401", "403", "422", "503"]),
        ("/health", "get", &["200"]),
        (
            "/api/v1/project/{project_id}/dataset/{dataset_id}",
            "get",
            &["200", "401", "403", "404", "422", "503"],
        ),
        (
            "/api/v1/task/{task_id}",
            "patch",
            &["200", "401", "403", "404", "422", "503"],
        ),
    ];
    for (path, method, statuses) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        let mut got: Vec<&str> = op["responses"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        got.sort();
        assert_eq!(got, *statuses, "{method} {path}");
    }
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "UserRead",
        "UserCreate",
        "UserUpdate",
        "BearerResponse",
        "ErrorModel",
        "HTTPValidationError",
        "ValidationError",
        "OAuthAccountRead",
        "ProjectRead",
        "TaskRead",
    ] {
        assert!(schemas.contains_key(s), "schema {s}");
    }
    let read: Vec<&str> = schemas["UserRead"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for f in [
        "id",
        "email",
        "is_active",
        "is_superuser",
        "is_verified",
        "slurm_user",
        "cache_dir",
        "username",
    ] {
        assert!(read.contains(&f), "UserRead.{f}");
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    // Every /api/v1 route the server mounts is described.
    let api: Vec<&String> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.starts_with("/api/v1"))
        .collect();
    assert_eq!(api.len(), 25, "{api:?}");
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // 200 without the slash, as Fractal 1.3.14 (FastAPI) answers, and every asset the page
    // names exists.
    let res = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    for asset in page.split(['"', '\'']).filter(|s| s.starts_with("/docs/")) {
        let res = client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
    }
    let html = client
        .get(app.url("/docs/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let init = client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(init.contains("/openapi.json"));
    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        let res = client
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert!(
            res.bytes().await.unwrap().len() > 10_000,
            "{asset} is the real file"
        );
    }
}
