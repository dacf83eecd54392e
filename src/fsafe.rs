//! Files in trees the app's user can write, handled the way a root agent must (DESIGN.md §9):
//! on descriptors, never following a link an app could have planted, never blocking on a FIFO,
//! never reading more than a cap.
//!
//! A path is walked one component at a time from `/`. Inside a directory that only root (or
//! the agent's own user) can change, links are followed: they were put there by an admin.
//! Inside any other directory — one the app's user owns, or a world-writable one like /tmp —
//! no link is followed, for the directories on the way and for the final name.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Reads of app-written files stop here (a link to /dev/zero must not exhaust memory).
pub const READ_CAP: u64 = 4 << 20;

fn io(e: Errno) -> std::io::Error {
    std::io::Error::from_raw_os_error(e.raw_os_error())
}

/// A directory root or the agent's user controls: nobody else can add, rename or replace
/// what is in it.
fn trusted(st: &rustix::fs::Stat) -> bool {
    let me = rustix::process::geteuid().as_raw();
    (st.st_uid == 0 || st.st_uid == me) && st.st_mode & 0o022 == 0
}

/// The directory holding `path`'s last component, opened without following any link an
/// untrusted directory holds; also whether that directory is trusted, and the last name.
fn parent(path: &Path) -> std::io::Result<(OwnedFd, bool, &OsStr)> {
    if !path.is_absolute() {
        return Err(std::io::Error::other(format!(
            "{} is not an absolute path",
            path.display()
        )));
    }
    let mut names = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => names.push(n),
            _ => {
                return Err(std::io::Error::other(format!(
                    "{} has `.` or `..` components",
                    path.display()
                )));
            }
        }
    }
    let Some(last) = names.pop() else {
        return Err(std::io::Error::other("no file name in /"));
    };
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut dir = rustix::fs::open("/", dir_flags, Mode::empty()).map_err(io)?;
    for n in names {
        let ok = trusted(&rustix::fs::fstat(&dir).map_err(io)?);
        let flags = if ok {
            dir_flags
        } else {
            dir_flags | OFlags::NOFOLLOW
        };
        dir = rustix::fs::openat(&dir, n, flags, Mode::empty()).map_err(|e| {
            std::io::Error::new(
                io(e).kind(),
                format!(
                    "{}: cannot open {:?} ({e}{})",
                    path.display(),
                    n,
                    if ok {
                        ""
                    } else {
                        "; links are not followed here"
                    }
                ),
            )
        })?;
    }
    let ok = trusted(&rustix::fs::fstat(&dir).map_err(io)?);
    Ok((dir, ok, last))
}

