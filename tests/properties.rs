//! Property tests (issue 15): what untrusted text turns into never panics, and every refusal
//! says where.
//!
//! - `slug`: branch → app name is exactly the documented mapping (an independent model of
//!   it), always a DNS label the agent accepts, its own app name once mapped; two branches
//!   that would share an app are always reported by `collisions`, so what `jib push` accepts
//!   maps injectively. (slug.rs reserves no names: the root's only other entry, `.jib`, can
//!   never be one.)
//! - `config`: valid random deploy.toml files are accepted; one fault in one is refused at
//!   that key's line (or by a message naming it) or accepted — and then the agent's check
//!   (`server_config`) accepts it too; arbitrary text, almost-TOML lines, random and mutated
//!   documents never panic and every error is `deploy.toml:line[:col]: …` (the line quoted,
//!   the column within it) or `deploy.toml: ` and a message naming its section, key or entry.
//!   Durations (`idle`, `--older-than`) are exact or refused.
//! - `cron`: deploy.toml's `[cron]` is accepted exactly when every command is non-blank and
//!   every schedule is one the Python supervisor reads (an independent model of its
//!   `parse_field`, and jib_procs.py itself asked about thousands of schedules); valid random
//!   schedules are accepted, and one value out of its field's range is refused naming the
//!   schedule, the field and the value.
//! - `protocol`: requests (through the agent's `Envelope::accept`), events and replies
//!   round-trip as single JSON lines; every truncation, random bytes, random and mutated JSON,
//!   deep nesting and 1–10 MB lines decode to an error or a value that round-trips, never a
//!   panic.
//!
//! 1000 to 4000 cases a property (the 1–10 MB lines 4, deep nesting 32, the comparison with
//! jib_procs.py 8 of 250 schedules, which needs python3); about 20 s of CPU in a debug build.
//! `PROPTEST_CASES=20000 cargo test --test properties` hunts longer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use jib::config::{self, Config};
use jib::protocol::{
    AppState, AppStatus, Artifact, AuditEntry, BuildSpec, Check, CheckStatus, CtlAnswer, CtlCall,
    DeployRequest, DropDb, EnvOp, Envelope, ErrorKind, Event, ExecCommand, IndexConfig, LockHolder,
    LogSource, PackHeader, PromoteRequest, ReleaseInfo, ReleaseState, RemoteError, Reply, Request,
    RouterKind, ServerConfig, TlsConfig, version_line,
};
use jib::slug;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// `n` cases, unless `PROPTEST_CASES` asks for another number (a longer hunt).
fn cases(n: u32) -> ProptestConfig {
    let default = ProptestConfig::default();
    ProptestConfig {
        cases: match std::env::var_os("PROPTEST_CASES") {
            Some(_) => default.cases,
            None => n,
        },
        // A failing case is printed (and shrunk); nothing is written next to the sources.
        failure_persistence: None,
        // ChaCha, the default, is most of the time of a debug build; these need no crypto.
        rng_algorithm: proptest::test_runner::RngAlgorithm::XorShift,
        ..default
    }
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

/// Characters that are syntax somewhere jib's values end up (TOML, JSON, an ini, nginx, a
/// shell, a path, a terminal), and a few that only look harmless.
const HOSTILE: &[char] = &[
    '\n', '\r', '\0', '\t', '"', '\'', '\\', ';', '%', '$', '{', '}', '#', ' ', ',', '/', '.', '=',
    '[', ']', ':', '*', '~', '\u{7f}', '\u{1b}', '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}', 'é',
    'İ', 'K', '🦀',
];

/// Any string of up to `max` characters: all of Unicode, controls included.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    vec(any::<char>(), 0..=max).prop_map(String::from_iter)
}

/// Strings made mostly of `HOSTILE` characters and a few plain ones.
fn hostile_text(max: usize) -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            3 => select(HOSTILE),
            1 => select(vec!['a', 'Z', '0', '-', '_']),
        ],
        0..=max,
    )
    .prop_map(String::from_iter)
}

/// What a plain value is made of.
const PLAIN: &[char] = &[
    'a', 'b', 'c', 'e', 'k', 'p', 'x', 'z', '0', '1', '7', '9', ' ', '.', '_', '-',
];

/// A short string of any kind: plain, hostile or arbitrary. (Not a regex: generating from
/// one is slow in a debug build, and this is generated for every string field.)
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => vec(select(PLAIN), 0..12).prop_map(String::from_iter),
        1 => hostile_text(8),
        1 => any_text(12),
    ]
}

/// A string of `n` characters of `set` (what a regex class would give, much faster).
fn of(set: &'static str, n: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    vec(select(set.chars().collect::<Vec<char>>()), n).prop_map(String::from_iter)
}

const LOWER_DIGITS: &str = "abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// One of `goods` (a value that should be accepted), one with a hostile character spliced in,
/// or something else entirely.
fn near(goods: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(goods).prop_map(str::to_string),
        2 => (select(goods), any::<Index>(), select(HOSTILE)).prop_map(|(g, at, c)| {
            let mut chars: Vec<char> = g.chars().collect();
            let i = at.index(chars.len() + 1);
            chars.insert(i, c);
            String::from_iter(chars)
        }),
        1 => of("abcxyz019./:@_-", 0..=16),
        1 => any_text(10),
    ]
}

// ---------------------------------------------------------------------------------------------
// slug: branch → app name
// ---------------------------------------------------------------------------------------------

/// What `app_name` maps to a dash, besides letters and digits (slug.rs).
const SEPARATORS: &[char] = &['/', '_', '-', '.', ' ', '+', '@'];

/// The documented mapping, written independently: lowercase ASCII letters and digits, runs of
/// separators as one `-`, none at either end, 1 to 63 characters; anything else refused.
fn model_app_name(branch: &str) -> Option<String> {
    if !branch
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || SEPARATORS.contains(&c))
    {
        return None;
    }
    let words: Vec<String> = branch
        .split(|c| SEPARATORS.contains(&c))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let name = words.join("-");
    (!name.is_empty() && name.len() <= slug::MAX_LEN).then_some(name)
}

/// `^[a-z0-9]+(-[a-z0-9]+)*$`, at most 63: a DNS label, a directory, a process name.
fn is_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.split('-').all(|w| {
            !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Branch names: what git users write, hostile ones, arbitrary Unicode, and very long ones.
fn branch() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => of("aAbBzZ09/_.+@ -", 0..=40),
        2 => vec(
            prop_oneof![
                4 => of(ALNUM, 1..=6),
                2 => select(vec!["/", "_", "-", ".", " ", "+", "@", "//", "..", "--", "-/-", "@{"])
                    .prop_map(str::to_string),
                1 => select(HOSTILE).prop_map(String::from),
            ],
            0..12,
        )
        .prop_map(|parts| parts.concat()),
        1 => any_text(40),
        1 => hostile_text(20),
        1 => of("az09/-", 55..=200),
    ]
}

/// Words, rendered as a branch name: a random case for each letter and a random run of
/// separators between words (and maybe at either end). Two renderings of the same words
/// are two branches deployed as the same app.
fn render_branch(words: &[String], seps: &[String], upper: &[bool]) -> String {
    let mut out = String::new();
    out.push_str(&seps[0]);
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            let s = &seps[i % seps.len()];
            out.push_str(if s.is_empty() { "-" } else { s });
        }
        for (j, c) in w.chars().enumerate() {
            out.push(if upper[(i + j) % upper.len()] {
                c.to_ascii_uppercase()
            } else {
                c
            });
        }
    }
    out.push_str(&seps[words.len() % seps.len()]);
    out
}

fn separator_run() -> impl Strategy<Value = String> {
    vec(select(SEPARATORS), 0..3).prop_map(String::from_iter)
}

proptest! {
    #![proptest_config(cases(4000))]

    /// Never a panic; exactly the documented mapping; what comes out is a label the agent
    /// takes as an app name (`is_app_name`), never `.jib` (the root's only other entry) or
    /// anything with a dot or slash; a refusal quotes the branch.
    #[test]
    fn app_name_is_the_documented_label(b in branch()) {
        let got = slug::app_name(&b);
        let want = model_app_name(&b);
        prop_assert_eq!(got.as_ref().ok(), want.as_ref(), "{:?}", b);
        match got {
            Ok(name) => {
                prop_assert!(is_label(&name), "{:?} -> {:?}", b, name);
                prop_assert!(slug::is_app_name(&name), "{:?} -> {:?}", b, name);
                // Already an app name: mapped to itself (what `jib <cmd> <app>` relies on).
                prop_assert_eq!(slug::app_name(&name).ok(), Some(name.clone()));
            }
            Err(e) => {
                let e = e.to_string();
                prop_assert!(e.contains(&format!("{b:?}")), "{}", e);
            }
        }
    }

    /// `is_app_name` is exactly "a DNS label of lowercase letters, digits and single inner
    /// dashes", and such a name is its own app name.
    #[test]
    fn is_app_name_is_exactly_a_label(s in prop_oneof![
        4 => of("az09-", 0..=70),
        1 => of("az09-", 60..=70),
        1 => any_text(10),
        1 => hostile_text(6),
    ]) {
        prop_assert_eq!(slug::is_app_name(&s), is_label(&s), "{:?}", s);
        if slug::is_app_name(&s) {
            prop_assert_eq!(slug::app_name(&s).ok(), Some(s.clone()));
        }
    }

    /// Two renderings of the same words (case, separators) are the same app, and each is
    /// reported as the other's collision: `jib push` refuses to deploy either.
    #[test]
    fn branches_sharing_an_app_are_reported(
        words in vec(of(LOWER_DIGITS, 1..=8), 1..6),
        seps_a in vec(separator_run(), 1..6),
        seps_b in vec(separator_run(), 1..6),
        upper_a in vec(any::<bool>(), 1..8),
        upper_b in vec(any::<bool>(), 1..8),
        others in vec(branch(), 0..4),
    ) {
        let a = render_branch(&words, &seps_a, &upper_a);
        let b = render_branch(&words, &seps_b, &upper_b);
        let (Ok(app_a), Ok(app_b)) = (slug::app_name(&a), slug::app_name(&b)) else {
            // Only when the words are too long together.
            prop_assert!(words.iter().map(|w| w.len() + 1).sum::<usize>() - 1 > slug::MAX_LEN);
            return Ok(());
        };
        prop_assert_eq!(&app_a, &app_b);
        prop_assert_eq!(&app_a, &words.join("-"));
        let mut all: Vec<&str> = others.iter().map(String::as_str).collect();
        all.push(&b);
        all.push(&a);
        let clash = slug::collisions(&a, all.iter().copied());
        if a == b {
            prop_assert!(!clash.contains(&b));
        } else {
            prop_assert!(clash.contains(&b), "{:?} and {:?} -> {:?}: {:?}", a, b, app_a, clash);
            prop_assert!(slug::collisions(&b, [a.as_str()]).contains(&a));
        }
    }
}

