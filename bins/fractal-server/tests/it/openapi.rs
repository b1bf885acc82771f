//! `/openapi.json` against what the server mounts and against the OpenAPI 3.1 schema, and
//! schemathesis against the real binary (`scripts/schemathesis.sh`).

use crate::helpers::run_script;
use std::collections::BTreeSet;
use std::sync::Arc;

use actix_web::http::{Method, StatusCode};
use actix_web::test as actix_test;
use actix_web::{App, HttpResponse, web};
use auth_actix::AuthStack;
use fractal_server::routes::{Site, docs};
use fractal_server::startup::{assemble, configure_app};
use fractal_server::user_table::SeaOrmStore;
use fractal_testkit::{Service, TestDatabase};
use serde_json::Value;

use crate::helpers::{RecordingMailer, test_settings};

/// A value of Rust's `{:?}` output: enough of it to read actix's `ResourceMap`.
#[derive(Debug)]
enum Debugged {
    Text(String),
    Atom(String),
    /// `Name { … }`, `Name(…)`, or an unnamed group (`[…]`, `{…}`, `(…)`).
    Group(String, Vec<(Debugged, Option<Debugged>)>),
}

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn skip(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> u8 {
        self.skip();
        self.s.get(self.i).copied().unwrap_or(0)
    }

    fn value(&mut self) -> Debugged {
        match self.peek() {
            b'"' => {
                self.i += 1;
                let mut out = Vec::new();
                while self.s[self.i] != b'"' {
                    if self.s[self.i] == b'\\' {
                        self.i += 1;
                    }
                    out.push(self.s[self.i]);
                    self.i += 1;
                }
                self.i += 1;
                Debugged::Text(String::from_utf8_lossy(&out).into_owned())
            }
            b'{' | b'[' | b'(' => Debugged::Group(String::new(), self.group()),
            _ => {
                let start = self.i;
                while self.i < self.s.len() && !b" ,:{}[]()\"".contains(&self.s[self.i]) {
                    self.i += 1;
                }
                let atom = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
                if matches!(self.s.get(self.i), Some(b'(')) || self.peek() == b'{' {
                    Debugged::Group(atom, self.group())
                } else {
                    Debugged::Atom(atom)
                }
            }
        }
    }

    fn group(&mut self) -> Vec<(Debugged, Option<Debugged>)> {
        let close = match self.s[self.i] {
            b'{' => b'}',
            b'[' => b']',
            _ => b')',
        };
        self.i += 1;
        let mut items = Vec::new();
        loop {
            if self.peek() == close {
                self.i += 1;
                return items;
            }
            let key = self.value();
            let value = if self.peek() == b':' {
                self.i += 1;
                Some(self.value())
            } else {
                None
            };
            items.push((key, value));
            if self.peek() == b',' {
                self.i += 1;
            }
        }
    }
}

fn field<'a>(group: &'a Debugged, name: &str) -> Option<&'a Debugged> {
    let Debugged::Group(_, items) = group else {
        return None;
    };
    items.iter().find_map(|(k, v)| match k {
        Debugged::Atom(a) if a == name => v.as_ref(),
        _ => None,
    })
}

fn first(group: &Debugged) -> Option<&Debugged> {
    match group {
        Debugged::Group(_, items) => items.first().map(|(k, _)| k),
        _ => None,
    }
}

/// The full pattern of every resource (leaf) in a `ResourceMap`'s debug form.
fn resource_patterns(map: &Debugged, prefix: &str, out: &mut Vec<String>) {
    let own = field(map, "pattern")
        .and_then(|p| field(p, "patterns"))
        .and_then(first)
        .map(|p| match p {
            Debugged::Text(t) => t.clone(),
            other => panic!("pattern {other:?}"),
        })
        .unwrap_or_default();
    let full = format!("{prefix}{own}");
    match field(map, "nodes") {
        Some(Debugged::Group(name, items)) if name == "Some" => {
            if let Some(Debugged::Group(_, children)) = items.first().map(|(k, _)| k) {
                for (child, _) in children {
                    resource_patterns(child, &full, out);
                }
            }
        }
        _ => out.push(full),
    }
}

