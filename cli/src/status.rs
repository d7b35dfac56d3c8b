//! `shelf status`: for each stage, up or down, records per second, lag in
//! records (0 when drained) and its last warning or error, read from the
//! services' `/metrics` twice, `--interval` apart. The dashboard's header
//! reads the same metrics the same way (`dashboard/store.py`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Where the services' `/metrics` are: their own listen settings, with
/// the same variables, so one environment serves them, `shelf status` and
/// `shelf dashboard`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceAddrs {
    /// The gateway's address; its /metrics is on the same port.
    #[arg(long, env = "SHELF_INGEST_LISTEN", default_value = "127.0.0.1:8080")]
    pub gateway: String,
    /// The transform runtime's /metrics address.
    #[arg(
        long,
        env = "SHELF_TRANSFORM_METRICS_LISTEN",
        default_value = "127.0.0.1:9101"
    )]
    pub runtime_metrics: String,
    /// The sink's /metrics address.
    #[arg(
        long,
        env = "SHELF_SINK_METRICS_LISTEN",
        default_value = "127.0.0.1:9102"
    )]
    pub sink_metrics: String,
}

/// Flags of `shelf status`.
#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub services: ServiceAddrs,
    /// Seconds between the two reads the rates come from.
    #[arg(long, default_value_t = 1.0)]
    pub interval: f64,
    /// One JSON object per stage and line, instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// What a stage's metrics are called.
struct StageMetrics {
    name: &'static str,
    command: &'static str,
    records: &'static str,
    lag: Option<&'static str>,
}

const STAGES: [StageMetrics; 3] = [
    StageMetrics {
        name: "gateway",
        command: "shelf ingest serve",
        records: "shelf_ingest_records_accepted_total",
        lag: None,
    },
    StageMetrics {
        name: "runtime",
        command: "shelf transform run",
        records: "shelf_transform_records_in_total",
        lag: Some("shelf_transform_lag"),
    },
    StageMetrics {
        name: "sink",
        command: "shelf sink run",
        records: "shelf_sink_records_total",
        lag: Some("shelf_sink_lag"),
    },
];

/// One stage's status.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stage {
    pub stage: &'static str,
    pub up: bool,
    pub records: Option<u64>,
    pub records_per_second: Option<f64>,
    pub lag: Option<i64>,
    pub last_error: Option<LastError>,
    /// Why it counts as down.
    pub down_because: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LastError {
    pub level: String,
    pub message: String,
    /// Unix seconds.
    pub at: f64,
}

/// Reads every stage's metrics twice and works out its figures.
pub async fn read(args: &StatusArgs) -> Vec<Stage> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap_or_default();
    let s = &args.services;
    let addrs = [&s.gateway, &s.runtime_metrics, &s.sink_metrics].map(|a| metrics_url(a));
    let first = fetch_all(&http, &addrs).await;
    let wait = Duration::from_secs_f64(args.interval.clamp(0.1, 60.0));
    tokio::time::sleep(wait).await;
    let second = fetch_all(&http, &addrs).await;
    STAGES
        .iter()
        .zip(first.into_iter().zip(second))
        .map(|(metrics, (before, after))| stage(metrics, before.ok(), after, wait))
        .collect()
}

async fn fetch_all(http: &reqwest::Client, urls: &[String; 3]) -> Vec<Result<String, String>> {
    let [a, b, c] = urls;
    let (a, b, c) = tokio::join!(fetch(http, a), fetch(http, b), fetch(http, c));
    vec![a, b, c]
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = http.get(url).send().await.map_err(|e| {
        if e.is_connect() {
            "connection refused".to_owned()
        } else if e.is_timeout() {
            "no answer within 2 s".to_owned()
        } else {
            e.to_string()
        }
    })?;
    if !response.status().is_success() {
        return Err(format!("{url} answered {}", response.status()));
    }
    response.text().await.map_err(|e| e.to_string())
}

/// `http://host:port/metrics` for a listen address (`0.0.0.0` is asked on
/// the loopback).
fn metrics_url(addr: &str) -> String {
    let addr = addr.trim_start_matches("http://").trim_end_matches('/');
    let addr = addr.replacen("0.0.0.0:", "127.0.0.1:", 1);
    format!("http://{addr}/metrics")
}