proptest! {
    #![proptest_config(cases(2000))]

    /// Injective on what it accepts: of any set of branches, the ones `collisions` lets
    /// through (none other maps to the same app) map to distinct apps; and `collisions`
    /// reports exactly the other branches with the same app, symmetrically.
    #[test]
    fn accepted_branches_map_to_distinct_apps(branches in vec(prop_oneof![
        3 => of("aAbB09/_.-", 1..=6),
        1 => branch(),
    ], 0..10)) {
        let all: Vec<&str> = branches.iter().map(String::as_str).collect();
        let mut seen: BTreeMap<String, &str> = BTreeMap::new();
        for &b in &all {
            let clash = slug::collisions(b, all.iter().copied());
            match slug::app_name(b) {
                Err(_) => prop_assert!(clash.is_empty()),
                Ok(app) => {
                    let expected: Vec<String> = all
                        .iter()
                        .filter(|o| **o != b && slug::app_name(o).ok().as_deref() == Some(app.as_str()))
                        .map(|o| o.to_string())
                        .collect();
                    prop_assert_eq!(&clash, &expected);
                    for c in &clash {
                        prop_assert!(slug::collisions(c, [b]).contains(&b.to_string()));
                    }
                    if clash.is_empty()
                        && let Some(prev) = seen.insert(app.clone(), b)
                    {
                        // The same branch listed twice is one branch.
                        prop_assert_eq!(prev, b, "both deploy as {:?}", app);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// config: deploy.toml
// ---------------------------------------------------------------------------------------------

/// A TOML value, to render a document in a chosen style.
#[derive(Debug, Clone)]
enum V {
    S(String),
    I(i64),
    B(bool),
    A(Vec<V>),
    T(Vec<(String, V)>),
}

/// A TOML basic string: every character that TOML wants escaped is escaped.
fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        toml_str(k)
    }
}

fn inline(v: &V) -> String {
    match v {
        V::S(s) => toml_str(s),
        V::I(i) => i.to_string(),
        V::B(b) => b.to_string(),
        V::A(items) => format!(
            "[{}]",
            items.iter().map(inline).collect::<Vec<_>>().join(", ")
        ),
        V::T(entries) => format!(
            "{{ {} }}",
            entries
                .iter()
                .map(|(k, v)| format!("{} = {}", toml_key(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A table as `[path]` and its keys; subtables under headers of their own when `headers`,
/// else inline.
fn render_table(out: &mut String, path: &[String], entries: &[(String, V)], headers: bool) {
    out.push_str(&format!(
        "\n[{}]\n",
        path.iter()
            .map(|p| toml_key(p))
            .collect::<Vec<_>>()
            .join(".")
    ));
    let mut subtables = Vec::new();
    for (k, v) in entries {
        match v {
            V::T(sub) if headers => subtables.push((k, sub)),
            _ => out.push_str(&format!("{} = {}\n", toml_key(k), inline(v))),
        }
    }
    for (k, sub) in subtables {
        let mut p = path.to_vec();
        p.push(k.clone());
        render_table(out, &p, sub, headers);
    }
}

/// A deploy.toml made of these sections, subtables as headers or inline.
#[derive(Debug, Clone)]
struct Doc {
    app: Vec<(String, V)>,
    processes: Vec<(String, V)>,
    cron: Vec<(String, V)>,
    envs: Vec<(String, Vec<(String, V)>)>,
    headers: bool,
}

impl Doc {
    fn render(&self) -> String {
        let mut out = String::new();
        render_table(&mut out, &["app".into()], &self.app, self.headers);
        if !self.processes.is_empty() {
            render_table(
                &mut out,
                &["processes".into()],
                &self.processes,
                self.headers,
            );
        }
        if !self.cron.is_empty() {
            render_table(&mut out, &["cron".into()], &self.cron, self.headers);
        }
        for (name, env) in &self.envs {
            render_table(&mut out, &["env".into(), name.clone()], env, self.headers);
        }
        out
    }
}

fn s(strategy: impl Strategy<Value = String>) -> impl Strategy<Value = V> {
    strategy.prop_map(V::S)
}

/// A whole number (usually in `range`), sometimes a value of the wrong type.
fn int(range: std::ops::Range<i64>) -> impl Strategy<Value = V> {
    prop_oneof![
        8 => range.prop_map(V::I),
        1 => any::<i64>().prop_map(V::I),
        1 => prop_oneof![
            of("0123456789", 1..=3).prop_map(V::S),
            any::<bool>().prop_map(V::B),
        ],
    ]
}

/// Optional keys: each present or not, in a random order.
fn keys(
    entries: Vec<BoxedStrategy<Option<(String, V)>>>,
) -> impl Strategy<Value = Vec<(String, V)>> {
    (entries, any::<Index>()).prop_map(|(e, rot)| {
        let mut out: Vec<(String, V)> = e.into_iter().flatten().collect();
        if !out.is_empty() {
            let r = rot.index(out.len());
            out.rotate_left(r);
        }
        out
    })
}

/// `key = value` with probability `p` (out of 10).
fn opt(
    key: &'static str,
    p: u32,
    v: impl Strategy<Value = V> + 'static,
) -> BoxedStrategy<Option<(String, V)>> {
    prop_oneof![
        p => v.prop_map(move |v| Some((key.to_string(), v))),
        10 - p => Just(None),
    ]
    .boxed()
}

fn string_map(
    key: impl Strategy<Value = String> + 'static,
    value: impl Strategy<Value = String> + 'static,
    n: std::ops::Range<usize>,
) -> impl Strategy<Value = V> {
    btree_map(key, value, n).prop_map(|m| V::T(m.into_iter().map(|(k, v)| (k, V::S(v))).collect()))
}

const VAR_NAMES: &[&str] = &[
    "DEBUG",
    "A_1",
    "_X",
    "SECRET_KEY",
    "1A",
    "",
    "a-b",
    "x.y",
    "app.x",
];
const COMMANDS: &[&str] = &[
    "celery -A shop worker",
    "python manage.py run",
    "",
    "   ",
    "\t",
];
const PROCESS_NAMES: &[&str] = &[
    "web",
    "worker",
    "beat-2",
    "cron",
    "release",
    "supervisor",
    "Bad",
    "a--b",
    "-x",
    "x-",
];

fn app_section() -> impl Strategy<Value = Vec<(String, V)>> {
    let wsgi = prop_oneof![
        20 => s(near(&["hello:app", "myshop.wsgi:application", "hello", ":app", "a:"])),
        1 => int(0..3),
    ];
    (
        wsgi,
        keys(vec![
            opt("name", 2, s(near(&["shop", "my-shop"]))),
            opt(
                "requirements",
                2,
                s(near(&["requirements.txt", "dependencies.txt"])),
            ),
            opt("python", 2, s(near(&["3", "3.11", "/usr/bin/python3"]))),
            opt(
                "health_path",
                3,
                s(near(&["/", "/health", "/ready?x=1", "health", "/a b"])),
            ),
            opt("health_timeout", 2, int(0..120)),
            opt("keep_releases", 3, int(0..10)),
            opt("processes", 3, int(0..6)),
            opt("env", 3, string_map(near(VAR_NAMES), text(), 0..3)),
            opt(
                "release",
                2,
                s(near(&["python manage.py migrate --noinput", ""])),
            ),
            opt(
                "static",
                3,
                btree_map(
                    near(&[
                        "/static/",
                        "/",
                        "/a/b-c_d.e/",
                        "static/",
                        "/static",
                        "/a//b/",
                        "/a/../",
                    ]),
                    near(&[
                        "staticfiles",
                        "build/static/",
                        "public",
                        "..",
                        "/srv/static",
                        ".",
                        "a//b",
                    ]),
                    0..3,
                )
                .prop_map(|m| V::T(m.into_iter().map(|(k, v)| (k, V::S(v))).collect())),
            ),
            opt("helth_path", 1, s(text())),
        ]),
    )
        .prop_map(|(wsgi, mut rest)| {
            rest.insert(0, ("wsgi".into(), wsgi));
            rest
        })
}

fn nginx_table() -> impl Strategy<Value = V> {
    keys(vec![
        opt(
            "listen",
            4,
            s(near(&[
                "80",
                "127.0.0.1:8080",
                "[::]:443",
                "0",
                "80 default_server",
            ])),
        ),
        opt(
            "site",
            3,
            s(near(&[
                "/etc/nginx/sites-enabled/jib.conf",
                "relative.conf",
            ])),
        ),
        opt(
            "reload",
            3,
            vec(
                near(&[
                    "nginx",
                    "-s",
                    "reload",
                    "systemctl",
                    "service",
                    "/usr/sbin/nginx",
                    "rm",
                ]),
                0..4,
            )
            .prop_map(|v| V::A(v.into_iter().map(V::S).collect())),
        ),
        opt("group", 3, s(near(&["www-data", "nginx", "Root", "1abc"]))),
        opt("lisen", 1, s(text())),
    ])
    .prop_map(V::T)
}

fn mongo_table() -> impl Strategy<Value = V> {
    keys(vec![
        opt(
            "url",
            9,
            s(near(&[
                "mongodb://db:27017",
                "mongodb+srv://c.example",
                "http://x",
            ])),
        ),
        opt("prefix", 6, s(near(&["shop", "my_shop"]))),
        opt("database", 3, s(near(&["shop_prod"]))),
        opt("url_var", 2, s(near(VAR_NAMES))),
        opt("db_var", 2, s(near(VAR_NAMES))),
        opt("shell", 2, s(near(&["mongosh", "mongo"]))),
    ])
    .prop_map(V::T)
}

fn tls_table() -> impl Strategy<Value = V> {
    keys(vec![
        opt(
            "cert",
            9,
            s(near(&["/etc/ssl/jib/dev.fullchain.pem", "cert.pem"])),
        ),
        opt("key", 9, s(near(&["/etc/ssl/jib/dev.key", "key.pem"]))),
        opt("listen", 3, s(near(&["443", "127.0.0.1:8443", "443 ssl"]))),
    ])
    .prop_map(V::T)
}

const DOMAINS: &[&str] = &[
    "dev.example.com",
    "localhost",
    "xn--bcher-kva.example",
    "a..b",
    "*.example.com",
    "-a.com",
];

fn env_section() -> impl Strategy<Value = Vec<(String, V)>> {
    let host = s(near(&[
        "dev.example.com",
        "local",
        "deploy@host:2222",
        "-oProxyCommand=x",
        "",
    ]));
    // Branches (domain), a promotion target (domains), both, or neither.
    let names = prop_oneof![
        4 => s(near(DOMAINS)).prop_map(|d| vec![("domain".to_string(), d)]),
        3 => vec(s(near(DOMAINS)), 0..3).prop_map(|d| vec![("domains".to_string(), V::A(d))]),
        1 => (s(near(DOMAINS)), vec(s(near(DOMAINS)), 1..2))
            .prop_map(|(d, ds)| vec![("domain".to_string(), d), ("domains".to_string(), V::A(ds))]),
        1 => Just(vec![]),
    ];
    (
        host,
        names,
        keys(vec![
            opt(
                "root",
                4,
                s(near(&[
                    "/opt/apps",
                    "/srv/jib-apps/v1.2",
                    "relative",
                    "/",
                    "/opt/../etc",
                    "/opt/x/",
                ])),
            ),
            opt("app", 2, s(near(&["prod", "www", "Bad", "a--b"]))),
            opt("promote_from", 1, s(near(&["dev"]))),
            opt("merge_into", 1, s(near(&["main"]))),
            opt("keep_releases", 2, int(0..10)),
            opt("env", 2, string_map(near(VAR_NAMES), text(), 0..3)),
            opt(
                "listen",
                3,
                s(near(&[
                    "127.0.0.1:8080",
                    "80",
                    "[::1]:80",
                    "*:80",
                    "localhost:8080",
                    "0",
                    "65536",
                    "::1:80",
                ])),
            ),
            opt(
                "run_as",
                3,
                s(near(&["jibapps", "www-data", "_apt", "Root", "1abc"])),
            ),
            opt(
                "idle",
                3,
                s(prop_oneof![
                    3 => near(&["15m", "90s", "2h", "14d", "1w", "0s", "0", "1x", " 5m "]),
                    // Past u64 once multiplied by the unit.
                    1 => (any::<u64>(), select(vec!["", "s", "m", "h", "d", "w"]))
                        .prop_map(|(n, u)| format!("{n}{u}")),
                ]),
            ),
            opt("nginx", 3, nginx_table()),
            opt("mongo", 2, mongo_table()),
            opt("tls", 2, tls_table()),
            opt("domian", 1, s(text())),
        ]),
    )
        .prop_map(|(host, names, rest)| {
            let mut out = vec![("host".to_string(), host)];
            out.extend(names);
            out.extend(rest);
            out
        })
}

fn schedule() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => (
            select(vec!["", " ", "\t"]),
            vec(select(vec!["*", "*/5", "0", "30", "1-5", "1,15", "1-10/2", "60", "a", "mon", "*/0", "-"]), 0..9),
            vec(select(vec![" ", "  ", "\t", " \u{a0}", "\u{3000}"]), 1..3),
            select(vec!["", " ", "\n"]),
        )
            .prop_map(|(lead, fields, seps, trail)| {
                let mut out = lead.to_string();
                for (i, f) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(seps[i % seps.len()]);
                    }
                    out.push_str(f);
                }
                out.push_str(trail);
                out
            }),
        1 => any_text(16),
        1 => hostile_text(10),
    ]
}

fn doc() -> impl Strategy<Value = Doc> {
    (
        app_section(),
        prop_oneof![
            3 => Just(BTreeMap::new()),
            1 => btree_map(near(PROCESS_NAMES), near(COMMANDS), 0..3),
        ],
        prop_oneof![
            3 => Just(BTreeMap::new()),
            1 => btree_map(schedule(), near(COMMANDS), 0..3),
        ],
        btree_map(
            near(&["dev", "prod", "staging", "Dev_2", "a;b", "-x", ""]),
            env_section(),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(app, processes, cron, envs, headers)| Doc {
            app,
            processes: processes.into_iter().map(|(k, v)| (k, V::S(v))).collect(),
            cron: cron.into_iter().map(|(k, v)| (k, V::S(v))).collect(),
            envs: envs.into_iter().collect(),
            headers,
        })
}

/// The start of a message that says where it is about without a line: the section or key
/// (`app.`, `env.<name>`, `[env.<name>]`) or the entry (a variable, a process, a cron line).
const NAMED: &[&str] = &[
    "app.",
    "env.",
    "[env.",
    "environment variable name ",
    "[processes]/[cron] ",
    "cron schedule ",
    "process name ",
];

/// An error of `Config::parse(text)` says where: `deploy.toml:<line>[:<col>]: message` with
/// that line of `text` quoted under it (when there is a column), or `deploy.toml: ` and a
/// message that starts by naming its section, key or entry.
fn check_located(err: &str, text: &str) -> Result<(), TestCaseError> {
    let Some(rest) = err.strip_prefix(config::FILE_NAME) else {
        return Err(TestCaseError::fail(format!(
            "not about deploy.toml: {err:?}"
        )));
    };
    if let Some(msg) = rest.strip_prefix(": ") {
        prop_assert!(
            NAMED.iter().any(|p| msg.starts_with(p)),
            "an error without a line must name its section, key or entry: {:?}\n--- text ---\n{}",
            err,
            text
        );
        return Ok(());
    }
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| TestCaseError::fail(format!("no location: {err:?}")))?;
    let digits = |s: &str| s.bytes().take_while(u8::is_ascii_digit).count();
    let n = digits(rest);
    prop_assert!(n > 0, "no line number: {:?}", err);
    let line: usize = rest[..n].parse().unwrap();
    let lines = text.lines().count();
    prop_assert!(
        (1..=lines + 1).contains(&line),
        "line {} of {}: {:?}",
        line,
        lines,
        err
    );
    let rest = &rest[n..];
    let (col, msg) = match rest.strip_prefix(':') {
        Some(r) if digits(r) > 0 => {
            let m = digits(r);
            (Some(r[..m].parse::<usize>().unwrap()), &r[m..])
        }
        _ => (None, rest),
    };
    let msg = msg
        .strip_prefix(": ")
        .ok_or_else(|| TestCaseError::fail(format!("no message after the location: {err:?}")))?;
    prop_assert!(!msg.trim().is_empty(), "empty message: {:?}", err);
    if let Some(col) = col {
        let quoted = text.lines().nth(line - 1).unwrap_or("");
        prop_assert!(
            col >= 1 && col <= quoted.chars().count() + 1,
            "column {} of {:?}: {:?}",
            col,
            quoted,
            err
        );
        let shown = format!(
            "\n  {line:>4} | {quoted}\n       | {}^",
            " ".repeat(col - 1)
        );
        prop_assert!(
            err.contains(&shown),
            "the line is not quoted under the message: {:?}",
            err
        );
    }
    Ok(())
}

/// Parses `text`: never a panic; an error says where; what is accepted, the agent accepts.
fn check_parse(text: &str) -> Result<Option<Config>, TestCaseError> {
    match Config::parse(text) {
        Err(e) => {
            check_located(&e.to_string(), text)?;
            Ok(None)
        }
        Ok(cfg) => {
            for (name, env) in &cfg.env {
                // What the CLI sends; the agent checks it again (`ServerConfig::check`).
                let server = env.server_config(name, &cfg.app, || PathBuf::from("/tmp/jib-local"));
                prop_assert!(
                    server.is_ok(),
                    "deploy.toml was accepted but env.{} is refused later: {:#}\n--- text ---\n{}",
                    name,
                    server.unwrap_err(),
                    text
                );
                let server = server.unwrap();
                prop_assert_eq!(server.check(), Ok(()));
                let spec = cfg.build_spec(name, env, "feature-x");
                prop_assert!(spec.keep_releases >= 1);
                let _ = config::app_url("feature-x", &server);
            }
            Ok(Some(cfg))
        }
    }
}

/// Lines of something like deploy.toml, right and wrong.
fn toml_line() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => select(vec![
            "[app]", "[env.dev]", "[env.dev.nginx]", "[env.dev.tls]", "[env.dev.mongo]", "[processes]",
            "[cron]", "[app.env]", "[app.static]", "[[app]]", "[env]", "[env.\"a;b\"]", "[", "]", "[env.dev",
            "wsgi = \"hello:app\"", "host = \"local\"", "domain = \"dev.example.com\"", "domains = [\"a.b\"]",
            "listen = \"127.0.0.1:8080\"", "root = \"/opt/apps\"", "idle = \"15m\"", "run_as = \"jibapps\"",
            "nginx = { listen = \"80\" }", "tls = { cert = \"/c\", key = \"/k\" }", "processes = 2",
            "web = \"python run.py\"", "\"*/5 * * * *\" = \"python job.py\"", "keep_releases = 0",
            "env.dev.host = \"x\"", "a.b.c = 1", "x = \"\"\"", "\"\"\"", "y = '''a", "= 1", "x =", "x = [",
            "x = {", "x = 1979-05-27T07:32:00Z", "x = inf", "x = 0x_1", "x = 1e1000", "# comment", "",
            "\u{feff}[app]", "x = \"\\uD800\"", "x = \"\\U0011FFFF\"", "\t  wsgi = 'a:b'  # c",
        ])
        .prop_map(str::to_string),
        1 => (select(vec!["wsgi", "host", "domain", "root", "listen", "idle", "nginx", "x"]), text())
            .prop_map(|(k, v)| format!("{k} = {}", toml_str(&v))),
        1 => any_text(20),
    ]
}

/// `text` with a few edits: a cut, an insertion, a deletion, a line doubled or dropped.
fn mutate(text: String, edits: Vec<(u8, Index, Index, String)>) -> String {
    let mut t = text;
    for (kind, a, b, ins) in edits {
        let bounds: Vec<usize> = t.char_indices().map(|(i, _)| i).chain([t.len()]).collect();
        let i = bounds[a.index(bounds.len())];
        let j = bounds[b.index(bounds.len())];
        let (lo, hi) = (i.min(j), i.max(j));
        match kind % 5 {
            0 => t.truncate(lo),
            1 => t.insert_str(lo, &ins),
            2 => {
                let end = bounds
                    .iter()
                    .copied()
                    .filter(|&k| k <= lo + 8)
                    .max()
                    .unwrap_or(lo);
                t.replace_range(lo..hi.min(end), "");
            }
            3 => {
                let mut lines: Vec<&str> = t.lines().collect();
                if !lines.is_empty() {
                    let k = a.index(lines.len());
                    lines.insert(k, lines[k]);
                }
                t = lines.join("\n");
            }
            _ => {
                let mut lines: Vec<&str> = t.lines().collect();
                if !lines.is_empty() {
                    lines.remove(b.index(lines.len()));
                }
                t = lines.join("\n");
            }
        }
    }
    t
}

// Valid documents, and one fault in one.

/// Picks one of `goods`.
fn good(goods: &'static [&'static str]) -> impl Strategy<Value = V> {
    select(goods).prop_map(|g| V::S(g.to_string()))
}

fn valid_vars() -> impl Strategy<Value = V> {
    btree_map(
        (of("ABCXYZ_", 1..=1), of("ABCXYZ019_", 0..=8)).prop_map(|(a, b)| a + &b),
        text(),
        0..3,
    )
    .prop_map(|m| V::T(m.into_iter().map(|(k, v)| (k, V::S(v))).collect()))
}

fn valid_command() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "celery -A shop worker",
            "python manage.py clearsessions",
            "./run.sh"
        ])
        .prop_map(str::to_string),
        (text(), of("abcxyz", 1..=4)).prop_map(|(t, w)| format!("{t}{w}")),
    ]
}

