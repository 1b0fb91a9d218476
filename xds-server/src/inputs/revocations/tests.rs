use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/revocations")
        .join(name)
}

fn sample() -> Vec<Revocation> {
    vec![
        Revocation {
            jti: "3f1c9a0e6b7d4e21a9f0c2d4e6b8a0c1".into(),
            reason: Some("laptop stolen: \"quoted\" \\ and ünïcode".into()),
            expires_at: Some(1_796_083_200),
            revoked_at: Some(1_777_631_400),
        },
        Revocation {
            jti: "12345".into(),
            reason: None,
            expires_at: None,
            revoked_at: None,
        },
    ]
}

#[test]
fn loads_the_documented_shape() {
    let got = load(&fixture("good.yaml")).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].jti, "3f1c9a0e6b7d4e21a9f0c2d4e6b8a0c1");
    assert_eq!(got[0].reason.as_deref(), Some("laptop stolen"));
    // 2026-12-01T00:00:00Z and 2026-05-01T10:30:00Z.
    assert_eq!(got[0].expires_at, Some(1_796_083_200));
    assert_eq!(got[0].revoked_at, Some(1_777_631_400));
    assert_eq!(
        got[1],
        Revocation {
            jti: "12345".into(),
            reason: None,
            expires_at: None,
            revoked_at: None
        }
    );
}

#[test]
fn a_missing_file_is_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(load(&dir.path().join("revoked.yaml")).unwrap(), Vec::new());
}

#[test]
fn every_problem_is_reported() {
    let err = load(&fixture("bad.yaml")).unwrap_err();
    let got = err.lines_fields_reasons();
    assert_eq!(
        got,
        [
            "9: extra: unknown field `extra`; expected one of: revoked",
            "3: revoked[0].expiresAt: `next tuesday` is not an RFC 3339 timestamp (e.g. 2026-12-01T00:00:00Z)",
            "5: revoked[1].reson: unknown field `reson`; did you mean `reason`?",
            "6: revoked[2].jti: required field is missing",
            "7: revoked[3].jti: duplicate jti `a` (also revoked[0])",
            "8: revoked[4].jti: expected a string, found an integer",
        ]
    );
}

#[test]
fn store_round_trips_and_creates_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("revoked.yaml");
    store(&path, &sample()).unwrap();
    assert_eq!(load(&path).unwrap(), sample());
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    store(&path, &[]).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "revoked: []\n");
    assert_eq!(load(&path).unwrap(), Vec::new());
}

#[test]
fn store_keeps_an_existing_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("revoked.yaml");
    std::fs::write(&path, "revoked: []\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    store(&path, &sample()).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o640);
}

/// The file is replaced by rename, never rewritten in place: a reader that
/// opened the old file still sees the complete old content, the new file is
/// a different inode, and no temp file is left behind.
#[test]
fn store_replaces_by_rename_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("revoked.yaml");
    store(&path, &sample()[1..]).unwrap();
    let old_text = std::fs::read_to_string(&path).unwrap();
    let old_handle = std::fs::File::open(&path).unwrap();
    let old_inode = old_handle.metadata().unwrap().ino();

    store(&path, &sample()).unwrap();

    let new_inode = std::fs::metadata(&path).unwrap().ino();
    assert_ne!(old_inode, new_inode, "rename gives the path a new inode");
    let mut still_old = String::new();
    std::io::Read::read_to_string(&mut &old_handle, &mut still_old).unwrap();
    assert_eq!(
        still_old, old_text,
        "the old file was not truncated or rewritten"
    );
    assert_eq!(load(&path).unwrap(), sample());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["revoked.yaml"]);
}

#[test]
fn a_failed_store_leaves_the_old_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("revoked.yaml");
    store(&path, &sample()).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    // Renaming a file over a directory fails after the temp file is written.
    let blocker = dir.path().join("blocked");
    std::fs::create_dir(&blocker).unwrap();
    std::fs::write(blocker.join("x"), "keep the directory non-empty").unwrap();
    assert!(store(&blocker, &sample()).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["blocked", "revoked.yaml"],
        "the temp file was removed"
    );
}
