//! `GET /metrics` in the Prometheus text format, with the `prometheus` crate.
//!
//! One [`Metrics`] per application (its own registry, no global state), so that several apps
//! in one process (tests, embedders) keep separate figures. Requests are recorded by the
//! request middleware ([`crate::telemetry::observe`]); what other parts own (hashing pool,
//! read caches, database pool) is read from them when `/metrics` is scraped.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `fractal_http_request_duration_seconds` | histogram (`_count` = requests) | `method`, `route` (matched pattern), `status` |
//! | `fractal_logins_total` | counter | `outcome`: `success`, `refused` (bad credentials), `invalid` (422), `rate_limited`, `error` |
//! | `fractal_rate_limit_refusals_total` | counter | `route` |
//! | `fractal_password_hash_queue_depth` / `_running` / `_threads` | gauge | |
//! | `fractal_password_hash_jobs_total` | counter | |
//! | `fractal_password_hash_wait_seconds_total` / `_busy_seconds_total` | counter | |
//! | `fractal_db_pool_connections` | gauge | `state`: `in_use`, `idle` |
//! | `fractal_cache_hits_total` / `_misses_total` | counter | `cache` |
//! | `fractal_cache_entries` | gauge | `cache` |

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::user_table::SeaOrmStore;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use auth_core::PasswordHasher;
use prometheus::{
    Counter, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use secrecy::{ExposeSecret as _, SecretString};

/// Latency buckets in seconds: from a cached whoami (sub-millisecond) to a queued login.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The metrics of one application.
pub struct Metrics {
    registry: Registry,
    requests: HistogramVec,
    logins: IntCounterVec,
    rate_limited: IntCounterVec,
    hash_waiting: IntGauge,
    hash_running: IntGauge,
    hash_threads: IntGauge,
    hash_jobs: IntCounter,
    hash_wait: Counter,
    hash_busy: Counter,
    pool: IntGaugeVec,
    cache_hits: IntCounterVec,
    cache_misses: IntCounterVec,
    cache_entries: IntGaugeVec,
    sources: Sources,
    /// Serialises scrapes (counters copied from sources are advanced by difference).
    scrape: Mutex<()>,
    token: Option<SecretString>,
}

/// What `/metrics` reads at scrape time.
pub struct Sources {
    /// The password hasher (queue depth, time).
    pub hasher: PasswordHasher,
    /// The store (database pool, caches).
    pub store: SeaOrmStore,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("protected", &self.token.is_some())
            .finish_non_exhaustive()
    }
}

/// Registers a metric; the names are constants, so a failure is a programming error caught by
/// the unit test below.
fn registered<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> prometheus::Result<M> {
    let metric = metric?;
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

impl Metrics {
    /// A registry with every metric; `token` protects `/metrics` when set.
    ///
    /// # Errors
    /// A metric definition the `prometheus` crate refuses (names are fixed: never at run time).
    pub fn new(sources: Sources, token: Option<SecretString>) -> prometheus::Result<Self> {
        let r = Registry::new();
        let opts = |name: &str, help: &str| Opts::new(name, help);
        Ok(Self {
            requests: registered(
                &r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "fractal_http_request_duration_seconds",
                        "Time to answer HTTP requests, by method, matched route and status",
                    )
                    .buckets(BUCKETS.to_vec()),
                    &["method", "route", "status"],
                ),
            )?,
            logins: registered(
                &r,
                IntCounterVec::new(
                    opts(
                        "fractal_logins_total",
                        "Password and OAuth logins by outcome",
                    ),
                    &["outcome"],
                ),
            )?,
            rate_limited: registered(
                &r,
                IntCounterVec::new(
                    opts(
                        "fractal_rate_limit_refusals_total",
                        "Requests refused with 429 by the rate limiter, by route",
                    ),
                    &["route"],
                ),
            )?,
            hash_waiting: registered(
                &r,
                IntGauge::new(
                    "fractal_password_hash_queue_depth",
                    "Password hashing jobs waiting for a thread",
                ),
            )?,
            hash_running: registered(
                &r,
                IntGauge::new(
                    "fractal_password_hash_running",
                    "Password hashing jobs running",
                ),
            )?,
            hash_threads: registered(
                &r,
                IntGauge::new("fractal_password_hash_threads", "Password hashing threads"),
            )?,
            hash_jobs: registered(
                &r,
                IntCounter::new(
                    "fractal_password_hash_jobs_total",
                    "Password hashing jobs finished (hash, verify, timing equaliser)",
                ),
            )?,
            hash_wait: registered(
                &r,
                Counter::new(
                    "fractal_password_hash_wait_seconds_total",
                    "Time hashing jobs waited for a thread",
                ),
            )?,
            hash_busy: registered(
                &r,
                Counter::new(
                    "fractal_password_hash_busy_seconds_total",
                    "Time hashing jobs ran",
                ),
            )?,
            pool: registered(
                &r,
                IntGaugeVec::new(
                    opts(
                        "fractal_db_pool_connections",
                        "Database pool connections by state",
                    ),
                    &["state"],
                ),
            )?,
            cache_hits: registered(
                &r,
                IntCounterVec::new(
                    opts("fractal_cache_hits_total", "Read-cache lookups answered"),
                    &["cache"],
                ),
            )?,
            cache_misses: registered(
                &r,
                IntCounterVec::new(
                    opts(
                        "fractal_cache_misses_total",
                        "Read-cache lookups that went to the store",
                    ),
                    &["cache"],
                ),
            )?,
            cache_entries: registered(
                &r,
                IntGaugeVec::new(
                    opts("fractal_cache_entries", "Entries held by each read cache"),
                    &["cache"],
                ),
            )?,
            registry: r,
            sources,
            scrape: Mutex::new(()),
            token,
        })
    }

    /// Records one answered request (called by the request middleware).
    pub fn record_request(&self, method: &str, route: &str, status: StatusCode, elapsed: Duration) {
        self.requests
            .with_label_values(&[method, route, status.as_str()])
            .observe(elapsed.as_secs_f64());
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.rate_limited.with_label_values(&[route]).inc();
        }
        if is_login(method, route) {
            let outcome = match status.as_u16() {
                200..=399 => "success",
                400 | 401 | 403 => "refused",
                422 => "invalid",
                429 => "rate_limited",
                _ => "error",
            };
            self.logins.with_label_values(&[outcome]).inc();
        }
    }

    /// Copies the sources' figures into the registry and encodes everything.
    pub fn render(&self) -> String {
        let _one_at_a_time = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let h = self.sources.hasher.stats();
        let gauge = |g: &IntGauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.hash_waiting, h.waiting);
        gauge(&self.hash_running, h.running);
        gauge(&self.hash_threads, h.threads);
        advance(&self.hash_jobs, h.completed);
        advance_seconds(&self.hash_wait, h.wait_micros);
        advance_seconds(&self.hash_busy, h.busy_micros);
        let (in_use, idle) = pool_connections(self.sources.store.connection());
        gauge(&self.pool.with_label_values(&["in_use"]), in_use);
        gauge(&self.pool.with_label_values(&["idle"]), idle);
        for (name, c) in self.sources.store.cache_stats() {
            advance(&self.cache_hits.with_label_values(&[name]), c.hits);
            advance(&self.cache_misses.with_label_values(&[name]), c.misses);
            gauge(&self.cache_entries.with_label_values(&[name]), c.entries);
        }
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }

    /// Whether `req` may read the metrics: always without a token; with one, only with
    /// `Authorization: Bearer <token>` (compared in constant time).
    pub fn allows(&self, req: &HttpRequest) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let given = req
            .headers()
            .get(actix_web::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        constant_time_eq(given.as_bytes(), token.expose_secret().as_bytes())
    }
}