fn valid_app() -> impl Strategy<Value = Vec<(String, V)>> {
    (
        good(&["hello:app", "myshop.wsgi:application", "a.b.c:make_app()"]),
        keys(vec![
            opt("name", 2, good(&["shop", "my-shop"])),
            opt(
                "requirements",
                2,
                good(&["requirements.txt", "dependencies.txt"]),
            ),
            opt("python", 2, good(&["3", "3.11", "/usr/bin/python3"])),
            opt(
                "health_path",
                3,
                good(&["/", "/health", "/ready?x=1", "/a%20b"]),
            ),
            opt("health_timeout", 2, (1i64..120).prop_map(V::I)),
            opt("keep_releases", 3, (1i64..10).prop_map(V::I)),
            opt("processes", 3, (2i64..6).prop_map(V::I)),
            opt("env", 3, valid_vars()),
            opt("release", 2, good(&["python manage.py migrate --noinput"])),
            opt(
                "static",
                3,
                btree_map(
                    select(vec!["/static/", "/", "/a/b-c_d.e/", "/media/"]),
                    select(vec![
                        "staticfiles",
                        "build/static/",
                        "public",
                        "a/.well-known",
                    ]),
                    1..3,
                )
                .prop_map(|m| {
                    V::T(
                        m.into_iter()
                            .map(|(k, v)| (k.to_string(), V::S(v.to_string())))
                            .collect(),
                    )
                }),
            ),
        ]),
    )
        .prop_map(|(wsgi, mut rest)| {
            rest.insert(0, ("wsgi".into(), wsgi));
            rest
        })
}