/// The stack of the test settings on a fresh database (`None`: no database here).
async fn stack(env: &[(&str, &str)]) -> Option<(TestDatabase, AuthStack<SeaOrmStore>)> {
    let db = TestDatabase::new(Service::Sqlite).await?;
    let settings = test_settings(&db, env);
    let stack = assemble(&settings, Arc::new(RecordingMailer::default()))
        .await
        .expect("stack");
    Some((db, stack.auth))
}

/// Every `(METHOD, path)` of the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            out.insert((method.to_uppercase(), path.clone()));
        }
    }
    out
}

/// An OAuth client that needs no network to be configured (its routes are mounted per client).
const GITHUB_CLIENT: &[(&str, &str)] = &[
    ("OAUTH_GITHUB_CLIENT_ID", "gh-client"),
    ("OAUTH_GITHUB_CLIENT_SECRET", "gh-secret"),
    ("OAUTH_GITHUB_AUTHORIZE_URL", "http://127.0.0.1:9/authorize"),
    ("OAUTH_GITHUB_TOKEN_URL", "http://127.0.0.1:9/token"),
    ("OAUTH_GITHUB_API_URL", "http://127.0.0.1:9"),
];

#[actix_web::test]
async fn the_mounted_routes_are_exactly_the_documented_ones() {
    mounted_equals_documented(&[]).await;
}

#[actix_web::test]
async fn with_an_oauth_client_the_mounted_routes_are_exactly_the_documented_ones() {
    let documented = mounted_equals_documented(GITHUB_CLIENT).await;
    for path in ["/auth/github/authorize", "/auth/github/callback"] {
        assert!(
            documented.contains(&("GET".to_owned(), path.to_owned())),
            "{path}"
        );
    }
}

