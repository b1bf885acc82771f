//! Malformed bodies, forms, paths and queries become FastAPI's 422 JSON, never actix's
//! plain-text errors; unknown routes and methods answer JSON too.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError, UrlencodedError};
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ApiError, ValidationItem, WebError};

/// FastAPI's message for a body that is not a JSON object.
const NOT_A_DICT: &str = "value is not a valid dict";

/// A JSON body read into `T` as FastAPI reads a model ([`crate::pydantic`]: pydantic v1's
/// conversions and error items; a string or a number is `type_error.dict`, never a struct's
/// fields in order as serde would take an array). Use it instead of `web::Json` for every body
/// that is a struct; limits and syntax errors are `web::Json`'s ([`configure_input_errors`]).
///
/// Malformed JSON is refused by the extractor, as FastAPI decodes a body before anything else;
/// `T`'s validation errors are kept and answered where the handler asks for the body
/// ([`Self::into_inner`]), after the route's other extractors: FastAPI reports them after the
/// route's dependencies (a 401, 403 or 404 comes first).
pub struct JsonObject<T>(Result<T, ApiError>);

impl<T> JsonObject<T> {
    /// The body.
    ///
    /// # Errors
    /// The 422 of its validation.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned> JsonObject<T> {
    /// A body the handler read itself (e.g. an optional one): `None` when empty or blank;
    /// otherwise read as [`Self::from_json`].
    ///
    /// # Errors
    /// 422 `value_error.jsondecode` (the parser's message) for malformed JSON, and pydantic's
    /// items for the rest (`type_error.dict` for a string or number, one item per bad field).
    pub fn from_slice(bytes: &[u8]) -> Result<Option<T>, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => Self::from_json(value).map(Some),
            Err(e) => Err(ApiError::invalid(
                &["body"],
                e.to_string(),
                "value_error.jsondecode",
            )),
        }
    }

    /// Reads a parsed JSON body as FastAPI reads a model: `null` is a missing body, and the
    /// rest goes through pydantic v1's conversions and error items ([`crate::pydantic`]).
    ///
    /// # Errors
    /// 422 with every item pydantic would give.
    pub fn from_json(value: serde_json::Value) -> Result<T, ApiError> {
        if value.is_null() {
            return Err(ApiError::invalid(
                &["body"],
                "field required",
                "value_error.missing",
            ));
        }
        crate::pydantic::from_value(value, "body").map_err(ApiError::Validation)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move { Ok(JsonObject(Self::from_json(body.await?.into_inner()))) })
    }
}

/// The query string read into `T` as FastAPI reads query parameters: a repeated name keeps
/// its last value (Starlette's `QueryParams`), values convert as pydantic v1 converts them
/// (`?flag=yes`, `?n=+3`), and every bad or missing parameter is an item at
/// `["query", name]`, answered where the handler asks for the parameters
/// ([`Self::into_inner`]), after the route's dependencies as in FastAPI. Use it instead of
/// `web::Query`.
pub struct QueryParams<T>(Result<T, ApiError>);

impl<T> QueryParams<T> {
    /// The parameters.
    ///
    /// # Errors
    /// The 422 of their validation.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let read = || -> Result<T, ApiError> {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(req.query_string())
                .map_err(|e| ApiError::invalid(&["query"], e.to_string(), "value_error"))?;
            crate::pydantic::from_pairs(pairs, "query").map_err(ApiError::Validation)
        };
        std::future::ready(Ok(QueryParams(read())))
    }
}

/// The most a form body may hold (a login form is a few hundred bytes).
const FORM_LIMIT: usize = 16 * 1024;

/// A form body read into `T` as FastAPI reads `Form()` fields from Starlette's
/// `request.form()`: `application/x-www-form-urlencoded` or `multipart/form-data` (what
/// `curl -F` sends; parsed by `multer`), a repeated name keeps its last value, an empty value
/// is an absent field, and any other content type is an empty form. A multipart file part (one
/// with a `filename`) stands as the object `{"filename": …}`: a `String` field answers
/// `type_error.str` as pydantic answers an `UploadFile`, but a `serde_json::Value` or map field
/// would take it, so give form fields string, number or boolean types. Values convert as
/// pydantic v1 converts them; items are at `["body", name]`, answered where the handler asks
/// for the fields ([`Self::into_inner`]). A body too large or not parsable is refused by the
/// extractor.
pub struct FormFields<T>(Result<T, ApiError>);

