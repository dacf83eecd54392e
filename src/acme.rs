//! Certificates from an ACME server (Let's Encrypt, or any RFC 8555 CA): obtained by `serve`
//! as soon as it starts without one (`jib setup` waits for it), renewed at two thirds of the
//! lifetime, retried with backoff when that fails while the old one keeps serving.
//!
//! A promotion target's exact `domains` are proven by HTTP-01: the token's answer is a file
//! under `<root>/.jib/acme/challenges/` that serve's 404 server answers for
//! `/.well-known/acme-challenge/` (nginx passes that path to it for every name of the site).
//! A branch environment's wildcard `*.<domain>` (and `<domain>`) by DNS-01 (`dns`); without
//! `dns`, one certificate per branch host by HTTP-01, obtained once the branch's first push
//! has put it live (the push waits for it) and kept under `certs/` for later pushes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::layout::Layout;
use crate::protocol::{AcmeConfig, CertStatus, ServerConfig};

/// Retries after a failure: 1 min, doubling, at most 6 h (Let's Encrypt allows 5 failed
/// validations per name and hour: never hammer it).
const RETRY_FIRST: Duration = Duration::from_secs(60);
const RETRY_MAX: Duration = Duration::from_secs(6 * 3600);

/// The names the certificate must cover: the wildcard and its base (the bare domain) by
/// DNS-01, else a promotion target's exact names.
pub fn wanted_names(server: &ServerConfig, acme: &AcmeConfig) -> Vec<String> {
    if acme.dns.is_some() && server.names.is_empty() {
        vec![format!("*.{}", server.domain), server.domain.clone()]
    } else {
        server.names.clone()
    }
}

/// One certificate the agent keeps: the names it covers, its file, serve's record of it.
#[derive(Debug, Clone)]
pub struct Slot {
    pub names: Vec<String>,
    pub cert: PathBuf,
    pub status: PathBuf,
}

/// A branch environment with `acme` and no `dns`: one certificate per branch, by HTTP-01.
pub fn per_branch(server: &ServerConfig) -> bool {
    server.names.is_empty()
        && server
            .tls
            .as_ref()
            .and_then(|t| t.acme.as_ref())
            .is_some_and(|a| a.dns.is_none())
}

/// Where a branch answers now: `http://` while its own certificate (one per branch) is not
/// obtained yet, since nginx has no HTTPS server for it until then.
pub fn served_url(app: &str, server: &ServerConfig) -> String {
    let host = server.app_host(app);
    if per_branch(server) && !Layout::new(&server.root).acme_branch_cert(&host).exists() {
        return crate::config::plain_url(&host, server);
    }
    crate::config::app_url(app, server)
}

/// The environment's one certificate (prod's names, or the DNS-01 wildcard).
pub fn env_slot(server: &ServerConfig, acme: &AcmeConfig, layout: &Layout) -> Slot {
    Slot {
        names: wanted_names(server, acme),
        cert: layout.acme_cert(),
        status: layout.acme_status(),
    }
}

/// A branch's own certificate, for exactly its host. App names are `[a-z0-9-]+` and the
/// domain a checked DNS name: the file name cannot leave `certs/`.
pub fn branch_slot(server: &ServerConfig, layout: &Layout, app: &str) -> Slot {
    let host = server.app_host(app);
    Slot {
        cert: layout.acme_branch_cert(&host),
        status: layout.acme_branch_status(&host),
        names: vec![host],
    }
}

/// The certificate `app` is served with, if the environment has one from ACME.
pub fn slot_for(server: &ServerConfig, layout: &Layout, app: &str) -> Option<Slot> {
    let acme = server.tls.as_ref()?.acme.as_ref()?;
    Some(if per_branch(server) {
        branch_slot(server, layout, app)
    } else {
        env_slot(server, acme, layout)
    })
}

