//! OpenAPI descriptions of the routers, so an app can serve a document that matches what it
//! mounted. Paths are added to a [`Paths`]; schemas live in [`components`].

use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{Components, ComponentsBuilder, Object, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Flow, OAuth2, Password, Scopes, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, Paths, Ref, Required, ResponseBuilder};

/// `{"detail": …}`: a code string, `{code, reason}`, or a message.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = ErrorModel)]
pub struct ErrorModel {
    /// A code such as `LOGIN_BAD_CREDENTIALS`, an object `{code, reason}`, or a message.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// FastAPI's 422 body.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = HTTPValidationError)]
pub struct HttpValidationError {
    /// The problems found.
    pub detail: Vec<ValidationErrorSchema>,
}

/// One problem of a 422.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = ValidationError)]
pub struct ValidationErrorSchema {
    /// Where (`["body", "email"]`).
    #[schema(value_type = Vec<Object>)]
    pub loc: Vec<serde_json::Value>,
    /// Message.
    pub msg: String,
    /// Machine type.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The Bearer login answer.
// No Debug: documentation only, and the fields are credentials.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = BearerResponse)]
pub struct BearerResponseSchema {
    /// The token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
}

/// The OAuth2 password form.
// No Debug: documentation only, and the fields are credentials.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = LoginForm)]
pub struct LoginFormSchema {
    /// The e-mail.
    pub username: String,
    /// The password.
    pub password: String,
    /// `password` if present.
    pub grant_type: Option<String>,
    /// Ignored.
    pub scope: Option<String>,
    /// Ignored.
    pub client_id: Option<String>,
    /// Ignored.
    pub client_secret: Option<String>,
}

/// `{"email": …}`.
#[derive(Debug, serde::Serialize, ToSchema)]
#[schema(as = EmailBody)]
pub struct EmailBodySchema {
    /// An e-mail address.
    #[schema(format = "email")]
    pub email: String,
}

/// `{"token": …, "password": …}`.
// No Debug: documentation only, and the fields are credentials.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = ResetPasswordBody)]
pub struct ResetBodySchema {
    /// The mailed token.
    pub token: String,
    /// The new password.
    pub password: String,
}

/// `{"token": …}`.
// No Debug: documentation only, and the fields are credentials.
#[derive(serde::Serialize, ToSchema)]
#[schema(as = VerifyBody)]
pub struct TokenBodySchema {
    /// The mailed token.
    pub token: String,
}

/// Names of the user schemas in `components` (each app defines its own).
#[derive(Debug, Clone, Copy)]
pub struct UserSchemaNames {
    /// `UserRead`.
    pub read: &'static str,
    /// `UserCreate`.
    pub create: &'static str,
    /// `UserUpdate`.
    pub update: &'static str,
}

/// The schemas and security schemes every router refers to.
pub fn components() -> ComponentsBuilder {
    ComponentsBuilder::new()
        .schema_from::<ErrorModel>()
        .schema_from::<HttpValidationError>()
        .schema_from::<ValidationErrorSchema>()
        .schema_from::<BearerResponseSchema>()
        .schema_from::<LoginFormSchema>()
        .schema_from::<EmailBodySchema>()
        .schema_from::<ResetBodySchema>()
        .schema_from::<TokenBodySchema>()
}

/// Adds the security schemes (`bearer` as OAuth2 password flow at `token_url`, `cookie`).
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

/// Builds one operation.
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

    /// Requires a credential (either backend).
    pub fn secured(mut self) -> Self {
        self.inner = self
            .inner
            .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
            .security(SecurityRequirement::new("cookie", Vec::<String>::new()));
        self
    }

