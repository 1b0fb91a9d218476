//! Reload on file change: inotify (via `notify`) on the inputs' directories,
//! debounced so an editor's write-rename-chmod burst is one reload.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::control_plane::ControlPlane;

/// Quiet time after the last event before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Upper bound on how long a stream of events can postpone a reload.
const MAX_DELAY: Duration = Duration::from_secs(1);

/// Watch the control plane's inputs until the runtime shuts down.
pub fn spawn(cp: Arc<ControlPlane>) -> Result<tokio::task::JoinHandle<()>, notify::Error> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event.as_ref()
            && changes_content(&event.kind)
        {
            for path in &event.paths {
                let _ = tx.send(path.clone());
            }
        }
    })?;
    let mut watched: Vec<PathBuf> = Vec::new();
    rewatch(&mut watcher, &mut watched, &cp);
    Ok(tokio::spawn(async move {
        while let Some(first) = rx.recv().await {
            if !is_input_event(&first, &cp.watched_files()) {
                continue;
            }
            let deadline = tokio::time::Instant::now() + MAX_DELAY;
            loop {
                let quiet = (tokio::time::Instant::now() + DEBOUNCE).min(deadline);
                match tokio::time::timeout_at(quiet, rx.recv()).await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            debug!(trigger = %first.display(), "input changed; reloading");
            let cp2 = cp.clone();
            let _ = tokio::task::spawn_blocking(move || cp2.reload()).await;
            rewatch(&mut watcher, &mut watched, &cp);
        }
    }))
}

/// Whether an event can change what a file holds: creation, removal,
/// writes, renames (editors, the kubelet's `..data` swap). Not reads:
/// opening an input (a `cat`, another instance, the reload itself) must
/// not cause a reload, or reloads would wake each other forever.
pub fn changes_content(kind: &notify::EventKind) -> bool {
    use notify::event::{EventKind, MetadataKind, ModifyKind};
    !matches!(
        kind,
        EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime))
    )
}

/// Whether an event on `path` can change an input: the file itself (also
/// as the target of an editor's rename), or the `..data` symlink swap of a
/// Kubernetes ConfigMap/Secret mount. Anything else in the same directory
/// (logs, editor swap files) is ignored.
pub fn is_input_event(path: &Path, files: &[PathBuf]) -> bool {
    let configmap_swap = path
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(".."))
        && files.iter().any(|f| f.parent() == path.parent());
    configmap_swap || files.iter().any(|f| f == path)
}

/// Directories to watch for a set of files (editors replace files by
/// renaming, and Kubernetes swaps ConfigMap symlinks: watch the parents).
pub fn watch_dirs(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .map(|d| {
            if d.as_os_str().is_empty() {
                PathBuf::from(".")
            } else {
                d
            }
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

fn rewatch(watcher: &mut impl Watcher, watched: &mut Vec<PathBuf>, cp: &ControlPlane) {
    let wanted = watch_dirs(&cp.watched_files());
    for dir in watched.iter().filter(|d| !wanted.contains(d)) {
        let _ = watcher.unwatch(dir);
    }
    for dir in wanted.iter().filter(|d| !watched.contains(d)) {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            warn!(dir = %dir.display(), "cannot watch: {e}");
        }
    }
    *watched = wanted;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_inputs_themselves_trigger_a_reload() {
        let files = vec![
            PathBuf::from("/etc/kubeplex/kubeconfig"),
            PathBuf::from("/etc/kubeplex/gateway.yaml"),
        ];
        assert!(is_input_event(
            Path::new("/etc/kubeplex/kubeconfig"),
            &files
        ));
        assert!(
            is_input_event(Path::new("/etc/kubeplex/..data"), &files),
            "ConfigMap symlink swap"
        );
        assert!(
            !is_input_event(Path::new("/etc/kubeplex/audit.log"), &files),
            "a log next to the inputs"
        );
        assert!(!is_input_event(
            Path::new("/etc/kubeplex/.kubeconfig.swp"),
            &files
        ));
        assert!(!is_input_event(Path::new("/elsewhere/kubeconfig"), &files));
    }

    #[test]
    fn reads_are_not_changes() {
        use notify::event::*;
        for read in [
            EventKind::Access(AccessKind::Open(AccessMode::Read)),
            EventKind::Access(AccessKind::Close(AccessMode::Read)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::AccessTime)),
            // the writes before it were Modify(Data) events already
            EventKind::Access(AccessKind::Close(AccessMode::Write)),
        ] {
            assert!(!changes_content(&read), "{read:?}");
        }
        for change in [
            EventKind::Create(CreateKind::File),
            EventKind::Modify(ModifyKind::Data(DataChange::Any)),
            EventKind::Modify(ModifyKind::Name(RenameMode::To)),
            EventKind::Modify(ModifyKind::Metadata(MetadataKind::Permissions)),
            EventKind::Remove(RemoveKind::File),
        ] {
            assert!(changes_content(&change), "{change:?}");
        }
    }
}
