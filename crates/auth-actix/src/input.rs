//! Malformed bodies, forms, paths and queries become FastAPI's 422 JSON, never actix's
//! plain-text errors; unknown routes and methods answer JSON too.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::de::{DeserializeOwned, Error as _};

use crate::error::{ApiError, ValidationItem, WebError};

/// FastAPI's message for a body that is not a JSON object.
const NOT_A_DICT: &str = "value is not a valid dict";

/// A JSON body that must be a JSON *object*, deserialized into `T`.
///
/// serde's derived `Deserialize` also accepts a struct written as an array of its fields in
/// order (`["/x"]` for `{"cache_dir": "/x"}`); FastAPI refuses anything but an object with
/// 422 `value is not a valid dict`. Use this extractor instead of `web::Json` for every body
/// that is a struct; limits and error handling are `web::Json`'s ([`configure_input_errors`]).
pub struct JsonObject<T>(pub T);

impl<T> JsonObject<T> {
    /// The body.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned> JsonObject<T> {
    /// A body the handler read itself (e.g. an optional one, which an extractor wrapped in
    /// `Option` would silently drop when it cannot read it): `None` when empty or blank;
    /// otherwise it must be a JSON object that deserializes into `T`.
    ///
    /// # Errors
    /// 422 `value_error.jsondecode` (the parser's message) for malformed JSON,
    /// `type_error.dict` for anything but an object, and the field's item for a bad field.
    pub fn from_slice(bytes: &[u8]) -> Result<Option<Self>, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match serde_json::from_slice::<ObjectOnly<T>>(bytes) {
            Ok(ObjectOnly(body)) => Ok(Some(JsonObject(body))),
            Err(e) if e.is_syntax() || e.is_eof() => Err(ApiError::invalid(
                &["body"],
                e.to_string(),
                "value_error.jsondecode",
            )),
            Err(e) => Err(ApiError::Validation(vec![serde_item(
                "body",
                &e.to_string(),
            )])),
        }
    }
}

impl<T> std::ops::Deref for JsonObject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Deserializes `T` from a JSON object only.
struct ObjectOnly<T>(T);

impl<'de, T: DeserializeOwned> serde::Deserialize<'de> for ObjectOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        if !value.is_object() {
            return Err(D::Error::custom(NOT_A_DICT));
        }
        T::deserialize(value)
            .map(ObjectOnly)
            .map_err(D::Error::custom)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<ObjectOnly<T>>::from_request(req, payload);
        Box::pin(async move { Ok(JsonObject(body.await?.into_inner().0)) })
    }
}

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
    actix_web::ResponseError::error_response(&ApiError::from(WebError::NotFound))
}

/// `{"detail": "Method Not Allowed"}` (use as a resource's `default_service`).
pub async fn method_not_allowed() -> HttpResponse {
    actix_web::ResponseError::error_response(&ApiError::from(WebError::MethodNotAllowed))
}

/// Turns a serde message into a FastAPI item located in `root` (`body` or `query`).
pub fn serde_item(root: &str, message: &str) -> ValidationItem {
    let between = |prefix: &str| {
        message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_owned)
    };
    if message.starts_with(NOT_A_DICT) {
        return ValidationItem::new(&[root], NOT_A_DICT, "type_error.dict");
    }
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
            WebError::PayloadTooLarge.into()
        }
        _ => ApiError::invalid(&["body"], "field required", "value_error.missing"),
    };
    api.into()
}

fn form_error(err: UrlencodedError, _: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        UrlencodedError::Parse(e) => ApiError::Validation(vec![serde_item("body", &e.to_string())]),
        UrlencodedError::Overflow { .. } => WebError::PayloadTooLarge.into(),
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

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Body {
        cache_dir: Option<String>,
    }

    #[test]
    fn bodies_must_be_objects() {
        let ok: ObjectOnly<Body> = serde_json::from_str(r#"{"cache_dir": "/x"}"#).unwrap();
        assert_eq!(ok.0.cache_dir.as_deref(), Some("/x"));
        // Plain serde takes the array as the struct's fields in order.
        assert!(serde_json::from_str::<Body>(r#"["/x"]"#).is_ok());
        for bad in [r#"["/x"]"#, "[]", "1", "\"x\"", "null", "true"] {
            let e = serde_json::from_str::<ObjectOnly<Body>>(bad)
                .err()
                .unwrap_or_else(|| panic!("{bad} accepted"));
            let item = serde_item("body", &e.to_string());
            assert_eq!(
                (item.msg.as_str(), item.kind.as_str(), item.loc.len()),
                (NOT_A_DICT, "type_error.dict", 1),
                "{bad}"
            );
        }
        // Field errors keep their location.
        let e = serde_json::from_str::<ObjectOnly<Body>>(r#"{"cache_dir": 1}"#)
            .err()
            .unwrap();
        assert_eq!(serde_item("body", &e.to_string()).kind, "type_error");
    }
}
