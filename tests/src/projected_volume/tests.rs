use super::*;

fn link(path: &Path) -> String {
    std::fs::read_link(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn the_layout_is_the_kubelets_and_an_update_swaps_data_and_removes_the_old_dir() {
    let root = tempfile::tempdir().unwrap();
    let volume = ProjectedVolume::new(&root.path().join("config")).unwrap();
    let first = volume
        .write(&[("gateway.yaml", "v1"), ("policy.yaml", "p1")])
        .unwrap();
    let first_dir = first.new_dir.clone().unwrap();
    let name = first_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with("..20") && name.len() > "..2026_12_04_10_00_00.".len(),
        "{name}"
    );
    assert_eq!(link(&volume.path("..data")), name);
    assert_eq!(link(&volume.path("gateway.yaml")), "..data/gateway.yaml");
    assert_eq!(
        std::fs::read_to_string(volume.path("policy.yaml")).unwrap(),
        "p1"
    );
    assert_eq!(first.removed_dir, None);

    let unchanged = volume
        .write(&[("gateway.yaml", "v1"), ("policy.yaml", "p1")])
        .unwrap();
    assert_eq!(unchanged.new_dir, None, "nothing to do");

    let second = volume.write(&[("gateway.yaml", "v2")]).unwrap();
    assert_eq!(second.removed_dir, Some(first_dir.clone()));
    assert!(!first_dir.exists(), "the old timestamped directory is gone");
    assert_eq!(
        std::fs::read_to_string(volume.path("gateway.yaml")).unwrap(),
        "v2"
    );
    assert!(
        std::fs::symlink_metadata(volume.path("policy.yaml")).is_err(),
        "a dropped key's symlink is removed"
    );
    assert!(std::fs::symlink_metadata(volume.path("..data_tmp")).is_err());
    assert_eq!(
        volume.timestamped_dirs().unwrap(),
        vec![second.new_dir.unwrap()]
    );
}

#[test]
fn the_timestamp_is_utc_in_gos_layout() {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_796_378_405);
    assert_eq!(k8s_stamp(t), "2026_12_04_10_00_05");
    assert_eq!(k8s_stamp(std::time::UNIX_EPOCH), "1970_01_01_00_00_00");
}