/// A valid `[env.<name>]`: a branch environment or a promotion target, on a server or local,
/// with what goes together (idle and tls need nginx in local mode, idle never on prod, a
/// mongo database only on prod).
fn valid_env() -> impl Strategy<Value = Vec<(String, V)>> {
    (
        any::<bool>(),
        good(&[
            "dev.example.com",
            "deploy@host:2222",
            "local",
            "ssh://d@h:22",
        ]),
        good(&[
            "dev.example.com",
            "localhost",
            "xn--bcher-kva.example",
            "a-b.c1",
        ]),
        vec(
            good(&["www.example.com", "example.com", "shop.example"]),
            1..3,
        ),
        keys(vec![
            opt(
                "root",
                4,
                good(&["/opt/apps", "/srv/jib-apps/v1.2", "/tmp/.tmpAbC_1"]),
            ),
            opt("promote_from", 1, good(&["dev"])),
            opt("merge_into", 1, good(&["main"])),
            opt("keep_releases", 2, (1i64..10).prop_map(V::I)),
            opt("env", 2, valid_vars()),
            opt(
                "listen",
                3,
                good(&[
                    "127.0.0.1:8080",
                    "80",
                    "[::1]:80",
                    "*:80",
                    "localhost:8080",
                    "65535",
                ]),
            ),
            opt("run_as", 3, good(&["jibapps", "www-data", "_apt"])),
            opt(
                "nginx",
                4,
                keys(vec![
                    opt("listen", 4, good(&["80", "127.0.0.1:8080", "[::]:443"])),
                    opt("site", 3, good(&["/etc/nginx/sites-enabled/jib.conf"])),
                    opt(
                        "reload",
                        3,
                        select(vec![
                            vec!["nginx", "-s", "reload"],
                            vec!["systemctl", "reload", "nginx"],
                            vec!["/usr/sbin/service", "nginx", "reload"],
                            vec!["nginx"],
                        ])
                        .prop_map(|a| V::A(a.into_iter().map(|s| V::S(s.into())).collect())),
                    ),
                    opt("group", 3, good(&["www-data", "nginx", "_www"])),
                ])
                .prop_map(V::T),
            ),
            opt(
                "mongo",
                2,
                keys(vec![
                    opt(
                        "url",
                        10,
                        good(&["mongodb://db:27017", "mongodb+srv://c.example/?x=1"]),
                    ),
                    opt("prefix", 10, good(&["shop", "my_shop"])),
                    opt("database", 5, good(&["shop_prod"])),
                    opt("url_var", 2, good(&["MONGO_URL", "DB_URL"])),
                    opt("db_var", 2, good(&["MONGO_DB", "_DB"])),
                    opt("shell", 2, good(&["mongosh", "mongo"])),
                ])
                .prop_map(V::T),
            ),
            opt(
                "tls",
                2,
                keys(vec![
                    opt("cert", 10, good(&["/etc/ssl/jib/dev.fullchain.pem"])),
                    opt("key", 10, good(&["/etc/ssl/jib/dev.key"])),
                    opt("listen", 3, good(&["443", "127.0.0.1:8443"])),
                ])
                .prop_map(V::T),
            ),
            opt("idle", 3, good(&["15m", "90s", "2h", "1w", "1", " 5m "])),
            opt("app", 2, good(&["prod", "www", "shop-2"])),
        ]),
    )
        .prop_map(|(prod, host, domain, domains, rest)| {
            let local = matches!(&host, V::S(h) if h == "local");
            let nginx = rest.iter().any(|(k, _)| k == "nginx");
            let mut out = vec![("host".to_string(), host)];
            if prod {
                out.push(("domains".into(), V::A(domains)));
            } else {
                out.push(("domain".into(), domain));
            }
            for (k, mut v) in rest {
                match k.as_str() {
                    "idle" if prod || (local && !nginx) => continue,
                    "tls" if local && !nginx => continue,
                    "app" if !prod => continue,
                    "mongo" => {
                        if let V::T(m) = &mut v {
                            if !prod {
                                m.retain(|(k, _)| k != "database");
                            }
                            if !m.iter().any(|(k, _)| k == "url") {
                                m.push(("url".into(), V::S("mongodb://db:27017".into())));
                            }
                            if !m.iter().any(|(k, _)| k == "prefix" || k == "database") {
                                m.push(("prefix".into(), V::S("shop".into())));
                            }
                        }
                    }
                    "tls" => {
                        if let V::T(t) = &mut v {
                            for key in ["cert", "key"] {
                                if !t.iter().any(|(k, _)| k == key) {
                                    t.push((key.into(), V::S(format!("/etc/ssl/{key}.pem"))));
                                }
                            }
                        }
                    }
                    _ => {}
                }
                out.push((k, v));
            }
            out
        })
}

/// The fields of a cron schedule as the supervisor has them, seconds first: name, lowest,
/// highest (jib_procs.py's FIELDS; a weekday of 7 is Sunday).
const CRON: [(&str, u64, u64); 6] = [
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day", 1, 31),
    ("month", 1, 12),
    ("weekday", 0, 7),
];

/// One valid item of a field from `lo` to `hi`: `*`, `*/n`, `a`, `a-b`, `a-b/n` or `a/n`.
fn cron_item(lo: u64, hi: u64) -> impl Strategy<Value = String> {
    (lo..=hi, lo..=hi, 1u64..=70, 0u8..6).prop_map(move |(a, b, n, form)| {
        let (a, b) = (a.min(b), a.max(b));
        match form {
            0 => "*".to_string(),
            1 => format!("*/{n}"),
            2 => a.to_string(),
            3 => format!("{a}-{b}"),
            4 => format!("{a}-{b}/{n}"),
            _ => format!("{a}/{n}"),
        }
    })
}

/// A valid field: a list of one to three items.
fn cron_field(lo: u64, hi: u64) -> impl Strategy<Value = String> {
    vec(cron_item(lo, hi), 1..=3).prop_map(|items| items.join(","))
}

/// A valid schedule: 5 fields, or 6 with seconds first, any whitespace between them.
fn valid_schedule() -> impl Strategy<Value = String> {
    let fields: Vec<_> = CRON.iter().map(|&(_, lo, hi)| cron_field(lo, hi)).collect();
    (
        any::<bool>(),
        fields,
        select(vec![" ", "  ", "\t", " \u{a0}"]),
    )
        .prop_map(|(six, fields, sep)| fields[if six { 0 } else { 1 }..].join(sep))
}