/// Opens `path` with `flags` (never following a link at its place, never blocking on a FIFO)
/// and insists on a regular file. Writes into an untrusted directory also refuse hard links
/// (one to a root file would turn our write into a write to it).
fn open_file(path: &Path, flags: OFlags, mode: u32) -> std::io::Result<File> {
    let (dir, dir_trusted, name) = parent(path)?;
    let fd = rustix::fs::openat(
        &dir,
        name,
        flags | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    )
    .map_err(|e| {
        let why = if e == Errno::LOOP {
            "it is a symbolic link".to_string()
        } else {
            e.to_string()
        };
        std::io::Error::new(io(e).kind(), format!("{}: {why}", path.display()))
    })?;
    let st = rustix::fs::fstat(&fd).map_err(io)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
        return Err(std::io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    // A hard link in an untrusted directory may be to any file (without protected_hardlinks):
    // neither read nor written.
    if !dir_trusted && st.st_nlink > 1 {
        return Err(std::io::Error::other(format!(
            "{} has other hard links; refusing it",
            path.display()
        )));
    }
    // Back to blocking I/O (O_NONBLOCK only guarded the open).
    rustix::fs::fcntl_setfl(
        &fd,
        rustix::fs::fcntl_getfl(&fd).map_err(io)? - OFlags::NONBLOCK,
    )
    .map_err(io)?;
    Ok(File::from(fd))
}

/// Opens a file for reading.
pub fn open_read(path: &Path) -> std::io::Result<File> {
    open_file(path, OFlags::RDONLY, 0)
}

/// Opens (creating it `mode`) a file for appending.
pub fn open_append(path: &Path, mode: u32) -> std::io::Result<File> {
    open_file(path, OFlags::WRONLY | OFlags::CREATE | OFlags::APPEND, mode)
}

/// Opens (creating it `mode`) a file and empties it.
pub fn open_truncate(path: &Path, mode: u32) -> std::io::Result<File> {
    let f = open_file(path, OFlags::WRONLY | OFlags::CREATE, mode)?;
    f.set_len(0)?;
    Ok(f)
}

/// Reads a whole file, refusing more than `cap` bytes.
pub fn read(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    let f = open_read(path)?;
    let mut out = Vec::new();
    f.take(cap + 1).read_to_end(&mut out)?;
    if out.len() as u64 > cap {
        return Err(std::io::Error::other(format!(
            "{} is larger than {cap} bytes",
            path.display()
        )));
    }
    Ok(out)
}

pub fn read_to_string(path: &Path, cap: u64) -> std::io::Result<String> {
    Ok(String::from_utf8_lossy(&read(path, cap)?).into_owned())
}

/// The last `n` lines of a file (looking at its last 64 KiB at most); empty when it cannot
/// be read safely.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let Ok(mut f) = open_read(path) else {
        return Vec::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let from = len.saturating_sub(64 << 10);
    if f.seek(SeekFrom::Start(from)).is_err() {
        return Vec::new();
    }
    let mut buf = Vec::new();
    let _ = f.take(64 << 10).read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    // A cut first line is not a line.
    let text = match text.split_once('\n') {
        Some((_, rest)) if from > 0 => rest,
        None if from > 0 => "",
        _ => &text,
    };
    last_lines(text, n)
}

/// The last `n` lines of `text` (command output, a log's end).
pub fn last_lines(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Creates directory `path` (its parent must exist) unless it is there, refusing a link in
/// its place, and makes it `mode`, owned by `owner` (uid, gid) when given.
pub fn ensure_dir(path: &Path, mode: u32, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let (dir, _, name) = parent(path)?;
    match rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => {
            return Err(std::io::Error::new(
                io(e).kind(),
                format!("cannot create {}: {e}", path.display()),
            ));
        }
    }
    let fd = open_dir_at(&dir, name, path)?;
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(&fd, Some(uid_of(uid)), Some(gid_of(gid))).map_err(io)?;
    }
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(io)?;
    Ok(())
}

/// Sets owner and mode of the file or directory at `path` itself (a link there is refused).
pub fn set_owner_mode(path: &Path, owner: Option<(u32, u32)>, mode: u32) -> std::io::Result<()> {
    let (dir, _, name) = parent(path)?;
    let fd = rustix::fs::openat(
        &dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| std::io::Error::new(io(e).kind(), format!("{}: {e}", path.display())))?;
    if let Some((uid, gid)) = owner {
        rustix::fs::fchown(&fd, Some(uid_of(uid)), Some(gid_of(gid))).map_err(io)?;
    }
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(io)
}

fn uid_of(raw: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(raw)
}

fn gid_of(raw: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(raw)
}

/// What a sealed or handed-over tree changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Walked {
    pub dirs: usize,
    pub files: usize,
    pub links: usize,
    /// FIFOs, sockets and devices removed (nothing an app runs needs them).
    pub removed: usize,
}

