//! Branch names are untrusted: they become a directory, a DNS label, a socket and a process
//! name. This module is the only place that turns one into an app name.

use anyhow::{Result, bail};

/// Longest DNS label.
pub const MAX_LEN: usize = 63;

/// Maps a git branch name to an app name: lowercase `[a-z0-9-]`, no leading/trailing or doubled
/// dashes, at most 63 characters. `Feature/Login_Page` → `feature-login-page`.
pub fn app_name(branch: &str) -> Result<String> {
    let mut out = String::with_capacity(branch.len());
    for c in branch.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if matches!(c, '/' | '_' | '-' | '.' | ' ' | '+' | '@') {
            if !out.is_empty() && !out.ends_with('-') {
                out.push('-');
            }
        } else {
            bail!(
                "branch name {branch:?} contains {c:?}, which cannot be mapped to a DNS label; \
                 rename the branch using letters, digits, '-', '_', '/' or '.'"
            );
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        bail!("branch name {branch:?} has no letters or digits to build an app name from");
    }
    if out.len() > MAX_LEN {
        bail!(
            "branch name {branch:?} maps to {:?} ({} characters); a DNS label holds at most {MAX_LEN}: use a shorter branch name",
            out,
            out.len()
        );
    }
    Ok(out)
}

/// True when `name` is already a valid app name (what the agent accepts from the wire).
pub fn is_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_LEN
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Finds branches that map to the same app name as `branch` (so two branches never share one app).
pub fn collisions<'a>(branch: &str, others: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let Ok(app) = app_name(branch) else {
        return Vec::new();
    };
    others
        .into_iter()
        .filter(|o| *o != branch && app_name(o).ok().as_deref() == Some(app.as_str()))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_branch_names() {
        assert_eq!(
            app_name("Feature/Login_Page").unwrap(),
            "feature-login-page"
        );
        assert_eq!(app_name("main").unwrap(), "main");
        assert_eq!(app_name("fix--double//slash").unwrap(), "fix-double-slash");
        assert_eq!(app_name("release/1.2.3").unwrap(), "release-1-2-3");
        assert_eq!(app_name("-lead").unwrap(), "lead");
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in [
            "$(rm -rf /)",
            "a;b",
            "../../etc",
            "..",
            "naïve",
            "a\nb",
            "`id`",
            "x'y",
            "",
        ] {
            let r = app_name(bad);
            if let Ok(name) = &r {
                assert!(is_app_name(name), "{bad:?} -> {name:?}");
                assert!(!name.contains('.') && !name.contains('/'));
            }
        }
        assert!(app_name("$(rm -rf /)").is_err());
        assert!(app_name("..").is_err());
        assert!(app_name("naïve").is_err());
        assert!(app_name(&"a".repeat(64)).is_err());
        assert!(app_name(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn every_mapped_name_is_valid() {
        for b in ["A/B", "x_y.z", "Hello World", "v1+build@2"] {
            assert!(is_app_name(&app_name(b).unwrap()));
        }
        assert!(!is_app_name("../x"));
        assert!(!is_app_name("UPPER"));
    }

    #[test]
    fn finds_collisions() {
        let c = collisions(
            "feature/x",
            ["feature-x", "feature_x", "other", "feature/x"],
        );
        assert_eq!(c, vec!["feature-x".to_string(), "feature_x".to_string()]);
    }
}
