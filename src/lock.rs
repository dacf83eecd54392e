//! Per-app (and per-venv) locks on the server: an OS file lock, so a crashed agent never leaves
//! a stale lock behind (Dokku #3167), plus who holds it, so the next pusher is told.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::protocol::LockHolder;

pub struct Lock {
    /// `None` once dropped into [`DEFERRED`].
    file: Option<File>,
}

/// Locks dropped while work is pending for after the reply: still held (the file stays open
/// and locked) until [`release_deferred`]. `None`: locks are released when dropped.
static DEFERRED: std::sync::Mutex<Option<Vec<File>>> = std::sync::Mutex::new(None);

/// From now on, a lock dropped in this process stays held until [`release_deferred`]: work
/// done after the reply (stopping withdrawn instances) stays under the lock it began under, so
/// the next deploy of the app cannot start in the middle of it.
pub fn defer_releases() {
    let mut d = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
    d.get_or_insert_with(Vec::new);
}

/// Releases what [`defer_releases`] kept, and releases on drop again.
pub fn release_deferred() {
    let kept = DEFERRED.lock().unwrap_or_else(|e| e.into_inner()).take();
    for f in kept.into_iter().flatten() {
        release(&f);
    }
}

fn release(file: &File) {
    let _ = file.set_len(0);
    let _ = file.unlock();
}

pub enum Acquire {
    Got(Lock),
    /// Still held by someone else after waiting.
    Held(Option<LockHolder>),
}

impl Lock {
    /// Takes the lock at `path`, waiting up to `wait`. `on_wait` is called once, with the
    /// holder, when we have to wait.
    pub fn acquire(
        path: &Path,
        me: &LockHolder,
        wait: Duration,
        mut on_wait: impl FnMut(Option<&LockHolder>),
    ) -> Result<Acquire> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open lock {}", path.display()))?;
        let start = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => {
                    file.set_len(0)?;
                    file.rewind()?;
                    serde_json::to_writer(&mut file, me)?;
                    file.flush()?;
                    return Ok(Acquire::Got(Lock { file: Some(file) }));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    if start.elapsed() >= wait {
                        return Ok(Acquire::Held(holder));
                    }
                    if !told {
                        on_wait(holder.as_ref());
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                }
            }
        }
    }

    /// Blocks until the lock is ours (for short critical sections such as a venv build).
    pub fn wait(path: &Path) -> Result<Lock> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .with_context(|| format!("cannot open lock {}", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(Lock { file: Some(file) })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let Some(file) = self.file.take() else {
            return;
        };
        let mut d = DEFERRED.lock().unwrap_or_else(|e| e.into_inner());
        match d.as_mut() {
            Some(kept) => kept.push(file),
            None => release(&file),
        }
    }
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut s = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me(by: &str) -> LockHolder {
        LockHolder {
            by: by.into(),
            pid: std::process::id(),
            since: "now".into(),
            what: "push".into(),
        }
    }

    #[test]
    fn second_taker_learns_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.lock");
        let Acquire::Got(held) = Lock::acquire(&p, &me("alice"), Duration::ZERO, |_| {}).unwrap()
        else {
            panic!("first acquire failed");
        };
        match Lock::acquire(&p, &me("bob"), Duration::from_millis(250), |_| {}).unwrap() {
            Acquire::Held(Some(h)) => assert_eq!(h.by, "alice"),
            _ => panic!("expected alice to hold the lock"),
        }
        drop(held);
        assert!(matches!(
            Lock::acquire(&p, &me("bob"), Duration::ZERO, |_| {}).unwrap(),
            Acquire::Got(_)
        ));
    }
}
