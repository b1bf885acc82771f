//! Logging set-up: text (coloured only on a terminal) or JSON lines (`FRACTAL_LOG_FORMAT`),
//! written to stderr so that commands keep stdout for their output.
//!
//! Filters come from `RUST_LOG` when set; otherwise the server logs at INFO and the one-off
//! commands at WARN (their output is what they print, not the server's start-up log).

use std::future::Future;
use std::io::IsTerminal as _;
use std::sync::Arc;

use actix_web::HttpMessage as _;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use auth_actix::RequestUser;

use crate::metrics::Metrics;
use crate::settings::SettingsError;

/// How much a process logs when `RUST_LOG` is not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `serve`: INFO (one line per request among them).
    Server,
    /// Administration commands: warnings and errors only.
    Command,
}

/// `FRACTAL_LOG_FORMAT=text|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (default); ANSI colours only when stderr is a terminal.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl LogFormat {
    /// Parses the value of `FRACTAL_LOG_FORMAT` (`None`: unset).
    ///
    /// # Errors
    /// A [`SettingsError`] naming the variable for anything but `text` or `json`.
    pub fn parse(value: Option<&str>) -> Result<Self, SettingsError> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(SettingsError {
                variable: "FRACTAL_LOG_FORMAT".into(),
                message: format!("expected text or json, got {other:?}"),
            }),
        }
    }
}

/// Whether a span or event may be recorded at all: never SeaORM's drivers' `connect` span,
/// which records the whole `ConnectOptions`, the database URL with its password in clear
/// (at `RUST_LOG=trace`, or with a span filter such as `[connect]=trace`, every line logged
/// inside it repeated the password). A filter of its own, so that no `RUST_LOG` can enable it.
fn recordable(meta: &tracing::Metadata<'_>) -> bool {
    !(meta.is_span() && meta.name() == "connect" && meta.target().starts_with("sea_orm::driver"))
}

/// actix-http logs at ERROR every connection a client breaks: `stream error: …` (a malformed
/// request, which it answers 400 itself; a slow or cut-off one) and `write zero; closing` (a
/// client that stopped reading). Any anonymous client could fill the log with them, so they
/// are dropped, unless `RUST_LOG` names `actix_http` (e.g. `info,actix_http=debug`); actix-http's
/// other errors (a failed response stream, an upgrade handler's error) stay.
struct ClientConnectionErrors;

/// The start of an event's message, for [`ClientConnectionErrors`].
#[derive(Default)]
struct ClientCaused(bool);

impl tracing::field::Visit for ClientCaused {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let text = format!("{value:?}");
            self.0 = text.starts_with("stream error") || text.starts_with("write zero");
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClientConnectionErrors {
    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        if event.metadata().target() != "actix_http::h1::dispatcher" {
            return true;
        }
        let mut caused = ClientCaused::default();
        event.record(&mut caused);
        !caused.0
    }
}

/// Installs the global subscriber: `format`, and `filter` (`RUST_LOG`, tracing's `EnvFilter`
/// syntax; unset or unparsable, the default for `verbosity`), without actix-http's lines for
/// connections a client broke unless the filter names `actix_http` (`ClientConnectionErrors`).
/// A second call is a no-op.
pub fn init(verbosity: Verbosity, format: LogFormat, filter: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let default = match verbosity {
        Verbosity::Server => "info,sqlx=warn,sea_orm=warn",
        Verbosity::Command => "warn",
    };
    let chosen = filter.and_then(|f| {
        tracing_subscriber::EnvFilter::try_new(f)
            .ok()
            .map(|e| (f, e))
    });
    let quiet = (!chosen
        .as_ref()
        .is_some_and(|(f, _)| f.contains("actix_http")))
    .then_some(ClientConnectionErrors);
    let filter = chosen
        .map(|(_, e)| e)
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::filter::filter_fn(recordable))
        .with(quiet);
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => registry
            .with(layer.with_ansi(std::io::stderr().is_terminal()))
            .try_init(),
        LogFormat::Json => registry
            .with(
                layer
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
            )
            .try_init(),
    };
}

/// The route label of a request that matched no route (keeps the label set bounded: raw
/// paths never become labels or log fields).
pub const UNMATCHED: &str = "<unmatched>";

/// The method label of a request: the eight methods of RFC 9110 §9 and PATCH (RFC 5789) by
/// name, any other token `OTHER`. A client chooses the method freely (actix answers 405 to
/// one it does not route), so the raw token would make labels and log fields without bound.
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// Middleware (for `App::wrap_fn`): one log line per request (target
/// `fractal_server::request`, INFO) with method ([`method_label`]), matched route pattern,
/// status, latency, the authenticated user's id where known and, for an error, its code (the
/// name of its row in an error table, e.g. `LAST_ACTIVE_SUPERUSER`), and the request metrics. The
/// raw path, query, headers and bodies are never logged: they may hold tokens.
pub fn observe<S, B>(
    metrics: Option<Arc<Metrics>>,
    req: ServiceRequest,
    srv: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + use<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    let start = std::time::Instant::now();
    let call = srv.call(req);
    async move {
        let res = call.await?;
        let elapsed = start.elapsed();
        let request = res.request();
        let route = request.match_pattern();
        let route = route.as_deref().unwrap_or(UNMATCHED);
        let status = res.status();
        let method = method_label(request.method());
        if let Some(m) = &metrics {
            m.record_request(method, route, status, elapsed);
        }
        let status = status.as_u16();
        if tracing::enabled!(target: "fractal_server::request", tracing::Level::INFO) {
            let user = request
                .extensions()
                .get::<RequestUser>()
                .map(|u| u.0.clone());
            let error_code = res
                .response()
                .extensions()
                .get::<auth_actix::error::Code>()
                .map(|c| c.name);
            tracing::info!(
                target: "fractal_server::request",
                method,
                route,
                status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                user_id = user.as_deref(),
                error_code,
                "request"
            );
        }
        Ok(res)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(LogFormat::parse(None).unwrap(), LogFormat::Text);
        assert_eq!(LogFormat::parse(Some("JSON")).unwrap(), LogFormat::Json);
        assert_eq!(LogFormat::parse(Some("text")).unwrap(), LogFormat::Text);
        let e = LogFormat::parse(Some("xml")).unwrap_err();
        assert_eq!(e.variable, "FRACTAL_LOG_FORMAT");
    }

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        use actix_web::http::Method;
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        assert_eq!(method_label(&Method::GET), "GET");
        for odd in ["get", "PROPFIND", "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"] {
            let m = Method::from_bytes(odd.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "OTHER", "{odd}");
        }
    }
}
