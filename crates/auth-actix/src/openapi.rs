//! OpenAPI 3.1 descriptions taken from the code that mounts the routes.
//!
//! A [`RouteTable`] is the one list of a router's operations: [`RouteTable::mount`] adds them to
//! an actix `ServiceConfig`, [`RouteTable::describe`] adds the same operations to an OpenAPI
//! document. A route therefore cannot be mounted without being described. Concrete handlers
//! carry their description as a `#[utoipa::path]` attribute and join a table with
//! [`RouteTable::at`]; the generic routers of [`crate::routes`] (whose handlers are generic over
//! the store and cannot carry attributes) describe each operation with an [`Op`] beside the
//! handler in the same table.
//!
//! ```
//! use actix_web::HttpResponse;
//! use auth_actix::openapi::RouteTable;
//!
//! /// Liveness.
//! #[utoipa::path(get, path = "/health", responses((status = 200, description = "Alive.")))]
//! async fn health() -> HttpResponse {
//!     HttpResponse::Ok().finish()
//! }
//!
//! let table = RouteTable::new().at(__path_health, health);
//! let mut doc = auth_actix::openapi::document("Example", "1.0", "");
//! table.describe("", &mut doc);
//! assert!(doc.paths.paths.contains_key("/health"));
//! ```
//!
//! [`RouteTable::describe`] completes what every operation shares, so no attribute repeats it:
//! a path parameter for every `{name}` segment, 422 (the input error shapes) where the operation
//! takes parameters or a body, 404 where the path has parameters, 401 where it requires a
//! credential, 503 (storage unreachable) on
//! every operation of a table made with [`RouteTable::new`], and the error body for every
//! status ≥ 400 that names none.

use actix_web::{FromRequest, Handler, Responder, Route, web};
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, Components, ComponentsBuilder, ObjectBuilder, Schema, Type,
};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, OAuth2, Password, Scopes, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    Content, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Required, ResponseBuilder,
};

/// A named schema for `components.schemas`.
pub type NamedSchema = (String, RefOr<Schema>);

/// The `{"detail": …}` body of every error but FastAPI's 422: a code string
/// (`LOGIN_BAD_CREDENTIALS`), `{"code", "reason"}`, a message, or an object naming what failed
/// (`/health/ready`'s 503).
pub fn error_model() -> Schema {
    let detail = AnyOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::String))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(
                    "`{code, reason}` for password errors, else what failed",
                )),
        )
        .item(ArrayBuilder::new())
        .description(Some("An error code, `{code, reason}`, or a message"));
    ObjectBuilder::new()
        .property("detail", detail)
        .required("detail")
        .into()
}

/// FastAPI's 422 body: `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`.
pub fn http_validation_error() -> Schema {
    ObjectBuilder::new()
        .property(
            "detail",
            ArrayBuilder::new().items(Ref::from_schema_name("ValidationError")),
        )
        .required("detail")
        .into()
}

/// One 422 item; `loc` mixes names and list indices (`["body", "task_list", 0]`).
pub fn validation_error() -> Schema {
    let loc = ArrayBuilder::new().items(
        AnyOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Integer)),
    );
    ObjectBuilder::new()
        .property("loc", loc)
        .property("msg", ObjectBuilder::new().schema_type(Type::String))
        .property("type", ObjectBuilder::new().schema_type(Type::String))
        .required("loc")
        .required("msg")
        .required("type")
        .into()
}

/// Any 422 of this layer: FastAPI's list of items (bad JSON, form, path, query or field) or a
/// message (`{"detail": "…"}`, e.g. Fractal's rule messages).
pub fn unprocessable() -> Schema {
    AnyOfBuilder::new()
        .item(Ref::from_schema_name("HTTPValidationError"))
        .item(Ref::from_schema_name("ErrorModel"))
        .into()
}

pub(crate) fn object(properties: &[(&str, Type)], required: &[&str]) -> Schema {
    let mut o = ObjectBuilder::new();
    for (name, ty) in properties {
        o = o.property(*name, ObjectBuilder::new().schema_type(ty.clone()));
    }
    for r in required {
        o = o.required(*r);
    }
    o.into()
}

/// A schema that accepts any JSON value (ids whose type is the store's, `"all"` or a map).
pub fn any_value() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
}

