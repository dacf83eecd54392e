//! An environment on several servers (DESIGN.md §7). Every host ("node") runs every app; each
//! app instance listens on the host's private address and announces itself, signed, to the
//! subscription server of every router, whose FastRouter balances a key's nodes across hosts.
//! What makes that safe on a shared network:
//! - subscriptions are signed (`subscriptions-sign-check`): a router accepts a node under a
//!   key only with a signature by the environment's key, which `jib setup` creates and only
//!   the nodes' root holds: serve announces the instances, never the apps themselves;
//! - a node's sockets run whatever reaches them (uWSGI #2491), so each node's firewall lets
//!   only the routers reach them (nftables, set by `jib setup`), and a routing guard refuses
//!   requests that carry `UWSGI_*` loader variables;
//! - nothing of the fleet listens outside the private network.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::Path;

use anyhow::{Context, Result, anyhow, bail};
use serde::{Deserialize, Serialize};

use crate::layout::Layout;

/// UDP port of a router's subscription server, on its private address.
pub const SUBSCRIPTION_PORT: u16 = 3031;

/// The ports app instances listen on, on a node's private address: the firewall opens just
/// these, and just to the routers.
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 47000..=47999;

/// How long (seconds) a router keeps a node that stopped announcing; nodes announce every
/// second. Short, so a dead host leaves the pool fast (DESIGN.md §7: 0 failed requests).
pub const TOLERANCE_SECS: u32 = 3;

/// How old (seconds) a signed announce may be: clocks of hosts and routers must agree to
/// within this.
pub const SIGN_TOLERANCE_SECS: u32 = 30;

/// The private ranges a fleet may use (RFC 1918 and the shared 100.64/10), with their length.
const PRIVATE: [(&str, u8); 4] = [
    ("10.0.0.0", 8),
    ("172.16.0.0", 12),
    ("192.168.0.0", 16),
    ("100.64.0.0", 10),
];

/// What `jib setup` learned about the environment's machines: `<root>/.jib/fleet.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peers {
    /// This machine's private address.
    pub address: Ipv4Addr,
    pub routers: Vec<Ipv4Addr>,
    pub nodes: Vec<Ipv4Addr>,
    /// The host that runs `[cron]` (one of the nodes).
    #[serde(default)]
    pub cron: Option<Ipv4Addr>,
}

impl Peers {
    /// Whether this machine runs the apps' `[cron]` entries.
    pub fn runs_cron(&self) -> bool {
        self.cron.is_none_or(|c| c == self.address)
    }

    pub fn load(layout: &Layout) -> Result<Peers> {
        let path = layout.fleet_json();
        let bytes = std::fs::read(&path)
            .with_context(|| format!("{} is missing: run `jib setup`", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))
    }

    /// Where each router's subscription server listens.
    pub fn subscription_servers(&self) -> Vec<SocketAddr> {
        self.routers
            .iter()
            .map(|r| SocketAddr::from((*r, SUBSCRIPTION_PORT)))
            .collect()
    }
}

/// An IPv4 network, `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: u32,
    bits: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        const RULE: &str = "is not an IPv4 network: write it as address/bits, e.g. 10.0.0.0/8";
        let (addr, bits) = text.split_once('/').ok_or(RULE)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| RULE)?;
        let bits: u8 = bits.parse().map_err(|_| RULE)?;
        if !(8..=30).contains(&bits) {
            return Err("must be between /8 and /30".into());
        }
        let net = Cidr {
            net: u32::from(addr) & (u32::MAX << (32 - bits)),
            bits,
        };
        // The whole network, not just the address written, must be private: 172.16.0.0/8
        // would be 172.0.0.0/8, public addresses included.
        let private = PRIVATE.iter().any(|(range, len)| {
            bits >= *len && Cidr::parse_unchecked(range, *len).contains(Ipv4Addr::from(net.net))
        });
        if !private {
            return Err("is not inside a private network (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10): nodes' sockets must never listen on a public address".into());
        }
        Ok(net)
    }

    fn parse_unchecked(addr: &str, bits: u8) -> Cidr {
        let a: Ipv4Addr = addr.parse().unwrap_or(Ipv4Addr::UNSPECIFIED);
        Cidr {
            net: u32::from(a) & (u32::MAX << (32 - bits)),
            bits,
        }
    }

    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.bits);
        u32::from(addr) & mask == self.net
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.net), self.bits)
    }
}