fn stage(
    m: &StageMetrics,
    before: Option<String>,
    after: Result<String, String>,
    between: Duration,
) -> Stage {
    let page = match after {
        Ok(page) => page,
        Err(why) => {
            return Stage {
                stage: m.name,
                up: false,
                records: None,
                records_per_second: None,
                lag: None,
                last_error: None,
                down_because: Some(format!(
                    "{why}; is `{}` (or `shelf run`) running?",
                    m.command
                )),
            }
        }
    };
    // A counter appears with its first record: none yet is 0.
    let records = sum(&page, m.records).unwrap_or(0.0);
    let earlier = before.as_deref().map(|p| sum(p, m.records).unwrap_or(0.0));
    let records_per_second = earlier.map(|then| (records - then).max(0.0) / between.as_secs_f64());
    Stage {
        stage: m.name,
        up: true,
        records: Some(records as u64),
        records_per_second,
        lag: m.lag.map(|name| sum(&page, name).unwrap_or(0.0) as i64),
        last_error: last_error(&page),
        down_because: None,
    }
}

/// The sum of every sample of `metric` on a metrics page.
pub fn sum(page: &str, metric: &str) -> Option<f64> {
    let mut total = None;
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        if &line[..name_end] != metric {
            continue;
        }
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let Some(v) = value {
            *total.get_or_insert(0.0) += v;
        }
    }
    total
}

/// The `shelf_last_error_timestamp_seconds` sample, if any.
fn last_error(page: &str) -> Option<LastError> {
    let line = page
        .lines()
        .find(|l| l.starts_with("shelf_last_error_timestamp_seconds{"))?;
    let (labels, value) = line.rsplit_once("} ")?;
    let labels = &labels["shelf_last_error_timestamp_seconds{".len()..];
    Some(LastError {
        level: label(labels, "level")?,
        message: label(labels, "message")?,
        at: value.trim().parse().ok()?,
    })
}

/// The unescaped value of label `name` in `a="x",b="y"`.
fn label(labels: &str, name: &str) -> Option<String> {
    let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
    let mut value = String::new();
    let mut chars = labels[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(value),
            '\\' => match chars.next()? {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

/// The table `shelf status` prints.
pub fn table(stages: &[Stage]) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let mut out = format!(
        "{:<8} {:<5} {:>10} {:>10}  {}\n",
        "stage", "state", "records/s", "lag", "last warning or error"
    );
    for s in stages {
        let rate = s
            .records_per_second
            .map_or("-".into(), |r| thousands(r.round() as i64));
        let lag = s.lag.map_or("-".into(), thousands);
        let note = match (&s.down_because, &s.last_error) {
            (Some(why), _) => why.clone(),
            (None, Some(e)) => format!("{} {}: {}", ago(now - e.at), e.level, e.message),
            (None, None) => "-".into(),
        };
        let state = if s.up { "up" } else { "down" };
        out.push_str(&format!(
            "{:<8} {:<5} {:>10} {:>10}  {}\n",
            s.stage, state, rate, lag, note
        ));
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

fn ago(secs: f64) -> String {
    let secs = secs.max(0.0) as u64;
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "# HELP shelf_sink_lag Records behind\n\
        # TYPE shelf_sink_lag gauge\n\
        shelf_sink_lag{topic=\"product-clean\",partition=\"0\"} 3\n\
        shelf_sink_lag{topic=\"product-clean\",partition=\"1\"} 0\n\
        shelf_sink_records_total{topic=\"product-clean\",result=\"stored\"} 1200\n\
        shelf_sink_records_total{topic=\"product-dlq\",result=\"rejected\"} 34\n\
        shelf_last_error_timestamp_seconds{level=\"warn\",message=\"MongoDB \\\"down\\\"\"} 1700000000.5\n\
        # EOF\n";

    #[test]
    fn figures_from_a_metrics_page() {
        assert_eq!(sum(PAGE, "shelf_sink_lag"), Some(3.0));
        assert_eq!(sum(PAGE, "shelf_sink_records_total"), Some(1234.0));
        assert_eq!(sum(PAGE, "shelf_sink_records"), None);
        let e = last_error(PAGE).unwrap();
        assert_eq!(
            (e.level.as_str(), e.message.as_str()),
            ("warn", "MongoDB \"down\"")
        );
        assert_eq!(e.at, 1_700_000_000.5);
    }

    #[test]
    fn a_stage_from_two_reads() {
        let before = PAGE.replace("} 1200", "} 200");
        let s = stage(
            &STAGES[2],
            Some(before),
            Ok(PAGE.into()),
            Duration::from_secs(2),
        );
        assert_eq!(s.records_per_second, Some(500.0));
        assert_eq!((s.up, s.lag, s.records), (true, Some(3), Some(1234)));
        let down = stage(
            &STAGES[1],
            None,
            Err("connection refused".into()),
            Duration::from_secs(1),
        );
        assert!(!down.up);
        assert_eq!(
            down.down_because.as_deref(),
            Some("connection refused; is `shelf transform run` (or `shelf run`) running?")
        );
    }

    #[test]
    fn numbers_and_addresses() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-12), "-12");
        assert_eq!(metrics_url("0.0.0.0:8080"), "http://127.0.0.1:8080/metrics");
    }
}