/// `POST /auth/login`, `/auth/token/login` and `GET /auth/{provider}/callback`.
fn is_login(method: &str, route: &str) -> bool {
    (method == "POST" && route.ends_with("/login"))
        || (method == "GET" && route.starts_with("/auth/") && route.ends_with("/callback"))
}

fn advance(counter: &IntCounter, total: u64) {
    counter.inc_by(total.saturating_sub(counter.get()));
}

fn advance_seconds(counter: &Counter, total_micros: u64) {
    let total = total_micros as f64 / 1e6;
    let delta = total - counter.get();
    if delta > 0.0 {
        counter.inc_by(delta);
    }
}

/// Connections of the pool behind `db`: (in use, idle).
fn pool_connections(db: &sea_orm::DatabaseConnection) -> (u64, u64) {
    use sea_orm::DbBackend;
    let (size, idle) = match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), p.num_idle())
        }
        DbBackend::MySql => {
            let p = db.get_mysql_connection_pool();
            (p.size(), p.num_idle())
        }
        DbBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), p.num_idle())
        }
        _ => (0, 0),
    };
    let idle = idle as u64;
    (u64::from(size).saturating_sub(idle), idle)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `GET /metrics`: 404 when off (not mounted), 401 without the token when protected.
#[utoipa::path(get, path = "/metrics", tag = "health", responses(
    (status = 200, content_type = "text/plain", body = String, description = "Prometheus text exposition format."),
    (status = 401, description = "FRACTAL_METRICS_TOKEN is set and was not sent as a Bearer token.")))]
async fn scrape(req: HttpRequest, m: web::Data<Arc<Metrics>>) -> HttpResponse {
    if !m.allows(&req) {
        let mut res = actix_web::ResponseError::error_response(&auth_actix::ApiError::auth(
            auth_core::AuthError::Unauthorized,
        ));
        res.headers_mut().insert(
            actix_web::http::header::WWW_AUTHENTICATE,
            actix_web::http::header::HeaderValue::from_static("Bearer"),
        );
        return res;
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(m.render())
}

/// Mounts `GET /metrics` with its state.
pub fn configure(metrics: Arc<Metrics>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(metrics));
        table().mount(cfg);
    }
}

/// `GET /metrics`.
pub fn table() -> auth_actix::openapi::RouteTable {
    auth_actix::openapi::RouteTable::without_storage().at(__path_scrape, scrape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_are_recognised_by_route() {
        assert!(is_login("POST", "/auth/token/login"));
        assert!(is_login("POST", "/auth/login"));
        assert!(is_login("GET", "/auth/github/callback"));
        assert!(!is_login("GET", "/auth/whoami"));
        assert!(!is_login("POST", "/auth/logout"));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
