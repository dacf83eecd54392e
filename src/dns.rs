//! DNS-01 by RFC 2136: TXT records under `_acme-challenge.<name>` added and removed by
//! TSIG-signed dynamic updates to the zone's authoritative server (bind9, Knot, PowerDNS and
//! many providers take them). Messages are built and signed by `hickory-proto`; this module
//! only sends them (UDP, TCP when the answer is truncated) and reads the answer.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use base64::Engine;
use hickory_proto::op::{Message, Query, ResponseCode, update_message};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, RData, Record, RecordSet, RecordType, TSigner};

use crate::protocol::DnsUpdate;

/// How long a TXT record lives in caches: the validation follows within seconds.
const TTL: u32 = 60;
/// Clock skew the server tolerates for a signature (RFC 8945 recommends 300 s).
const FUDGE: u16 = 300;
const TIMEOUT: Duration = Duration::from_secs(5);

/// `host:port` or `host` (port 53): a name or an address, no spaces.
pub fn check_server(server: &str) -> Result<(), String> {
    let (host, port) = split_server(server);
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return Err("is not host:port (like \"ns1.example.com:53\" or \"10.0.0.2\")".into());
    }
    port.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .map(|_| ())
        .ok_or_else(|| "has no valid port (1 to 65535)".to_string())
}

fn split_server(server: &str) -> (&str, &str) {
    // `[::1]:53`, `10.0.0.2:53`, `ns1:53`; a bare IPv6 address has several colons.
    if let Some(rest) = server.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((h, p)) => (h, p),
            None => (rest.trim_end_matches(']'), "53"),
        };
    }
    match server.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (server, "53"),
    }
}

/// The TSIG algorithm named in deploy.toml.
pub fn algorithm(name: &str) -> Result<TsigAlgorithm, String> {
    match name.to_ascii_lowercase().trim_end_matches('.') {
        "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
        "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
        "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
        _ => Err("is not supported: use hmac-sha256, hmac-sha384 or hmac-sha512".into()),
    }
}

/// The key's secret from `file`: bare base64, or the `secret "…";` of a `tsig-keygen` block.
fn read_secret(file: &Path) -> Result<Vec<u8>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read the TSIG secret {}", file.display()))?;
    let b64 = match text.find("secret") {
        Some(i) => text[i + "secret".len()..]
            .split('"')
            .nth(1)
            .unwrap_or_default()
            .to_string(),
        None => text.split_whitespace().collect(),
    };
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()
        .filter(|k| !k.is_empty())
        .with_context(|| {
            format!(
                "{} holds no TSIG secret: put the base64 secret in it, or the key block `tsig-keygen` prints",
                file.display()
            )
        })
}

/// One DNS server taking signed updates for one zone.
pub struct Updater {
    addr: SocketAddr,
    server: String,
    zone: Name,
    signer: TSigner,
}

impl Updater {
    pub fn new(cfg: &DnsUpdate) -> Result<Updater> {
        let (host, port) = split_server(&cfg.server);
        let port: u16 = port
            .parse()
            .with_context(|| format!("tls.dns.server = {:?} has no valid port", cfg.server))?;
        let addr = (host, port)
            .to_socket_addrs()
            .with_context(|| format!("cannot resolve the DNS server {}", cfg.server))?
            .next()
            .with_context(|| format!("the DNS server {} has no address", cfg.server))?;
        let alg = algorithm(&cfg.tsig_algorithm).map_err(anyhow::Error::msg)?;
        let key_name = Name::from_ascii(&cfg.tsig_key)
            .with_context(|| format!("tls.dns.tsig_key = {:?} is not a name", cfg.tsig_key))?;
        let signer = TSigner::new(read_secret(&cfg.tsig_secret_file)?, alg, key_name, FUDGE)
            .map_err(|e| anyhow::anyhow!("cannot make a TSIG signer: {e}"))?;
        let mut zone = Name::from_ascii(&cfg.zone)
            .with_context(|| format!("tls.dns.zone = {:?} is not a name", cfg.zone))?;
        zone.set_fqdn(true);
        Ok(Updater {
            addr,
            server: cfg.server.clone(),
            zone,
            signer,
        })
    }

    /// `_acme-challenge.<name>` (a wildcard's base name for `*.name`), checked to be in the zone.
    pub fn challenge_name(&self, name: &str) -> Result<Name> {
        let base = name.trim_start_matches("*.");
        let mut n = Name::from_ascii(format!("_acme-challenge.{base}"))
            .with_context(|| format!("{base:?} is not a DNS name"))?;
        n.set_fqdn(true);
        if !self.zone.zone_of(&n) {
            bail!(
                "{n} is outside the zone {} that tls.dns.zone names: set zone to a parent of {base}",
                self.zone
            );
        }
        Ok(n)
    }

    fn rrset(&self, name: &Name, value: &str) -> RecordSet {
        RecordSet::from(Record::from_rdata(
            name.clone(),
            TTL,
            RData::TXT(TXT::new(vec![value.to_string()])),
        ))
    }

