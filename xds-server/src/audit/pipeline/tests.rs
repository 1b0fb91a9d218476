use std::sync::atomic::Ordering::Relaxed;

use kubeplex_test_support::wait_for_async;

use super::*;
use crate::audit::store::SqliteStore;
use crate::audit::time_text::format_unix_ms;

fn record(i: usize) -> AuditRecord {
    AuditRecord {
        request_id: format!("r{i}"),
        time: format_unix_ms(1_779_271_200_000 + i as i64),
        ..Default::default()
    }
}

fn settings(dir: &std::path::Path, queue: usize) -> PipelineSettings {
    PipelineSettings {
        queue,
        batch: 7,
        spill_dir: dir.join("spill"),
        max_retry_delay: Duration::from_millis(50),
        write_timeout: Duration::from_secs(10),
    }
}

fn sqlite(dir: &std::path::Path) -> Arc<Store> {
    Arc::new(Store::Sqlite(
        SqliteStore::open(&dir.join("audit.db")).unwrap(),
    ))
}

async fn stored(store: &Store) -> u64 {
    store.count().await.unwrap()
}

#[tokio::test]
async fn records_reach_the_store_in_batches() {
    let dir = tempfile::tempdir().unwrap();
    let slot = Arc::new(StoreSlot::default());
    let store = sqlite(dir.path());
    slot.set(Some(store.clone()));
    let pipeline = AuditPipeline::start(settings(dir.path(), 1000), slot).unwrap();
    for i in 0..50 {
        pipeline.submit(record(i));
    }
    pipeline.submit(record(3));
    let c = pipeline.counters.clone();
    wait_for_async("51 records handled", Duration::from_secs(10), || {
        c.stored.load(Relaxed) + c.duplicates.load(Relaxed) == 51
    })
    .await;
    assert_eq!(stored(&store).await, 50);
    assert_eq!(c.duplicates.load(Relaxed), 1);
    assert_eq!(c.spilled.load(Relaxed), 0);
    assert_eq!(c.backlog.load(Relaxed), 0);
}

#[tokio::test]
async fn without_a_store_records_spill_and_are_stored_once_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let slot = Arc::new(StoreSlot::default());
    let pipeline = AuditPipeline::start(settings(dir.path(), 5), slot.clone()).unwrap();
    for i in 0..100 {
        pipeline.submit(record(i));
    }
    let c = pipeline.counters.clone();
    assert!(
        c.spilled.load(Relaxed) >= 100 - 5 - 7,
        "the queue is bounded"
    );
    assert_eq!(c.backlog.load(Relaxed), 100);
    wait_for_async("a failed write", Duration::from_secs(10), || {
        c.store_errors.load(Relaxed) > 0
    })
    .await;
    let store = sqlite(dir.path());
    slot.set(Some(store.clone()));
    wait_for_async("the backlog stored", Duration::from_secs(20), || {
        c.backlog.load(Relaxed) == 0
    })
    .await;
    assert_eq!(stored(&store).await, 100);
    assert_eq!(c.stored.load(Relaxed), 100);
    assert_eq!(c.dropped.load(Relaxed), 0);
    let left = std::fs::read_dir(dir.path().join("spill")).unwrap().count();
    assert_eq!(left, 0, "the spill folder is empty again");
}

#[tokio::test]
async fn stopping_spills_what_is_queued_and_the_next_run_stores_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let slot = Arc::new(StoreSlot::default());
        let pipeline = AuditPipeline::start(settings(dir.path(), 1000), slot).unwrap();
        for i in 0..30 {
            pipeline.submit(record(i));
        }
        pipeline.stop(Duration::from_secs(10)).await;
        assert_eq!(pipeline.counters.spilled.load(Relaxed), 30);
    }
    let slot = Arc::new(StoreSlot::default());
    let store = sqlite(dir.path());
    slot.set(Some(store.clone()));
    let pipeline = AuditPipeline::start(settings(dir.path(), 1000), slot).unwrap();
    assert_eq!(pipeline.counters.backlog.load(Relaxed), 30);
    let c = pipeline.counters.clone();
    wait_for_async("the spill replayed", Duration::from_secs(10), || {
        c.backlog.load(Relaxed) == 0
    })
    .await;
    assert_eq!(stored(&store).await, 30);
}
