//! The branch index (`index` in deploy.toml): one page listing every app of an environment,
//! with the fields `jib list` shows, and its JSON twin at `/.jib/apps.json`. `jib-agent serve`
//! answers it on a socket only nginx reaches; nginx asks for the password when there is one.
//! Everything shown comes from branches (names, commit subjects, who pushed): escaped here.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::protocol::{AppState, AppStatus, ServerConfig};
use crate::router::html_escape;

/// Where the JSON twin is, on the index's host.
pub const JSON_PATH: &str = "/.jib/apps.json";
/// Where the page is on a promotion target's names (a branch environment: at `/` of its
/// bare domain too).
pub const PAGE_PATH: &str = "/.jib/";

/// An answer of the index server.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

/// The answer to `method` `path` (the query string already cut off); `apps` is called only
/// when the page or its twin is asked for.
pub fn answer(
    server: &ServerConfig,
    method: &str,
    path: &str,
    apps: impl FnOnce() -> Vec<AppStatus>,
) -> Answer {
    const HTML: &str = "text/html; charset=utf-8";
    if method != "GET" && method != "HEAD" {
        return Answer {
            status: "405 Method Not Allowed",
            content_type: HTML,
            body: b"<!doctype html><title>405</title><p>The branch index is read-only.</p>\n"
                .to_vec(),
        };
    }
    // A branch environment's bare domain is the index's own; a promotion target's names are
    // its app's, and only `/.jib/` is the index's there.
    let page = path == PAGE_PATH || (server.names.is_empty() && path == "/");
    if path == JSON_PATH {
        // The same array `jib list --json` prints.
        let body = serde_json::to_vec_pretty(&apps()).unwrap_or_default();
        return Answer {
            status: "200 OK",
            content_type: "application/json",
            body,
        };
    }
    if !page {
        return Answer {
            status: "404 Not Found",
            content_type: HTML,
            body: format!(
                "<!doctype html><title>404</title><p>Nothing here: the branch index is at \
                 <a href=\"{p}\">{p}</a>.</p>\n",
                p = if server.names.is_empty() {
                    "/"
                } else {
                    PAGE_PATH
                }
            )
            .into_bytes(),
        };
    }
    Answer {
        status: "200 OK",
        content_type: HTML,
        body: page_html(server, &apps(), OffsetDateTime::now_utc()).into_bytes(),
    }
}

const STYLE: &str = "\
:root{color-scheme:light dark;--line:#8884;--dim:#888}\
body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem}\
h1{font-size:1.3rem;margin:0 0 .2rem;overflow-wrap:anywhere}\
.sum{color:var(--dim);margin:0 0 1rem}\
ul{list-style:none;margin:0;padding:0;display:grid;gap:.75rem;\
grid-template-columns:repeat(auto-fill,minmax(min(100%,22rem),1fr))}\
li{border:1px solid var(--line);border-radius:.5rem;padding:.6rem .8rem;overflow-wrap:anywhere}\
.top{display:flex;gap:.5rem;align-items:baseline;justify-content:space-between}\
.top a{font-weight:600;font-size:1.05rem}\
.state{font-size:.8rem;padding:0 .45rem;border-radius:1rem;white-space:nowrap;border:1px solid}\
.running{color:#1a7f37}.sleeping{color:#6e7781}.failed,.stopped{color:#cf222e}\
.starting{color:#9a6700}\
.row{margin-top:.2rem}.dim{color:var(--dim)}code{font-size:.9em}\
.warn{color:#cf222e;font-size:.85rem}";

/// The page: one card an app, linking to it.
pub fn page_html(server: &ServerConfig, apps: &[AppStatus], now: OffsetDateTime) -> String {
    let title = match server.names.first() {
        Some(name) => format!("{name} (promotion target)"),
        None => format!("Branches on {}", server.domain),
    };
    let title = html_escape(&title);
    let count = |s: AppState| apps.iter().filter(|a| a.state == s).count();
    let mut summary: Vec<String> = [
        AppState::Running,
        AppState::Sleeping,
        AppState::Starting,
        AppState::Failed,
        AppState::Stopped,
    ]
    .into_iter()
    .filter(|s| count(*s) > 0)
    .map(|s| format!("{} {s}", count(s)))
    .collect();
    if summary.is_empty() {
        summary.push("nothing deployed yet: jib push &lt;branch&gt;".into());
    }
    let cards: String = apps.iter().map(|a| card(a, now)).collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head>\n<body>\n<h1>{title}</h1>\n\
         <p class=\"sum\">{n} app{s}: {summary} · as of {at} · <a href=\"{JSON_PATH}\">JSON</a></p>\n\
         <ul>\n{cards}</ul>\n</body></html>\n",
        n = apps.len(),
        s = if apps.len() == 1 { "" } else { "s" },
        summary = summary.join(", "),
        at = when(&now.format(&Rfc3339).unwrap_or_default(), now),
    )
}

