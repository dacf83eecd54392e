//! The front door: nginx passing `UWSGI_FASTROUTER_KEY $host` to a uWSGI FastRouter whose
//! subscription server the apps announce themselves to (or, in local mode without nginx,
//! uWSGI's HTTP router). Hosts nobody serves get a clear 404 from the agent.

use std::process::Command;

use crate::layout::Layout;
use crate::protocol::{IndexConfig, RouterKind, ServerConfig, TlsConfig};

/// Subscription key the router falls back to for hosts nobody subscribed; the agent's 404
/// server subscribes under it.
pub const NOT_FOUND_KEY: &str = "jib-not-found";

/// A uwsgi-protocol packet: 4-byte header (modifier1, little-endian size, modifier2), then
/// each var as length-prefixed key and value.
pub fn uwsgi_packet(modifier1: u8, modifier2: u8, vars: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in vars {
        body.extend((k.len() as u16).to_le_bytes());
        body.extend(k.as_bytes());
        body.extend((v.len() as u16).to_le_bytes());
        body.extend(v.as_bytes());
    }
    let mut p = vec![modifier1];
    p.extend((body.len() as u16).to_le_bytes());
    p.push(modifier2);
    p.extend(body);
    p
}

/// A uWSGI subscription packet (modifier1 224) announcing `address` under `key`.
pub fn subscription_packet(key: &str, address: &str) -> Vec<u8> {
    uwsgi_packet(224, 0, &[("key", key), ("address", address)])
}

/// The packet that takes `address` out of `key`'s nodes at once (modifier2 1). Unix-socket
/// nodes are never retried, so a node must leave this way before it stops (DESIGN.md §4).
pub fn unsubscription_packet(key: &str, address: &str) -> Vec<u8> {
    uwsgi_packet(224, 1, &[("key", key), ("address", address)])
}

/// The keys an app's nodes subscribe under: its host names (a promotion target's exact
/// names, else `<app>.<domain>`), and with the HTTP router on another port than 80 the same
/// names with the port, since uWSGI's HTTP router keys on the Host header as sent.
pub fn keys(server: &ServerConfig, app: &str) -> Vec<String> {
    let names: Vec<String> = if server.names.is_empty() {
        vec![format!("{app}.{}", server.domain)]
    } else {
        server.names.clone()
    };
    let mut keys = names.clone();
    if server.router == RouterKind::Http
        && let Some((_, port)) = server.listen.rsplit_once(':')
        && port != "80"
    {
        keys.extend(names.iter().map(|n| format!("{n}:{port}")));
    }
    keys
}

/// Sends subscription packets to the router's subscription server (a unix datagram socket
/// in a root-owned directory).
pub fn announce(layout: &Layout, packets: &[Vec<u8>]) -> std::io::Result<()> {
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    for p in packets {
        sock.send_to(p, layout.subscription_socket())?;
    }
    Ok(())
}

/// The router process as the agent runs it.
pub fn command(server: &ServerConfig, layout: &Layout) -> Command {
    let mut c = Command::new("uwsgi");
    c.args(["--master", "--die-on-term"]);
    match server.router {
        RouterKind::Nginx => {
            c.args(["--plugins", "fastrouter"])
                .arg("--fastrouter")
                .arg(layout.router_socket())
                .arg("--fastrouter-subscription-server")
                .arg(layout.subscription_socket())
                .arg("--fastrouter-subscription-fallback-key")
                .arg(NOT_FOUND_KEY);
            if server.fleet.as_ref().is_some_and(|f| f.router) {
                fleet_router(&mut c, layout);
            }
        }
        RouterKind::Http => {
            c.args(["--plugins", "http"])
                .arg("--http")
                .arg(&server.listen)
                .arg("--http-subscription-server")
                .arg(layout.subscription_socket())
                .arg("--http-subscription-fallback-key")
                .arg(NOT_FOUND_KEY);
        }
    }
    // The socket directory is setgid to nginx's group: 660 lets nginx in and nobody else.
    c.arg("--chmod-socket=660");
    c.current_dir(layout.state());
    c
}

