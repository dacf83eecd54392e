//! A real Django app, its dependencies from PyPI, deployed over ssh behind nginx.

mod common;

use common::*;

#[test]
fn django_sample_deploys_and_serves() {
    let w = World::new(Mode::Ssh);
    w.sample("django");
    w.jib_ok(&["setup"]);
    let out = w.jib_ok(&["push"]);
    assert!(out.contains("main live at"), "{out}");
    let (status, body) = w.get("main", "/");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.starts_with("django 5.2") && body.contains("on main"),
        "{body}"
    );

    // A branch of it shares the venv: same dependency file, same hash.
    git(&w.repo, &["checkout", "-q", "-b", "feature"]);
    let v = w.jib_json(&["push", "--json"]);
    assert_eq!(v["venv_reused"], true, "{v}");
    assert!(w.get("feature", "/").1.contains("on feature"));
}
