//! Snapshots (insta) of what users and scripts read: help texts, deploy.toml errors, and
//! `jib config --json`. A change to any of them shows up as a reviewed diff in
//! tests/snapshots/ (`INSTA_UPDATE=always cargo test --test snapshots` rewrites them).

mod common;

use common::*;

fn jib_text(w: &World, args: &[&str]) -> (Option<i32>, String) {
    let out = w.jib(args);
    let t = text(&out).replace(&w.repo.display().to_string(), "[REPO]");
    (out.status.code(), t)
}

#[test]
fn help_texts() {
    let w = World::new(Mode::Local);
    for args in [
        &["--help"][..],
        &["push", "--help"][..],
        &["promote", "--help"][..],
        &["rollback", "--help"][..],
        &["init", "--help"][..],
    ] {
        let (code, t) = jib_text(&w, args);
        assert_eq!(code, Some(0));
        insta::assert_snapshot!(format!("help_{}", args.join("_").replace("--", "")), t);
    }
}

#[test]
fn config_errors_point_at_the_key() {
    let w = World::new(Mode::Local);
    w.hello_app("hi");
    let good = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    for (name, bad) in [
        ("typo", good.replace("health_timeout", "helth_timeout")),
        (
            "type",
            good.replace("health_timeout = 10", "health_timeout = \"10\""),
        ),
        (
            "both_domains",
            good.replace("domain = ", "domains = [\"a.b\"]\ndomain = "),
        ),
        ("no_env", good.clone() + "\n[env.prod]\nhost = \"x\"\n"),
        (
            "cron_field",
            good.clone() + "\n[cron]\n\"*/5 8-18 * * 1-5\" = \"true\"\n\"0 25 * * *\" = \"true\"\n",
        ),
    ] {
        w.write("deploy.toml", &bad);
        let (code, t) = jib_text(&w, &["config"]);
        assert_eq!(code, Some(3), "{t}");
        insta::assert_snapshot!(format!("config_error_{name}"), t);
    }
    w.write("deploy.toml", &good);
    let (code, t) = jib_text(&w, &["--env", "staging", "config"]);
    assert_eq!(code, Some(3), "{t}");
    insta::assert_snapshot!("config_error_unknown_env", t);
}

#[test]
fn effective_config_redacts_secrets() {
    let w = World::new(Mode::Local);
    w.hello_app("hi");
    let mut toml = std::fs::read_to_string(w.repo.join("deploy.toml")).unwrap();
    toml = toml.replace("[env.dev]", "[app.env]\nSECRET_KEY = \"s3cr3t\"\nDATABASE_URL = \"postgres://app:hunter2@db/x\"\nDEBUG = \"1\"\n\n[env.dev]");
    toml = toml.replace(
        "wsgi = ",
        "release = \"python manage.py migrate\"\nstatic = { \"/static/\" = \"staticfiles\" }\nwsgi = ",
    );
    toml.push_str(
        "\n[env.dev.mongo]\nurl = \"mongodb://app:hunter3@127.0.0.1:27017\"\nprefix = \"shop\"\n",
    );
    toml.push_str("\n[processes]\nworker = \"celery -A shop worker\"\n\n[cron]\n\"*/5 * * * *\" = \"python manage.py tick\"\n");
    toml.push_str("\n[env.prod]\nhost = \"deploy@www.example.com\"\nroot = \"/opt/prod\"\ndomains = [\"www.example.com\", \"example.com\"]\n");
    w.write("deploy.toml", &toml);
    let (code, t) = jib_text(&w, &["config", "--json"]);
    assert_eq!(code, Some(0), "{t}");
    assert!(
        !t.contains("s3cr3t") && !t.contains("hunter2") && !t.contains("hunter3"),
        "{t}"
    );
    let root = w.root.display().to_string();
    let t = t
        .replace(&root, "[ROOT]")
        .replace(&format!(":{}", w.port), ":[PORT]");
    insta::assert_snapshot!("config_json", t);
    let (code, t) = jib_text(&w, &["config", "-e", "prod"]);
    assert_eq!(code, Some(0), "{t}");
    insta::assert_snapshot!("config_toml_prod", t);
}