/// The schemas every router refers to.
pub fn base_schemas() -> Vec<NamedSchema> {
    use Type::String as S;
    vec![
        ("ErrorModel".into(), error_model().into()),
        ("HTTPValidationError".into(), http_validation_error().into()),
        ("ValidationError".into(), validation_error().into()),
        ("Unprocessable".into(), unprocessable().into()),
        (
            "BearerResponse".into(),
            object(
                &[("access_token", S), ("token_type", S)],
                &["access_token", "token_type"],
            )
            .into(),
        ),
        (
            "LoginForm".into(),
            object(
                &[
                    ("username", S),
                    ("password", S),
                    ("grant_type", S),
                    ("scope", S),
                    ("client_id", S),
                    ("client_secret", S),
                ],
                &["username", "password"],
            )
            .into(),
        ),
        (
            "EmailBody".into(),
            ObjectBuilder::new()
                .property(
                    "email",
                    ObjectBuilder::new()
                        .schema_type(S)
                        .format(Some(utoipa::openapi::SchemaFormat::Custom("email".into()))),
                )
                .required("email")
                .into(),
        ),
        (
            "ResetPasswordBody".into(),
            object(&[("token", S), ("password", S)], &["token", "password"]).into(),
        ),
        (
            "VerifyBody".into(),
            object(&[("token", S)], &["token"]).into(),
        ),
    ]
}

/// An empty document with `title`, `version` and `description`, holding [`base_schemas`].
pub fn document(title: &str, version: &str, description: &str) -> OpenApi {
    let mut components = ComponentsBuilder::new();
    for (name, schema) in base_schemas() {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(version)
                .description((!description.is_empty()).then(|| description.to_owned())),
        )
        .components(Some(components.build()))
        .build()
}

/// Adds the security schemes the operations name: `bearer` (OAuth2 password flow at
/// `token_url`) and `cookie` (the cookie `cookie_name`).
pub fn security_schemes(components: &mut Components, token_url: &str, cookie_name: &str) {
    components.add_security_scheme(
        "bearer",
        SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
            token_url,
            Scopes::new(),
        ))])),
    );
    components.add_security_scheme(
        "cookie",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(cookie_name))),
    );
}

/// Describes a transport of the application's own (a [`CustomBackend`](crate::CustomBackend))
/// in `doc`: adds `scheme` to the components under `name`, and `name` as one more way in to
/// every operation that takes the stack's `bearer` credential (OpenAPI: one requirement of an
/// operation's list suffices). Call it once the document holds every operation.
pub fn add_security_alternative(doc: &mut OpenApi, name: &str, scheme: SecurityScheme) {
    doc.components
        .get_or_insert_with(Components::default)
        .add_security_scheme(name, scheme);
    let bearer = SecurityRequirement::new("bearer", Vec::<String>::new());
    let extra = SecurityRequirement::new(name, Vec::<String>::new());
    for operation in operations_mut(doc) {
        if let Some(security) = &mut operation.security
            && security.contains(&bearer)
            && !security.contains(&extra)
        {
            security.push(extra.clone());
        }
    }
}

/// Every operation of `doc`, mutably.
fn operations_mut(doc: &mut OpenApi) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
            &mut item.query,
        ]
        .into_iter()
        .flatten()
    })
}

/// Removes every alternative that names one of `absent` (alone or with other schemes) from the
/// operations of `doc` and from its document-wide `security`; a list left empty gets
/// `instead` (the schemes the application does have), or no `security` when that is empty too.
pub(crate) fn remove_security_schemes(
    doc: &mut OpenApi,
    absent: &[&str],
    instead: &[SecurityRequirement],
) {
    let names = |r: &SecurityRequirement| -> Vec<String> {
        match serde_json::to_value(r) {
            Ok(serde_json::Value::Object(map)) => map.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        }
    };
    let prune = |security: &mut Option<Vec<SecurityRequirement>>| {
        if let Some(list) = security {
            let before = list.len();
            list.retain(|r| !names(r).iter().any(|n| absent.contains(&n.as_str())));
            if list.is_empty() && before > 0 {
                *security = (!instead.is_empty()).then(|| instead.to_vec());
            }
        }
    };
    prune(&mut doc.security);
    for operation in operations_mut(doc) {
        prune(&mut operation.security);
    }
}

/// The named schema of `T` and those it refers to, for [`RouteTable::schemas`].
pub fn schema_of<T: utoipa::ToSchema>() -> Vec<NamedSchema> {
    let mut out = vec![(T::name().into_owned(), T::schema())];
    T::schemas(&mut out);
    out
}