impl<T> FormFields<T> {
    /// The fields.
    ///
    /// # Errors
    /// The 422 of their validation.
    pub fn into_inner(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for FormFields<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let content_type = req
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body
                .await
                .map_err(|_| ApiError::from(WebError::PayloadTooLarge))?;
            if bytes.len() > FORM_LIMIT {
                return Err(WebError::PayloadTooLarge.into());
            }
            let essence = content_type
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            let fields: Vec<(String, Value)> = match essence.as_str() {
                "application/x-www-form-urlencoded" => {
                    serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                        .map_err(|e| ApiError::invalid(&["body"], e.to_string(), "value_error"))?
                        .into_iter()
                        .map(|(k, v)| (k, Value::String(v)))
                        .collect()
                }
                "multipart/form-data" => multipart_fields(&content_type, bytes).await?,
                _ => Vec::new(),
            };
            // A repeated name keeps its last value; an empty value is an absent field.
            let mut form = serde_json::Map::new();
            for (name, value) in fields {
                if value.as_str().is_some_and(str::is_empty) {
                    // Not `remove`: with serde_json's `preserve_order` it moves the last field.
                    form.retain(|k, _| *k != name);
                } else {
                    form.insert(name, value);
                }
            }
            Ok(FormFields(
                crate::pydantic::from_value(Value::Object(form), "body")
                    .map_err(ApiError::Validation),
            ))
        })
    }
}

/// The fields of a `multipart/form-data` body, in order, as Starlette gives them to FastAPI: a
/// field's bytes are text in UTF-8, or Latin-1 when they are not UTF-8 (the part's own
/// `charset` is not read); a part with a `filename` is a file, which no text field accepts
/// (an object stands for it, so its field's item is `type_error.str`, as pydantic v1 answers an
/// `UploadFile` given for a `str`).
async fn multipart_fields(
    content_type: &str,
    bytes: web::Bytes,
) -> Result<Vec<(String, Value)>, ApiError> {
    let malformed = |e: multer::Error| ApiError::invalid(&["body"], e.to_string(), "value_error");
    let boundary = multer::parse_boundary(content_type).map_err(malformed)?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(bytes) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut fields = Vec::new();
    while let Some(field) = parts.next_field().await.map_err(malformed)? {
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let data = field.bytes().await.map_err(malformed)?;
        let value = match file_name {
            Some(file_name) => serde_json::json!({ "filename": file_name }),
            None => Value::String(match std::str::from_utf8(&data) {
                Ok(text) => text.to_owned(),
                Err(_) => data.iter().map(|&b| char::from(b)).collect(),
            }),
        };
        fields.push((name, value));
    }
    Ok(fields)
}

/// Two inputs validated together, as FastAPI validates a route's parameters and body before
/// answering: when both are 422s, one 422 with the first's items, then the second's (FastAPI
/// lists path, query, header, cookie, then body items). Give it the query's and the body's
/// `into_inner()`, in that order.
///
/// # Errors
/// The merged 422; an error that is not a 422 before any 422.
pub fn both<A, B>(a: Result<A, ApiError>, b: Result<B, ApiError>) -> Result<(A, B), ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(ApiError::Validation(mut first)), Err(ApiError::Validation(second))) => {
            first.extend(second);
            Err(ApiError::Validation(first))
        }
        // A 401, 404, 503… answers before any 422.
        (Err(ApiError::Validation(_)), Err(other)) => Err(other),
        (Err(e), _) | (_, Err(e)) => Err(e),
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

/// An app's default service in FastAPI's manner: a request whose path is an operation's, asked
/// with a method none of that path's operations serves, is 405 `{"detail": "Method Not
/// Allowed"}` with `Allow` naming the path's methods (RFC 9110 §15.5.6; Starlette names the
/// first matching route's only); anything else is 404 `{"detail": "Not Found"}`. Actix calls
/// the default service only when no route matched, so it never shadows a route mounted later.
///
/// ```
/// use actix_web::App;
/// use auth_actix::{Fallback, openapi::RouteTable};
///
/// let table = RouteTable::new(); // your routes' table, also mounted
/// let fallback = Fallback::new(table.operations(""));
/// let _app = App::new().default_service(fallback.route());
/// ```
#[derive(Clone)]
pub struct Fallback {
    /// Each path template once, in mounting order, with its `Allow` value.
    paths: std::sync::Arc<Vec<(actix_web::dev::ResourceDef, String)>>,
}