/// Takes a tree back from the app's user: everything becomes the agent's, read-only to others
/// (directories 0755, files 0644 or 0755), no setuid/setgid/sticky bits, no FIFOs or devices.
///
/// Top-down on descriptors: each directory is made ours before its entries are read, so from
/// then on nobody else can add, rename or swap anything in it; entries are opened relative to
/// their directory with O_NOFOLLOW, links are re-owned, never followed.
pub fn seal(path: &Path, app_uid: Option<u32>) -> std::io::Result<Walked> {
    let (dir, _, name) = parent(path)?;
    let top = open_dir_at(&dir, name, path)?;
    let me = (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    );
    let mut w = Walked::default();
    walk(&top, path, &mut w, &|fd, st, is_dir| {
        let mine = Some(st.st_uid) == app_uid || st.st_uid == me.0;
        if !is_dir && st.st_nlink > 1 && Some(st.st_uid) != app_uid {
            // Someone else's file (root's too: /etc/shadow), linked in here: never change it.
            return Err(Errno::PERM);
        }
        rustix::fs::fchown(fd, Some(uid_of(me.0)), Some(gid_of(me.1)))?;
        let exec = st.st_mode & 0o111 != 0;
        let mode = if is_dir || exec { 0o755 } else { 0o644 };
        // Never widen what the mode of a file that was not the app's allowed.
        let mode = if mine { mode } else { mode & st.st_mode };
        rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))
    })?;
    Ok(w)
}

/// Hands a tree the agent wrote (an exported release) to the app's user, for a build step
/// that writes into it. Top-down on descriptors like [`seal`]; regular files with other hard
/// links are refused (one could be a root file linked in).
pub fn hand_over(path: &Path, uid: u32, gid: u32) -> std::io::Result<Walked> {
    let (dir, _, name) = parent(path)?;
    let top = open_dir_at(&dir, name, path)?;
    let mut w = Walked::default();
    walk(&top, path, &mut w, &|fd, st, is_dir| {
        if !is_dir && st.st_nlink > 1 {
            return Err(Errno::PERM);
        }
        rustix::fs::fchown(fd, Some(uid_of(uid)), Some(gid_of(gid)))?;
        if is_dir {
            rustix::fs::fchmod(fd, Mode::from_raw_mode(0o755))?;
        }
        Ok(())
    })?;
    Ok(w)
}

fn open_dir_at(dir: &OwnedFd, name: &OsStr, path: &Path) -> std::io::Result<OwnedFd> {
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        std::io::Error::new(
            io(e).kind(),
            format!("{} is not a directory ({e})", path.display()),
        )
    })
}

type Apply<'a> = dyn Fn(&OwnedFd, &rustix::fs::Stat, bool) -> Result<(), Errno> + 'a;

fn walk(dir: &OwnedFd, path: &Path, w: &mut Walked, apply: &Apply<'_>) -> std::io::Result<()> {
    let err = |what: &Path, e: Errno| {
        std::io::Error::new(io(e).kind(), format!("{}: {e}", what.display()))
    };
    let st = rustix::fs::fstat(dir).map_err(|e| err(path, e))?;
    apply(dir, &st, true).map_err(|e| err(path, e))?;
    w.dirs += 1;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir).map_err(|e| err(path, e))? {
        let entry = entry.map_err(|e| err(path, e))?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(name).to_os_string());
        }
    }
    for name in names {
        let child = path.join(&name);
        let st = rustix::fs::statat(dir, &name, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| err(&child, e))?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                // Re-own the link itself; its target is never looked at.
                let me = rustix::fs::fstat(dir).map_err(|e| err(path, e))?;
                rustix::fs::chownat(
                    dir,
                    &name,
                    Some(uid_of(me.st_uid)),
                    Some(gid_of(me.st_gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )
                .map_err(|e| err(&child, e))?;
                w.links += 1;
            }
            FileType::Directory => {
                let fd = open_dir_at(dir, &name, &child)?;
                walk(&fd, &child, w, apply)?;
            }
            FileType::RegularFile => {
                let fd = rustix::fs::openat(
                    dir,
                    &name,
                    OFlags::RDONLY
                        | OFlags::NOFOLLOW
                        | OFlags::NONBLOCK
                        | OFlags::NOCTTY
                        | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| err(&child, e))?;
                let st = rustix::fs::fstat(&fd).map_err(|e| err(&child, e))?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Err(std::io::Error::other(format!(
                        "{} changed type while being walked",
                        child.display()
                    )));
                }
                apply(&fd, &st, false).map_err(|e| {
                    if e == Errno::PERM {
                        std::io::Error::other(format!(
                            "{} is a hard link to a file of another user; refusing",
                            child.display()
                        ))
                    } else {
                        err(&child, e)
                    }
                })?;
                w.files += 1;
            }
            _ => {
                rustix::fs::unlinkat(dir, &name, AtFlags::empty()).map_err(|e| err(&child, e))?;
                w.removed += 1;
            }
        }
    }
    Ok(())
}