fn valid_doc() -> impl Strategy<Value = Doc> {
    (
        valid_app(),
        btree_map(
            (of(LOWER_DIGITS, 1..=5), option::of(of(LOWER_DIGITS, 1..=5)))
                .prop_map(|(a, b)| b.map_or(a.clone(), |b| format!("{a}-{b}")))
                .prop_filter("reserved", |n| {
                    !["cron", "release", "supervisor"].contains(&n.as_str())
                }),
            valid_command(),
            0..3,
        ),
        btree_map(valid_schedule(), valid_command(), 0..3),
        btree_map(
            (of(LOWER_DIGITS, 1..=1), of("abz09_-", 0..=8)).prop_map(|(a, b)| a + &b),
            valid_env(),
            0..3,
        ),
        any::<bool>(),
    )
        .prop_map(|(app, processes, cron, mut envs, headers)| {
            // A promotion target's app is named after it unless it says otherwise.
            for (name, env) in envs.iter_mut() {
                let has = |k: &str| env.iter().any(|(key, _)| key == k);
                if has("domains") && !has("app") && !slug::is_app_name(name) {
                    env.push(("app".into(), V::S("prod".into())));
                }
            }
            Doc {
                app,
                processes: processes.into_iter().map(|(k, v)| (k, V::S(v))).collect(),
                cron: cron.into_iter().map(|(k, v)| (k, V::S(v))).collect(),
                envs: envs.into_iter().collect(),
                headers,
            }
        })
}

/// Every value of `entries` (in tables and arrays), with the keys leading to it.
fn leaves<'a>(
    entries: &'a mut [(String, V)],
    path: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, &'a mut V)>,
) {
    for (k, v) in entries.iter_mut() {
        path.push(k.clone());
        match v {
            V::T(sub) => leaves(sub, path, out),
            V::A(items) => {
                for item in items.iter_mut() {
                    out.push((path.clone(), item));
                }
            }
            v => out.push((path.clone(), v)),
        }
        path.pop();
    }
}

/// What replaces the value: the value with a hostile character spliced in, something
/// arbitrary, an empty string, a number at either end, a value of another type.
fn fault() -> impl Strategy<Value = (u8, Index, char, String, i64)> {
    (
        0u8..6,
        any::<Index>(),
        select(HOSTILE),
        any_text(12),
        select(vec![-1i64, 0, 1, i64::MAX, i64::MIN, 65536]),
    )
}

fn apply_fault(v: &mut V, (kind, at, c, any, n): (u8, Index, char, String, i64)) {
    *v = match (kind, &*v) {
        (0 | 1, V::S(s)) => {
            let mut chars: Vec<char> = s.chars().collect();
            chars.insert(at.index(chars.len() + 1), c);
            V::S(String::from_iter(chars))
        }
        (2, _) => V::S(any),
        (3, _) => V::S(String::new()),
        (4, _) => V::I(n),
        _ => match at.index(3) {
            0 => V::B(true),
            1 => V::A(vec![V::S(any)]),
            _ => V::T(vec![("x".into(), V::I(n))]),
        },
    };
}

/// The unit `parse_duration` reads after the number, as a multiplier.
fn unit_secs(unit: &str) -> Option<u128> {
    match unit.trim() {
        "" | "s" => Some(1),
        "m" => Some(60),
        "h" => Some(3600),
        "d" => Some(86400),
        "w" => Some(7 * 86400),
        _ => None,
    }
}

proptest! {
    #![proptest_config(cases(4000))]

    /// `idle` and `--older-than`: a number and a unit is exactly that many seconds, or an
    /// error when that is past u64 (never a panic, never a wrapped-around small number).
    #[test]
    fn durations_are_exact_or_refused(
        n in prop_oneof![0u64..100_000, any::<u64>(), (u64::MAX / 604_800)..=(u64::MAX / 60)],
        unit in select(vec!["", "s", "m", "h", "d", "w", " m", "x", "ms", "s1"]),
        pad in select(vec!["", " ", "\t"]),
    ) {
        let text = format!("{pad}{n}{unit}{pad}");
        let got = config::parse_duration(&text);
        match unit_secs(unit).map(|m| n as u128 * m) {
            Some(secs) if secs <= u64::MAX as u128 => prop_assert_eq!(got.ok(), Some(secs as u64)),
            _ => prop_assert!(got.is_err(), "{:?} -> {:?}", text, got.ok()),
        }
    }

    #[test]
    fn durations_of_anything_never_panic(text in prop_oneof![any_text(12), (of("0123456789", 15..=25), of("smhdw", 0..=1)).prop_map(|(n, u)| n + &u)]) {
        let _ = config::parse_duration(&text);
    }
}

const MINIMAL: &str = "[app]\nwsgi = \"hello:app\"\n\n[env.dev]\nhost = \"dev.example.com\"\ndomain = \"dev.example.com\"\n";

proptest! {
    #![proptest_config(cases(2000))]

    /// Structured random deploy.toml files (every section and key, good values, values with a
    /// hostile character, wrong types, typos; subtables under headers or inline).
    #[test]
    fn structured_documents_are_accepted_or_refused_with_a_location(d in doc()) {
        let text = d.render();
        check_parse(&text)?;
    }

    /// Valid documents (every section and key, in any combination that goes together) are
    /// accepted, and the CLI's server configuration of each environment too.
    #[test]
    fn valid_documents_are_accepted(d in valid_doc()) {
        let text = d.render();
        if let Err(e) = Config::parse(&text) {
            return Err(TestCaseError::fail(format!("{e:#}\n--- text ---\n{text}")));
        }
        check_parse(&text)?;
    }

    /// One value of a valid document changed (a hostile character, another type, a number
    /// at either end, anything): accepted (and then by the agent's check too), or refused
    /// with the line of that key, or a message naming it.
    #[test]
    fn one_fault_is_refused_where_it_is(mut d in valid_doc(), which in any::<Index>(), f in fault()) {
        let mut all = Vec::new();
        leaves(&mut d.app, &mut vec!["app".into()], &mut all);
        leaves(&mut d.processes, &mut vec!["processes".into()], &mut all);
        leaves(&mut d.cron, &mut vec!["cron".into()], &mut all);
        for (name, env) in d.envs.iter_mut() {
            leaves(env, &mut vec!["env".into(), name.clone()], &mut all);
        }
        let (path, v) = all.swap_remove(which.index(all.len()));
        apply_fault(v, f);
        let text = d.render();
        let Some(err) = Config::parse(&text).err().map(|e| e.to_string()) else {
            check_parse(&text)?;
            return Ok(());
        };
        check_located(&err, &text)?;
        // The key, or the table it is in (an inline table's key, a section's header): the
        // key of the line pointed at, or named by a message without a line.
        let first = err.lines().next().unwrap_or("");
        let names = [&path[path.len() - 1], &path[path.len() - 2]];
        let pointed = first
            .strip_prefix("deploy.toml:")
            .and_then(|r| r.split(':').next())
            .and_then(|l| l.parse::<usize>().ok())
            .map(|l| text.lines().nth(l - 1).unwrap_or(""));
        let here = match pointed {
            Some(line) => {
                let t = line.trim();
                names.iter().any(|k| match t.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
                    Some(header) => header.ends_with(&format!(".{}", toml_key(k))),
                    None => t.split('=').next().unwrap_or("").trim() == toml_key(k),
                })
            }
            None => names.iter().any(|k| first.contains(k.as_str())),
        };
        prop_assert!(
            here,
            "the fault at {:?} is not where the error points: {}\n--- text ---\n{}",
            path,
            err,
            text
        );
    }

    /// Arbitrary text, and lines that are almost deploy.toml.
    #[test]
    fn arbitrary_text_is_refused_with_a_location(
        text in prop_oneof![
            1 => any_text(200),
            3 => vec(toml_line(), 0..16).prop_map(|l| l.join("\n")),
        ],
    ) {
        check_parse(&text)?;
    }

    /// Random documents, cut, spliced and shuffled.
    #[test]
    fn mutated_documents_are_refused_with_a_location(
        d in doc(),
        edits in vec((any::<u8>(), any::<Index>(), any::<Index>(), prop_oneof![toml_line(), hostile_text(4)]), 1..4),
    ) {
        check_parse(&mutate(d.render(), edits))?;
    }
}

// ---------------------------------------------------------------------------------------------
// cron: deploy.toml's [cron], checked as the Python supervisor reads it
// ---------------------------------------------------------------------------------------------

/// How the supervisor (jib_procs.py's `Cron` and `parse_field`) reads `schedule`, written
/// independently: `Err(None)` for a wrong number of fields, `Err(Some(field))` for the first
/// field it cannot read. Python's `int` also takes `+5`, `1_0` and other scripts' digits;
/// deploy.toml does not, and nothing here makes them.
fn model_cron(schedule: &str) -> Result<(), Option<&'static str>> {
    // str.split(): Unicode whitespace and U+001C..U+001F.
    let fields: Vec<&str> = schedule
        .split(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
        .filter(|f| !f.is_empty())
        .collect();
    let names = match fields.len() {
        5 => &CRON[1..],
        6 => &CRON[..],
        _ => return Err(None),
    };
    let int = |t: &str| {
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u128>().unwrap_or(u128::MAX))
    };
    for (field, &(name, lo, hi)) in fields.iter().zip(names) {
        let (lo, hi) = (lo as u128, hi as u128);
        let readable = field.split(',').all(|part| {
            let (span, step) = match part.find('/') {
                Some(i) => (&part[..i], Some(&part[i + 1..])),
                None => (part, None),
            };
            let (first, last) = if span == "*" {
                (Some(lo), Some(hi))
            } else if let Some(i) = span.find('-') {
                (int(&span[..i]), int(&span[i + 1..]))
            } else {
                let a = int(span);
                (a, if step.is_some() { Some(hi) } else { a })
            };
            let step = match step {
                Some(t) => int(t),
                None => Some(1),
            };
            matches!((first, last, step), (Some(a), Some(b), Some(n))
                if n >= 1 && lo <= a && a <= b && b <= hi)
        });
        if !readable {
            return Err(Some(name));
        }
    }
    Ok(())
}

