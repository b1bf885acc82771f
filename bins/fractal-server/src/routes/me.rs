//! Jupyverse's `GET /api/me?permissions={...}` and a WebSocket event stream guarded by
//! `websocket_auth`.

use crate::user_table::{FractalUser, SeaOrmStore};
use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use auth_actix::openapi::RouteTable;
use auth_actix::routes::UserSchema;
use auth_actix::{
    ApiError, PermissionSpec, Permitted, auth_state_of, current_user, websocket_auth,
    websocket_still_allowed,
};
use auth_core::{Permissions, WebSocketGrant};
use serde::{Deserialize, Serialize};

type Store = SeaOrmStore;

/// `/api/me` and `/api/events`.
pub fn table() -> RouteTable {
    RouteTable::new()
        .at(__path_api_me, api_me)
        .at(__path_events, events)
}

/// `{"admin": ["read"]}`: what Jupyverse's `GET /auth/user/me` requires.
pub struct AdminRead;

impl PermissionSpec for AdminRead {
    fn required() -> Permissions {
        let mut p = Permissions::new();
        p.insert("admin", &["read"])
            .expect("static, non-empty names");
        p
    }
}

/// `GET /auth/user/me` (Jupyverse): the current user, for holders of `admin:read` only.
#[utoipa::path(get, path = "/user/me", tag = "users", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = crate::schemas::UserRead), (status = 403, description = "Lacks admin:read.")))]
pub async fn user_me(
    req: HttpRequest,
    me: Permitted<Store, AdminRead>,
) -> Result<HttpResponse, ApiError> {
    let state = auth_state_of::<Store>(&req)?;
    Ok(HttpResponse::Ok().json(crate::schemas::FractalSchema::read(&state, &me.auth.user).await?))
}

/// Jupyverse's identity model, filled from the local user.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Identity {
    /// Fractal username, else the e-mail.
    pub username: String,
    /// Same as `username`.
    pub name: String,
    /// Same as `username`.
    pub display_name: String,
    /// First letter, upper-cased.
    pub initials: Option<String>,
    /// Not stored.
    pub avatar_url: Option<String>,
    /// Not stored.
    pub color: Option<String>,
}

impl From<&FractalUser> for Identity {
    fn from(u: &FractalUser) -> Self {
        let username = u
            .profile
            .username
            .clone()
            .unwrap_or_else(|| u.email.to_string());
        let initials = username.chars().next().map(|c| c.to_uppercase().collect());
        Self {
            name: username.clone(),
            display_name: username.clone(),
            username,
            initials,
            avatar_url: None,
            color: None,
        }
    }
}

/// `GET /api/me`: who the caller is and which of the asked permissions they hold.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ApiMe {
    /// Jupyverse's identity.
    pub identity: Identity,
    /// The granted subset of `?permissions=`.
    #[schema(value_type = std::collections::BTreeMap<String, Vec<String>>)]
    pub permissions: Permissions,
}

/// `?permissions={"resource": ["action"]}` (single quotes tolerated).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PermissionsQuery {
    /// JSON object of string arrays, e.g. `{"contents": ["read"]}`.
    pub permissions: Option<String>,
}

fn requested(query: &PermissionsQuery) -> Result<Option<Permissions>, ApiError> {
    query
        .permissions
        .as_deref()
        .map(|text| {
            Permissions::parse_json(text).map_err(|e| {
                ApiError::invalid(&["query", "permissions"], e.to_string(), "value_error")
            })
        })
        .transpose()
}

#[utoipa::path(get, path = "/api/me", tag = "users", params(PermissionsQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, body = ApiMe)))]
async fn api_me(
    req: HttpRequest,
    query: auth_actix::QueryParams<PermissionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let asked = requested(&query.into_inner()?)?.unwrap_or_default();
    let (auth, grant) = current_user::<Store>(&req, &Permissions::new()).await?;
    Ok(HttpResponse::Ok().json(ApiMe {
        identity: Identity::from(&auth.user),
        permissions: grant.granted(&asked),
    }))
}

