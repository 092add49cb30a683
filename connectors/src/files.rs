//! Drop-folder helpers shared by file-based connectors: listing a folder (or
//! one file) by pattern, oldest first; file stamps to skip unchanged files
//! cheaply; keeping a copy of an input under the data directory.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Size and modification time: a file whose stamp is unchanged need not be re-read.
pub type FileStamp = (u64, Option<SystemTime>);

pub fn stamp(p: &Path) -> Option<FileStamp> {
    std::fs::metadata(p).ok().map(|m| (m.len(), m.modified().ok()))
}

pub fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

/// Files already handled (imported, stored or quarantined), by path and
/// stamp: spares re-reading and re-hashing them at every poll. Kept in memory;
/// after a restart the store's own records (by content hash) decide.
#[derive(Debug, Clone, Default)]
pub struct Finished(std::sync::Arc<std::sync::Mutex<std::collections::HashMap<PathBuf, FileStamp>>>);

impl Finished {
    /// The file's current stamp, or `None` when it is unchanged since it was finished.
    pub fn changed(&self, p: &Path) -> Option<Option<FileStamp>> {
        let now = stamp(p);
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match (&now, map.get(p)) {
            (Some(n), Some(old)) if n == old => None,
            _ => Some(now),
        }
    }

    /// Forgets a file as finished: it is read again at the next run.
    pub fn forget(&self, p: &Path) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(p);
    }

    /// Remembers a file as finished with the stamp it had before it was read.
    pub fn mark(&self, p: &Path, stamp: Option<FileStamp>) {
        if let Some(st) = stamp {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).insert(p.to_path_buf(), st);
        }
    }
}

/// The files to read: `path` itself, or the non-hidden files of the folder
/// matching `pattern` (lower-case), oldest first.
pub fn list(path: &Path, pattern: &str) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<(SystemTime, PathBuf)> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && glob_match(pattern, &n.to_lowercase()))
        })
        .map(|p| (modified(&p).unwrap_or(SystemTime::UNIX_EPOCH), p))
        .collect();
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

/// Where [`keep_copy`] keeps a copy of `file`: `dir/<first 16 hex of sha>-<file name>`.
pub fn kept_path(dir: &Path, sha_hex: &str, file: &Path) -> PathBuf {
    let name = format!(
        "{}-{}",
        sha_hex.get(..16).unwrap_or("file"),
        file.file_name().and_then(|n| n.to_str()).unwrap_or("input")
    );
    dir.join(name)
}

/// Copies `bytes` to `dir/<first 16 hex of sha>-<file name>`; returns the path, or `None` (logged) on failure.
pub fn keep_copy(dir: &Path, sha_hex: &str, file: &Path, bytes: &[u8]) -> Option<String> {
    let target = kept_path(dir, sha_hex, file);
    if target.exists() {
        return Some(target.display().to_string());
    }
    match std::fs::create_dir_all(dir).and_then(|_| std::fs::write(&target, bytes)) {
        Ok(()) => Some(target.display().to_string()),
        Err(e) => {
            tracing::warn!(path = %target.display(), error = %e, "cannot keep a copy of the input");
            None
        }
    }
}

/// Matches `*` (any run) and `?` (one character) against a file name.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns() {
        assert!(glob_match("*.csv", "export.csv"));
        assert!(glob_match("export-????.csv", "export-2026.csv"));
        assert!(!glob_match("*.csv", "export.csv.tmp"));
        assert!(glob_match("*", "anything"));
        assert!(!glob_match("a*b", "ac"));
    }
}