    /// Adds `value` to the TXT records of `name` (others stay: a wildcard and its base name
    /// are proven with two values under one name).
    pub fn add_txt(&self, name: &Name, value: &str) -> Result<()> {
        let msg = update_message::append(self.rrset(name, value), self.zone.clone(), false, false);
        self.send_update(msg)
            .with_context(|| format!("adding the TXT record {name} on {}", self.server))
    }

    /// Removes exactly that TXT value (a record already gone is no error).
    pub fn remove_txt(&self, name: &Name, value: &str) -> Result<()> {
        let msg =
            update_message::delete_by_rdata(self.rrset(name, value), self.zone.clone(), false);
        self.send_update(msg)
            .with_context(|| format!("removing the TXT record {name} on {}", self.server))
    }

    fn send_update(&self, mut msg: Message) -> Result<()> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut verifier = msg
            .finalize(&self.signer, now)
            .map_err(|e| anyhow::anyhow!("cannot sign the update: {e}"))?;
        let bytes = msg.to_vec().context("cannot encode the update")?;
        let answer = self.exchange(&bytes)?;
        let reply = Message::from_vec(&answer).context("the DNS server's answer is not DNS")?;
        let code = reply.metadata.response_code;
        if code != ResponseCode::NoError {
            let hint = match code {
                ResponseCode::NotAuth => {
                    " (the server refused the key: check tsig_key, tsig_secret_file, tsig_algorithm and that the clocks agree)"
                }
                ResponseCode::Refused => {
                    " (the server does not allow this key to update the zone: see its update-policy / allow-update)"
                }
                ResponseCode::NotZone => " (the name is not in tls.dns.zone on that server)",
                _ => "",
            };
            bail!("the DNS server answered {code}{hint}");
        }
        // A success must come from the key's holder, not from anyone on the path.
        if let Some(v) = verifier.as_mut() {
            v.verify(&answer).map_err(|e| {
                anyhow::anyhow!("the DNS server's answer is not signed by the key: {e}")
            })?;
        }
        Ok(())
    }

    /// The TXT values the server itself answers for `name` (no recursion, no cache).
    pub fn txt_values(&self, name: &Name) -> Result<Vec<String>> {
        let mut msg = Message::query();
        msg.metadata.recursion_desired = false;
        msg.add_query(Query::query(name.clone(), RecordType::TXT));
        let answer = self.exchange(&msg.to_vec()?)?;
        let reply = Message::from_vec(&answer).context("the DNS server's answer is not DNS")?;
        Ok(reply
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// Waits until the server answers `value` for `name` (a hidden primary's secondaries are
    /// the CA's business; the server updated is the one asked).
    pub fn wait_visible(&self, name: &Name, value: &str, limit: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            if self.txt_values(name)?.iter().any(|v| v == value) {
                return Ok(());
            }
            if start.elapsed() > limit {
                bail!(
                    "{} accepted the TXT record {name} but does not answer it after {limit:?}",
                    self.server
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One request, one answer: UDP first, TCP when the answer is truncated or UDP fails.
    fn exchange(&self, bytes: &[u8]) -> Result<Vec<u8>> {
        let udp = || -> std::io::Result<Vec<u8>> {
            let local: SocketAddr = if self.addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let s = UdpSocket::bind(local)?;
            s.set_read_timeout(Some(TIMEOUT))?;
            s.connect(self.addr)?;
            s.send(bytes)?;
            let mut buf = vec![0u8; 4096];
            let n = s.recv(&mut buf)?;
            buf.truncate(n);
            Ok(buf)
        };
        if let Ok(answer) = udp() {
            // TC bit: byte 2, 0x02.
            if answer.get(2).is_some_and(|b| b & 0x02 == 0) {
                return Ok(answer);
            }
        }
        let mut s = TcpStream::connect_timeout(&self.addr, TIMEOUT)
            .with_context(|| format!("cannot reach the DNS server {}", self.server))?;
        s.set_read_timeout(Some(TIMEOUT))?;
        let len = u16::try_from(bytes.len()).context("DNS message too long")?;
        s.write_all(&len.to_be_bytes())?;
        s.write_all(bytes)?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l)
            .with_context(|| format!("no answer from the DNS server {}", self.server))?;
        let mut answer = vec![0u8; u16::from_be_bytes(l) as usize];
        s.read_exact(&mut answer)?;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers() {
        assert_eq!(
            split_server("ns1.example.com:5353"),
            ("ns1.example.com", "5353")
        );
        assert_eq!(split_server("10.0.0.2"), ("10.0.0.2", "53"));
        assert_eq!(split_server("[::1]:53"), ("::1", "53"));
        assert!(check_server("ns1.example.com:53").is_ok());
        assert!(check_server("ns1 ;x").is_err());
        assert!(check_server("ns1:0").is_err());
    }

    #[test]
    fn secrets_from_a_keygen_block_or_bare() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("k");
        std::fs::write(
            &f,
            "key \"jib\" {\n\talgorithm hmac-sha256;\n\tsecret \"c2VjcmV0\";\n};\n",
        )
        .unwrap();
        assert_eq!(read_secret(&f).unwrap(), b"secret");
        std::fs::write(&f, "c2VjcmV0\n").unwrap();
        assert_eq!(read_secret(&f).unwrap(), b"secret");
        std::fs::write(&f, "").unwrap();
        assert!(read_secret(&f).is_err());
    }
}