/// A fleet's router (DESIGN.md §7): a second subscription server on its private address,
/// taking only announces signed by the environment's key (the 404 server signs with the
/// router's own), dropping a host that stopped announcing after a few seconds.
fn fleet_router(c: &mut Command, layout: &Layout) {
    if let Ok(peers) = crate::fleet::Peers::load(layout) {
        c.arg("--fastrouter-subscription-server").arg(format!(
            "{}:{}",
            peers.address,
            crate::fleet::SUBSCRIPTION_PORT
        ));
    }
    c.arg("--subscriptions-sign-check")
        .arg(format!("SHA256:{}", layout.sign_check_dir().display()))
        .arg("--subscriptions-sign-check-tolerance")
        .arg(crate::fleet::SIGN_TOLERANCE_SECS.to_string())
        .arg("--subscription-tolerance")
        .arg(crate::fleet::TOLERANCE_SECS.to_string());
}

/// The nginx site for `*.<domain>` (or a promotion target's names): everything to the router,
/// except `[app] static` prefixes, which nginx serves itself from the app's current release
/// (it resolves `current` on each request, so they switch with it). With TLS, HTTP redirects
/// to HTTPS — except jib's own health checks, which stay on the plain listener.
pub fn nginx_site(server: &ServerConfig, layout: &Layout) -> String {
    use sha2::Digest;
    // `.<domain>` names the bare domain too, and nginx refuses a second server for it: with
    // the branch index, which has the bare domain, the apps' server takes only subdomains.
    let names = if server.names.is_empty() && server.index.is_some() {
        format!("*.{}", server.domain)
    } else if server.names.is_empty() {
        format!(".{}", server.domain)
    } else {
        server.names.join(" ")
    };
    let router = layout.router_socket();
    let root = server.root.display().to_string();
    // Per-site variable: two roots behind one nginx must not share it.
    let var = format!(
        "$jib_app_{}",
        &hex::encode(sha2::Sha256::digest(root.as_bytes()))[..8]
    );
    let (map, app) = match &server.app {
        Some(a) => (String::new(), a.clone()),
        None => (
            format!(
                "map $host {var} {{\n    ~^(?<a>[a-z0-9-]+)\\.{}$ $a;\n    default \"\";\n}}\n",
                regex_escape(&server.domain)
            ),
            var.clone(),
        ),
    };
    // The tree under `src` is the branch's (committed, or made by its release step): a link
    // there (`staticfiles -> /`) must not publish what www-data can read. `disable_symlinks`
    // opens every component after `from=` with O_NOFOLLOW; the prefix itself is followed, and
    // must be, since `current` links to the release. `src` is checked too (a `src -> /` would
    // publish `/etc` under a static dir named `etc`). `from=` is a string prefix: one that
    // does not end at a component boundary makes nginx check the whole path, `current`
    // included, and refuse everything — so keep it exactly `…/current`.
    // A fleet's router without releases of its own: the hosts serve static files.
    let own_releases = server.fleet.as_ref().is_none_or(|f| f.node);
    let statics: String = server
        .static_files
        .iter()
        .filter(|_| own_releases)
        .map(|(prefix, dir)| {
            format!(
                "    location ~ ^{}(?<jib_static>.*)$ {{\n        alias {root}/{app}/current/src/{}/$jib_static;\n        \
                 disable_symlinks on from={root}/{app}/current;\n        \
                 expires 1h;\n        add_header Cache-Control \"public\";\n    }}\n",
                regex_escape(prefix),
                dir.trim_matches('/')
            )
        })
        .collect();
    // A fleet's router: when a host dies under a request the FastRouter can only answer an
    // error; nginx then asks it again, and it picks another host (DESIGN.md §7). Three
    // entries of the same socket, never marked down (max_fails=0).
    let upstream = server.fleet.as_ref().map(|_| format!("{}_up", &var[1..]));
    let fleet_upstream = upstream
        .as_ref()
        .map(|u| {
            let one = format!("    server unix:{} max_fails=0;\n", router.display());
            format!("upstream {u} {{\n{one}{one}{one}}}\n")
        })
        .unwrap_or_default();
    let to_router = match (server.idle_secs, &upstream) {
        (None, Some(u)) => format!(
            "        include uwsgi_params;\n        uwsgi_param UWSGI_FASTROUTER_KEY $host;\n        \
             uwsgi_pass {u};\n        uwsgi_next_upstream error timeout invalid_header;\n        \
             uwsgi_next_upstream_tries 3;\n        uwsgi_read_timeout 300s;\n"
        ),
        (None, None) => format!(
            "        include uwsgi_params;\n        uwsgi_param UWSGI_FASTROUTER_KEY $host;\n        \
             uwsgi_pass unix:{};\n        uwsgi_read_timeout 300s;\n",
            router.display()
        ),
        // Scale to zero: straight to the app's on-demand socket (connecting wakes it); a
        // name with no app gets the 404 page.
        (Some(_), _) => {
            let sockets = layout.sockets().display().to_string();
            // nginx cannot test a socket (-e opens it); the app's vassal link says it exists.
            format!(
                "        set $jib_sock unix:{sockets}/{app}.socket;\n        \
                 if (!-f {root}/{app}/{app}.ini) {{\n            set $jib_sock unix:{};\n        }}\n        \
                 include uwsgi_params;\n        uwsgi_pass $jib_sock;\n        uwsgi_read_timeout 300s;\n",
                layout.notfound_socket().display()
            )
        }
    };
    let head = format!(
        "# generated by jib-agent {} for {root}; rewritten by `jib setup`\n{map}{fleet_upstream}",
        crate::protocol::VERSION
    );
    // HTTP-01: the CA asks every name of the site over plain HTTP; serve's 404 server answers
    // with the token files it holds (and 404 for anything else under that path).
    let acme = server.tls.as_ref().and_then(|t| t.acme.as_ref());
    let challenge = match acme {
        Some(_) => format!(
            "    location ^~ /.well-known/acme-challenge/ {{\n        include uwsgi_params;\n        \
             uwsgi_pass unix:{};\n    }}\n",
            layout.notfound_socket().display()
        ),
        None => String::new(),
    };
    // Until the first certificate is obtained there is nothing to serve HTTPS with (nginx would
    // refuse the whole configuration): plain HTTP, no redirect. With one certificate per
    // branch, the servers below take only the branches that have theirs.
    let per_branch = crate::acme::per_branch(server);
    let tls = server
        .tls
        .as_ref()
        .filter(|_| !per_branch && (acme.is_none() || layout.acme_cert().exists()));
    // The branch index: a promotion target's names are its app's but for `/.jib/`; a branch
    // environment's bare domain, which no branch uses, is the index's, in servers of its own.
    let (statics, index_servers) = match (&server.index, server.names.is_empty()) {
        (None, _) => (statics, String::new()),
        (Some(index), false) => (
            format!(
                "{statics}    location ^~ {} {{\n{}    }}\n",
                crate::index::PAGE_PATH,
                index_location(index, layout)
            ),
            String::new(),
        ),
        (Some(index), true) => {
            let domain = &server.domain;
            let location = index_location(index, layout);
            let servers = match tls {
                None => format!(
                    "server {{\n    listen {};\n    server_name {domain};\n    location / {{\n{location}    }}\n}}\n",
                    server.listen
                ),
                Some(tls) => format!(
                    "server {{\n    listen {};\n    server_name {domain};\n    return 301 {};\n}}\n\
                     server {{\n    listen {} ssl;\n    server_name {domain};\n    \
                     ssl_certificate {};\n    ssl_certificate_key {};\n    location / {{\n{location}    }}\n}}\n",
                    server.listen,
                    https_target(tls),
                    tls.listen,
                    tls.cert.display(),
                    tls.key.display()
                ),
            };
            (statics, servers)
        }
    };
    let plain = format!(
        "{head}server {{\n    listen {};\n    server_name {names};\n    client_max_body_size 100m;\n\
         {challenge}{statics}    location / {{\n{to_router}    }}\n}}\n",
        server.listen
    );
    let site = match (tls, &server.tls) {
        (Some(tls), _) => format!(
            "{head}{}",
            tls_servers(
                server, tls, &names, &tls.cert, &tls.key, &challenge, &statics, &to_router
            )
        ),
        // Each branch with its certificate gets servers of its own (an exact name wins over
        // the wildcard); the others keep plain HTTP. The master reads the keys (root's, 0600)
        // at each reload, which a new or removed certificate triggers.
        (None, Some(t)) if per_branch => {
            branch_certificates(server, layout)
                .into_iter()
                .fold(plain, |site, (host, cert)| {
                    site + &tls_servers(
                        server, t, &host, &cert, &cert, &challenge, &statics, &to_router,
                    )
                })
        }
        (None, _) => plain,
    };
    site + &index_servers
}