/// Bytes under `p`, links not followed.
pub fn dir_size(p: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(p)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| dir_size(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn tmp() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn reads_refuse_links_fifos_and_caps() {
        let d = tmp();
        let p = d.path();
        std::fs::write(p.join("secret"), "s3cret").unwrap();
        std::os::unix::fs::symlink(p.join("secret"), p.join("link")).unwrap();
        nix::unistd::mkfifo(&p.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::write(p.join("big"), vec![b'x'; 100]).unwrap();
        assert!(open_read(&p.join("link")).is_err());
        // A FIFO with no writer would block a plain open forever.
        assert!(open_read(&p.join("fifo")).is_err());
        assert!(open_append(&p.join("fifo"), 0o600).is_err());
        assert!(read(&p.join("big"), 10).is_err());
        assert_eq!(read(&p.join("big"), 100).unwrap().len(), 100);
        assert_eq!(read_to_string(&p.join("secret"), 10).unwrap(), "s3cret");
    }

    #[test]
    fn untrusted_directories_follow_no_links() {
        let d = tmp();
        let p = d.path();
        std::fs::create_dir(p.join("real")).unwrap();
        std::fs::write(p.join("real/f"), "x").unwrap();
        std::fs::create_dir(p.join("app")).unwrap();
        std::os::unix::fs::symlink(p.join("real"), p.join("app/dir")).unwrap();
        // Ours and not group/world-writable: its links are followed.
        assert!(open_read(&p.join("app/dir/f")).is_ok());
        // Writable by others: a link on the way is refused.
        std::fs::set_permissions(p.join("app"), std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(open_read(&p.join("app/dir/f")).is_err());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let d = tmp();
        let f = d.path().join("log");
        let text: String = (0..50_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&f, text).unwrap();
        assert_eq!(tail(&f, 2), vec!["line 49998", "line 49999"]);
        assert!(tail(&d.path().join("missing"), 2).is_empty());
    }

    #[test]
    fn seal_masks_modes_and_removes_fifos() {
        let d = tmp();
        let t = d.path().join("tree");
        std::fs::create_dir_all(t.join("a/b")).unwrap();
        std::fs::write(t.join("a/b/suid"), "x").unwrap();
        std::fs::set_permissions(t.join("a/b/suid"), std::fs::Permissions::from_mode(0o4777))
            .unwrap();
        std::fs::write(t.join("plain"), "x").unwrap();
        std::fs::set_permissions(t.join("plain"), std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(t.join("a"), std::fs::Permissions::from_mode(0o777)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.join("link")).unwrap();
        nix::unistd::mkfifo(&t.join("a/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let w = seal(&t, None).unwrap();
        assert_eq!((w.files, w.links, w.removed), (2, 1, 1));
        let mode = |p: &str| std::fs::symlink_metadata(t.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("a/b/suid"), 0o755);
        assert_eq!(mode("plain"), 0o644);
        assert_eq!(mode("a"), 0o755);
        assert!(!t.join("a/fifo").exists());
        // The link's target was not touched.
        assert_ne!(
            std::fs::metadata("/etc/passwd").unwrap().mode() & 0o7777,
            0o755
        );
    }

    #[test]
    fn seal_refuses_foreign_hard_links() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let d = tmp();
        let t = d.path().join("tree");
        std::fs::create_dir(&t).unwrap();
        let foreign = d.path().join("foreign");
        std::fs::write(&foreign, "x").unwrap();
        std::fs::set_permissions(&foreign, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Owned by someone who is neither us nor the app user.
        std::os::unix::fs::chown(&foreign, Some(12345), Some(12345)).unwrap();
        std::fs::hard_link(&foreign, t.join("linked")).unwrap();
        assert!(seal(&t, Some(54321)).is_err());
        assert_eq!(std::fs::metadata(&foreign).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&foreign).unwrap().uid(), 12345);
    }
}
