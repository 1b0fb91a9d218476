//! The tar reader/writer, including interoperability with GNU tar both
//! ways (archives GNU tar writes by default use its own long-name format).

use super::{Entry, EntryKind, TarError, read, write};

fn file(name: &str, data: &[u8]) -> Entry {
    Entry {
        name: name.into(),
        kind: EntryKind::File(data.to_vec()),
        mode: 0o644,
        mtime: 1_700_000_000,
    }
}

fn long_name(depth: usize) -> String {
    let mut parts: Vec<String> = (0..depth).map(|i| format!("directory-{i:02}")).collect();
    parts.push("file.txt".into());
    parts.join("/")
}

#[test]
fn round_trip_of_files_dirs_links_and_long_names() {
    let entries = vec![
        Entry {
            name: "tmp/d/".into(),
            kind: EntryKind::Dir,
            mode: 0o755,
            mtime: 1_700_000_000,
        },
        file("tmp/d/a.txt", b"hello\n"),
        file("tmp/d/empty", b""),
        file("tmp/d/big", &vec![7u8; 5000]),
        Entry {
            name: "tmp/d/link".into(),
            kind: EntryKind::Symlink("a.txt".into()),
            mode: 0o777,
            mtime: 1_700_000_000,
        },
        // 120 bytes: fits the ustar prefix/name split.
        file(&long_name(10), b"x"),
        // 300 bytes: needs a PAX path record.
        file(&long_name(25), b"y"),
    ];
    assert!(long_name(10).len() > 100 && long_name(10).len() < 255);
    assert!(long_name(25).len() > 255);
    let archive = write(&entries);
    assert_eq!(archive.len() % 10240, 0, "padded to whole records");
    assert_eq!(read(&archive).unwrap(), entries);
}

#[test]
fn corrupt_archives_are_refused() {
    let mut archive = write(&[file("a", b"data")]);
    archive[0] ^= 0x20;
    assert_eq!(read(&archive), Err(TarError::BadChecksum));
    let archive = write(&[file("a", &[1u8; 2000])]);
    assert_eq!(read(&archive[..1024]), Err(TarError::Truncated));
    assert_eq!(read(b"not a tar archive"), Err(TarError::Truncated));
    assert_eq!(read(&[]), Ok(vec![]));
}

#[test]
fn base256_sizes_are_read() {
    let mut archive = write(&[file("a", b"abc")]);
    // Rewrite the size field as base-256 and fix the checksum.
    let h = &mut archive[..512];
    h[124..136].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let back = read(&archive).unwrap();
    assert_eq!(back[0].kind, EntryKind::File(b"abc".to_vec()));
}

fn gnu_tar(args: &[&str], dir: &std::path::Path, stdin: Option<&[u8]>) -> Vec<u8> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("tar")
        .args(args)
        .current_dir(dir)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("GNU tar is installed");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn gnu_tar_reads_what_we_write() {
    let dir = tempfile::tempdir().unwrap();
    let deep = long_name(25);
    let archive = write(&[
        Entry {
            name: "d/".into(),
            kind: EntryKind::Dir,
            mode: 0o755,
            mtime: 1_700_000_000,
        },
        file("d/a.txt", b"from rust\n"),
        file(&deep, b"deep"),
    ]);
    gnu_tar(&["-xf", "-"], dir.path(), Some(&archive));
    assert_eq!(
        std::fs::read(dir.path().join("d/a.txt")).unwrap(),
        b"from rust\n"
    );
    assert_eq!(std::fs::read(dir.path().join(&deep)).unwrap(), b"deep");
}

#[test]
fn we_read_what_gnu_tar_writes() {
    let dir = tempfile::tempdir().unwrap();
    let deep = long_name(25);
    std::fs::create_dir_all(dir.path().join(&deep).parent().unwrap()).unwrap();
    std::fs::write(dir.path().join(&deep), b"gnu deep").unwrap();
    std::fs::write(dir.path().join("top.txt"), b"gnu top").unwrap();
    // GNU format (././@LongLink) and POSIX (PAX) format.
    for format in ["gnu", "posix"] {
        let archive = gnu_tar(
            &["-cf", "-", &format!("--format={format}"), "top.txt", &deep],
            dir.path(),
            None,
        );
        let entries = read(&archive).unwrap();
        let find = |n: &str| {
            entries
                .iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("{n} missing in {format}: {entries:?}"))
        };
        assert_eq!(find("top.txt").kind, EntryKind::File(b"gnu top".to_vec()));
        assert_eq!(find(&deep).kind, EntryKind::File(b"gnu deep".to_vec()));
    }
}