/// Names of the user schemas in `components` and their definitions (each app has its own).
#[derive(Clone)]
pub struct UserSchemaDocs {
    /// The read form (`UserRead`).
    pub read: &'static str,
    /// The register body (`UserCreate`).
    pub create: &'static str,
    /// The PATCH body (`UserUpdate`).
    pub update: &'static str,
    /// The definitions of those names (and of what they refer to).
    pub schemas: Vec<NamedSchema>,
}

impl UserSchemaDocs {
    /// `UserRead`, `UserCreate`, `UserUpdate` as open JSON objects, for schemas that give no
    /// description of their own.
    pub fn untyped() -> Self {
        let open = || -> RefOr<Schema> { ObjectBuilder::new().schema_type(Type::Object).into() };
        Self {
            read: "UserRead",
            create: "UserCreate",
            update: "UserUpdate",
            schemas: vec![
                ("UserRead".into(), open()),
                ("UserCreate".into(), open()),
                ("UserUpdate".into(), open()),
            ],
        }
    }
}

/// Builds one operation by hand (for handlers that cannot carry `#[utoipa::path]`).
pub struct Op {
    inner: OperationBuilder,
}

impl Op {
    /// An operation with a tag, an id and a summary.
    pub fn new(tag: &str, id: &str, summary: &str) -> Self {
        Self {
            inner: OperationBuilder::new()
                .tag(tag)
                .operation_id(Some(id))
                .summary(Some(summary)),
        }
    }

    /// Requires a credential (either backend); [`RouteTable::describe`] adds the 401.
    pub fn secured(mut self) -> Self {
        self.inner = self.inner.securities(Some(secured()));
        self
    }

    /// A required body of `schema` as `media_type`.
    pub fn body(mut self, media_type: &str, schema: &str) -> Self {
        self.inner = self.inner.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    media_type,
                    Content::new(Some(Ref::from_schema_name(schema))),
                )
                .required(Some(Required::True))
                .build(),
        ));
        self
    }

    /// A required JSON body of `schema`.
    pub fn json_body(self, schema: &str) -> Self {
        self.body("application/json", schema)
    }

    /// A required form body of `schema` (OAuth2 password form).
    pub fn form_body(self, schema: &str) -> Self {
        self.body("application/x-www-form-urlencoded", schema)
    }

    /// A path or query parameter.
    pub fn param(mut self, name: &str, location: ParameterIn, ty: Type, required: bool) -> Self {
        let p: Parameter = ParameterBuilder::new()
            .name(name)
            .parameter_in(location)
            .required(if required {
                Required::True
            } else {
                Required::False
            })
            .schema(Some(ObjectBuilder::new().schema_type(ty)))
            .build();
        self.inner = self.inner.parameter(p);
        self
    }

    /// A response; a JSON body of `schema` when given (statuses ≥ 400 without one get the
    /// error body from [`RouteTable::describe`]).
    pub fn response(mut self, status: &str, description: &str, schema: Option<&str>) -> Self {
        let mut r = ResponseBuilder::new().description(description);
        if let Some(s) = schema {
            r = r.content(
                "application/json",
                Content::new(Some(Ref::from_schema_name(s))),
            );
        }
        self.inner = self.inner.response(status, r.build());
        self
    }

    /// A response with a JSON body of any shape (e.g. `null`).
    pub fn json_response(mut self, status: &str, description: &str) -> Self {
        let r = ResponseBuilder::new().description(description).content(
            "application/json",
            Content::new(Some(
                ObjectBuilder::new().schema_type(utoipa::openapi::schema::SchemaType::AnyValue),
            )),
        );
        self.inner = self.inner.response(status, r.build());
        self
    }

    /// 403 of a route for superusers (or verified users).
    pub fn forbidden(self) -> Self {
        self.response("403", "Not a superuser (or not verified).", None)
    }

    /// 429 of a rate-limited route (`{"detail": "TOO_MANY_REQUESTS"}` with `Retry-After`).
    pub fn rate_limited(self) -> Self {
        self.response(
            "429",
            "TOO_MANY_REQUESTS: too many attempts; see Retry-After.",
            None,
        )
    }

    /// The finished operation.
    pub fn build(self) -> Operation {
        self.inner.build()
    }
}

/// Either credential: the bearer token or the auth cookie.
pub fn secured() -> Vec<SecurityRequirement> {
    vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("cookie", Vec::<String>::new()),
    ]
}

/// How an operation is described: built by hand, or by its `#[utoipa::path]` when asked (so
/// that mounting, done once per worker, builds no description).
enum Description {
    Built(Box<Operation>),
    Attribute(fn() -> Operation),
}