/// Schedules over the alphabet of the grammar and a little beyond: valid ones, ones with an
/// item out of range or mangled, random strings of `0-9*,-/`, names and aliases, 4 to 7
/// fields, Python's other whitespace.
fn grammar_schedule() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        4 => select(CRON.to_vec()).prop_flat_map(|(_, lo, hi)| cron_field(lo, hi)),
        2 => of("0123456789*,-/", 1..=6),
        1 => select(vec!["60", "24", "32", "13", "8", "0", "99999999999999999999", "*/0", "5-1", "1,,2", "-", "/", "jan", "mon", "@daily", "+5", "1_0", "٣"]).prop_map(str::to_string),
    ];
    (
        vec(field, 4..=7),
        vec(
            select(vec![
                " ", "\t", "  ", "\u{a0}", "\u{1f}", "\u{85}", "\u{3000}",
            ]),
            6,
        ),
    )
        .prop_map(|(fields, seps)| {
            let mut out = String::new();
            for (i, f) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(seps[i % seps.len()]);
                }
                out.push_str(f);
            }
            out
        })
}

/// Whether jib_procs.py's `Cron` reads each schedule (one Python for all of them).
fn python_reads(schedules: &[String]) -> Vec<bool> {
    use std::io::Write;
    const SCRIPT: &str = "import json, sys\n\
        sys.path.insert(0, sys.argv[1])\n\
        from jib_procs import Cron\n\
        for line in sys.stdin:\n\
        \x20   try:\n\
        \x20       Cron(json.loads(line), '')\n\
        \x20       print(1)\n\
        \x20   except Exception:\n\
        \x20       print(0)\n";
    let assets = concat!(env!("CARGO_MANIFEST_DIR"), "/src/assets");
    let mut child = std::process::Command::new("python3")
        .args(["-c", SCRIPT, assets])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3, to ask the supervisor itself");
    let mut input = String::new();
    for s in schedules {
        input.push_str(&serde_json::to_string(s).unwrap());
        input.push('\n');
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "python3 failed");
    let answers: Vec<bool> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l == "1")
        .collect();
    assert_eq!(
        answers.len(),
        schedules.len(),
        "python3 answered {answers:?}"
    );
    answers
}

proptest! {
    #![proptest_config(cases(2000))]

    /// `[cron]` is accepted exactly when every command is non-blank and every schedule is one
    /// the supervisor reads; a refusal names the first bad entry (quoted as the message quotes
    /// it) and, for a field it cannot read, that field.
    #[test]
    fn cron_entries_are_checked_and_a_refusal_names_the_entry(
        entries in btree_map(schedule(), near(COMMANDS), 0..5),
    ) {
        let mut text = format!("{MINIMAL}\n[cron]\n");
        for (sched, cmd) in &entries {
            text.push_str(&format!("{} = {}\n", toml_key(sched), toml_str(cmd)));
        }
        let blank = entries.iter().find(|(_, c)| c.trim().is_empty());
        let unread = entries.keys().find_map(|s| model_cron(s).err().map(|field| (s, field)));
        match Config::parse(&text) {
            Ok(cfg) => {
                prop_assert!(blank.is_none() && unread.is_none(), "accepted: {:?}", entries);
                prop_assert_eq!(cfg.cron, entries);
            }
            Err(e) => {
                let e = e.to_string();
                check_located(&e, &text)?;
                // Blank commands are looked for first.
                let (bad, field) = match (blank, unread) {
                    (Some((s, _)), _) => (s, None),
                    (None, Some((s, field))) => (s, field),
                    (None, None) => return Err(TestCaseError::fail(format!("refused: {e}"))),
                };
                prop_assert!(e.contains(&format!("{bad:?}")), "{:?} is not named: {}", bad, e);
                if let Some(field) = field {
                    prop_assert!(e.contains(&format!(": {field} \"")), "{} is not named: {}", field, e);
                }
            }
        }
    }

    /// Valid random schedules (any field, lists, ranges, steps, 5 or 6 fields) are accepted.
    #[test]
    fn valid_cron_schedules_are_accepted(sched in valid_schedule()) {
        prop_assert_eq!(model_cron(&sched), Ok(()));
        let text = format!("{MINIMAL}\n[cron]\n{} = \"true\"\n", toml_key(&sched));
        if let Err(e) = Config::parse(&text) {
            return Err(TestCaseError::fail(format!("{e:#}\n--- text ---\n{text}")));
        }
    }

    /// One value out of its field's range (alone, ending or starting a range, in a list, or
    /// before a step) in an otherwise valid schedule: refused, naming the schedule, the field
    /// and the value, at the schedule's line.
    #[test]
    fn a_value_out_of_range_is_refused_naming_its_field(
        sched in valid_schedule(),
        which in any::<Index>(),
        over in prop_oneof![1u64..=100, Just(1_000_000)],
        below in any::<bool>(),
        form in 0u8..5,
    ) {
        let fields: Vec<&str> = sched.split([' ', '\t', '\u{a0}']).filter(|f| !f.is_empty()).collect();
        let names = if fields.len() == 6 { &CRON[..] } else { &CRON[1..] };
        let i = which.index(fields.len());
        let (name, lo, hi) = names[i];
        // Below the range only where there is room (day and month start at 1).
        let v = if below && lo > 0 { lo - 1 } else { hi + over };
        let item = match form {
            0 => v.to_string(),
            1 if v > hi => format!("{lo}-{v}"),
            1 => format!("{v}-{hi}"),
            2 => format!("*,{v}"),
            3 => format!("{v}/2"),
            _ if v > hi => format!("{lo}-{v}/3"),
            _ => format!("{v}-{hi}/3"),
        };
        let mut bad: Vec<String> = fields.iter().map(|f| f.to_string()).collect();
        bad[i] = item.clone();
        let bad = bad.join(" ");
        prop_assert_eq!(model_cron(&bad), Err(Some(name)));
        let text = format!("{MINIMAL}\n[cron]\n{} = \"true\"\n", toml_key(&bad));
        let e = Config::parse(&text).err().map(|e| e.to_string()).unwrap_or_default();
        check_located(&e, &text)?;
        let line = MINIMAL.lines().count() + 3;
        prop_assert!(e.starts_with(&format!("deploy.toml:{line}:1: cron schedule {bad:?}: ")), "{}", e);
        prop_assert!(
            e.contains(&format!(": {name} {item:?}: {v} is out of range {lo}-{hi}")),
            "{} {:?} is not named with {}: {}", name, item, v, e
        );
    }
}

