//! App locks have a namespace of their own: a branch named like the repository's or a venv's
//! lock (`repo`, `venv-…`) neither blocks other pushes nor is mistaken for one.

mod common;

use common::*;

#[test]
fn branches_named_like_internal_locks_deploy_beside_others() {
    let w = World::new(Mode::Local);
    w.sample("hello");
    w.jib_ok(&["setup"]);
    w.jib_ok(&["push", "main"]);

    // `repo` imports slowly, so its deploy holds its lock for a while.
    git(&w.repo, &["checkout", "-q", "-b", "repo"]);
    let slow = std::fs::read_to_string(w.repo.join("hello.py"))
        .unwrap()
        .replace("import os\n", "import os, time\ntime.sleep(4)\n");
    w.write("hello.py", &slow);
    w.commit("slow import");
    let mut repo_push = w.jib_cmd(&["push", "repo"]).spawn().unwrap();
    let lock = w.root.join(".jib/locks/apps/repo.lock");
    let held = (0..200).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(50));
        std::fs::File::open(&lock).is_ok_and(|f| f.try_lock_shared().is_err())
    });
    assert!(held, "the push of `repo` never held {}", lock.display());

    // Meanwhile other branches push without waiting (--lock-wait 0 refuses a held lock).
    git(&w.repo, &["checkout", "-q", "main"]);
    let venv_like = format!("venv-{}", "0".repeat(32));
    git(&w.repo, &["checkout", "-q", "-b", &venv_like]);
    w.jib_ok(&["push", &venv_like, "--lock-wait", "0"]);
    w.write("hello.py", &hello_py("again"));
    w.commit("main again");
    w.jib_ok(&["push", &venv_like, "--lock-wait", "0"]);

    assert!(repo_push.wait().unwrap().success());
    assert_eq!(w.get("repo", "/").0, 200);
    assert_eq!(
        w.get(&venv_like, "/"),
        (200, "again from ".to_string() + &venv_like + "\n")
    );
    // No app lock lands where the repository's or the venvs' locks live.
    assert!(
        w.root
            .join(".jib/locks/apps")
            .join(format!("{venv_like}.lock"))
            .exists()
    );
    assert!(
        !w.root
            .join(".jib/locks")
            .join(format!("{venv_like}.lock"))
            .exists()
    );
}
