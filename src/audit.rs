//! The audit trail of a root: `<root>/.jib/audit.log`, one JSON line per action that changed
//! something (push, promote, rollback, restart, env, destroy), appended by the agent.

use std::io::Write;

use anyhow::{Context, Result};

use crate::layout::Layout;
use crate::protocol::AuditEntry;

/// Appends one entry. One `write` of one line with O_APPEND: concurrent agents never
/// interleave their lines.
pub fn append(layout: &Layout, entry: &AuditEntry) -> Result<()> {
    let path = layout.audit_log();
    let mut line = serde_json::to_vec(entry)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    f.write_all(&line)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The newest `n` entries, oldest first. Lines that do not parse (a torn write after a crash)
/// are skipped.
pub fn read(layout: &Layout, n: usize) -> Vec<AuditEntry> {
    let text = std::fs::read_to_string(layout.audit_log()).unwrap_or_default();
    let all: Vec<AuditEntry> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    all[all.len().saturating_sub(n)..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(layout.state()).unwrap();
        for i in 0..5 {
            let e = AuditEntry {
                time: format!("t{i}"),
                by: "a@b".into(),
                action: "push".into(),
                app: "main".into(),
                branch: "main".into(),
                from: None,
                commit: "c".into(),
                release: "r".into(),
                result: "ok".into(),
                error: None,
                ms: i,
            };
            append(&layout, &e).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(layout.audit_log())
            .unwrap()
            .write_all(b"{torn")
            .unwrap();
        let got = read(&layout, 2);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].time, "t3");
        assert_eq!(got[1].ms, 4);
    }
}