/// The hosts that have a certificate of their own (one per branch), and its file.
pub fn branch_certificates(
    server: &ServerConfig,
    layout: &Layout,
) -> Vec<(String, std::path::PathBuf)> {
    let suffix = format!(".{}", server.domain);
    let Ok(dir) = std::fs::read_dir(layout.acme_branch_certs()) else {
        return Vec::new();
    };
    let mut certs: Vec<(String, std::path::PathBuf)> = dir
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().into_string().ok()?;
            let host = f.strip_suffix(".pem")?;
            // Only `<app>.<domain>`: nothing else of the directory reaches the site.
            let label = host.strip_suffix(&suffix)?;
            (!label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
            .then(|| (host.to_string(), e.path()))
        })
        .collect();
    certs.sort();
    certs
}

/// HTTP for `names` redirecting to HTTPS (but for the CA's challenges and jib's health
/// checks), and the HTTPS server with `cert` and `key`.
#[allow(clippy::too_many_arguments)]
fn tls_servers(
    server: &ServerConfig,
    tls: &TlsConfig,
    names: &str,
    cert: &std::path::Path,
    key: &std::path::Path,
    challenge: &str,
    statics: &str,
    to_router: &str,
) -> String {
    format!(
        "server {{\n    listen {};\n    server_name {names};\n    client_max_body_size 100m;\n\
         {challenge}    location / {{\n        if ($http_x_jib_health = \"\") {{\n            return 301 {};\n        }}\n{to_router}    }}\n}}\n\
         server {{\n    listen {} ssl;\n    server_name {names};\n    client_max_body_size 100m;\n    \
         ssl_certificate {};\n    ssl_certificate_key {};\n\
         {statics}    location / {{\n{to_router}    }}\n}}\n",
        server.listen,
        https_target(tls),
        tls.listen,
        cert.display(),
        key.display(),
    )
}

