//! The HTTP side: routes, the request pipeline and graceful shutdown.
//!
//! A request goes through: auth → content type → body (size limit, gzip) →
//! envelope check of every record → rate limit → room in the in-flight bound
//! → produce and wait for every acknowledgement. Only then is it answered
//! 200; any failure before answers with nothing claimed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde_json::json;
use shelf_config::Platform;
use shelf_contract::wire::http_headers::{FILE as FILE_HEADER, LINES as LINES_HEADER};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::auth::{RateLimiter, Tokens};
use crate::body::{self, BodyError};
use crate::config::{ConfigError, ServeArgs};
use crate::input_rows::{self, InputRowError};
use crate::metrics::{Metrics, RequestLabels};
use crate::producer::{ProduceError, ProducerSettings, RecordProducer};
use crate::records::{self, BadRecord, EnvelopeError, Kind};
use shelf_kafka::{ensure_topics, KafkaClients, SettingsError, TopicError, TopicSpec};

/// Why the gateway could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        error: std::io::Error,
    },
    #[error("Kafka: {0}")]
    Kafka(#[from] ProduceError),
    #[error(transparent)]
    Topics(#[from] TopicError),
    #[error("Kafka settings: {0}")]
    KafkaSettings(#[from] SettingsError),
    #[error("server failed")]
    Serve(#[source] std::io::Error),
}

struct App {
    products_topic: String,
    categories_topic: String,
    tokens: Tokens,
    limiter: RateLimiter,
    in_flight: Semaphore,
    max_in_flight: usize,
    queue_wait: Duration,
    max_body_bytes: usize,
    max_record_bytes: usize,
    producer: RecordProducer,
    metrics: Metrics,
}

/// A running gateway.
pub struct Gateway {
    addr: SocketAddr,
    app: Arc<App>,
    stop: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    shutdown_timeout: Duration,
}

impl Gateway {
    /// Creates the topics, connects the producer, binds and starts serving.
    pub async fn start(platform: &Platform, args: ServeArgs) -> Result<Self, GatewayError> {
        args.validate()?;
        let tokens = args.load_tokens()?;
        // Asked for (--no-auth, as the demo does on the loopback): said once.
        // Only configured that way by omission: a warning.
        if args.no_auth {
            tracing::info!("--no-auth: accepting every client");
        } else if tokens.is_open() {
            tracing::warn!(
                "no bearer tokens configured: accepting every client (--no-auth says it is meant)"
            );
        }
        let topics = &platform.topics;
        let specs = [&topics.ingest_product, &topics.ingest_category].map(|name| TopicSpec {
            replication: args.replication,
            ..TopicSpec::new(name, args.partitions)
        });
        let kafka = KafkaClients::new(&platform.kafka)?;
        ensure_topics(&kafka, &specs, Duration::from_secs(30)).await?;
        let producer = RecordProducer::new(ProducerSettings {
            kafka,
            delivery_timeout: args.delivery_timeout(),
            max_record_bytes: args.max_record_bytes,
            // Above the in-flight bound, so the local queue never overflows.
            queue_records: args.max_in_flight_records + 1000,
        })?;
        let app = Arc::new(App {
            products_topic: topics.ingest_product.clone(),
            categories_topic: topics.ingest_category.clone(),
            tokens,
            limiter: RateLimiter::new(args.rate_limit),
            in_flight: Semaphore::new(args.max_in_flight_records),
            max_in_flight: args.max_in_flight_records,
            queue_wait: args.queue_wait(),
            max_body_bytes: args.max_body_bytes,
            max_record_bytes: args.max_record_bytes,
            producer,
            metrics: Metrics::default(),
        });
        shelf_service::progress::spawn("gateway", &app, |app| app.metrics.progress());
        let listener =
            TcpListener::bind(args.listen)
                .await
                .map_err(|error| GatewayError::Bind {
                    addr: args.listen,
                    error,
                })?;
        let addr = listener.local_addr().map_err(|error| GatewayError::Bind {
            addr: args.listen,
            error,
        })?;
        let (stop, stopped) = oneshot::channel::<()>();
        let router = router(app.clone());
        let server = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
        });
        tracing::info!(%addr, kafka = %platform.kafka.bootstrap, "ingest gateway listening");
        Ok(Self {
            addr,
            app,
            stop,
            server,
            shutdown_timeout: args.shutdown_timeout(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections, lets in-flight requests finish (each
    /// waits for its acknowledgements), then flushes the producer.
    pub async fn shutdown(self) -> Result<(), GatewayError> {
        tracing::info!("shutting down: draining in-flight requests");
        let _ = self.stop.send(());
        match tokio::time::timeout(self.shutdown_timeout, self.server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => return Err(GatewayError::Serve(e)),
            Ok(Err(join)) => return Err(GatewayError::Serve(std::io::Error::other(join))),
            Err(_) => {
                tracing::warn!("in-flight requests did not finish within the shutdown timeout")
            }
        }
        self.app.producer.flush(self.shutdown_timeout)?;
        tracing::info!("ingest gateway stopped");
        Ok(())
    }
}

/// `shelf ingest serve`: runs until SIGTERM or Ctrl-C, then shuts down
/// gracefully.
pub async fn serve(platform: &Platform, args: ServeArgs) -> Result<(), GatewayError> {
    let gateway = Gateway::start(platform, args).await?;
    shelf_service::shutdown_signal().await;
    gateway.shutdown().await
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route(Kind::Product.path(), post(post_products))
        .route(Kind::Category.path(), post(post_categories))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // Limits are ours (413 with a clear body), not axum's default 2 MB.
        .layer(DefaultBodyLimit::disable())
        .with_state(app)
}

async fn post_products(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    app.handle(Kind::Product, peer, headers, body).await
}

async fn post_categories(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    app.handle(Kind::Category, peer, headers, body).await
}

async fn readyz(State(app): State<Arc<App>>) -> Response {
    match app
        .producer
        .ping(&app.products_topic, Duration::from_secs(2))
        .await
    {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")).into_response(),
    }
}

async fn metrics(State(app): State<Arc<App>>) -> Response {
    (
        [(header::CONTENT_TYPE, shelf_service::METRICS_CONTENT_TYPE)],
        shelf_service::last_error::append_to(app.metrics.render()),
    )
        .into_response()
}

/// Why a request was refused; each maps to one status.
#[derive(Debug, thiserror::Error)]
enum Refusal {
    #[error("missing or invalid bearer token")]
    Unauthorized,
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("cannot read the request body: {0}")]
    ReadBody(String),
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    #[error("rate limit exceeded; retry in {0:?}")]
    RateLimited(Duration),
    #[error("the gateway is at its in-flight limit; retry shortly")]
    Busy,
    #[error(transparent)]
    Origin(#[from] InputRowError),
    #[error(transparent)]
    Produce(#[from] ProduceError),
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
            Refusal::Body(BodyError::UnsupportedType(_) | BodyError::UnsupportedEncoding(_)) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            Refusal::Body(BodyError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Body(BodyError::BadGzip(_)) | Refusal::ReadBody(_) => StatusCode::BAD_REQUEST,
            Refusal::Envelope(EnvelopeError::RecordTooLarge { .. }) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            Refusal::Envelope(_) | Refusal::Origin(_) => StatusCode::BAD_REQUEST,
            Refusal::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Produce(ProduceError::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Produce(ProduceError::Unavailable(_)) => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Produce(ProduceError::Config(_)) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": self.to_string(), "status": status.as_u16() });
        if let Refusal::Envelope(EnvelopeError::Records { bad, count }) = &self {
            body["invalid"] = json!(count);
            body["errors"] = json!(bad as &Vec<BadRecord>);
        }
        if let Refusal::Envelope(EnvelopeError::RecordTooLarge { at, .. }) = &self {
            body["at"] = json!(at);
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            Refusal::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Refusal::RateLimited(wait) => {
                headers.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(wait.as_secs_f64().ceil().max(1.0) as u64),
                );
            }
            Refusal::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Refusal::Produce(ProduceError::Unavailable(_)) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
            }
            _ => {}
        }
        response
    }
}

/// Keeps the in-flight request gauge true on every exit path.
struct InFlightRequest<'a>(&'a Metrics);

impl Drop for InFlightRequest<'_> {
    fn drop(&mut self) {
        self.0.in_flight_requests.dec();
    }
}

impl App {
    async fn handle(
        &self,
        kind: Kind,
        peer: SocketAddr,
        headers: HeaderMap,
        body: Body,
    ) -> Response {
        self.metrics.in_flight_requests.inc();
        let _guard = InFlightRequest(&self.metrics);
        let route = kind.name();
        let (status, response) = match self.ingest(kind, peer, &headers, body).await {
            Ok(accepted) => (
                StatusCode::OK,
                Json(json!({ "accepted": accepted })).into_response(),
            ),
            Err(refusal) => {
                let status = refusal.status();
                // A client's bad request is routine (and counted in the
                // metrics); the gateway failing to take a good one is not.
                if status.is_server_error() {
                    tracing::warn!(route, status = status.as_u16(), peer = %peer, reason = %refusal, "request refused");
                } else {
                    tracing::info!(route, status = status.as_u16(), peer = %peer, reason = %refusal, "request refused");
                }
                (status, refusal.into_response())
            }
        };
        self.metrics
            .requests
            .get_or_create(&RequestLabels {
                route,
                status: status.as_u16(),
            })
            .inc();
        response
    }

    async fn ingest(
        &self,
        kind: Kind,
        peer: SocketAddr,
        headers: &HeaderMap,
        body: Body,
    ) -> Result<usize, Refusal> {
        let header_str = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        let client = self
            .tokens
            .authenticate(header_str(header::AUTHORIZATION), peer.ip())
            .ok_or(Refusal::Unauthorized)?;
        let format = body::format_of(header_str(header::CONTENT_TYPE))?;

        let raw = self
            .read_body(body, header_str(header::CONTENT_LENGTH))
            .await?;
        self.metrics.bytes_received.inc_by(raw.len() as u64);
        let decoded = body::decode(
            header_str(header::CONTENT_ENCODING),
            raw,
            self.max_body_bytes,
        )?;
        let records = records::split(kind, format, &decoded, self.max_record_bytes)?;
        if records.is_empty() {
            return Ok(0);
        }
        let input_rows = input_rows::of_records(
            header_str(header::HeaderName::from_static(FILE_HEADER)),
            header_str(header::HeaderName::from_static(LINES_HEADER)),
            records.len(),
        )?;

        self.limiter
            .take(&client, records.len(), Instant::now())
            .map_err(Refusal::RateLimited)?;

        let topic = match kind {
            Kind::Product => &self.products_topic,
            Kind::Category => &self.categories_topic,
        };
        self.produce(topic, &records, input_rows.as_deref()).await?;
        Ok(records.len())
    }

    /// The body, refused past `--max-body-bytes` (from its declared
    /// length before reading it, when given).
    async fn read_body(&self, body: Body, declared: Option<&str>) -> Result<bytes::Bytes, Refusal> {
        let too_large = || BodyError::TooLarge {
            limit: self.max_body_bytes,
        };
        if declared
            .and_then(|v| v.parse::<usize>().ok())
            .is_some_and(|len| len > self.max_body_bytes)
        {
            return Err(too_large().into());
        }
        Ok(Limited::new(body, self.max_body_bytes)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<LengthLimitError>().is_some() {
                    Refusal::Body(too_large())
                } else {
                    Refusal::ReadBody(e.to_string())
                }
            })?
            .to_bytes())
    }

    /// Produces the records once there is room in the in-flight bound (or
    /// 503 soon: never blocks for ever) and the broker acknowledged each.
    async fn produce(
        &self,
        topic: &str,
        records: &[records::Keyed<'_>],
        input_rows: Option<&[shelf_contract::wire::InputRow]>,
    ) -> Result<(), Refusal> {
        let wanted = records.len().min(self.max_in_flight) as u32;
        let _permit = tokio::time::timeout(self.queue_wait, self.in_flight.acquire_many(wanted))
            .await
            .map_err(|_| Refusal::Busy)?
            .map_err(|_| Refusal::Busy)?;
        self.metrics.in_flight_records.inc_by(wanted as i64);
        let started = Instant::now();
        let sent = self.producer.send_all(topic, records, input_rows).await;
        self.metrics.in_flight_records.dec_by(wanted as i64);
        self.metrics
            .produce_latency
            .observe(started.elapsed().as_secs_f64());
        sent?;
        self.metrics.accepted(topic, records.len() as u64);
        Ok(())
    }
}
