//! `tar` as `kubectl cp` runs it: `tar cf - PATH` (from the pod) and
//! `tar -xmf - -C DIR` / `tar --no-same-permissions --no-same-owner -xmf -
//! -C DIR` (to the pod), plus `t` to list. GNU tar's messages.

use std::time::UNIX_EPOCH;

use super::super::pod_fs::{self, Node};
use super::super::tar::{self, Entry, EntryKind};
use super::{CmdIo, Shell};

#[derive(Debug, Default)]
struct Options {
    mode: Option<char>,
    file: Option<String>,
    directory: Option<String>,
    verbose: bool,
    gzip: bool,
    no_same_permissions: bool,
    members: Vec<String>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter().peekable();
    let mut first = true;
    // Letters that take the next argument, in bundle order.
    let mut wants_value: Vec<char> = Vec::new();
    while let Some(arg) = it.next() {
        let bundle = if first && !arg.starts_with('-') {
            // Old style: `tar cf - PATH`.
            Some(arg.as_str())
        } else if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some(("directory", d)) => o.directory = Some(d.to_string()),
                Some(("file", f)) => o.file = Some(f.to_string()),
                _ => match long {
                    "create" => o.mode = Some('c'),
                    "extract" | "get" => o.mode = Some('x'),
                    "list" => o.mode = Some('t'),
                    "verbose" => o.verbose = true,
                    "gzip" => o.gzip = true,
                    "no-same-permissions" => o.no_same_permissions = true,
                    "directory" => o.directory = it.next().cloned(),
                    "file" => o.file = it.next().cloned(),
                    // no-same-owner, touch, preserve-permissions...: no-ops here.
                    _ => {}
                },
            }
            None
        } else if let Some(short) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            Some(short)
        } else {
            o.members.push(arg.clone());
            None
        };
        first = false;
        let Some(bundle) = bundle else { continue };
        for (i, c) in bundle.char_indices() {
            match c {
                'c' | 'x' | 't' => o.mode = Some(c),
                'v' => o.verbose = true,
                'z' => o.gzip = true,
                'm' | 'o' | 'p' => {}
                'f' | 'C' => {
                    // `-C DIR`, `-CDIR`, `-fFILE`: the rest of the bundle or
                    // the next argument.
                    let rest = &bundle[i + 1..];
                    if arg.starts_with('-') && !rest.is_empty() {
                        let v = rest.to_string();
                        if c == 'f' {
                            o.file = Some(v);
                        } else {
                            o.directory = Some(v);
                        }
                        break;
                    }
                    wants_value.push(c);
                }
                other => return Err(format!("invalid option -- '{other}'")),
            }
        }
        for c in wants_value.drain(..) {
            let v = it
                .next()
                .cloned()
                .ok_or_else(|| format!("option requires an argument -- '{c}'"))?;
            if c == 'f' {
                o.file = Some(v);
            } else {
                o.directory = Some(v);
            }
        }
    }
    Ok(o)
}

/// Runs `tar ARGS`.
pub async fn run(shell: &mut Shell<'_>, args: &[String], io: &mut CmdIo<'_>) -> i32 {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            io.err(&format!(
                "tar: {e}\nTry 'tar --help' or 'tar --usage' for more information.\n"
            ));
            return 2;
        }
    };
    if o.gzip {
        io.err("tar: gzip: Cannot exec: No such file or directory\ntar: Error is not recoverable: exiting now\n");
        return 2;
    }
    match o.mode {
        Some('c') => create(shell, &o, io),
        Some('x') | Some('t') => extract(shell, &o, io).await,
        _ => {
            io.err("tar: You must specify one of the '-Acdtrux', '--delete' or '--test-label' options\nTry 'tar --help' or 'tar --usage' for more information.\n");
            2
        }
    }
}