proptest! {
    #![proptest_config(cases(8))]

    /// deploy.toml accepts exactly the schedules the supervisor reads: jib_procs.py itself is
    /// asked about 250 schedules a case, valid, out of range, mangled and random.
    #[test]
    fn deploy_toml_and_the_supervisor_agree_on_every_schedule(
        schedules in vec(grammar_schedule(), 250),
    ) {
        let python = python_reads(&schedules);
        for (s, py) in schedules.iter().zip(python) {
            let rust = config::check_cron_schedule(s);
            // Python's int() also reads `+5`, `1_0` and `٣`: deploy.toml refuses those (and
            // the model has no such numbers).
            if ["+", "_", "٣"].iter().any(|q| s.contains(q)) {
                prop_assert!(rust.is_err() || py, "{:?}", s);
                continue;
            }
            prop_assert_eq!(model_cron(s).is_ok(), py, "the model and jib_procs.py disagree on {:?}", s);
            prop_assert_eq!(rust.is_ok(), py, "{:?}: deploy.toml says {:?}", s, rust);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// protocol: JSON lines between jib and jib-agent
// ---------------------------------------------------------------------------------------------

fn small_vec<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Vec<T>> {
    vec(s, 0..3)
}

fn smap() -> impl Strategy<Value = BTreeMap<String, String>> {
    btree_map(text(), text(), 0..3)
}

fn path() -> impl Strategy<Value = PathBuf> {
    text().prop_map(PathBuf::from)
}

fn server_config() -> impl Strategy<Value = ServerConfig> {
    (
        (
            path(),
            text(),
            prop_oneof![Just(RouterKind::Nginx), Just(RouterKind::Http)],
            text(),
            option::of(path()),
            small_vec(text()),
            option::of(text()),
            any::<u32>(),
        ),
        (
            option::of(text()),
            small_vec(text()),
            smap(),
            option::of(
                (
                    path(),
                    path(),
                    text(),
                    option::of((
                        text(),
                        option::of(text()),
                        option::of(path()),
                        option::of(any::<u64>()),
                    )),
                )
                    .prop_map(|(cert, key, listen, acme)| TlsConfig {
                        cert,
                        key,
                        listen,
                        acme: acme.map(|(directory, email, ca, renew_after_secs)| {
                            jib::protocol::AcmeConfig {
                                directory,
                                email,
                                ca,
                                dns: None,
                                renew_after_secs,
                            }
                        }),
                    })
                    // Boxed: the nested strategy types otherwise overflow the test's stack.
                    .boxed(),
            ),
            option::of(text()),
            option::of(any::<u64>()),
            any::<bool>(),
            option::of(option::of(path()).prop_map(|users_file| IndexConfig { users_file })),
        ),
    )
        .prop_map(
            |(
                (root, domain, router, listen, nginx_site, nginx_reload, nginx_group, processes),
                (run_as, names, static_files, tls, app, idle_secs, supervise, index),
            )| ServerConfig {
                root,
                domain,
                router,
                listen,
                nginx_site,
                nginx_reload,
                nginx_group,
                processes,
                run_as,
                names,
                static_files,
                tls,
                app,
                idle_secs,
                supervise,
                // One machine of a fleet, some of the time.
                fleet: supervise.then(|| jib::protocol::FleetRole {
                    private: "10.0.0.0/8".into(),
                    node: true,
                    router: false,
                }),
                index,
            },
        )
}

fn build_spec() -> impl Strategy<Value = BuildSpec> {
    (
        text(),
        option::of(text()),
        text(),
        smap(),
        text(),
        any::<u64>(),
        any::<usize>(),
        option::of(text()),
        smap(),
        smap(),
    )
        .prop_map(
            |(
                entry,
                requirements,
                python,
                env,
                health_path,
                health_timeout_secs,
                keep_releases,
                release,
                processes,
                cron,
            )| {
                BuildSpec {
                    entry,
                    requirements,
                    python,
                    env,
                    health_path,
                    health_timeout_secs,
                    keep_releases,
                    release,
                    processes,
                    cron,
                }
            },
        )
}

fn release_state() -> impl Strategy<Value = ReleaseState> {
    prop_oneof![
        Just(ReleaseState::Pending),
        Just(ReleaseState::Ok),
        Just(ReleaseState::Failed)
    ]
}

fn artifact() -> impl Strategy<Value = Artifact> {
    (
        (
            text(),
            text(),
            text(),
            text(),
            release_state(),
            any::<bool>(),
        ),
        (text(), text(), text(), text(), path()),
    )
        .prop_map(
            |(
                (app, branch, release, commit, state, healthy),
                (venv, python_version, lock, deps, src),
            )| Artifact {
                app,
                branch,
                release,
                commit,
                state,
                healthy,
                venv,
                python_version,
                lock,
                deps,
                src,
            },
        )
}

fn remote_error() -> impl Strategy<Value = RemoteError> {
    (
        text(),
        text(),
        option::of(text()),
        small_vec(text()),
        any::<bool>(),
        prop_oneof![
            Just(ErrorKind::Failed),
            Just(ErrorKind::Locked),
            Just(ErrorKind::NotDeployed),
            Just(ErrorKind::NeedsRoot),
            Just(ErrorKind::Unreachable),
        ],
    )
        .prop_map(|(step, message, hint, log_tail, previous_serving, kind)| {
            let mut e = RemoteError::new(step, message)
                .log_tail(log_tail)
                .kind(kind);
            e.hint = hint;
            e.previous_serving = previous_serving;
            e
        })
}

fn app_status() -> impl Strategy<Value = AppStatus> {
    (
        (text(), text(), text(), text(), text(), text(), text()),
        (
            prop_oneof![
                Just(AppState::Running),
                Just(AppState::Sleeping),
                Just(AppState::Starting),
                Just(AppState::Failed),
                Just(AppState::Stopped),
            ],
            any::<bool>(),
            any::<usize>(),
            any::<u64>(),
            smap(),
            text(),
        ),
        (text(), option::of(text())),
    )
        .prop_map(
            |(
                (app, branch, url, commit, release, deployed_at, deployed_by),
                (state, last_deploy_failed, workers, rss_bytes, processes, last_request),
                (subject, promoted_from),
            )| AppStatus {
                app,
                branch,
                url,
                commit,
                release,
                deployed_at,
                deployed_by,
                state,
                last_deploy_failed,
                workers,
                rss_bytes,
                processes,
                last_request,
                subject,
                promoted_from,
            },
        )
}

fn release_info() -> impl Strategy<Value = ReleaseInfo> {
    (
        text(),
        text(),
        text(),
        text(),
        release_state(),
        any::<bool>(),
        text(),
        text(),
        option::of(text()),
    )
        .prop_map(
            |(id, commit, created, by, state, current, venv, branch, promoted_from)| ReleaseInfo {
                id,
                commit,
                created,
                by,
                state,
                current,
                venv,
                branch,
                promoted_from,
            },
        )
}

fn audit_entry() -> impl Strategy<Value = AuditEntry> {
    (
        (text(), text(), text(), text(), text(), option::of(text())),
        (text(), text(), text(), option::of(text()), any::<u64>()),
    )
        .prop_map(
            |((time, by, action, app, branch, from), (commit, release, result, error, ms))| {
                AuditEntry {
                    time,
                    by,
                    action,
                    app,
                    branch,
                    from,
                    commit,
                    release,
                    result,
                    error,
                    ms,
                }
            },
        )
}

fn check() -> impl Strategy<Value = Check> {
    (
        text(),
        prop_oneof![
            Just(CheckStatus::Ok),
            Just(CheckStatus::Warn),
            Just(CheckStatus::Fail)
        ],
        text(),
        option::of(text()),
    )
        .prop_map(|(name, status, detail, fix)| Check {
            name,
            status,
            detail,
            fix,
        })
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        small_vec(text()).prop_map(|messages| Reply::Setup { messages }),
        text().prop_map(|token| Reply::Stashed { token }),
        small_vec(app_status()).prop_map(|apps| Reply::List { apps }),
        (
            app_status(),
            small_vec(release_info()),
            option::of((
                small_vec(text()),
                option::of(text()),
                option::of(any::<u64>())
            ))
        )
            .prop_map(|(status, releases, cert)| Reply::Status {
                status,
                releases,
                certificate: cert.map(|(names, error, took_ms)| {
                    Box::new(jib::protocol::CertStatus {
                        names,
                        error,
                        took_ms,
                        ..Default::default()
                    })
                }),
            })
            .boxed(),
        (text(), text()).prop_map(|(app, release)| Reply::Restart { app, release }),
        text().prop_map(|path| Reply::Logs { path }),
        (smap(), any::<bool>()).prop_map(|(vars, restarted)| Reply::Env { vars, restarted }),
        (text(), any::<u64>()).prop_map(|(app, freed_bytes)| Reply::Destroy { app, freed_bytes }),
        (
            text(),
            text(),
            text(),
            text(),
            text(),
            any::<bool>(),
            any::<bool>()
        )
            .prop_map(
                |(app, url, release, commit, venv, venv_reused, unchanged)| Reply::Deploy {
                    app,
                    url,
                    release,
                    commit,
                    venv,
                    venv_reused,
                    unchanged,
                }
            ),
        artifact().prop_map(Reply::Artifact),
        (
            text(),
            text(),
            text(),
            text(),
            text(),
            text(),
            any::<bool>(),
            text()
        )
            .prop_map(
                |(app, url, release, commit, previous, venv, venv_reused, files)| Reply::Promote {
                    app,
                    url,
                    release,
                    commit,
                    previous,
                    venv,
                    venv_reused,
                    files,
                }
            ),
        (text(), text(), text(), text(), text()).prop_map(|(app, url, from, to, commit)| {
            Reply::Rollback {
                app,
                url,
                from,
                to,
                commit,
            }
        }),
        small_vec(audit_entry()).prop_map(|entries| Reply::Audit { entries }),
        small_vec(check()).prop_map(|checks| Reply::Doctor { checks }),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        text().prop_map(|version| Event::Hello { version }),
        small_vec(text()).prop_map(|have| Event::NeedObjects { have }),
        text().prop_map(|step| Event::StepStarted { step }),
        (text(), any::<u64>(), option::of(text())).prop_map(|(step, ms, detail)| Event::StepDone {
            step,
            ms,
            detail
        }),
        text().prop_map(|message| Event::Warning { message }),
        (text(), any::<u32>(), text(), text()).prop_map(|(by, pid, since, what)| Event::Waiting {
            holder: LockHolder {
                by,
                pid,
                since,
                what
            }
        }),
        text().prop_map(|line| Event::Log { line }),
        reply().prop_map(|result| Event::Done {
            result: Box::new(result)
        }),
        remote_error().prop_map(|error| Event::Failed { error }),
        (any::<i32>(), text()).prop_map(|(code, stderr)| Event::Exited { code, stderr }),
    ]
}

/// `LogSource` travels as its name: a process named `cron` or `release` would come back as
/// that log (config.rs refuses those process names, and the agent checks the rest).
fn log_source() -> impl Strategy<Value = LogSource> {
    prop_oneof![
        Just(LogSource::Cron),
        Just(LogSource::Release),
        text()
            .prop_filter("the names of the other logs", |n| n != "cron"
                && n != "release")
            .prop_map(LogSource::Process),
    ]
}

fn exec_command() -> impl Strategy<Value = ExecCommand> {
    prop_oneof![
        small_vec(text()).prop_map(|argv| ExecCommand::Argv { argv }),
        Just(ExecCommand::PythonShell),
        Just(ExecCommand::LoginShell),
        (text(), text(), option::of(text())).prop_map(|(shell, url, eval)| ExecCommand::Mongo {
            shell,
            url,
            eval
        }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    let leaf = prop_oneof![
        (server_config(), any::<bool>(), option::of(text())).prop_map(
            |(server, install_deps, grant)| Request::Setup {
                server,
                install_deps,
                grant,
                fleet: None,
            }
        ),
        (
            server_config(),
            text(),
            text(),
            text(),
            build_spec(),
            text(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(
                |(server, app, branch, commit, spec, by, lock_wait_secs, force)| Request::Deploy(
                    Box::new(DeployRequest {
                        server,
                        app,
                        branch,
                        commit,
                        spec,
                        by,
                        lock_wait_secs,
                        force,
                        gated: force,
                    })
                )
            ),
        server_config().prop_map(|server| Request::List { server }),
        (server_config(), text()).prop_map(|(server, app)| Request::Status { server, app }),
        (server_config(), text()).prop_map(|(server, app)| Request::Restart { server, app }),
        (
            server_config(),
            text(),
            any::<usize>(),
            any::<bool>(),
            any::<bool>(),
            option::of(log_source())
        )
            .prop_map(
                |(server, app, lines, follow, deploy, process)| Request::Logs {
                    server,
                    app,
                    lines,
                    follow,
                    deploy,
                    process,
                }
            ),
        (
            server_config(),
            text(),
            prop_oneof![
                Just(EnvOp::List),
                smap().prop_map(|vars| EnvOp::Set { vars }),
                small_vec(text()).prop_map(|keys| EnvOp::Unset { keys }),
            ],
            any::<bool>(),
        )
            .prop_map(|(server, app, op, restart)| Request::Env {
                server,
                app,
                op,
                restart
            }),
        (
            server_config(),
            text(),
            option::of((text(), text()).prop_map(|(shell, url)| DropDb { shell, url }))
        )
            .prop_map(|(server, app, drop_db)| Request::Destroy {
                server,
                app,
                drop_db
            }),
        (server_config(), text(), exec_command(), smap()).prop_map(
            |(server, app, command, env)| Request::Exec {
                server,
                app,
                command,
                env
            }
        ),
        (server_config(), text()).prop_map(|(server, app)| Request::Artifact { server, app }),
        (
            server_config(),
            text(),
            build_spec(),
            text(),
            artifact(),
            any::<bool>(),
            text(),
            any::<u64>()
        )
            .prop_map(
                |(server, app, spec, from_env, artifact, same_host, by, lock_wait_secs)| {
                    Request::Promote(Box::new(PromoteRequest {
                        server,
                        app,
                        spec,
                        from_env,
                        artifact,
                        same_host,
                        by,
                        lock_wait_secs,
                        gated: same_host,
                    }))
                }
            ),
        (
            server_config(),
            text(),
            option::of(text()),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(server, app, to, lock_wait_secs, health_timeout_secs)| {
                Request::Rollback {
                    server,
                    app,
                    to,
                    lock_wait_secs,
                    health_timeout_secs,
                    gated: lock_wait_secs % 2 == 1,
                }
            }),
        (server_config(), any::<usize>())
            .prop_map(|(server, lines)| Request::Audit { server, lines }),
        (server_config(), text()).prop_map(|(server, python)| Request::Doctor { server, python }),
    ];
    // A stash holds an exec request (and, on the wire, could hold anything).
    leaf.prop_recursive(2, 4, 1, |inner| {
        (server_config(), inner).prop_map(|(server, exec)| Request::Stash {
            server,
            exec: Box::new(exec),
        })
    })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    (
        prop_oneof![3 => Just(version_line()), 1 => text()],
        text(),
        request(),
    )
        .prop_map(|(client, by, request)| Envelope {
            client,
            by,
            request,
        })
}

/// Arbitrary JSON: scalars, strings of any kind, arrays and objects, a few levels deep.
fn json() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        any::<u64>().prop_map(J::from),
        any::<f64>().prop_map(J::from),
        text().prop_map(J::String),
        // The tags and names of the protocol, so objects sometimes look right.
        select(vec![
            "hello", "done", "failed", "log", "deploy", "stash", "exec", "setup", "argv", "set",
            "list", "verb", "event", "kind", "op", "server", "result", "error",
        ])
        .prop_map(|s| J::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(J::Array),
            vec(
                (
                    prop_oneof![
                        3 => select(vec![
                            "event", "verb", "kind", "op", "result", "error", "server", "app", "request",
                            "client", "by", "step", "message", "version", "line", "have", "code", "len",
                        ])
                        .prop_map(str::to_string),
                        1 => text(),
                    ],
                    inner,
                ),
                0..6
            )
            .prop_map(|kv| J::Object(kv.into_iter().collect())),
        ]
    })
}

/// Decodes `line` as each of the protocol's messages: never a panic, and what decodes,
/// re-encodes to the same value.
fn decode_all(line: &[u8]) -> Result<(), TestCaseError> {
    fn again<T: serde::Serialize + serde::de::DeserializeOwned>(
        v: &T,
    ) -> Result<(), TestCaseError> {
        let first = serde_json::to_value(v).unwrap();
        let line = serde_json::to_string(v).unwrap();
        let back: T = serde_json::from_str(&line)
            .map_err(|e| TestCaseError::fail(format!("{line} does not decode again: {e}")))?;
        prop_assert_eq!(serde_json::to_value(&back).unwrap(), first);
        Ok(())
    }
    if let Ok(e) = serde_json::from_slice::<Event>(line) {
        again(&e)?;
    }
    if let Ok(e) = serde_json::from_slice::<Envelope>(line) {
        again(&e)?;
    }
    if let Ok(e) = serde_json::from_slice::<Request>(line) {
        again(&e)?;
    }
    if let Ok(e) = serde_json::from_slice::<PackHeader>(line) {
        again(&e)?;
    }
    if let Ok(e) = serde_json::from_slice::<CtlCall>(line) {
        again(&e)?;
    }
    if let Ok(e) = serde_json::from_slice::<CtlAnswer>(line) {
        again(&e)?;
    }
    // The agent's own reading of its request line.
    let text = String::from_utf8_lossy(line);
    if let Err(e) = Envelope::accept(&text) {
        prop_assert_eq!(e.step.as_str(), "handshake");
    }
    Ok(())
}

/// The char boundaries of `line` to cut at: all of them for a short line, else `n` spread
/// over it (the first and last few always).
fn cuts(line: &str, n: usize) -> Vec<usize> {
    let all: Vec<usize> = line.char_indices().map(|(i, _)| i).collect();
    if all.len() <= n {
        return all;
    }
    let step = all.len() / n;
    let mut out: Vec<usize> = all.iter().copied().step_by(step).collect();
    out.extend(&all[..8]);
    out.extend(&all[all.len() - 8..]);
    out
}

proptest! {
    #![proptest_config(cases(2000))]

    /// An event is one line (nothing a field holds breaks it), decodes to itself with or
    /// without its newline, and every shorter prefix of it is an error.
    #[test]
    fn events_round_trip_and_every_truncation_is_an_error(e in event()) {
        let line = serde_json::to_string(&e).unwrap();
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        prop_assert_eq!(&serde_json::from_str::<Event>(&line).unwrap(), &e);
        prop_assert_eq!(&serde_json::from_str::<Event>(&format!("{line}\n")).unwrap(), &e);
        for cut in cuts(&line, 100) {
            prop_assert!(serde_json::from_str::<Event>(&line[..cut]).is_err(), "{:?}", &line[..cut]);
        }
        // Cut anywhere, even inside a character (a read that stopped mid-way).
        for cut in (0..line.len()).step_by(1 + line.len() / 64) {
            prop_assert!(serde_json::from_slice::<Event>(&line.as_bytes()[..cut]).is_err());
        }
    }
}

proptest! {
    #![proptest_config(cases(1000))]

    /// The request line: what the CLI writes, the agent accepts (from this version only) and
    /// reads back as the same request; every truncation is refused as a handshake failure.
    #[test]
    fn requests_round_trip_through_the_handshake(env in envelope()) {
        let mut line = serde_json::to_string(&env).unwrap();
        prop_assert!(!line.contains('\n'));
        let sent = serde_json::to_value(&env.request).unwrap();
        line.push('\n'); // read_line keeps it
        match Envelope::accept(&line) {
            Ok(got) => {
                prop_assert_eq!(&env.client, &version_line());
                prop_assert_eq!(serde_json::to_value(&got.request).unwrap(), sent);
                prop_assert_eq!(got.by, env.by);
            }
            Err(e) => {
                prop_assert_ne!(&env.client, &version_line());
                prop_assert_eq!(e.step.as_str(), "handshake");
            }
        }
        for cut in cuts(&line[..line.len() - 1], 16) {
            match Envelope::accept(&line[..cut]) {
                Ok(_) => prop_assert!(false, "accepted {:?}", &line[..cut]),
                Err(e) => prop_assert_eq!(e.step.as_str(), "handshake"),
            }
        }
    }

    /// Random bytes, random JSON, and real messages with one field changed, dropped, or
    /// retyped: decoding never panics and whatever decodes round-trips.
    #[test]
    fn random_and_mutated_lines_never_panic(
        bytes in vec(any::<u8>(), 0..256),
        j in json(),
        e in event(),
        r in request(),
        at in any::<Index>(),
        replacement in json(),
    ) {
        decode_all(&bytes)?;
        decode_all(serde_json::to_string(&j).unwrap().as_bytes())?;
        for mut v in [serde_json::to_value(&e).unwrap(), serde_json::to_value(&Envelope {
            client: version_line(),
            by: String::new(),
            request: r,
        }).unwrap()] {
            // Walk down to a random object, then replace or remove one of its keys.
            let mut node = &mut v;
            loop {
                let keys: Vec<String> = match node.as_object() {
                    Some(o) if !o.is_empty() => o.keys().cloned().collect(),
                    _ => break,
                };
                let k = &keys[at.index(keys.len())];
                let child = node.get(k).unwrap();
                if child.is_object() && child.as_object().is_some_and(|o| o.len() > 1) && keys.len().is_multiple_of(2) {
                    node = node.get_mut(k).unwrap();
                    continue;
                }
                let o = node.as_object_mut().unwrap();
                if replacement.is_null() {
                    o.remove(k);
                } else {
                    o.insert(k.clone(), replacement.clone());
                }
                break;
            }
            decode_all(serde_json::to_string(&v).unwrap().as_bytes())?;
        }
    }
}

proptest! {
    #![proptest_config(cases(32))]

    /// Nesting far past serde_json's limit is an error, not a stack overflow.
    #[test]
    fn deep_nesting_is_an_error(depth in 129usize..20_000, open in select(vec!["[", "{\"a\":", "{\"event\":\"done\",\"result\":"])) {
        let line = open.repeat(depth);
        prop_assert!(serde_json::from_str::<Event>(&line).is_err());
        prop_assert!(Envelope::accept(&line).is_err());
        decode_all(line.as_bytes())?;
    }
}

/// A string of `fill` that is about `bytes` long once in JSON (escapes included).
fn huge(fill: &str, bytes: usize) -> String {
    let encoded = serde_json::to_string(fill).unwrap().len() - 2;
    fill.repeat(bytes / encoded + 1)
}

proptest! {
    #![proptest_config(cases(3))]

    /// A 1–10 MB line (one huge field: a log line, who asks) is one line, decodes to
    /// itself, and cut short anywhere is an error. Few cases: serde_json in a debug build
    /// reads some 10–30 MB a second.
    #[test]
    fn huge_fields_round_trip(
        mb in 1usize..=10,
        fill in select(vec!["x", "é", "\"", "\\", "\u{1}", "🦀", "a\nb"]),
        r in request(),
        at in any::<Index>(),
    ) {
        let big = huge(fill, mb << 20);
        let e = Event::Log { line: big };
        let line = serde_json::to_string(&e).unwrap();
        prop_assert!(!line.contains('\n'));
        prop_assert!((mb << 20..(mb << 20) + 64).contains(&line.len()), "{} bytes", line.len());
        prop_assert!(serde_json::from_str::<Event>(&line).unwrap() == e);
        let cut = &line.as_bytes()[..at.index(line.len())];
        prop_assert!(serde_json::from_slice::<Event>(cut).is_err());
        let Event::Log { line: big } = e else { unreachable!() };
        let env = Envelope { client: version_line(), by: big, request: r };
        let line = serde_json::to_string(&env).unwrap();
        let got = Envelope::accept(&line).unwrap();
        prop_assert!(got.by == env.by);
        prop_assert!(serde_json::to_value(&got.request).unwrap() == serde_json::to_value(&env.request).unwrap());
    }
}