/// How often an open event stream checks its session when the client sends nothing.
const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// How long an event stream stays open without hearing anything (pings are sent meanwhile).
const HEARTBEAT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The event stream: refused before the upgrade (403) unless the user holds any requested
/// action; greets with the granted subset (`null`: unrestricted); echoes text messages while
/// the user may still be here, and closes with 1008 as soon as they may not: checked on every
/// text message, and every [`RECHECK_EVERY`] otherwise (silence, pings, binary frames).
#[utoipa::path(get, path = "/api/events", tag = "users", params(PermissionsQuery), security(("bearer" = []), ("cookie" = [])),
    responses((status = 101, description = "Switched to the WebSocket event stream."),
        (status = 400, description = "Not a WebSocket upgrade."),
        (status = 403, description = "Holds none of the asked permissions.")))]
async fn events(
    req: HttpRequest,
    body: web::Payload,
    query: auth_actix::QueryParams<PermissionsQuery>,
) -> Result<HttpResponse, ApiError> {
    let asked = requested(&query.into_inner()?)?;
    let (auth, grant) = websocket_auth::<Store>(&req, asked.as_ref()).await?;
    let state = auth_state_of::<Store>(&req)?;
    let (response, mut session, mut stream) = actix_ws::handle(&req, body).map_err(|e| {
        ApiError::from(crate::error::AccountError::NotAWebSocketUpgrade(
            e.to_string(),
        ))
    })?;
    let granted = match &grant {
        WebSocketGrant::Unrestricted => serde_json::Value::Null,
        WebSocketGrant::Granted(p) => serde_json::to_value(p).unwrap_or_default(),
    };
    actix_web::rt::spawn(async move {
        // Every send is bounded: a client that stops reading must not hold the loop (and with
        // it the session checks) at a full send buffer. Any failure or timeout ends the socket.
        macro_rules! send {
            ($sent:expr) => {
                if !matches!(tokio::time::timeout(RECHECK_EVERY, $sent).await, Ok(Ok(_))) {
                    return;
                }
            };
        }
        let hello = serde_json::json!({"type": "welcome", "user": auth.user.email.as_str(), "permissions": granted});
        send!(session.text(hello.to_string()));
        // The session is checked on every text message, and at most every RECHECK_EVERY for
        // anything else (pings, binary frames, or silence); an idle socket is pinged then, and
        // one that answers nothing for HEARTBEAT_TIMEOUT is closed.
        let mut tick =
            tokio::time::interval_at(tokio::time::Instant::now() + RECHECK_EVERY, RECHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_heard = std::time::Instant::now();
        let mut last_checked = std::time::Instant::now();
        loop {
            let msg = tokio::select! {
                received = stream.recv() => match received {
                    Some(Ok(msg)) => Some(msg),
                    _ => return,
                },
                _ = tick.tick() => None,
            };
            if msg.is_some() {
                last_heard = std::time::Instant::now();
            } else if last_heard.elapsed() >= HEARTBEAT_TIMEOUT {
                let reason = CloseReason {
                    code: CloseCode::Away,
                    description: Some("no answer to pings".into()),
                };
                send!(session.close(Some(reason)));
                return;
            }
            let due =
                matches!(msg, Some(Message::Text(_))) || last_checked.elapsed() >= RECHECK_EVERY;
            if due {
                last_checked = std::time::Instant::now();
                let refusal = match websocket_still_allowed(&state, &auth, asked.as_ref()).await {
                    Ok(true) => None,
                    Ok(false) => Some((CloseCode::Policy, "session ended or permission revoked")),
                    // Storage trouble is not a logout: 1013, the client may reconnect.
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot check a WebSocket's session");
                        Some((
                            CloseCode::Again,
                            "cannot check the session now; try again later",
                        ))
                    }
                };
                if let Some((code, why)) = refusal {
                    let reason = CloseReason {
                        code,
                        description: Some(why.into()),
                    };
                    send!(session.close(Some(reason)));
                    return;
                }
            }
            match msg {
                None if last_heard.elapsed() >= RECHECK_EVERY => send!(session.ping(b"")),
                None => {}
                Some(Message::Text(text)) => {
                    let echo = serde_json::json!({"type": "echo", "data": text.to_string()});
                    send!(session.text(echo.to_string()));
                }
                Some(Message::Ping(bytes)) => send!(session.pong(&bytes)),
                Some(Message::Close(reason)) => {
                    send!(session.close(reason));
                    return;
                }
                Some(_) => {}
            }
        }
    });
    Ok(response)
}