/// This machine's one address inside `private`.
pub fn private_address(private: &str) -> Result<Ipv4Addr> {
    let net = Cidr::parse(private).map_err(|why| anyhow!("private = {private:?} {why}"))?;
    let mut found: Vec<Ipv4Addr> = nix::ifaddrs::getifaddrs()
        .context("cannot list this machine's addresses")?
        .filter_map(|i| i.address?.as_sockaddr_in().map(|s| s.ip()))
        .filter(|a| net.contains(*a))
        .collect();
    found.sort();
    found.dedup();
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!("this machine has no address in the private network {net}"),
        many => bail!(
            "this machine has several addresses in {net} ({}): narrow env.<name>.private to one of them",
            many.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A port of [`NODE_PORTS`] free on `addr` now (the instance binds it a moment later).
pub fn free_node_port(addr: Ipv4Addr) -> Result<u16> {
    let span = (NODE_PORTS.end() - NODE_PORTS.start()) as u32 + 1;
    // Start somewhere else each time: a port just left by a stopped instance may linger.
    let start = (std::process::id().wrapping_mul(2654435761)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0))
        % span;
    for i in 0..span {
        let port = NODE_PORTS.start() + ((start + i) % span) as u16;
        if std::net::TcpListener::bind((addr, port)).is_ok() {
            return Ok(port);
        }
    }
    bail!(
        "no free port in {}-{} on {addr}",
        NODE_PORTS.start(),
        NODE_PORTS.end()
    )
}

/// A new subscription key: RSA 2048, PKCS#8 PEM.
pub fn generate_key() -> Result<String> {
    use rsa::Generate;
    use rsa::pkcs8::{EncodePrivateKey, LineEnding};
    let key = rsa::PrivateKey::generate();
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow!("cannot encode a new key: {e}"))?
        .to_string())
}

fn private_key(pem: &str) -> Result<rsa::PrivateKey> {
    use rsa::pkcs8::DecodePrivateKey;
    rsa::PrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            rsa::PrivateKey::from_pkcs1_pem(pem)
        })
        .map_err(|e| anyhow!("not an RSA private key: {e}"))
}

/// The public half of a private key, as the PEM (SubjectPublicKeyInfo) uWSGI reads.
pub fn public_pem(private_pem: &str) -> Result<String> {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    private_key(private_pem)?
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow!("cannot encode the public key: {e}"))
}

/// A short name for a key, the same for its private and public PEM.
pub fn fingerprint(private_pem: &str) -> Result<String> {
    use sha2::Digest;
    let public = public_pem(private_pem)?;
    Ok(hex::encode(&sha2::Sha256::digest(public.as_bytes())[..8]))
}

/// What signs a fleet's subscription packets (RSA, PKCS#1 v1.5, SHA-256, as uWSGI's
/// `sign=SHA256:<key>`).
pub struct Signer(rsa::pkcs1v15::SigningKey<sha2::Sha256>);

impl Signer {
    pub fn from_pem(pem: &str) -> Result<Signer> {
        Ok(Signer(rsa::pkcs1v15::SigningKey::new(private_key(pem)?)))
    }

    /// A subscription packet (`unsubscribe`: modifier2 1) signed as uWSGI signs them: the
    /// vars, then `unix` (now, plus one for an unsubscribe), then `sign`, a signature of
    /// everything before it.
    pub fn packet(&self, key: &str, address: &str, unsubscribe: bool) -> Result<Vec<u8>> {
        use rsa::signature::{SignatureEncoding, Signer as _};
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            + u64::from(unsubscribe);
        let mut body = Vec::new();
        for (k, v) in [
            ("key", key),
            ("address", address),
            ("unix", &now.to_string()),
        ] {
            push_var(&mut body, k.as_bytes(), v.as_bytes());
        }
        let sign: rsa::pkcs1v15::Signature = self
            .0
            .try_sign(&body)
            .map_err(|e| anyhow!("cannot sign: {e}"))?;
        push_var(&mut body, b"sign", &sign.to_vec());
        let mut p = vec![224u8];
        p.extend((body.len() as u16).to_le_bytes());
        p.push(u8::from(unsubscribe));
        p.extend(body);
        Ok(p)
    }
}

/// One signed packet (see [`Signer::packet`]).
pub fn signed_packet(key: &str, address: &str, unsubscribe: bool, pem: &str) -> Result<Vec<u8>> {
    Signer::from_pem(pem)?.packet(key, address, unsubscribe)
}