/// What serve keeps: the environment's certificate, or one per branch with a release put live
/// (a first push that failed its health check asks the CA for nothing; a stopped branch keeps
/// its certificate renewed).
fn slots(server: &ServerConfig, acme: &AcmeConfig, layout: &Layout) -> Vec<Slot> {
    if !per_branch(server) {
        return vec![env_slot(server, acme, layout)];
    }
    layout
        .app_names()
        .into_iter()
        .filter(|a| crate::release::current(&layout.app(a)).is_some())
        .map(|a| branch_slot(server, layout, &a))
        .collect()
}

/// `jib destroy`: the branch's certificate goes with it; true when there was one.
pub fn forget(server: &ServerConfig, layout: &Layout, app: &str) -> bool {
    if !per_branch(server) {
        return false;
    }
    let s = branch_slot(server, layout, app);
    let _ = std::fs::remove_file(s.status);
    std::fs::remove_file(s.cert).is_ok()
}

/// What a certificate file holds, as far as renewal cares.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub names: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl CertInfo {
    /// The first certificate of a PEM chain.
    pub fn parse(pem: &str) -> Result<CertInfo> {
        let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
            .map_err(|e| anyhow::anyhow!("not a PEM certificate: {e}"))?;
        let cert = block
            .parse_x509()
            .map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                    names.push(d.to_string());
                }
            }
        }
        let v = cert.validity();
        Ok(CertInfo {
            names,
            not_before: v.not_before.to_datetime(),
            not_after: v.not_after.to_datetime(),
        })
    }

    /// When to renew: `renew_after` past issue, else at two thirds of the lifetime (day 60 of
    /// Let's Encrypt's 90, leaving a month for retries).
    pub fn renew_at(&self, acme: &AcmeConfig) -> OffsetDateTime {
        match acme.renew_after_secs {
            Some(s) => self.not_before + Duration::from_secs(s),
            None => self.not_before + (self.not_after - self.not_before) * 2 / 3,
        }
    }

    fn covers(&self, names: &[String]) -> bool {
        names.iter().all(|n| self.names.iter().any(|c| c == n))
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The certificate installed at `cert`, if any.
pub fn installed(cert: &Path) -> Option<CertInfo> {
    let pem = std::fs::read_to_string(cert).ok()?;
    CertInfo::parse(&pem).ok()
}

/// The certificate's state for `jib status` / `jib doctor`: the environment's, or with one
/// per branch `app`'s (none without an app).
pub fn status(server: &ServerConfig, layout: &Layout, app: Option<&str>) -> Option<CertStatus> {
    let acme = server.tls.as_ref()?.acme.as_ref()?;
    let slot = match app {
        _ if !per_branch(server) => env_slot(server, acme, layout),
        Some(a) => branch_slot(server, layout, a),
        None => return None,
    };
    Some(slot_status(acme, &slot))
}

/// With one certificate per branch, each live branch's host and its certificate's state, for
/// `jib doctor`.
pub fn branch_statuses(server: &ServerConfig, layout: &Layout) -> Vec<(String, CertStatus)> {
    let Some(acme) = server.tls.as_ref().and_then(|t| t.acme.as_ref()) else {
        return Vec::new();
    };
    if !per_branch(server) {
        return Vec::new();
    }
    slots(server, acme, layout)
        .into_iter()
        .map(|s| (s.names.join(", "), slot_status(acme, &s)))
        .collect()
}

/// The installed certificate and what serve last recorded about it.
fn slot_status(acme: &AcmeConfig, slot: &Slot) -> CertStatus {
    let mut st = read_status(slot).unwrap_or_default();
    match installed(&slot.cert) {
        Some(c) => {
            st.names = c.names.clone();
            st.not_after = Some(rfc3339(c.not_after));
            st.renew_at = Some(rfc3339(c.renew_at(acme)));
        }
        None => {
            st.names.clear();
            st.not_after = None;
            st.renew_at = None;
        }
    }
    st
}

/// What serve last recorded about `slot`'s certificate.
fn read_status(slot: &Slot) -> Option<CertStatus> {
    serde_json::from_slice(&std::fs::read(&slot.status).ok()?).ok()
}

fn write_status(slot: &Slot, st: &CertStatus) {
    if let Ok(json) = serde_json::to_string_pretty(st) {
        let _ = crate::fleet::write_secret(&slot.status, &json);
    }
}

/// `<root>/.jib/acme` and its challenge folder, root's alone.
fn prepare_dirs(layout: &Layout) -> Result<()> {
    // Parent first; never through a link put where one of them should be.
    for d in [
        layout.acme_dir(),
        layout.acme_challenges(),
        layout.acme_branch_certs(),
    ] {
        crate::fsafe::ensure_dir(&d, 0o700, None)?;
    }
    Ok(())
}

/// The account key and URL for this directory, stored 0600 (a new account when there is none,
/// or the directory changed).
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

fn builder(acme: &AcmeConfig) -> Result<instant_acme::AccountBuilder> {
    match &acme.ca {
        Some(ca) => Account::builder_with_root(ca).with_context(|| {
            format!(
                "cannot use {} as the ACME server's root (tls.acme_ca)",
                ca.display()
            )
        }),
        None => Account::builder().context("cannot set up an HTTPS client for the ACME server"),
    }
}

async fn account(acme: &AcmeConfig, layout: &Layout) -> Result<Account> {
    if let Ok(bytes) = std::fs::read(layout.acme_account())
        && let Ok(stored) = serde_json::from_slice::<StoredAccount>(&bytes)
        && stored.directory == acme.directory
    {
        return builder(acme)?
            .from_credentials(stored.credentials)
            .await
            .with_context(|| format!("cannot reach the ACME server {}", acme.directory));
    }
    let contact = acme.email.as_ref().map(|e| format!("mailto:{e}"));
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = builder(acme)?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            acme.directory.clone(),
            None,
        )
        .await
        .with_context(|| format!("cannot register an account with {}", acme.directory))?;
    let stored = StoredAccount {
        directory: acme.directory.clone(),
        credentials,
    };
    crate::fleet::write_secret(&layout.acme_account(), &serde_json::to_string(&stored)?)?;
    Ok(account)
}

