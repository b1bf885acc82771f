//! `GET /health` (liveness: the process answers) and `GET /health/ready` (readiness: the
//! database and, when configured, Redis answer).

use crate::user_table::SeaOrmStore;
use actix_web::{HttpResponse, web};
use auth_actix::ApiError;
use auth_actix::openapi::RouteTable;
use serde_json::json;

/// What `/health/ready` probes.
pub struct Readiness {
    /// The database.
    pub store: SeaOrmStore,
    /// Redis, when `REDIS_URL` is set.
    pub redis: Option<auth_redis::Redis>,
}

/// `/health` and `/health/ready`.
pub fn table() -> RouteTable {
    RouteTable::without_storage()
        .at(__path_health, health)
        .at(__path_ready, ready)
}

/// `{"status": "ok"}`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation only: the handlers answer with `json!`
struct Health {
    status: String,
    database: Option<String>,
    redis: Option<String>,
}

#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health, description = "Alive.")))]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 `{"status": "ok", "database": "ok", "redis": "ok" | "not configured"}`, or 503
/// `{"detail": {"database": …, "redis": …}}` with `Retry-After` when a store does not answer
/// (the log line names it and its error).
#[utoipa::path(get, path = "/health/ready", tag = "health", responses(
    (status = 200, body = Health, description = "The database (and Redis) answer."),
    (status = 503, description = "`{\"detail\": {\"database\": …, \"redis\": …}}`: a store does not answer.")))]
async fn ready(readiness: Option<web::Data<Readiness>>) -> Result<HttpResponse, ApiError> {
    let Some(r) = readiness else {
        return Ok(HttpResponse::Ok().json(json!({ "status": "ok" })));
    };
    let redis = async {
        match &r.redis {
            Some(redis) => Some(redis.ping().await),
            None => None,
        }
    };
    let (database, redis) = tokio::join!(r.store.ping(), redis);
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let redis_word = match &redis {
        Some(res) => word(res.is_ok()),
        None => "not configured",
    };
    let failures: Vec<String> = [Some(&database), redis.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|res| res.as_ref().err())
        .map(|e| {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            msg
        })
        .collect();
    if failures.is_empty() {
        return Ok(HttpResponse::Ok().json(json!({
            "status": "ok",
            "database": "ok",
            "redis": redis_word,
        })));
    }
    tracing::warn!(causes = %failures.join("; "), "not ready");
    Err(crate::error::NotReady {
        database: word(database.is_ok()),
        redis: redis_word,
    }
    .into())
}