/// A node's announces, once: every instance of every app that is live here (up, and not
/// held back from the routers), under each of its app's keys, to every router, signed.
/// serve calls it every second; a router forgets a host whose announces stop.
pub fn announce_live(layout: &Layout, server: &crate::protocol::ServerConfig) -> Result<usize> {
    let peers = Peers::load(layout)?;
    let signer = Signer::from_pem(
        &std::fs::read_to_string(layout.fleet_key())
            .with_context(|| format!("cannot read {}", layout.fleet_key().display()))?,
    )?;
    // From reading the holds to sending: a withdrawal waits for this pass to land first.
    let _pass = crate::lock::Lock::wait(&layout.announce_lock())?;
    let mut packets = Vec::new();
    for name in crate::emperor::apps(layout) {
        let app = layout.app(&name);
        for i in crate::emperor::instances(&app) {
            let held = std::fs::symlink_metadata(app.instance_hold(&i)).is_ok();
            // Its socket is there while its master runs (vacuum removes it).
            let up = std::fs::symlink_metadata(layout.app_socket(&i)).is_ok();
            let Some(addr) = crate::emperor::instance_address(&app, &i) else {
                continue;
            };
            if held || !up {
                continue;
            }
            for k in crate::router::keys(server, &name) {
                packets.push(signer.packet(&k, &addr, false)?);
            }
        }
    }
    send_to_routers(&peers, &packets)?;
    Ok(packets.len())
}

fn push_var(body: &mut Vec<u8>, k: &[u8], v: &[u8]) {
    body.extend((k.len() as u16).to_le_bytes());
    body.extend(k);
    body.extend((v.len() as u16).to_le_bytes());
    body.extend(v);
}

/// Sends `packets` to every router's subscription server (UDP: a router that is down just
/// misses them; the node's own announces follow every second).
pub fn send_to_routers(peers: &Peers, packets: &[Vec<u8>]) -> Result<()> {
    let sock = UdpSocket::bind((peers.address, 0))
        .with_context(|| format!("cannot open a UDP socket on {}", peers.address))?;
    for to in peers.subscription_servers() {
        for p in packets {
            // A router that is down is not this switch's failure (ECONNREFUSED comes back
            // later anyway); its nodes' announces reach it when it is up.
            let _ = sock.send_to(p, to);
        }
    }
    Ok(())
}

/// A machine's firewall (nftables, a table of its own): the instances' ports on a node's
/// private address accept new connections from the routers only; a router's subscription
/// server accepts announces from the nodes only; and on a router only the FastRouter's user
/// (`router_uid`) and root may open connections to the nodes' instance ports — a uWSGI
/// socket runs whatever reaches it (uWSGI #2491), so no other local user may. Everything
/// else is left as the admin set it.
pub fn nft_ruleset(peers: &Peers, node: bool, router: bool, router_uid: Option<u32>) -> String {
    let set = |items: Vec<String>| {
        if items.is_empty() {
            // An empty set literal is a syntax error: an address nobody has.
            "{ 0.0.0.0 }".to_string()
        } else {
            format!("{{ {} }}", items.join(", "))
        }
    };
    let addrs = |a: &[Ipv4Addr]| set(a.iter().map(|a| a.to_string()).collect());
    let ports = format!("{}-{}", NODE_PORTS.start(), NODE_PORTS.end());
    let mut input = String::new();
    let mut output = String::new();
    if node {
        input.push_str(&format!(
            "    ip daddr {} tcp dport {ports} ip saddr != {} drop\n",
            peers.address,
            addrs(&peers.routers)
        ));
    }
    if router {
        input.push_str(&format!(
            "    udp dport {SUBSCRIPTION_PORT} ip saddr != {} drop\n",
            addrs(&peers.nodes)
        ));
        let mut uids = vec!["0".to_string()];
        uids.extend(router_uid.filter(|u| *u != 0).map(|u| u.to_string()));
        output.push_str(&format!(
            "    ip daddr {} tcp dport {ports} meta skuid != {} reject\n",
            addrs(&peers.nodes),
            set(uids)
        ));
    }
    format!(
        "table inet jib\ndelete table inet jib\ntable inet jib {{\n  chain input {{\n    type filter hook input priority -10; policy accept;\n    ct state established,related accept\n{input}  }}\n  chain output {{\n    type filter hook output priority -10; policy accept;\n    ct state established,related accept\n{output}  }}\n}}\n"
    )
}