    /// A JSON body of this schema.
    pub fn json_body(mut self, schema: &str) -> Self {
        self.inner = self.inner.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/json",
                    Content::new(Some(Ref::from_schema_name(schema))),
                )
                .required(Some(Required::True))
                .build(),
        ));
        self
    }

    /// A form body (OAuth2 password form).
    pub fn form_body(mut self, schema: &str) -> Self {
        self.inner = self.inner.request_body(Some(
            RequestBodyBuilder::new()
                .content(
                    "application/x-www-form-urlencoded",
                    Content::new(Some(Ref::from_schema_name(schema))),
                )
                .required(Some(Required::True))
                .build(),
        ));
        self
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
            .schema(Some(Object::with_type(ty)))
            .build();
        self.inner = self.inner.parameter(p);
        self
    }

    /// A response, with a JSON schema when `schema` is given.
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

    /// The usual 401 (and 403 when `forbidden`) of a guarded route.
    pub fn auth_errors(self, forbidden: bool) -> Self {
        let s = self.response(
            "401",
            "Missing token, bad token or inactive user.",
            Some("ErrorModel"),
        );
        if forbidden {
            s.response(
                "403",
                "Not a superuser (or not verified).",
                Some("ErrorModel"),
            )
        } else {
            s
        }
    }

    /// 422 with FastAPI's body.
    pub fn validation(self) -> Self {
        self.response("422", "Validation Error", Some("HTTPValidationError"))
    }

    /// The finished operation.
    pub fn build(self) -> Operation {
        self.inner.build()
    }
}

/// Adds `op` at `method path`.
pub fn add(paths: &mut Paths, method: HttpMethod, path: &str, op: Op) {
    paths.add_path_operation(path, vec![method], op.build());
}

/// `POST {prefix}/login` and `POST {prefix}/logout` of a Bearer (`cookie == false`) or cookie backend.
pub fn auth_paths(paths: &mut Paths, prefix: &str, backend: &str, cookie: bool) {
    let login = Op::new(
        "auth",
        &format!("auth:{backend}.login"),
        "Log in with e-mail and password",
    )
    .form_body("LoginForm")
    .response(
        "400",
        "LOGIN_BAD_CREDENTIALS or LOGIN_USER_NOT_VERIFIED",
        Some("ErrorModel"),
    )
    .validation();
    let login = if cookie {
        login.response(
            "204",
            "Logged in; the token is in the Set-Cookie header.",
            None,
        )
    } else {
        login.response("200", "Logged in.", Some("BearerResponse"))
    };
    add(paths, HttpMethod::Post, &format!("{prefix}/login"), login);
    let logout = Op::new(
        "auth",
        &format!("auth:{backend}.logout"),
        "Log out (revokes the token where the strategy can)",
    )
    .secured()
    .response(
        "204",
        if cookie {
            "Logged out; the cookie is cleared."
        } else {
            "Logged out."
        },
        None,
    )
    .auth_errors(false);
    add(paths, HttpMethod::Post, &format!("{prefix}/logout"), logout);
}

/// `POST {prefix}/register`.
pub fn register_paths(paths: &mut Paths, prefix: &str, names: UserSchemaNames, guarded: bool) {
    let mut op = Op::new(
        "auth",
        "register:register",
        "Register a user (privileged flags are ignored)",
    )
    .json_body(names.create)
    .response("201", "Created.", Some(names.read))
    .response(
        "400",
        "REGISTER_USER_ALREADY_EXISTS or {code: REGISTER_INVALID_PASSWORD, reason}",
        Some("ErrorModel"),
    )
    .validation();
    if guarded {
        op = op.secured().auth_errors(true);
    }
    add(paths, HttpMethod::Post, &format!("{prefix}/register"), op);
}