/// One app: its link and state, branch, commit, who deployed it and when.
fn card(a: &AppStatus, now: OffsetDateTime) -> String {
    let e = |s: &str| html_escape(s);
    let mut rows = Vec::new();
    // A branch's app name is its branch made a DNS label; say the branch when they differ.
    if !a.branch.is_empty() && a.branch != a.app {
        rows.push(format!("branch <code>{}</code>", e(&a.branch)));
    }
    if !a.commit.is_empty() {
        rows.push(format!(
            "<code title=\"{}\">{}</code> {}",
            e(&a.commit),
            e(a.commit.get(..7).unwrap_or(&a.commit)),
            e(&a.subject)
        ));
    }
    // What a promotion target runs, and whence (the branch is above).
    if let Some(from) = &a.promoted_from {
        rows.push(format!(
            "release <code>{}</code>, promoted from <code>{}</code>",
            e(&a.release),
            e(from)
        ));
    }
    if !a.deployed_at.is_empty() {
        rows.push(format!(
            "<span class=\"dim\">deployed by {} · {}</span>",
            e(&a.deployed_by),
            when(&a.deployed_at, now)
        ));
    }
    if a.last_deploy_failed {
        rows.push(
            "<span class=\"warn\">the last deploy failed; the release before it serves</span>"
                .into(),
        );
    }
    let rows: String = rows
        .iter()
        .map(|r| format!("<div class=\"row\">{r}</div>"))
        .collect();
    format!(
        "<li data-app=\"{app}\" data-state=\"{state}\"><div class=\"top\">\
         <a href=\"{url}\">{app}</a><span class=\"state {state}\">{state}</span></div>\
         {rows}</li>\n",
        app = e(&a.app),
        url = e(&a.url),
        state = a.state,
    )
}

/// `2025-05-01T12:03:09.123Z` as `2025-05-01 12:03 UTC (3 h ago)`; as given when it isn't
/// RFC 3339.
fn when(rfc3339: &str, now: OffsetDateTime) -> String {
    let Ok(t) = OffsetDateTime::parse(rfc3339, &Rfc3339) else {
        return html_escape(rfc3339);
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    let abs = t.format(&fmt).unwrap_or_default();
    let secs = (now - t).whole_seconds();
    let ago = match secs {
        ..60 => return abs,
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86400),
    };
    format!("{abs} ({ago} ago)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(names: &[&str]) -> ServerConfig {
        ServerConfig {
            names: names.iter().map(|n| n.to_string()).collect(),
            index: Some(Default::default()),
            ..ServerConfig::example()
        }
    }

    fn app(name: &str, branch: &str, subject: &str, state: AppState) -> AppStatus {
        AppStatus {
            app: name.into(),
            branch: branch.into(),
            url: format!("http://{name}.dev.example.com"),
            commit: "0123456789abcdef0123456789abcdef01234567".into(),
            release: "20250501T120309123Z-0123456789ab".into(),
            deployed_at: "2025-05-01T12:03:09.123Z".into(),
            deployed_by: "dev@example.com".into(),
            state,
            last_deploy_failed: false,
            workers: 2,
            rss_bytes: 0,
            processes: Default::default(),
            last_request: String::new(),
            subject: subject.into(),
            promoted_from: None,
        }
    }

    #[test]
    fn the_page_escapes_what_branches_bring() {
        let now = OffsetDateTime::parse("2025-05-01T15:10:00Z", &Rfc3339).unwrap();
        let evil = app(
            "x",
            "x\"><script>alert(1)</script>",
            "<img src=x onerror=alert(2)> & co",
            AppState::Sleeping,
        );
        let html = page_html(&server(&[]), &[evil], now);
        assert!(
            !html.contains("<script>") && !html.contains("<img"),
            "{html}"
        );
        assert!(html.contains("&lt;img src=x onerror=alert(2)&gt; &amp; co"));
        assert!(html.contains("data-state=\"sleeping\""), "{html}");
        assert!(html.contains("<code title=\"0123456789abcdef0123456789abcdef01234567\">0123456<"));
        assert!(html.contains("2025-05-01 12:03 UTC (3 h ago)"), "{html}");
        assert!(html.contains("<a href=\"http://x.dev.example.com\">x</a>"));
    }

    #[test]
    fn paths_and_methods() {
        let dev = server(&[]);
        let list = || vec![app("main", "main", "first", AppState::Running)];
        let a = answer(&dev, "GET", "/", list);
        assert_eq!(
            (a.status, a.content_type),
            ("200 OK", "text/html; charset=utf-8")
        );
        let a = answer(&dev, "GET", JSON_PATH, list);
        let v: Vec<AppStatus> = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v, list());
        assert_eq!(answer(&dev, "GET", "/x", list).status, "404 Not Found");
        assert_eq!(
            answer(&dev, "POST", "/", list).status,
            "405 Method Not Allowed"
        );
        // A promotion target's `/` is its app's, never the index's.
        let prod = server(&["www.example.com"]);
        assert_eq!(answer(&prod, "GET", "/", list).status, "404 Not Found");
        let a = answer(&prod, "GET", PAGE_PATH, list);
        assert_eq!(a.status, "200 OK");
        assert!(String::from_utf8_lossy(&a.body).contains("www.example.com (promotion target)"));
    }
}