/// Asserts that the app of `env` mounts exactly what its document lists; returns the list.
async fn mounted_equals_documented(env: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    let Some((_db, stack)) = stack(env).await else {
        return BTreeSet::new();
    };
    // A status no route answers marks requests that nothing mounted took; the server's
    // fallback answers the known paths' other methods (405).
    let fallback = fractal_server::startup::fallback(&stack, false);
    let app = actix_test::init_service(
        App::new()
            .configure(configure_app(stack.clone(), false))
            .default_service(web::to(move |req: actix_web::HttpRequest| {
                let fallback = fallback.clone();
                async move {
                    match fallback.allowed(req.path()) {
                        Some(_) => fallback.respond(&req),
                        None => HttpResponse::ImATeapot().finish(),
                    }
                }
            })),
    )
    .await;
    let res = actix_test::call_service(
        &app,
        actix_test::TestRequest::get().uri("/health").to_request(),
    )
    .await;
    let map = format!("{:?}", res.request().resource_map());
    let parsed = Reader {
        s: map.as_bytes(),
        i: 0,
    }
    .value();
    let mut patterns = Vec::new();
    resource_patterns(&parsed, "", &mut patterns);
    assert!(patterns.len() > 50, "{patterns:?}");

    let mut mounted = BTreeSet::new();
    let mut refused = Vec::new();
    for pattern in patterns
        .iter()
        .filter(|p| p.as_str() != docs::SWAGGER_ASSETS)
    {
        let concrete: String = pattern
            .split('{')
            .enumerate()
            .map(|(i, part)| match (i, part.split_once('}')) {
                (0, _) | (_, None) => part.to_owned(),
                (_, Some((_, rest))) => format!("1{rest}"),
            })
            .collect();
        let own: BTreeSet<String> = auth_actix::openapi::path_parameters(pattern)
            .into_iter()
            .map(str::to_owned)
            .collect();
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ] {
            let req = actix_test::TestRequest::default()
                .method(method.clone())
                .uri(&concrete)
                .to_request();
            let res = actix_test::call_service(&app, req).await;
            // Taken by this pattern, not by another one that also matches the concrete path
            // (`GET …/workflow/import` is `GET …/workflow/{workflow_id}`): the parameters
            // the router filled are the pattern's own.
            let filled: BTreeSet<String> = res
                .request()
                .match_info()
                .iter()
                .map(|(name, _)| name.to_owned())
                .collect();
            if res.status() == StatusCode::METHOD_NOT_ALLOWED {
                let allow = res
                    .headers()
                    .get("allow")
                    .map(|v| v.to_str().unwrap().to_owned());
                refused.push((method.to_string(), concrete.clone(), allow));
                continue;
            }
            if filled == own && res.status() != StatusCode::IM_A_TEAPOT {
                mounted.insert((method.to_string(), pattern.clone()));
            }
        }
    }
    let doc = serde_json::to_value(docs::document(&Site::of(&stack, false), &stack)).unwrap();
    let documented = documented(&doc);
    // A documented path asked with a method it does not serve: 405 naming the methods of a
    // documented template the path matches (the first, as Starlette), never the method asked.
    for (method, concrete, allow) in &refused {
        let explained = documented
            .iter()
            .map(|(_, p)| p)
            .filter(|p| actix_web::dev::ResourceDef::new(p.as_str()).is_match(concrete))
            .any(|p| {
                let own: Vec<&str> = documented
                    .iter()
                    .filter(|(_, q)| q == p)
                    .map(|(m, _)| m.as_str())
                    .collect();
                !own.contains(&method.as_str()) && allow.as_deref() == Some(own.join(", ").as_str())
            });
        assert!(explained, "{method} {concrete}: 405 with Allow {allow:?}");
    }
    assert!(refused.len() > 100, "{}", refused.len());
    let undocumented: Vec<_> = mounted.difference(&documented).collect();
    let unmounted: Vec<_> = documented.difference(&mounted).collect();
    assert!(
        undocumented.is_empty() && unmounted.is_empty(),
        "mounted but not documented: {undocumented:?}\ndocumented but not mounted: {unmounted:?}"
    );
    assert!(documented.len() > 80, "{}", documented.len());
    documented
}

#[actix_web::test]
async fn the_document_is_sound() {
    let Some((_db, stack)) = stack(GITHUB_CLIENT).await else {
        return;
    };
    let doc = serde_json::to_value(docs::document(&Site::of(&stack, false), &stack)).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    // Fractal's two credentials, the cookie under Fractal's name, and on /auth/whoami both.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["cookie"]["name"], "fastapiusersauth", "{schemes}");
    assert_eq!(
        schemes["bearer"]["flows"]["password"]["tokenUrl"],
        "/auth/token/login"
    );
    assert_eq!(
        doc["paths"]["/auth/whoami"]["get"]["security"],
        serde_json::json!([{"bearer": []}, {"cookie": []}])
    );
    assert!(
        auth_actix::openapi::dangling_refs(&doc).is_empty(),
        "{:?}",
        auth_actix::openapi::dangling_refs(&doc)
    );
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let params = auth_actix::openapi::path_parameters(path);
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_owned();
            assert!(ids.insert(id.clone()), "operationId {id} twice");
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap())
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(
                declared,
                params.iter().copied().collect(),
                "{method} {path} declares its path parameters"
            );
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.as_str() >= "400" {
                    assert!(
                        response["content"]["application/json"]["schema"].is_object(),
                        "{method} {path} {status} has a JSON body schema"
                    );
                }
            }
        }
    }
}

#[test]
fn the_served_document_validates_against_the_openapi_3_1_schema() {
    run_script("schemathesis.sh", &["--validate-only"]);
}

#[test]
fn schemathesis_finds_no_server_error_and_no_undocumented_response() {
    run_script("schemathesis.sh", &[]);
}