/// `POST {prefix}/forgot-password` and `POST {prefix}/reset-password`.
pub fn reset_password_paths(paths: &mut Paths, prefix: &str) {
    add(
        paths,
        HttpMethod::Post,
        &format!("{prefix}/forgot-password"),
        Op::new(
            "auth",
            "reset:forgot_password",
            "Mail a reset token (always 202)",
        )
        .json_body("EmailBody")
        .response("202", "Accepted, whether or not the account exists.", None)
        .validation(),
    );
    add(
        paths,
        HttpMethod::Post,
        &format!("{prefix}/reset-password"),
        Op::new(
            "auth",
            "reset:reset_password",
            "Set a new password with a mailed token",
        )
        .json_body("ResetPasswordBody")
        .response("200", "Password changed.", None)
        .response(
            "400",
            "RESET_PASSWORD_BAD_TOKEN or {code: RESET_PASSWORD_INVALID_PASSWORD, reason}",
            Some("ErrorModel"),
        )
        .validation(),
    );
}

/// `POST {prefix}/request-verify-token` and `POST {prefix}/verify`.
pub fn verify_paths(paths: &mut Paths, prefix: &str, names: UserSchemaNames) {
    add(
        paths,
        HttpMethod::Post,
        &format!("{prefix}/request-verify-token"),
        Op::new(
            "auth",
            "verify:request-token",
            "Mail a verification token (always 202)",
        )
        .json_body("EmailBody")
        .response("202", "Accepted, whether or not the account exists.", None)
        .validation(),
    );
    add(
        paths,
        HttpMethod::Post,
        &format!("{prefix}/verify"),
        Op::new(
            "auth",
            "verify:verify",
            "Verify an e-mail address with a mailed token",
        )
        .json_body("VerifyBody")
        .response("200", "Verified.", Some(names.read))
        .response(
            "400",
            "VERIFY_USER_BAD_TOKEN or VERIFY_USER_ALREADY_VERIFIED",
            Some("ErrorModel"),
        )
        .validation(),
    );
}

/// `GET|PATCH {prefix}/me` and `GET|PATCH|DELETE {prefix}/{id}`.
pub fn users_paths(paths: &mut Paths, prefix: &str, names: UserSchemaNames, me_superuser: bool) {
    let me = format!("{prefix}/me");
    add(
        paths,
        HttpMethod::Get,
        &me,
        Op::new("users", "users:current_user", "The current user")
            .secured()
            .response("200", "The user.", Some(names.read))
            .auth_errors(me_superuser),
    );
    add(
        paths,
        HttpMethod::Patch,
        &me,
        Op::new(
            "users",
            "users:patch_current_user",
            "Update the current user (flags ignored)",
        )
        .secured()
        .json_body(names.update)
        .response("200", "The updated user.", Some(names.read))
        .response(
            "400",
            "UPDATE_USER_EMAIL_ALREADY_EXISTS or {code: UPDATE_USER_INVALID_PASSWORD, reason}",
            Some("ErrorModel"),
        )
        .auth_errors(me_superuser)
        .validation(),
    );
    let by_id = format!("{prefix}/{{id}}");
    let id = |op: Op| {
        op.param("id", ParameterIn::Path, Type::String, true)
            .secured()
            .auth_errors(true)
    };
    add(
        paths,
        HttpMethod::Get,
        &by_id,
        id(Op::new("users", "users:user", "A user (superuser)"))
            .response("200", "The user.", Some(names.read))
            .response(
                "404",
                "No such user (or an unparsable id).",
                Some("ErrorModel"),
            ),
    );
    add(
        paths,
        HttpMethod::Patch,
        &by_id,
        id(Op::new(
            "users",
            "users:patch_user",
            "Update a user, flags included (superuser)",
        ))
        .json_body(names.update)
        .response("200", "The updated user.", Some(names.read))
        .response(
            "400",
            "UPDATE_USER_EMAIL_ALREADY_EXISTS or {code: UPDATE_USER_INVALID_PASSWORD, reason}",
            Some("ErrorModel"),
        )
        .response("404", "No such user.", Some("ErrorModel"))
        .validation(),
    );
    add(
        paths,
        HttpMethod::Delete,
        &by_id,
        id(Op::new(
            "users",
            "users:delete_user",
            "Delete a user (superuser)",
        ))
        .response("204", "Deleted.", None)
        .response("404", "No such user.", Some("ErrorModel")),
    );
}