/// Where plain HTTP is redirected with TLS: the same URL on HTTPS.
fn https_target(tls: &TlsConfig) -> String {
    let port = tls.listen.split_whitespace().next().unwrap_or("443");
    match port.rsplit(':').next().unwrap_or("443") {
        "443" => "https://$host$request_uri".to_string(),
        port => format!("https://$host:{port}$request_uri"),
    }
}

/// The branch index's location: serve's index socket, behind nginx's basic auth when the
/// environment names a users file (for this location only: the apps keep their own auth).
fn index_location(index: &IndexConfig, layout: &Layout) -> String {
    let auth = match &index.users_file {
        Some(f) => format!(
            "        auth_basic \"jib branch index\";\n        auth_basic_user_file {};\n",
            f.display()
        ),
        None => String::new(),
    };
    format!(
        "{auth}        include uwsgi_params;\n        uwsgi_pass unix:{};\n",
        layout.index_socket().display()
    )
}

/// `s` as a PCRE literal.
fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '/' || c == '-' || c == '_' {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// The page for a host no app serves.
pub fn not_found_page(host: &str, domain: &str) -> String {
    let host = html_escape(host);
    format!(
        "<!doctype html><title>404 — nothing deployed at {host}</title>\
         <h1>No branch is deployed at {host}</h1>\
         <p>jib serves each deployed branch at <code>&lt;branch&gt;.{domain}</code>. \
         Nothing answers for this name: deploy it with <code>jib push &lt;branch&gt;</code>, \
         or see what is deployed with <code>jib list</code>.</p>\n"
    )
}

/// `s` as HTML text or a double-quoted attribute value.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The vars of a uwsgi-protocol request (its header, then length-prefixed keys and values),
/// in order; `None` when the packet is cut short.
pub fn uwsgi_vars(packet: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    let size = u16::from_le_bytes([*packet.get(1)?, *packet.get(2)?]) as usize;
    let vars = packet.get(4..4 + size)?;
    let mut i = 0;
    let mut out = Vec::new();
    while i + 2 <= vars.len() {
        let kl = u16::from_le_bytes([vars[i], vars[i + 1]]) as usize;
        let k = vars.get(i + 2..i + 2 + kl)?;
        i += 2 + kl;
        let vl = u16::from_le_bytes([*vars.get(i)?, *vars.get(i + 1)?]) as usize;
        let v = vars.get(i + 2..i + 2 + vl)?;
        i += 2 + vl;
        out.push((k, v));
    }
    Some(out)
}

/// The Host of a uwsgi-protocol request (the router's fallback traffic): the router's key,
/// else the HTTP Host header.
pub fn uwsgi_host(packet: &[u8]) -> Option<String> {
    let vars = uwsgi_vars(packet)?;
    let var = |name: &[u8]| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let key = vars
        .iter()
        .rev()
        .find(|(k, _)| *k == b"UWSGI_FASTROUTER_KEY")
        .map(|(_, v)| *v);
    key.or_else(|| var(b"HTTP_HOST"))
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The request's path (`PATH_INFO`, as nginx decoded it).
pub fn uwsgi_path(packet: &[u8]) -> Option<String> {
    uwsgi_vars(packet)?
        .into_iter()
        .find(|(k, _)| *k == b"PATH_INFO")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(vars: &[(&str, &str)]) -> Vec<u8> {
        uwsgi_packet(0, 0, vars)
    }

    #[test]
    fn reads_the_host_of_a_uwsgi_request() {
        let p = packet(&[("REQUEST_METHOD", "GET"), ("HTTP_HOST", "x.dev.test")]);
        assert_eq!(uwsgi_host(&p).as_deref(), Some("x.dev.test"));
        assert_eq!(uwsgi_host(&p[..5]), None);
    }

    #[test]
    fn subscription_packets_carry_key_and_address() {
        let p = subscription_packet("k", "/s.sock");
        assert_eq!(p[0], 224);
        assert_eq!(u16::from_le_bytes([p[1], p[2]]) as usize, p.len() - 4);
    }

    #[test]
    fn page_escapes_the_host() {
        assert!(!not_found_page("<script>", "d").contains("<script>"));
    }
}

#[cfg(test)]
mod site_tests {
    use super::*;
    use crate::protocol::IndexConfig;

    fn server() -> ServerConfig {
        ServerConfig {
            static_files: [("/static/".to_string(), "staticfiles".to_string())].into(),
            ..ServerConfig::example()
        }
    }

    /// Every static alias refuses links inside the release (nginx checks the components after
    /// `from=`, which must end at a `/` of the alias; `current`, before it, is a link by
    /// design).
    fn assert_links_checked_inside_release(site: &str) {
        let lines: Vec<&str> = site.lines().map(str::trim).collect();
        let mut aliases = 0;
        for (i, l) in lines.iter().enumerate() {
            let Some(alias) = l.strip_prefix("alias ") else {
                continue;
            };
            aliases += 1;
            let from = lines
                .get(i + 1)
                .and_then(|n| n.strip_prefix("disable_symlinks on from="))
                .and_then(|f| f.strip_suffix(';'))
                .unwrap_or_else(|| panic!("no disable_symlinks after {l}:\n{site}"));
            assert!(from.ends_with("/current"), "{site}");
            assert!(alias.starts_with(&format!("{from}/src/")), "{site}");
        }
        assert!(aliases > 0, "{site}");
    }

    #[test]
    fn static_prefixes_are_served_from_the_current_release() {
        let site = nginx_site(&server(), &Layout::new("/srv/apps"));
        assert!(
            site.contains("~^(?<a>[a-z0-9-]+)\\.dev\\.example\\.com$ $a;"),
            "{site}"
        );
        assert!(
            site.contains("location ~ ^/static/(?<jib_static>.*)$ {"),
            "{site}"
        );
        assert!(
            site.contains("/current/src/staticfiles/$jib_static;"),
            "{site}"
        );
        assert_links_checked_inside_release(&site);
        assert!(site.contains("expires 1h;"), "{site}");
        let mut prod = server();
        prod.names = vec!["www.example.com".into()];
        prod.app = Some("prod".into());
        prod.tls = Some(TlsConfig {
            cert: "/c.pem".into(),
            key: "/k.pem".into(),
            listen: "443".into(),
            acme: None,
        });
        let site = nginx_site(&prod, &Layout::new("/srv/apps"));
        assert!(!site.contains("map $host"), "{site}");
        assert!(
            site.contains("alias /srv/apps/prod/current/src/staticfiles/$jib_static;"),
            "{site}"
        );
        assert!(
            site.contains("disable_symlinks on from=/srv/apps/prod/current;"),
            "{site}"
        );
        assert_links_checked_inside_release(&site);
        assert!(
            site.contains("return 301 https://$host$request_uri;"),
            "{site}"
        );
        assert!(site.contains("listen 443 ssl;"), "{site}");
        println!("{site}");
    }

    /// The index has the bare domain's server of its own (the apps' servers ask nobody for a
    /// password), on HTTPS when the environment has it; a promotion target lends it `/.jib/`.
    #[test]
    fn the_branch_index_has_the_bare_domain_or_a_path_of_prod() {
        let layout = Layout::new("/srv/apps");
        let pass = format!("uwsgi_pass unix:{};", layout.index_socket().display());
        let mut dev = server();
        dev.index = Some(IndexConfig {
            users_file: Some("/etc/jib/index.htpasswd".into()),
        });
        let site = nginx_site(&dev, &layout);
        let servers: Vec<&str> = site.split("server {").skip(1).collect();
        assert_eq!(servers.len(), 2, "{site}");
        // nginx refuses a second server for a name `.dev.example.com` already has.
        assert!(
            servers[0].contains("server_name *.dev.example.com;"),
            "{site}"
        );
        assert!(!servers[0].contains("auth_basic"), "{site}");
        assert!(
            servers[1].contains("server_name dev.example.com;"),
            "{site}"
        );
        assert!(
            servers[1].contains("auth_basic_user_file /etc/jib/index.htpasswd;"),
            "{site}"
        );
        assert!(servers[1].contains(&pass), "{site}");

        dev.tls = Some(TlsConfig {
            cert: "/c.pem".into(),
            key: "/k.pem".into(),
            listen: "443".into(),
            acme: None,
        });
        let site = nginx_site(&dev, &layout);
        let servers: Vec<&str> = site.split("server {").skip(1).collect();
        assert_eq!(servers.len(), 4, "{site}");
        // Plain HTTP to the bare domain goes to HTTPS, where the index is.
        assert!(
            servers[2].contains(
                "server_name dev.example.com;\n    return 301 https://$host$request_uri;"
            ),
            "{site}"
        );
        assert!(
            servers[3].contains("listen 443 ssl;\n    server_name dev.example.com;"),
            "{site}"
        );
        assert!(servers[3].contains(&pass), "{site}");

        let mut prod = server();
        prod.names = vec!["www.example.com".into()];
        prod.app = Some("prod".into());
        prod.index = Some(IndexConfig::default());
        let site = nginx_site(&prod, &layout);
        assert_eq!(site.matches("server {").count(), 1, "{site}");
        assert!(
            site.contains(&format!(
                "location ^~ /.jib/ {{\n        include uwsgi_params;\n        {pass}"
            )),
            "{site}"
        );
        assert!(!site.contains("auth_basic"), "{site}");
    }

    /// One certificate per branch: the wildcard server stays plain HTTP (with the CA's path),
    /// and each branch with its certificate gets an exact-name HTTPS server and a redirecting
    /// plain one; nothing else in the certificates' directory reaches the site.
    #[test]
    fn per_branch_certificates_get_servers_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let mut dev = server();
        dev.root = dir.path().to_path_buf();
        dev.tls = Some(acme_by_http01(&layout));
        let site = nginx_site(&dev, &layout);
        assert!(!site.contains(" ssl;"), "{site}");
        assert!(site.contains("/.well-known/acme-challenge/"), "{site}");
        let certs = layout.acme_branch_certs();
        std::fs::create_dir_all(&certs).unwrap();
        for f in [
            "alpha.dev.example.com.pem",
            "alpha.dev.example.com.status.json",
            "evil.example.org.pem",
            "a.b.dev.example.com.pem",
            "Upper.dev.example.com.pem",
            ".dev.example.com.pem",
        ] {
            std::fs::write(certs.join(f), "x").unwrap();
        }
        let site = nginx_site(&dev, &layout);
        let servers: Vec<&str> = site.split("server {").skip(1).collect();
        assert_eq!(servers.len(), 3, "{site}");
        assert!(
            servers[0].contains("server_name .dev.example.com;") && !servers[0].contains("301"),
            "{site}"
        );
        assert!(
            servers[1].contains("server_name alpha.dev.example.com;")
                && servers[1].contains("return 301 https://$host$request_uri;")
                && servers[1].contains("/.well-known/acme-challenge/"),
            "{site}"
        );
        let pem = certs.join("alpha.dev.example.com.pem");
        assert!(
            servers[2].contains("listen 443 ssl;\n    server_name alpha.dev.example.com;")
                && servers[2].contains(&format!("ssl_certificate {};", pem.display()))
                && servers[2].contains(&format!("ssl_certificate_key {};", pem.display())),
            "{site}"
        );
    }

    /// TLS by ACME, HTTP-01 (no `dns`), with the agent's certificate file.
    fn acme_by_http01(layout: &Layout) -> TlsConfig {
        TlsConfig {
            cert: layout.acme_cert(),
            key: layout.acme_cert(),
            listen: "443".into(),
            acme: Some(crate::protocol::AcmeConfig {
                directory: "https://acme.example/dir".into(),
                email: None,
                ca: None,
                dns: None,
                renew_after_secs: None,
            }),
        }
    }

    /// With `acme` and no certificate yet: plain HTTP without the redirect (nginx would refuse
    /// an ssl server without its file), and the CA's path to the agent.
    #[test]
    fn acme_before_its_first_certificate_serves_the_challenge_over_http() {
        let mut prod = server();
        prod.names = vec!["www.example.com".into()];
        prod.app = Some("prod".into());
        let layout = Layout::new("/nonexistent/apps");
        prod.tls = Some(acme_by_http01(&layout));
        let site = nginx_site(&prod, &layout);
        assert!(!site.contains(" ssl;"), "{site}");
        assert!(!site.contains("return 301"), "{site}");
        assert!(
            site.contains(&format!(
                "location ^~ /.well-known/acme-challenge/ {{\n        include uwsgi_params;\n        uwsgi_pass unix:{};",
                layout.notfound_socket().display()
            )),
            "{site}"
        );
    }
}
