use super::*;
use std::process::Command;

#[test]
fn returns_the_value_once_the_check_is_done() {
    let mut calls = 0;
    let value = wait_for("the third call", Duration::from_secs(5), || {
        calls += 1;
        (calls == 3).then_some(calls * 10)
    });
    assert_eq!(value, 30);
    assert_eq!(calls, 3);
}

#[test]
fn times_out_after_the_bound_with_the_last_reason() {
    let started = Instant::now();
    let mut calls = 0;
    let err = poll(Duration::from_millis(200), || {
        calls += 1;
        Err::<(), _>(format!("attempt {calls}"))
    })
    .unwrap_err();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert!(calls >= 2, "checked {calls} times");
    assert_eq!(
        err.last.as_deref(),
        Some(format!("attempt {calls}").as_str())
    );
    assert_eq!(
        err.to_string(),
        format!("timed out after 200ms; last: attempt {calls}")
    );
}

#[test]
#[should_panic(expected = "waiting for the flag to be set: timed out after 100ms")]
fn a_failed_wait_names_what_never_happened() {
    wait_for("the flag to be set", Duration::from_millis(100), || false);
}

#[test]
fn the_check_runs_once_even_with_no_time() {
    assert_eq!(poll(Duration::ZERO, || Some(7)).unwrap(), 7);
}

#[test]
fn wait_exit_returns_the_status() {
    let mut child = Command::new("sh").args(["-c", "exit 3"]).spawn().unwrap();
    let status = wait_exit(&mut child, "sh", Duration::from_secs(10));
    assert_eq!(status.code(), Some(3));
}

#[test]
fn wait_exit_kills_a_child_that_outlives_the_bound() {
    let mut child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id();
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_exit(&mut child, "sleep 30", Duration::from_millis(100))
    }));
    let message = *panicked.unwrap_err().downcast::<String>().unwrap();
    assert!(
        message.starts_with("waiting for sleep 30 to exit: timed out"),
        "{message}"
    );
    // killed and reaped: its pid is gone
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

#[cfg(feature = "tokio")]
#[tokio::test]
async fn the_async_wait_lets_the_runtime_make_the_check_true() {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let setter = std::sync::Arc::clone(&flag);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        setter.store(true, std::sync::atomic::Ordering::SeqCst);
    });
    wait_for_async("the task to set the flag", Duration::from_secs(5), || {
        flag.load(std::sync::atomic::Ordering::SeqCst)
    })
    .await;
}

#[cfg(feature = "tokio")]
#[tokio::test]
#[should_panic(expected = "waiting for nothing: timed out after 100ms")]
async fn the_async_wait_is_bounded_too() {
    wait_for_async("nothing", Duration::from_millis(100), || None::<()>).await;
}
