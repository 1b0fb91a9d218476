//! Log options as the apiserver validates them, and line selection.

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::super::super::query::Query;
use super::super::log_buffer::LogLine;
use super::{LogOptions, initial_lines, options, rfc3339_nano};

fn pod() -> serde_json::Value {
    json!({
        "metadata": {"name": "web-0", "namespace": "default"},
        "spec": {"containers": [{"name": "app"}, {"name": "side"}], "initContainers": [{"name": "init"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "app", "state": {"running": {}}},
            {"name": "side", "state": {"waiting": {"reason": "ImagePullBackOff"}}},
        ]},
    })
}

fn opts(q: &str) -> Result<LogOptions, (u16, String)> {
    options(&pod(), &Query::parse(q), SystemTime::now()).map_err(|e| (e.code, e.message))
}

#[test]
fn options_are_validated_like_the_apiserver() {
    let o = opts("container=app&follow=true&tailLines=2&timestamps=1&limitBytes=10").unwrap();
    assert_eq!(
        (
            o.container.as_str(),
            o.follow,
            o.timestamps,
            o.tail_lines,
            o.limit_bytes
        ),
        ("app", true, true, Some(2), Some(10))
    );
    assert_eq!(
        opts(""),
        Err((
            400,
            "a container name must be specified for pod web-0, choose one of: [init app side]"
                .into()
        ))
    );
    assert_eq!(
        opts("container=nope"),
        Err((400, "container nope is not valid for pod web-0".into()))
    );
    assert_eq!(
        opts("container=app&previous=true"),
        Err((
            400,
            "previous terminated container \"app\" in pod \"web-0\" not found".into()
        ))
    );
    assert_eq!(
        opts("container=side"),
        Err((
            400,
            "container \"side\" in pod \"web-0\" is waiting to start: ImagePullBackOff".into()
        ))
    );
    assert_eq!(opts("container=app&tailLines=-1").unwrap_err().0, 422);
    assert_eq!(opts("container=app&limitBytes=0").unwrap_err().0, 422);
    assert_eq!(opts("container=app&tailLines=x").unwrap_err().0, 400);
    assert_eq!(
        opts("container=app&sinceSeconds=5&sinceTime=2024-01-01T00:00:00Z")
            .unwrap_err()
            .0,
        422
    );
    let o = opts("container=app&sinceTime=2024-01-01T00:00:00Z").unwrap();
    assert_eq!(
        o.since.unwrap(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200)
    );
}

#[test]
fn since_then_tail_select_lines() {
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let lines: Vec<LogLine> = (0..5)
        .map(|i| LogLine {
            time: t0 + Duration::from_secs(i),
            text: format!("l{i}"),
        })
        .collect();
    let mut o = opts("container=app").unwrap();
    o.since = Some(t0 + Duration::from_secs(2));
    o.tail_lines = Some(2);
    let texts: Vec<String> = initial_lines(lines.clone(), &o)
        .into_iter()
        .map(|l| l.text)
        .collect();
    assert_eq!(texts, ["l3", "l4"]);
    o.tail_lines = Some(0);
    assert!(initial_lines(lines, &o).is_empty());
}

#[test]
fn timestamps_have_nine_fraction_digits() {
    let t = SystemTime::UNIX_EPOCH + Duration::new(1_704_067_200, 5_000);
    assert_eq!(rfc3339_nano(t), "2024-01-01T00:00:00.000005000Z");
}