/// One mounted operation: where, how described, and (until mounted) the actix route.
struct Endpoint {
    method: HttpMethod,
    path: String,
    operation: Description,
    route: Route,
    storage: bool,
}

/// An entry of a table: an operation, or a nested table mounted as an actix scope.
enum Entry {
    Endpoint(Endpoint),
    Scope(String, RouteTable),
}

/// The operations of one or more routers, in mounting order: mounted by [`RouteTable::mount`]
/// and described by [`RouteTable::describe`], from the same entries.
///
/// Build a table per worker (actix calls configuration closures once per worker), and one more
/// to describe it; building is cheap and has no side effects.
pub struct RouteTable {
    entries: Vec<Entry>,
    schemas: Vec<NamedSchema>,
    schema_sources: Vec<fn(&mut Vec<NamedSchema>)>,
    storage: bool,
}

impl Default for RouteTable {
    fn default() -> Self {
        Self::new()
    }
}

pub(crate) fn actix_method(method: &HttpMethod) -> actix_web::http::Method {
    use actix_web::http::Method;
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Trace => Method::TRACE,
    }
}

impl RouteTable {
    /// An empty table whose operations use storage (each is documented with a 503).
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            schemas: Vec::new(),
            schema_sources: Vec::new(),
            storage: true,
        }
    }

    /// An empty table whose operations never touch storage (no 503).
    pub fn without_storage() -> Self {
        Self {
            storage: false,
            ..Self::new()
        }
    }

    /// Adds `handler`, described by its `#[utoipa::path]` (pass the `__path_<handler>` value
    /// utoipa generates): mounted at the attribute's path (relative to where the table is
    /// mounted) for each of its methods. The schemas the attribute names join the document.
    pub fn at<P, F, Args>(mut self, _description: P, handler: F) -> Self
    where
        P: utoipa::Path + utoipa::__dev::SchemaReferences,
        F: Handler<Args>,
        Args: FromRequest + 'static,
        F::Output: Responder + 'static,
    {
        self.schema_sources.push(P::schemas);
        let path = P::path();
        for method in P::methods() {
            let route = web::route()
                .method(actix_method(&method))
                .to(handler.clone());
            self.entries.push(Entry::Endpoint(Endpoint {
                method,
                path: path.clone(),
                operation: Description::Attribute(P::operation),
                route,
                storage: self.storage,
            }));
        }
        self
    }

    /// Adds an operation described by hand: `route` (e.g. `web::post().to(handler)`) at
    /// `method path`. The route's method must be `method`.
    pub fn route(mut self, method: HttpMethod, path: &str, route: Route, op: Op) -> Self {
        self.entries.push(Entry::Endpoint(Endpoint {
            method,
            path: path.to_owned(),
            operation: Description::Built(Box::new(op.build())),
            route,
            storage: self.storage,
        }));
        self
    }

    /// Adds schemas that operations refer to by name.
    pub fn schemas(mut self, schemas: impl IntoIterator<Item = NamedSchema>) -> Self {
        self.schemas.extend(schemas);
        self
    }

    /// Adds `other` as an actix scope at `prefix` (described at `prefix` + its paths).
    pub fn nest(mut self, prefix: &str, other: RouteTable) -> Self {
        self.entries.push(Entry::Scope(prefix.to_owned(), other));
        self
    }

    /// Appends the entries of `other`, in order.
    pub fn merge(mut self, other: RouteTable) -> Self {
        self.entries.extend(other.entries);
        self.schemas.extend(other.schemas);
        self.schema_sources.extend(other.schema_sources);
        self
    }

    /// `(method, path)` of each operation, paths prefixed with `prefix`.
    pub fn operations(&self, prefix: &str) -> Vec<(HttpMethod, String)> {
        let mut out = Vec::new();
        for entry in &self.entries {
            match entry {
                Entry::Endpoint(e) => out.push((e.method.clone(), format!("{prefix}{}", e.path))),
                Entry::Scope(p, t) => out.extend(t.operations(&format!("{prefix}{p}"))),
            }
        }
        out
    }

    /// Mounts every operation, in order (nested tables as scopes). A known path asked with
    /// another method falls through to the app's default service: [`crate::Fallback`] made
    /// from [`Self::operations`] answers it 405 with `Allow`, as FastAPI does.
    pub fn mount(self, cfg: &mut web::ServiceConfig) {
        for entry in self.entries {
            match entry {
                Entry::Endpoint(e) => {
                    cfg.route(&e.path, e.route);
                }
                Entry::Scope(prefix, table) => {
                    cfg.service(web::scope(&prefix).configure(|c| table.mount(c)));
                }
            }
        }
    }

    /// Adds every operation to `doc` at `prefix` + its path, completed as the module docs say,
    /// and the schemas they refer to.
    pub fn describe(self, prefix: &str, doc: &mut OpenApi) {
        let components = doc.components.get_or_insert_with(Components::new);
        let mut schemas = self.schemas;
        for source in self.schema_sources {
            source(&mut schemas);
        }
        for (name, schema) in schemas {
            components.schemas.entry(name).or_insert(schema);
        }
        for entry in self.entries {
            match entry {
                Entry::Endpoint(e) => {
                    let path = format!("{prefix}{}", e.path);
                    let mut operation = match e.operation {
                        Description::Built(op) => *op,
                        Description::Attribute(build) => build(),
                    };
                    if e.storage {
                        add_unavailable(&mut operation);
                    }
                    complete(&mut operation, &path);
                    doc.paths
                        .add_path_operation(&path, vec![e.method], operation);
                }
                Entry::Scope(p, table) => table.describe(&format!("{prefix}{p}"), doc),
            }
        }
    }
}