/// What to undo once the order is decided: challenge files, TXT records.
enum Proof {
    File(std::path::PathBuf),
    Txt(hickory_proto::rr::Name, String),
}

/// Obtains a certificate for `names` (with a new key).
pub async fn obtain(acme: &AcmeConfig, layout: &Layout, names: &[String]) -> Result<Obtained> {
    prepare_dirs(layout)?;
    let account = account(acme, layout).await?;
    let ids: Vec<Identifier> = names.iter().map(|n| Identifier::Dns(n.clone())).collect();
    let mut order = account
        .new_order(&NewOrder::new(&ids))
        .await
        .with_context(|| format!("the ACME server refused an order for {}", names.join(", ")))?;
    let dns = match &acme.dns {
        Some(d) => Some(crate::dns::Updater::new(d)?),
        None => None,
    };
    let mut proofs = Vec::new();
    let result = async {
        let mut authzs = order.authorizations();
        while let Some(a) = authzs.next().await {
            let mut authz = a?;
            match authz.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => bail!("the ACME server says the authorization is {other:?}"),
            }
            let kind = if dns.is_some() {
                ChallengeType::Dns01
            } else {
                ChallengeType::Http01
            };
            let mut ch = authz
                .challenge(kind.clone())
                .with_context(|| format!("the ACME server offers no {kind:?} challenge"))?;
            let who = ch.identifier().to_string();
            match &dns {
                Some(up) => {
                    let name = up.challenge_name(&who)?;
                    let value = ch.key_authorization().dns_value();
                    let up_ref = up;
                    let (n2, v2) = (name.clone(), value.clone());
                    proofs.push(Proof::Txt(name.clone(), value.clone()));
                    // Blocking socket I/O: off the runtime's threads.
                    tokio::task::block_in_place(|| {
                        up_ref.add_txt(&n2, &v2)?;
                        up_ref.wait_visible(&n2, &v2, Duration::from_secs(30))
                    })?;
                }
                None => {
                    if !is_token(&ch.token) {
                        bail!("the ACME server sent a token that is not base64url");
                    }
                    let file = layout.acme_challenges().join(&ch.token);
                    crate::fleet::write_secret(&file, ch.key_authorization().as_str())?;
                    proofs.push(Proof::File(file));
                }
            }
            ch.set_ready()
                .await
                .with_context(|| format!("the ACME server did not take the challenge for {who}"))?;
        }
        let retry = RetryPolicy::new().timeout(Duration::from_secs(90));
        let st = order.poll_ready(&retry).await?;
        if st != OrderStatus::Ready {
            bail!("{}", failed_validation(&mut order, st).await);
        }
        let key = order.finalize().await?;
        let chain = order.poll_certificate(&retry).await?;
        Ok::<_, anyhow::Error>((key, chain))
    }
    .await;
    for p in proofs {
        match p {
            Proof::File(f) => {
                let _ = std::fs::remove_file(f);
            }
            Proof::Txt(n, v) => {
                if let Some(up) = &dns {
                    let _ = tokio::task::block_in_place(|| up.remove_txt(&n, &v));
                }
            }
        }
    }
    let (key, chain) = result.with_context(|| {
        format!(
            "cannot obtain a certificate for {} from {}",
            names.join(", "),
            acme.directory
        )
    })?;
    let info = CertInfo::parse(&chain).context("the ACME server sent no certificate")?;
    Ok(Obtained { info, chain, key })
}

