//! `jib prune`: its selection rules on a real repository (merged, unmerged, deleted, unvisited
//! branches), never prod, and garbage collection that frees only what nothing uses.

mod common;

use common::*;

fn apps(w: &World) -> Vec<String> {
    let out = w.jib(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut names: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["app"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

fn branch(w: &World, name: &str, file: &str) {
    git(&w.repo, &["checkout", "-q", "-b", name, "main"]);
    w.write(file, name);
    w.commit(name);
    w.jib_ok(&["push"]);
}

#[test]
fn prune_selects_merged_gone_and_unvisited_branches_and_frees_their_disk() {
    let w = World::new(Mode::Local);
    w.hello_app("hi");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push", "main"]);
    branch(&w, "merged", "merged.txt");
    branch(&w, "unmerged", "unmerged.txt");
    // Its own dependency set: a venv only it uses.
    git(&w.repo, &["checkout", "-q", "-b", "gone", "main"]);
    w.write("requirements.txt", "# gone's own\n");
    w.commit("gone deps");
    w.jib_ok(&["push"]);
    let venvs = || {
        std::fs::read_dir(w.root.join(".jib/venvs"))
            .unwrap()
            .count()
    };
    let venvs_before = venvs();
    git(&w.repo, &["checkout", "-q", "main"]);
    git(&w.repo, &["merge", "-q", "--ff-only", "merged"]);
    git(&w.repo, &["branch", "-q", "-D", "gone"]);
    assert_eq!(apps(&w), ["gone", "main", "merged", "unmerged"]);

    // Nothing is chosen without a rule; the listing comes first.
    let out = w.jib(&["prune"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = w.jib(&[
        "prune",
        "--merged-into",
        "main",
        "--gone",
        "--dry-run",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let picked: Vec<(&str, &str)> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["app"].as_str().unwrap(), c["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        picked,
        [("gone", "branch deleted"), ("merged", "merged into main")],
        "{v}"
    );
    assert_eq!(apps(&w).len(), 4, "a dry run destroys nothing");
    // Without a terminal it needs --yes.
    let out = w.jib(&["prune", "--merged-into", "main"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(apps(&w).len(), 4);

    let out = w.jib(&[
        "prune",
        "--merged-into",
        "main",
        "--gone",
        "--yes",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["destroyed"], serde_json::json!(["gone", "merged"]));
    assert!(v["freed_bytes"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(apps(&w), ["main", "unmerged"]);
    // gone's venv went with it; the one main and unmerged share stayed and still serves.
    assert_eq!(venvs(), venvs_before - 1);
    assert_eq!(w.get("unmerged", "/").0, 200);
    assert_eq!(w.get("main", "/").0, 200);

    // Unvisited: main is asked for just now, unmerged not for a while.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(w.get("main", "/").0, 200);
    let out = w.jib(&["prune", "--older-than", "2s", "--dry-run"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("unmerged") && t.contains("no request for"),
        "{t}"
    );
    assert!(!t.contains("main "), "{t}");

    // Never in prod.
    let toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    w.write(
        "deploy.toml",
        &format!("{toml}\n[env.prod]\nhost = \"local\"\nroot = \"/tmp/never\"\ndomains = [\"www.example.com\"]\nlisten = \"127.0.0.1:1\"\n"),
    );
    let out = w.jib(&["-e", "prod", "prune", "--gone", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("never touches prod"), "{}", text(&out));
}