fn add_unavailable(op: &mut Operation) {
    op.responses
        .responses
        .entry("503".into())
        .or_insert_with(|| {
            ResponseBuilder::new()
                .description("Storage (database, Redis) unreachable; retry after Retry-After.")
                .build()
                .into()
        });
}

/// The `{name}` segments of a path template.
pub fn path_parameters(path: &str) -> Vec<&str> {
    path.split('{')
        .skip(1)
        .filter_map(|s| s.split('}').next())
        .map(|s| s.split(':').next().unwrap_or(s))
        .collect()
}

/// What every operation shares (see the module docs).
fn complete(op: &mut Operation, path: &str) {
    let params = op.parameters.get_or_insert_with(Vec::new);
    for name in path_parameters(path) {
        let declared = params.iter().any(
            |p| matches!(p, RefOr::T(p) if p.name == name && p.parameter_in == ParameterIn::Path),
        );
        if !declared {
            params.push(RefOr::T(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .build(),
            ));
        }
    }
    let templated = !path_parameters(path).is_empty();
    let takes_input = !params.is_empty() || op.request_body.is_some();
    if params.is_empty() {
        op.parameters = None;
    }
    let responses = &mut op.responses.responses;
    if takes_input {
        responses.entry("422".into()).or_insert_with(|| {
            ResponseBuilder::new()
                .description("Invalid input (FastAPI's list of items, or a message).")
                .build()
                .into()
        });
    }
    if templated {
        // A value that makes the path match no route (or names nothing) is a 404.
        responses.entry("404".into()).or_insert_with(|| {
            ResponseBuilder::new()
                .description("Not Found: nothing at this path.")
                .build()
                .into()
        });
    }
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        responses.entry("401".into()).or_insert_with(|| {
            ResponseBuilder::new()
                .description("No credential, a bad or expired one, or an inactive user.")
                .build()
                .into()
        });
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        if response.description.is_empty() {
            response.description = match status.as_str() {
                "200" | "201" | "202" => "Done.",
                "204" => "Done; no body.",
                _ => "Refused; `detail` says why.",
            }
            .into();
        }
        if status.as_str() >= "400" && response.content.is_empty() {
            let schema = if status == "422" {
                "Unprocessable"
            } else {
                "ErrorModel"
            };
            response.content.insert(
                "application/json".into(),
                RefOr::T(Content::new(Some(Ref::from_schema_name(schema)))),
            );
        }
    }
}