/// The firewall of this machine of a fleet, from what setup learned (`fleet.json`): put in
/// place by `jib setup` and again by serve before anything starts (a reboot, or an admin's
/// `nft flush ruleset`, must not leave the apps' sockets open).
pub fn apply_for(layout: &Layout, server: &crate::protocol::ServerConfig) -> Result<()> {
    let Some(role) = &server.fleet else {
        return Ok(());
    };
    let peers = Peers::load(layout)?;
    let uid = crate::identity::of_server(server)?.map(|(u, _)| u.uid.as_raw());
    apply_firewall(&nft_ruleset(&peers, role.node, role.router, uid))
}

/// Applies [`nft_ruleset`] (replacing jib's table, atomically).
pub fn apply_firewall(ruleset: &str) -> Result<()> {
    use std::io::Write;
    let nft = crate::programs::which("nft").ok_or_else(|| {
        anyhow!("nft is not installed: apt-get install nftables (every host's firewall keeps its app sockets to the routers)")
    })?;
    let mut child = std::process::Command::new(nft)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .context("cannot run nft")?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(ruleset.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft refused jib's firewall table: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Writes a key to `path`, root's and 0600, replacing it whole (a temp file renamed over it):
/// never readable by anyone else, not even for a moment.
pub fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_bytes())?;
    // Whatever the umask made of it.
    f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_and_contain() {
        let n = Cidr::parse("10.1.2.3/16").unwrap();
        assert_eq!(n.to_string(), "10.1.0.0/16");
        assert!(n.contains("10.1.200.7".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("8.8.8.0/24").is_err());
        // The network decides, not the address written.
        assert!(Cidr::parse("172.16.0.0/8").is_err());
        assert!(Cidr::parse("192.168.0.0/8").is_err());
        assert!(Cidr::parse("127.0.0.0/8").is_err());
        assert!(Cidr::parse("172.20.0.0/16").is_ok());
        assert!(Cidr::parse("100.64.0.0/10").is_ok());
        assert!(Cidr::parse("10.0.0.0").is_err());
        assert!(Cidr::parse("10.0.0.0/4").is_err());
    }

    #[test]
    fn signed_packets_put_the_signature_last_over_everything_before_it() {
        use rsa::signature::Verifier;
        let pem = generate_key().unwrap();
        let p = signed_packet("www.example.com", "10.0.0.2:47001", true, &pem).unwrap();
        assert_eq!((p[0], p[3]), (224, 1));
        assert_eq!(u16::from_le_bytes([p[1], p[2]]) as usize, p.len() - 4);
        // Walk the vars: the last is `sign`; uWSGI's base is everything after the header
        // but it (2 + 4 + 2 + its length).
        let (mut at, mut last) = (4, (0, 0, 0));
        while at < p.len() {
            let kl = u16::from_le_bytes([p[at], p[at + 1]]) as usize;
            let vl = u16::from_le_bytes([p[at + 2 + kl], p[at + 3 + kl]]) as usize;
            last = (at, kl, vl);
            at += 4 + kl + vl;
        }
        assert_eq!(at, p.len());
        let (start, kl, vl) = last;
        assert_eq!(&p[start + 2..start + 2 + kl], b"sign");
        let base = &p[4..p.len() - (2 + 4 + 2 + vl)];
        assert_eq!(base.len(), start - 4);
        let public = {
            use rsa::pkcs8::DecodePublicKey;
            rsa::PublicKey::from_public_key_pem(&public_pem(&pem).unwrap()).unwrap()
        };
        let v = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
        let sig = rsa::pkcs1v15::Signature::try_from(&p[p.len() - vl..]).unwrap();
        assert!(v.verify(base, &sig).is_ok());
        assert_eq!(fingerprint(&pem).unwrap().len(), 16);
    }

    #[test]
    fn the_firewall_keeps_node_ports_to_the_routers() {
        let peers = Peers {
            address: "10.0.0.11".parse().unwrap(),
            routers: vec!["10.0.0.10".parse().unwrap()],
            nodes: vec!["10.0.0.11".parse().unwrap()],
            cron: None,
        };
        let r = nft_ruleset(&peers, true, false, None);
        assert!(
            r.contains("ip daddr 10.0.0.11 tcp dport 47000-47999 ip saddr != { 10.0.0.10 } drop"),
            "{r}"
        );
        assert!(!r.contains("udp dport"));
        let r = nft_ruleset(&peers, false, true, Some(65534));
        assert!(
            r.contains("udp dport 3031 ip saddr != { 10.0.0.11 } drop"),
            "{r}"
        );
        assert!(
            r.contains(
                "ip daddr { 10.0.0.11 } tcp dport 47000-47999 meta skuid != { 0, 65534 } reject"
            ),
            "{r}"
        );
    }
}
