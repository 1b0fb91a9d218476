use super::*;

fn record(id: &str) -> AuditRecord {
    AuditRecord {
        request_id: id.to_string(),
        time: "2026-05-20T10:11:12.345Z".to_string(),
        ..Default::default()
    }
}

fn ids(chunk: &[AuditRecord]) -> Vec<&str> {
    chunk.iter().map(|r| r.request_id.as_str()).collect()
}

#[test]
fn appended_records_come_back_in_chunks_then_the_file_goes() {
    let dir = tempfile::tempdir().unwrap();
    let (spill, left) = Spill::open(dir.path()).unwrap();
    assert_eq!(left, 0);
    assert!(!spill.has_pending());
    spill
        .append(&[record("a"), record("b"), record("c")])
        .unwrap();
    assert!(spill.has_pending());
    assert_eq!(ids(&spill.next_chunk(2).unwrap().unwrap()), ["a", "b"]);
    // spilled while replaying: goes to a new pending file, replayed after
    spill.append(&[record("d")]).unwrap();
    assert_eq!(ids(&spill.next_chunk(2).unwrap().unwrap()), ["c"]);
    assert_eq!(ids(&spill.next_chunk(2).unwrap().unwrap()), ["d"]);
    assert!(spill.next_chunk(2).unwrap().is_none());
    assert!(!spill.has_pending());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_replay_cut_short_starts_over_in_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spill, _) = Spill::open(dir.path()).unwrap();
        spill.append(&[record("a"), record("b")]).unwrap();
        assert_eq!(ids(&spill.next_chunk(1).unwrap().unwrap()), ["a"]);
        spill.append(&[record("c")]).unwrap();
    }
    let (spill, left) = Spill::open(dir.path()).unwrap();
    assert_eq!(left, 3, "a, b (replaying) and c (pending)");
    let mut seen = Vec::new();
    while let Some(chunk) = spill.next_chunk(10).unwrap() {
        seen.extend(ids(&chunk).into_iter().map(String::from));
    }
    assert_eq!(seen, ["a", "b", "c"]);
}

#[test]
fn a_torn_last_line_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let line = record("a").to_line();
    std::fs::write(
        dir.path().join(PENDING),
        format!("{line}\n{}", &line[..line.len() / 2]),
    )
    .unwrap();
    let (spill, left) = Spill::open(dir.path()).unwrap();
    assert_eq!(left, 2);
    assert_eq!(ids(&spill.next_chunk(10).unwrap().unwrap()), ["a"]);
    assert!(spill.next_chunk(10).unwrap().is_none());
}