/// Every `$ref` of `doc` that names no schema in `components` (empty for a sound document).
pub fn dangling_refs(doc: &serde_json::Value) -> Vec<String> {
    fn walk(v: &serde_json::Value, root: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(map) => {
                if let Some(serde_json::Value::String(r)) = map.get("$ref") {
                    let target = r
                        .strip_prefix("#/")
                        .and_then(|p| p.split('/').try_fold(root, |n, k| n.get(k)));
                    if target.is_none() {
                        out.push(r.clone());
                    }
                }
                map.values().for_each(|x| walk(x, root, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, root, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(doc, doc, &mut out);
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_the_braced_segments() {
        assert_eq!(
            path_parameters("/p/{project_id}/x/{id}/{_:.*}"),
            ["project_id", "id", "_"]
        );
        assert!(path_parameters("/health").is_empty());
    }

    #[test]
    fn a_custom_transport_is_one_more_way_into_secured_operations_only() {
        let ok = || web::get().to(|| async { actix_web::HttpResponse::Ok().finish() });
        let table = RouteTable::new()
            .route(
                HttpMethod::Get,
                "/me",
                ok(),
                Op::new("t", "me", "t").secured(),
            )
            .route(HttpMethod::Get, "/open", ok(), Op::new("t", "open", "t"));
        let mut doc = document("t", "1", "");
        table.describe("", &mut doc);
        let api_key = || SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Api-Key")));
        add_security_alternative(&mut doc, "apikey", api_key());
        add_security_alternative(&mut doc, "apikey", api_key()); // twice: listed once
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["paths"]["/me"]["get"]["security"],
            serde_json::json!([{"bearer": []}, {"cookie": []}, {"apikey": []}])
        );
        assert!(json["paths"]["/open"]["get"].get("security").is_none());
        assert_eq!(
            json["components"]["securitySchemes"]["apikey"],
            serde_json::json!({"type": "apiKey", "in": "header", "name": "X-Api-Key"})
        );
    }

    #[test]
    fn removing_a_scheme_drops_every_alternative_naming_it_and_refills_an_emptied_list() {
        let req = |names: &[&str]| {
            let mut r = serde_json::Map::new();
            for n in names {
                r.insert((*n).to_owned(), serde_json::json!([]));
            }
            serde_json::from_value::<SecurityRequirement>(serde_json::Value::Object(r)).unwrap()
        };
        let op = |security: Vec<SecurityRequirement>| {
            let mut op = Op::new("t", "t", "t").response("200", "ok", None).build();
            op.security = Some(security);
            op
        };
        let mut doc = document("t", "1", "");
        for (path, security) in [
            ("/both", vec![req(&["bearer"]), req(&["cookie"])]),
            (
                "/combined",
                vec![req(&["bearer", "apikey"]), req(&["cookie"])],
            ),
            ("/bearer-only", vec![req(&["bearer"])]),
        ] {
            doc.paths
                .add_path_operation(path, vec![HttpMethod::Get], op(security));
        }
        doc.security = Some(vec![req(&["bearer"])]);
        remove_security_schemes(&mut doc, &["bearer"], &[req(&["cookie"])]);
        let json = serde_json::to_value(&doc).unwrap();
        let cookie = serde_json::json!([{"cookie": []}]);
        for path in ["/both", "/combined", "/bearer-only"] {
            assert_eq!(json["paths"][path]["get"]["security"], cookie, "{path}");
        }
        assert_eq!(json["security"], cookie);
        // With nothing to put instead, an emptied list goes: no requirement names a lost scheme.
        let mut doc = document("t", "1", "");
        doc.paths
            .add_path_operation("/x", vec![HttpMethod::Get], op(vec![req(&["bearer"])]));
        remove_security_schemes(&mut doc, &["bearer"], &[]);
        let json = serde_json::to_value(&doc).unwrap();
        assert!(json["paths"]["/x"]["get"]["security"].is_null(), "{json}");
    }

    #[test]
    fn describe_declares_path_parameters_and_shared_statuses() {
        let table = RouteTable::new().route(
            HttpMethod::Get,
            "/{id}",
            web::get().to(|| async { actix_web::HttpResponse::Ok().finish() }),
            Op::new("t", "t", "t").secured().response("200", "ok", None),
        );
        let mut doc = document("t", "1", "");
        table.describe("/users", &mut doc);
        let json = serde_json::to_value(&doc).unwrap();
        let op = &json["paths"]["/users/{id}"]["get"];
        assert_eq!(op["parameters"][0]["name"], "id");
        assert_eq!(op["parameters"][0]["in"], "path");
        for s in ["200", "401", "404", "422", "503"] {
            assert!(op["responses"][s].is_object(), "{s}: {op}");
        }
        assert_eq!(
            op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorModel"
        );
        assert!(
            dangling_refs(&json).is_empty(),
            "{:?}",
            dangling_refs(&json)
        );
    }

    #[test]
    fn dangling_refs_are_found() {
        let doc = serde_json::json!({"a": {"$ref": "#/components/schemas/Nope"}, "components": {}});
        assert_eq!(dangling_refs(&doc), ["#/components/schemas/Nope"]);
    }
}