impl Fallback {
    /// From `(method, path)` pairs such as [`crate::openapi::RouteTable::operations`] lists.
    pub fn new(
        operations: impl IntoIterator<Item = (utoipa::openapi::path::HttpMethod, String)>,
    ) -> Self {
        let mut by_path: Vec<(String, Vec<String>)> = Vec::new();
        for (method, path) in operations {
            let name = crate::openapi::actix_method(&method).as_str().to_owned();
            match by_path.iter_mut().find(|(p, _)| *p == path) {
                Some((_, methods)) => methods.push(name),
                None => by_path.push((path, vec![name])),
            }
        }
        let paths = by_path
            .into_iter()
            .map(|(path, mut methods)| {
                methods.sort_unstable();
                methods.dedup();
                (actix_web::dev::ResourceDef::new(path), methods.join(", "))
            })
            .collect();
        Self {
            paths: std::sync::Arc::new(paths),
        }
    }

    /// The `Allow` value for `path` when it is an operation's path (the first matching
    /// template, as Starlette takes the first matching route).
    pub fn allowed(&self, path: &str) -> Option<&str> {
        self.paths
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, allow)| allow.as_str())
    }

    /// The fallback as an actix route, for `App::default_service`.
    pub fn route(self) -> actix_web::Route {
        web::to(move |req: HttpRequest| {
            let fallback = self.clone();
            async move { fallback.respond(&req) }
        })
    }

    /// 405 with `Allow` for a known path, else 404.
    pub fn respond(&self, req: &HttpRequest) -> HttpResponse {
        match self.allowed(req.path()) {
            Some(allow) => method_not_allowed_for(allow),
            None => actix_web::ResponseError::error_response(&ApiError::from(WebError::NotFound)),
        }
    }
}