/// A certificate from the CA, not yet installed.
pub struct Obtained {
    pub info: CertInfo,
    chain: String,
    key: String,
}

impl Obtained {
    /// Chain then key in one file: nginx takes both from it, and one rename swaps them together.
    pub fn install(&self, cert: &Path) -> Result<()> {
        crate::fleet::write_secret(cert, &format!("{}\n{}", self.chain, self.key))
    }
}

/// Why the order did not become ready: each failed challenge's problem.
async fn failed_validation(order: &mut instant_acme::Order, st: OrderStatus) -> String {
    let mut why = Vec::new();
    let mut authzs = order.authorizations();
    while let Some(Ok(a)) = authzs.next().await {
        let who = a.identifier().to_string();
        for c in &a.challenges {
            if let Some(p) = &c.error {
                why.push(format!("{who}: {p}"));
            }
        }
    }
    if why.is_empty() {
        format!("the order is {st:?}")
    } else {
        format!("validation failed: {}", why.join("; "))
    }
}

/// When a certificate is due: none yet, it lacks a wanted name, or its renewal time passed.
fn due(current: Option<&CertInfo>, names: &[String], acme: &AcmeConfig) -> bool {
    match current {
        None => true,
        Some(c) => !c.covers(names) || OffsetDateTime::now_utc() >= c.renew_at(acme),
    }
}

/// A certificate's failures in a row and when the next attempt may start.
#[derive(Default)]
struct Backoff {
    failures: u32,
    retry_at: Option<Instant>,
}

