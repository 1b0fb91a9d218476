//! `GET .../pods/{name}/log`: `container`, `follow`, `tailLines`,
//! `timestamps`, `sinceSeconds`/`sinceTime`, `limitBytes`, `previous`,
//! answered as `text/plain` (chunked). With `follow`, new lines are sent as
//! they are appended, plus a numbered heartbeat line
//! (`<pod>/<container> heartbeat N`) every log interval, until the client
//! goes away or the server shuts down.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::Stream;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;

use super::super::http_io;
use super::super::query::Query;
use super::super::status::ApiError;
use super::super::timestamps;
use super::Streaming;
use super::active::ActiveGuard;
use super::log_buffer::{LogBuffer, LogLine};
use super::pod_target;

/// `PodLogOptions`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// The container.
    pub container: String,
    /// `follow`.
    pub follow: bool,
    /// `timestamps`.
    pub timestamps: bool,
    /// `tailLines`.
    pub tail_lines: Option<usize>,
    /// `sinceSeconds` / `sinceTime`, as an instant.
    pub since: Option<SystemTime>,
    /// `limitBytes`.
    pub limit_bytes: Option<usize>,
}

fn invalid(pod: &str, field: &str, value: &str, detail: &str) -> ApiError {
    ApiError::new(
        422,
        "Invalid",
        format!("PodLogOptions \"{pod}\" is invalid: {field}: Invalid value: {value}: {detail}"),
    )
}

fn integer(query: &Query, key: &str) -> Result<Option<i64>, ApiError> {
    query
        .get(key)
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "couldn't parse {key}: strconv.ParseInt: parsing {v:?}: invalid syntax"
                ))
            })
        })
        .transpose()
}

/// Parses and validates the query against `pod`, like the apiserver and
/// kubelet would (container resolution, `previous`, waiting containers).
pub fn options(pod: &Value, query: &Query, now: SystemTime) -> Result<LogOptions, ApiError> {
    let name = pod["metadata"]["name"].as_str().unwrap_or("");
    let tail = integer(query, "tailLines")?;
    let since_seconds = integer(query, "sinceSeconds")?;
    let limit = integer(query, "limitBytes")?;
    if let Some(t) = tail.filter(|t| *t < 0) {
        return Err(invalid(
            name,
            "tailLines",
            &t.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    if let Some(s) = since_seconds.filter(|s| *s < 1) {
        return Err(invalid(
            name,
            "sinceSeconds",
            &s.to_string(),
            "must be greater than 0",
        ));
    }
    if let Some(l) = limit.filter(|l| *l < 1) {
        return Err(invalid(
            name,
            "limitBytes",
            &l.to_string(),
            "must be greater than 0",
        ));
    }
    let since_time = match query.get("sinceTime") {
        Some(t) => Some(timestamps::parse_rfc3339(t).ok_or_else(|| {
            ApiError::bad_request(format!("parsing time {t:?} as RFC 3339: cannot parse"))
        })?),
        None => None,
    };
    if since_seconds.is_some() && since_time.is_some() {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "PodLogOptions \"{name}\" is invalid: sinceSeconds: Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified"
            ),
        ));
    }
    let container = pod_target::resolve_container(pod, query.get("container"))?;
    if query.flag("previous") {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    if let Some(reason) = pod_target::waiting_reason(pod, &container) {
        return Err(ApiError::bad_request(format!(
            "container \"{container}\" in pod \"{name}\" is waiting to start: {reason}"
        )));
    }
    let since = since_time.or_else(|| {
        since_seconds.map(|s| now - Duration::from_secs(u64::try_from(s).unwrap_or(0)))
    });
    Ok(LogOptions {
        container,
        follow: query.flag("follow"),
        timestamps: query.flag("timestamps"),
        tail_lines: tail.map(|t| usize::try_from(t).unwrap_or(usize::MAX)),
        since,
        limit_bytes: limit.map(|l| usize::try_from(l).unwrap_or(usize::MAX)),
    })
}

/// `2024-05-01T12:00:00.123456789Z`: the kubelet's fixed-width
/// RFC 3339 with nanoseconds.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let whole = timestamps::format_rfc3339(t);
    let nanos = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{}.{nanos:09}Z", whole.trim_end_matches('Z'))
}

fn render(line: &LogLine, timestamps: bool) -> String {
    if timestamps {
        format!("{} {}\n", rfc3339_nano(line.time), line.text)
    } else {
        format!("{}\n", line.text)
    }
}

