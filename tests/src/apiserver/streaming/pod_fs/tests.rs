//! The in-memory container filesystem.

use super::{FsError, Node, PodFs, normalize, parent};

#[test]
fn paths_are_normalised() {
    assert_eq!(normalize("/a/./b/../c/"), "/a/c");
    assert_eq!(normalize("a//b"), "/a/b");
    assert_eq!(normalize("/.."), "/");
    assert_eq!(parent("/a/b"), "/a");
    assert_eq!(parent("/a"), "/");
}

#[test]
fn image_has_hostname_and_tmp() {
    let fs = PodFs::new("web-0", "10.244.0.10");
    assert_eq!(fs.read("/etc/hostname").unwrap(), b"web-0\n");
    assert!(fs.stat("/tmp").is_some_and(Node::is_dir));
    let hosts = String::from_utf8(fs.read("/etc/hosts").unwrap().to_vec()).unwrap();
    assert!(hosts.contains("10.244.0.10\tweb-0"), "{hosts}");
}

#[test]
fn files_dirs_and_errors() {
    let mut fs = PodFs::new("p", "10.0.0.1");
    assert_eq!(fs.write("/nope/x", vec![], 0o644), Err(FsError::NotFound));
    assert_eq!(fs.write("/tmp", vec![], 0o644), Err(FsError::IsADirectory));
    fs.write("/tmp/f", b"1".to_vec(), 0o600).unwrap();
    assert_eq!(
        fs.write("/tmp/f/g", vec![], 0o644),
        Err(FsError::NotADirectory)
    );
    fs.append("/tmp/f", b"2").unwrap();
    assert_eq!(fs.read("/tmp/f").unwrap(), b"12");
    assert_eq!(fs.mkdir("/a/b/c", false), Err(FsError::NotFound));
    fs.mkdir("/a/b/c", true).unwrap();
    fs.mkdir("/a/b/c", true).unwrap();
    assert_eq!(fs.mkdir("/a/b/c", false), Err(FsError::Exists));
    fs.write("/a/b/c/file", b"x".to_vec(), 0o644).unwrap();
    assert_eq!(fs.children("/a/b").unwrap(), vec!["c".to_string()]);
    assert_eq!(fs.remove("/a", false), Err(FsError::NotEmpty));
    let walked: Vec<String> = fs.walk("/a").unwrap().into_iter().map(|(p, _)| p).collect();
    assert_eq!(walked, ["/a", "/a/b", "/a/b/c", "/a/b/c/file"]);
    fs.remove("/a", true).unwrap();
    assert!(fs.stat("/a/b/c/file").is_none());
    assert!(fs.stat("/a").is_none());
    // Siblings sharing a prefix are untouched.
    fs.mkdir("/tmp/ab", false).unwrap();
    fs.mkdir("/tmp/a", false).unwrap();
    fs.remove("/tmp/a", true).unwrap();
    assert!(fs.stat("/tmp/ab").is_some());
}