/// serve's loop: obtains each certificate at once when missing (with one per branch: once the
/// branch is live), renews it when due, and after a new one (or a branch's removed) calls
/// `installed_hook` (which rewrites the nginx site and reloads nginx). A failure is logged and recorded, the old certificate keeps
/// serving, and the next attempt waits longer each time.
pub async fn keep(
    server: ServerConfig,
    layout: Layout,
    log: fn(String),
    installed_hook: impl Fn() + Send + 'static,
) {
    let Some(acme) = server.tls.as_ref().and_then(|t| t.acme.clone()) else {
        return;
    };
    let mut backoff: HashMap<PathBuf, Backoff> = HashMap::new();
    let mut certs = crate::router::branch_certificates(&server, &layout);
    loop {
        if std::fs::remove_file(layout.acme_retry()).is_ok() {
            backoff.values_mut().for_each(|b| b.retry_at = None);
        }
        let slots = slots(&server, &acme, &layout);
        // A destroyed branch's backoff goes with it.
        backoff.retain(|k, _| slots.iter().any(|s| &s.cert == k));
        for slot in slots {
            let b = backoff.entry(slot.cert.clone()).or_default();
            // Each at once: a push waiting for its branch's certificate waits for nobody else's.
            if attempt(&acme, &layout, &slot, b, log).await {
                certs = crate::router::branch_certificates(&server, &layout);
                installed_hook();
            }
        }
        // A branch's certificate gone (`jib destroy` removes it): its servers go too.
        let now = crate::router::branch_certificates(&server, &layout);
        if now != certs {
            certs = now;
            installed_hook();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Obtains or renews `slot`'s certificate when due and not backing off; true when a new one
/// was installed.
async fn attempt(
    acme: &AcmeConfig,
    layout: &Layout,
    slot: &Slot,
    b: &mut Backoff,
    log: fn(String),
) -> bool {
    let current = installed(&slot.cert);
    let waiting = b.retry_at.is_some_and(|t| Instant::now() < t);
    if !due(current.as_ref(), &slot.names, acme) || waiting {
        return false;
    }
    let names = &slot.names;
    let what = if current.is_some() {
        "renewing"
    } else {
        "obtaining"
    };
    log(format!(
        "{what} the certificate for {} from {}",
        names.join(", "),
        acme.directory
    ));
    let started = Instant::now();
    let got = async {
        let new = obtain(acme, layout, names).await?;
        let took = started.elapsed();
        // The record first: whoever sees the new certificate sees its record (a failed
        // install overwrites it below).
        write_status(
            slot,
            &CertStatus {
                took_ms: Some(took.as_millis() as u64),
                attempted: Some(crate::release::utc_now()),
                ..CertStatus::default()
            },
        );
        new.install(&slot.cert)
            .context("cannot install the new certificate")?;
        Ok::<_, anyhow::Error>((new.info, took))
    }
    .await;
    match got {
        Ok((info, took)) => {
            *b = Backoff::default();
            log(format!(
                "certificate for {} installed in {} ms, valid until {}, renewed from {}",
                names.join(", "),
                took.as_millis(),
                rfc3339(info.not_after),
                rfc3339(info.renew_at(acme))
            ));
            true
        }
        Err(e) => {
            b.failures += 1;
            let wait = RETRY_FIRST
                .saturating_mul(1 << (b.failures - 1).min(10))
                .min(RETRY_MAX);
            b.retry_at = Some(Instant::now() + wait);
            let msg = format!("{e:#}");
            log(format!(
                "{msg}; {}; retrying in {} s",
                match &current {
                    Some(c) => format!(
                        "the current certificate keeps serving (valid until {})",
                        rfc3339(c.not_after)
                    ),
                    None => "no certificate yet: HTTPS is not served".into(),
                },
                wait.as_secs()
            ));
            write_status(
                slot,
                &CertStatus {
                    error: Some(msg),
                    attempted: Some(crate::release::utc_now()),
                    retry_at: Some(rfc3339(OffsetDateTime::now_utc() + wait)),
                    ..CertStatus::default()
                },
            );
            false
        }
    }
}

/// A challenge token's answer for serve's 404 server (`None`: not a token we hold).
pub fn challenge_answer(layout: &Layout, path: &str) -> Option<String> {
    let token = path.strip_prefix("/.well-known/acme-challenge/")?;
    if !is_token(token) {
        return None;
    }
    std::fs::read_to_string(layout.acme_challenges().join(token)).ok()
}

/// An ACME challenge token: base64url, so a file name of its own and nothing else.
fn is_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `jib setup`'s (or a branch's first push's) wait for the certificate serve obtains: done
/// when one covering the names is installed, failed when serve recorded an error after
/// `since`.
pub fn wait_obtained(
    slot: &Slot,
    since: std::time::SystemTime,
    limit: Duration,
) -> Result<CertInfo> {
    let start = Instant::now();
    loop {
        if let Some(mut c) = installed(&slot.cert)
            && c.covers(&slot.names)
        {
            // In the order deploy.toml implies (the CA may sort them).
            c.names = slot.names.clone();
            return Ok(c);
        }
        let fresh = std::fs::metadata(&slot.status)
            .and_then(|m| m.modified())
            .is_ok_and(|m| m >= since);
        if fresh
            && let Some(st) = read_status(slot)
            && let Some(e) = st.error
        {
            bail!("{e}");
        }
        if start.elapsed() > limit {
            bail!(
                "no certificate for {} after {} s",
                slot.names.join(", "),
                limit.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