/// The lines a request sees first: `since` filter, then `tailLines`.
pub fn initial_lines(lines: Vec<LogLine>, opts: &LogOptions) -> Vec<LogLine> {
    let mut lines: Vec<LogLine> = match opts.since {
        Some(since) => lines.into_iter().filter(|l| l.time >= since).collect(),
        None => lines,
    };
    if let Some(n) = opts.tail_lines {
        let skip = lines.len().saturating_sub(n);
        lines.drain(..skip);
    }
    lines
}

/// Cuts `text` to the remaining `limitBytes` budget and spends it.
fn budget(mut text: Vec<u8>, remaining: &mut Option<usize>) -> Vec<u8> {
    if let Some(left) = remaining {
        text.truncate(*left);
        *left -= text.len();
    }
    text
}

struct Follow {
    buffer: Arc<LogBuffer>,
    changes: watch::Receiver<usize>,
    cursor: usize,
    timestamps: bool,
    heartbeat_prefix: String,
    heartbeats: u64,
    every: Duration,
    next_heartbeat: Instant,
    remaining: Option<usize>,
    shutdown: watch::Receiver<bool>,
    _guard: ActiveGuard,
}

impl Follow {
    async fn next_chunk(&mut self) -> Option<Vec<u8>> {
        if self.remaining == Some(0) {
            return None;
        }
        loop {
            tokio::select! {
                changed = self.changes.changed() => {
                    changed.ok()?;
                    let lines = self.buffer.lines_from(self.cursor);
                    self.cursor += lines.len();
                    if lines.is_empty() {
                        continue;
                    }
                    let text: String = lines.iter().map(|l| render(l, self.timestamps)).collect();
                    return Some(budget(text.into_bytes(), &mut self.remaining));
                }
                _ = tokio::time::sleep_until(self.next_heartbeat) => {
                    self.heartbeats += 1;
                    self.next_heartbeat = Instant::now() + self.every;
                    let line = LogLine {
                        time: SystemTime::now(),
                        text: format!("{} heartbeat {}", self.heartbeat_prefix, self.heartbeats),
                    };
                    return Some(budget(render(&line, self.timestamps).into_bytes(), &mut self.remaining));
                }
                _ = self.shutdown.wait_for(|stop| *stop) => return None,
            }
        }
    }
}

type ChunkStream = Pin<Box<dyn Stream<Item = Result<Frame<Bytes>, Infallible>> + Send>>;

/// The `log` response for `pod`.
pub fn respond(
    streaming: &Streaming,
    pod: &Value,
    query: &Query,
) -> Result<hyper::Response<http_io::Body>, ApiError> {
    let opts = options(pod, query, SystemTime::now())?;
    let buffer = streaming.log(pod, &opts.container);
    // Subscribe before reading, so no append falls in between.
    let changes = buffer.subscribe();
    let all = buffer.lines_from(0);
    let cursor = all.len();
    let mut remaining = opts.limit_bytes;
    let first: String = initial_lines(all, &opts)
        .iter()
        .map(|l| render(l, opts.timestamps))
        .collect();
    let first = budget(first.into_bytes(), &mut remaining);
    let head = futures::stream::iter(
        (!first.is_empty()).then(|| Ok::<_, Infallible>(Frame::data(Bytes::from(first)))),
    );
    let body: ChunkStream = if opts.follow && remaining != Some(0) {
        let every = streaming.log_interval().max(Duration::from_millis(10));
        let pod_name = pod["metadata"]["name"].as_str().unwrap_or("");
        let follow = Follow {
            buffer,
            changes,
            cursor,
            timestamps: opts.timestamps,
            heartbeat_prefix: format!("{pod_name}/{}", opts.container),
            heartbeats: 0,
            every,
            next_heartbeat: Instant::now() + every,
            remaining,
            shutdown: streaming.shutdown(),
            _guard: streaming.active().enter(),
        };
        let tail = futures::stream::unfold(follow, |mut f| async move {
            let chunk = f.next_chunk().await?;
            Some((Ok(Frame::data(Bytes::from(chunk))), f))
        });
        Box::pin(futures::StreamExt::chain(head, tail))
    } else {
        Box::pin(head)
    };
    Ok(hyper::Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(StreamBody::new(body).boxed_unsync())
        .expect("valid response"))
}

#[cfg(test)]
mod tests;
