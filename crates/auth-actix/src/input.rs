//! Malformed bodies, forms, paths and queries become FastAPI's 422 JSON, never actix's
//! plain-text errors; unknown routes and methods answer JSON too.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::{ApiError, ValidationItem};

/// Registers the JSON, form, path and query error handlers (call it on the `App` or a scope).
pub fn configure_input_errors(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(64 * 1024)
            .error_handler(json_error),
    )
    .app_data(
        web::FormConfig::default()
            .limit(16 * 1024)
            .error_handler(form_error),
    )
    .app_data(web::PathConfig::default().error_handler(path_error))
    .app_data(web::QueryConfig::default().error_handler(query_error));
}

/// `{"detail": "Not Found"}` for unknown routes (use as `default_service`).
pub async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({"detail": "Not Found"}))
}

/// `{"detail": "Method Not Allowed"}` (use as a resource's `default_service`).
pub async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(serde_json::json!({"detail": "Method Not Allowed"}))
}

/// Turns a serde message into a FastAPI item located in `root` (`body` or `query`).
pub fn serde_item(root: &str, message: &str) -> ValidationItem {
    let between = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if let Some(field) = between("missing field `") {
        return ValidationItem::new(&[root, &field], "field required", "value_error.missing");
    }
    if let Some(field) = between("unknown field `") {
        return ValidationItem::new(
            &[root, &field],
            "extra fields not permitted",
            "value_error.extra",
        );
    }
    let clean = message.split(" at line ").next().unwrap_or(message);
    let kind = if message.starts_with("invalid type") {
        "type_error"
    } else {
        "value_error"
    };
    ValidationItem::new(&[root], clean, kind)
}

fn json_error(err: JsonPayloadError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Deserialize(e) if e.is_syntax() || e.is_eof() => {
            ApiError::invalid(&["body"], "Invalid JSON body", "value_error.jsondecode")
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::Validation(vec![serde_item("body", &e.to_string())])
        }
        JsonPayloadError::ContentType => ApiError::invalid(
            &["body"],
            "expected a JSON body (Content-Type: application/json)",
            "value_error.missing",
        ),
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large")
        }
        _ => ApiError::invalid(&["body"], "field required", "value_error.missing"),
    };
    api.into()
}

fn form_error(err: UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        UrlencodedError::Parse(e) => ApiError::Validation(vec![serde_item("body", &e.to_string())]),
        UrlencodedError::Overflow { .. } => {
            ApiError::detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large")
        }
        _ => ApiError::Validation(vec![
            ValidationItem::new(
                &["body", "username"],
                "field required",
                "value_error.missing",
            ),
            ValidationItem::new(
                &["body", "password"],
                "field required",
                "value_error.missing",
            ),
        ]),
    };
    api.into()
}

fn path_error(err: PathError, _: &HttpRequest) -> actix_web::Error {
    let PathError::Deserialize(e) = &err else {
        return ApiError::invalid(&["path"], err.to_string(), "value_error").into();
    };
    ApiError::invalid(&["path"], e.to_string(), "type_error").into()
}

fn query_error(err: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    let msg = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    ApiError::Validation(vec![serde_item("query", &msg)]).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_become_items() {
        let i = serde_item("body", "missing field `email` at line 1 column 2");
        assert_eq!(
            (i.loc.len(), i.msg.as_str(), i.kind.as_str()),
            (2, "field required", "value_error.missing")
        );
        assert_eq!(i.loc[1], "email");
        let i = serde_item(
            "body",
            "unknown field `password`, expected one of `cache_dir`",
        );
        assert_eq!(
            (i.loc[1].as_str(), i.kind.as_str()),
            (Some("password"), "value_error.extra")
        );
        let i = serde_item(
            "body",
            "invalid type: integer `1`, expected a string at line 1 column 9",
        );
        assert_eq!(
            (i.msg.as_str(), i.kind.as_str()),
            ("invalid type: integer `1`, expected a string", "type_error")
        );
    }
}