/// 405 `{"detail": "Method Not Allowed"}` with `Allow: allow` (e.g. `"GET, PATCH"`), as
/// Starlette answers ([`Fallback`]).
pub fn method_not_allowed_for(allow: &str) -> HttpResponse {
    let mut response =
        actix_web::ResponseError::error_response(&ApiError::from(WebError::MethodNotAllowed));
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    response
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

fn json_error(err: JsonPayloadError, req: &HttpRequest) -> actix_web::Error {
    // No body at all: FastAPI's missing body, whatever the content type.
    let no_body = !req
        .headers()
        .contains_key(actix_web::http::header::TRANSFER_ENCODING)
        && req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .is_none_or(|v| v.as_bytes() == b"0");
    let api = match &err {
        // An empty body is a missing one to FastAPI.
        JsonPayloadError::Deserialize(e) if e.is_eof() && e.line() == 1 && e.column() == 0 => {
            ApiError::invalid(&["body"], "field required", "value_error.missing")
        }
        JsonPayloadError::Deserialize(e) if e.is_syntax() || e.is_eof() => {
            ApiError::invalid(&["body"], "Invalid JSON body", "value_error.jsondecode")
        }
        JsonPayloadError::Deserialize(e) => {
            ApiError::Validation(vec![serde_item("body", &e.to_string())])
        }
        JsonPayloadError::ContentType if no_body => {
            ApiError::invalid(&["body"], "field required", "value_error.missing")
        }
        // A body of another type (a form, text): FastAPI validates its bytes as the model
        // and says they are no dict.
        JsonPayloadError::ContentType => {
            ApiError::invalid(&["body"], NOT_A_DICT, "type_error.dict")
        }
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

fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    match &err {
        PathError::Deserialize(e) => path_parameter_error(req, e).into(),
        _ => ApiError::invalid(&["path"], err.to_string(), "value_error").into(),
    }
}

/// A path parameter that does not parse (`err`: the message of `web::Path`'s reading, or of
/// `req.match_info().load()`): pydantic's item at `["path", name]` (the name is the
/// segment's whose text the parser quotes), `type_error.integer` for an integer.
pub fn path_parameter_error(req: &HttpRequest, err: &dyn std::fmt::Display) -> ApiError {
    // actix's words: `can not parse "abc" to a i32`.
    let message = err.to_string();
    let quoted = message
        .split('"')
        .nth(1)
        .filter(|_| message.starts_with("can not parse"));
    let name = quoted.and_then(|text| {
        req.match_info()
            .iter()
            .find(|(_, value)| *value == text)
            .map(|(name, _)| name.to_owned())
    });
    let integer = message
        .rsplit(" to a ")
        .next()
        .is_some_and(|t| t.starts_with(['i', 'u']) && t[1..].parse::<u8>().is_ok());
    let mut loc = vec!["path"];
    loc.extend(name.as_deref());
    if integer {
        ApiError::invalid(&loc, "value is not a valid integer", "type_error.integer")
    } else {
        ApiError::invalid(&loc, message, "type_error")
    }
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

    /// Floats as Python writes them (17 digits) are read exactly, into a float field and into a
    /// JSON value alike: serde_json's `float_roundtrip`. Without it, each of these three came
    /// back one unit off in its last digit.
    #[test]
    fn floats_are_read_correctly_rounded() {
        #[derive(serde::Deserialize)]
        struct Body {
            x: f64,
            meta: serde_json::Map<String, serde_json::Value>,
        }
        for (text, float) in [
            ("0.9452706955539223", 0.945_270_695_553_922_3),
            ("0.38120423768821243", 0.381_204_237_688_212_43),
            ("0.21659939713061338", 0.216_599_397_130_613_38),
        ] {
            let body = format!(r#"{{"x": {text}, "meta": {{"v": {text}}}}}"#);
            let read = JsonObject::<Body>::from_slice(body.as_bytes())
                .ok()
                .flatten()
                .expect("a valid body");
            assert_eq!(read.x.to_bits(), f64::to_bits(float), "{text}");
            assert_eq!(
                read.meta["v"].as_f64().map(f64::to_bits),
                Some(float.to_bits())
            );
            assert_eq!(read.meta["v"].to_string(), text);
        }
    }

    #[test]
    fn both_lists_the_items_of_both_and_lets_other_errors_answer_first() {
        let item = |name: &str| ValidationItem::new(&["query", name], "field required", "x");
        let invalid = |name: &str| Err::<(), _>(ApiError::Validation(vec![item(name)]));
        match both(invalid("a"), invalid("b")) {
            Err(ApiError::Validation(items)) => assert_eq!(items, [item("a"), item("b")]),
            other => panic!("{:?}", other.err()),
        }
        let not_found = || Err::<(), _>(ApiError::from(WebError::NotFound));
        for result in [
            both(invalid("a"), not_found()),
            both(not_found(), invalid("b")),
        ] {
            assert!(
                matches!(result, Err(ApiError::Coded(_))),
                "{:?}",
                result.err()
            );
        }
        assert!(matches!(
            both(Ok(1), invalid("b")),
            Err(ApiError::Validation(_))
        ));
        assert_eq!(both::<_, _>(Ok(1), Ok(2)).ok(), Some((1, 2)));
    }

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
    fn bodies_are_read_as_fastapi_reads_a_model() {
        let read = |json: &str| JsonObject::<Body>::from_slice(json.as_bytes());
        assert_eq!(
            read(r#"{"cache_dir": "/x"}"#)
                .unwrap()
                .unwrap()
                .cache_dir
                .as_deref(),
            Some("/x")
        );
        // Plain serde takes an array as the struct's fields in order; pydantic's `dict()`
        // takes only pairs, and `[]` as `{}`.
        assert!(serde_json::from_str::<Body>(r#"["/x"]"#).is_ok());
        assert_eq!(read("[]").unwrap().unwrap(), Body { cache_dir: None });
        for bad in [r#"["/x"]"#, "1", "\"x\"", "true"] {
            let Err(ApiError::Validation(items)) = read(bad) else {
                panic!("{bad} accepted");
            };
            let item = &items[0];
            assert_eq!(
                (item.msg.as_str(), item.kind.as_str(), item.loc.len()),
                (NOT_A_DICT, "type_error.dict", 1),
                "{bad}"
            );
        }
        let Err(ApiError::Validation(items)) = read("null") else {
            panic!("null accepted");
        };
        assert_eq!(items[0].kind, "value_error.missing");
        assert!(read("  ").unwrap().is_none());
        // pydantic v1 makes a string of a number.
        assert_eq!(
            read(r#"{"cache_dir": 1}"#)
                .unwrap()
                .unwrap()
                .cache_dir
                .as_deref(),
            Some("1")
        );
    }
}