fn mtime(node: &Node) -> u64 {
    let t = match node {
        Node::Dir { mtime, .. } | Node::File { mtime, .. } | Node::Symlink { mtime, .. } => *mtime,
    };
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn create(shell: &mut Shell<'_>, o: &Options, io: &mut CmdIo<'_>) -> i32 {
    let dir_base = o
        .directory
        .as_deref()
        .map(|d| shell.path(d))
        .unwrap_or_else(|| shell.cwd.clone());
    if o.members.is_empty() {
        io.err("tar: Cowardly refusing to create an empty archive\nTry 'tar --help' or 'tar --usage' for more information.\n");
        return 2;
    }
    let mut entries = Vec::new();
    let mut failed = false;
    let mut warned = false;
    let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
    for member in &o.members {
        let full = if member.starts_with('/') {
            pod_fs::normalize(member)
        } else {
            pod_fs::normalize(&format!("{dir_base}/{member}"))
        };
        let walked = match fs.walk(&full) {
            Ok(w) => w,
            Err(e) => {
                io.err(&format!("tar: {member}: Cannot stat: {e}\n"));
                failed = true;
                continue;
            }
        };
        // Member names are the operand as given, minus leading '/'.
        let stripped = member.trim_start_matches('/');
        if stripped.len() != member.len() && !warned {
            io.err("tar: Removing leading `/' from member names\n");
            warned = true;
        }
        let base = stripped.trim_end_matches('/');
        for (path, node) in walked {
            let rel = &path[full.len()..];
            let mut name = if base.is_empty() {
                rel.trim_start_matches('/').to_string()
            } else {
                format!("{base}{rel}")
            };
            if name.is_empty() {
                continue;
            }
            let kind = match &node {
                Node::Dir { .. } => {
                    name.push('/');
                    EntryKind::Dir
                }
                Node::File { data, .. } => EntryKind::File(data.clone()),
                Node::Symlink { target, .. } => EntryKind::Symlink(target.clone()),
            };
            let mode = match &node {
                Node::Dir { mode, .. } | Node::File { mode, .. } => *mode,
                Node::Symlink { .. } => 0o777,
            };
            if o.verbose {
                io.err(&format!("{name}\n"));
            }
            entries.push(Entry {
                name,
                kind,
                mode,
                mtime: mtime(&node),
            });
        }
    }
    drop(fs);
    let archive = tar::write(&entries);
    match o.file.as_deref() {
        None | Some("-") => io.stdout.write(&archive),
        Some(f) => {
            let path = shell.path(f);
            let mut fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = fs.write(&path, archive, 0o644) {
                io.err(&format!("tar: {f}: Cannot open: {e}\n"));
                return 2;
            }
        }
    }
    if failed {
        io.err("tar: Exiting with failure status due to previous errors\n");
        return 2;
    }
    0
}

async fn extract(shell: &mut Shell<'_>, o: &Options, io: &mut CmdIo<'_>) -> i32 {
    let listing = o.mode == Some('t');
    let dir = o
        .directory
        .as_deref()
        .map(|d| shell.path(d))
        .unwrap_or_else(|| shell.cwd.clone());
    if !listing {
        let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
        if !fs.stat(&dir).is_some_and(Node::is_dir) {
            drop(fs);
            let shown = o.directory.clone().unwrap_or_else(|| dir.clone());
            io.err(&format!(
                "tar: {shown}: Cannot open: No such file or directory\ntar: Error is not recoverable: exiting now\n"
            ));
            return 2;
        }
    }
    let archive = match o.file.as_deref() {
        None | Some("-") => io.stdin.read_all().await,
        Some(f) => {
            let fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
            match fs.read(&shell.path(f)) {
                Ok(d) => d.to_vec(),
                Err(e) => {
                    drop(fs);
                    io.err(&format!(
                        "tar: {f}: Cannot open: {e}\ntar: Error is not recoverable: exiting now\n"
                    ));
                    return 2;
                }
            }
        }
    };
    if archive.is_empty() {
        io.err("tar: This does not look like a tar archive\ntar: Exiting with failure status due to previous errors\n");
        return 2;
    }
    let entries = match tar::read(&archive) {
        Ok(e) => e,
        Err(e) => {
            io.err(&format!(
                "tar: {e}\ntar: Exiting with failure status due to previous errors\n"
            ));
            return 2;
        }
    };
    let mut failed = false;
    let mut warned = false;
    let mut fs = shell.ctx.fs.lock().unwrap_or_else(|p| p.into_inner());
    for e in entries {
        if listing {
            io.stdout.print(&format!("{}\n", e.name));
            continue;
        }
        let mut name = e.name.trim_start_matches('/').to_string();
        if name.len() != e.name.len() && !warned {
            io.err("tar: Removing leading `/' from member names\n");
            warned = true;
        }
        if name.split('/').any(|c| c == "..") {
            io.err(&format!("tar: {name}: Member name contains '..'\n"));
            failed = true;
            continue;
        }
        if name.ends_with('/') {
            name.pop();
        }
        let target = pod_fs::normalize(&format!("{dir}/{name}"));
        if o.verbose {
            io.stdout.print(&format!("{}\n", e.name));
        }
        let parent = pod_fs::parent(&target).to_string();
        let result = fs.mkdir(&parent, true).and_then(|()| match &e.kind {
            EntryKind::Dir => fs.mkdir(&target, true),
            EntryKind::File(data) => {
                let mode = if o.no_same_permissions {
                    e.mode & !0o022
                } else {
                    e.mode
                };
                fs.write(&target, data.clone(), mode)
            }
            EntryKind::Symlink(to) => fs.symlink(&target, to),
        });
        if let Err(err) = result {
            io.err(&format!("tar: {name}: Cannot open: {err}\n"));
            failed = true;
        }
    }
    if failed {
        io.err("tar: Exiting with failure status due to previous errors\n");
        return 2;
    }
    0
}
