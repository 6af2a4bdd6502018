//! Who a WebSocket client is, as far as limits go, and what one address may take.
//!
//! Behind a reverse proxy every connection comes from the proxy's address, so the client's
//! address is read from `X-Forwarded-For`, but only when the peer is one of
//! `server.trusted_proxies` (anyone else could write any address there): the nearest address
//! in the header that is not itself a trusted proxy. IPv6 clients count by their /64, the
//! block one host or household is given, so rotating through it gains nothing.
//!
//! Each address may hold `server.max_connections_per_address` WebSocket sessions and open new
//! ones at `server.connects_per_address_per_s` (a token bucket of
//! `server.connect_burst_per_address`); beyond either it gets 429 with `Retry-After`, while
//! every other address still connects up to the global `server.max_connections`.
//!
//! Memory: one small entry per address with sessions open or a bucket not yet refilled; idle
//! entries are pruned once the table holds more than [`PRUNE_ABOVE`].

use crate::config::network::canonical;
pub use crate::config::Network;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries the table may hold before idle ones are pruned.
pub const PRUNE_ABOVE: usize = 10_000;

/// The key limits count under: the address, or an IPv6 address's /64.
fn key(address: IpAddr) -> IpAddr {
    match canonical(address) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

/// The client's address: `peer`, or when `peer` is a trusted proxy, the nearest untrusted
/// address in `X-Forwarded-For` (the proxy appends the address it saw to the right).
pub fn client_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[Network]) -> IpAddr {
    let is_trusted = |a: IpAddr| trusted.iter().any(|n| n.contains(a));
    if !is_trusted(peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut nearest = peer;
    for hop in header.rsplit(',') {
        let Ok(address) = hop.trim().parse::<IpAddr>() else {
            // A hop we cannot read: trust nothing beyond it.
            return nearest;
        };
        nearest = address;
        if !is_trusted(address) {
            return address;
        }
    }
    nearest
}

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// It holds its share of sessions already.
    TooManyConnections {
        /// The limit.
        max: usize,
    },
    /// It connects too fast; it may try again after this long.
    TooFast {
        /// When a new connection would be accepted.
        retry_after: Duration,
    },
}

/// The per-address limits, from `[server]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddressLimitsConfig {
    /// Sessions one address may hold.
    pub max_connections: usize,
    /// New sessions per second, on average.
    pub connects_per_s: f64,
    /// New sessions in a burst.
    pub connect_burst: f64,
}

#[derive(Debug)]
struct Entry {
    connections: usize,
    tokens: f64,
    refilled: Instant,
}

#[derive(Debug)]
struct Table {
    entries: HashMap<IpAddr, Entry>,
}

/// See the module documentation. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AddressLimits {
    config: AddressLimitsConfig,
    table: Arc<Mutex<Table>>,
}

/// One session's place in its address's share, given back when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    key: IpAddr,
    table: Arc<Mutex<Table>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut table = lock(&self.table);
        if let Some(entry) = table.entries.get_mut(&self.key) {
            entry.connections = entry.connections.saturating_sub(1);
        }
    }
}

fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    // Nothing panics while holding the lock; a poisoned table is still a valid table.
    table.lock().unwrap_or_else(|e| e.into_inner())
}

impl AddressLimits {
    /// Limits as configured.
    pub fn new(config: AddressLimitsConfig) -> Self {
        Self {
            config,
            table: Arc::new(Mutex::new(Table {
                entries: HashMap::new(),
            })),
        }
    }

    /// Admits a new session from `address` at `now`, or says why not.
    ///
    /// # Errors
    /// [`Refusal`] when the address is over either limit.
    pub fn admit(&self, address: IpAddr, now: Instant) -> Result<AddressSlot, Refusal> {
        let key = key(address);
        let config = self.config;
        let mut table = lock(&self.table);
        if table.entries.len() > PRUNE_ABOVE {
            table.entries.retain(|_, e| {
                let refill = now.saturating_duration_since(e.refilled).as_secs_f64() * config.connects_per_s;
                e.connections > 0 || e.tokens + refill < config.connect_burst
            });
        }
        let entry = table.entries.entry(key).or_insert(Entry {
            connections: 0,
            tokens: config.connect_burst,
            refilled: now,
        });
        let elapsed = now.saturating_duration_since(entry.refilled).as_secs_f64();
        entry.tokens = (entry.tokens + elapsed * config.connects_per_s).min(config.connect_burst);
        entry.refilled = now;
        if entry.connections >= config.max_connections {
            return Err(Refusal::TooManyConnections {
                max: config.max_connections,
            });
        }
        if entry.tokens < 1.0 {
            let wait = if config.connects_per_s > 0.0 {
                (1.0 - entry.tokens) / config.connects_per_s
            } else {
                60.0
            };
            return Err(Refusal::TooFast {
                retry_after: Duration::from_secs_f64(wait),
            });
        }
        entry.tokens -= 1.0;
        entry.connections += 1;
        drop(table);
        Ok(AddressSlot {
            key,
            table: self.table.clone(),
        })
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        lock(&self.table).entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted = [
            Network::parse("127.0.0.1").unwrap(),
            Network::parse("10.0.0.0/8").unwrap(),
        ];
        // A direct client cannot pick its address.
        assert_eq!(
            client_address(ip("203.0.113.9"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.9")
        );
        // Through nginx: the address nginx saw.
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
        // Through two trusted hops; whatever the client wrote further left is ignored.
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("6.6.6.6, 198.51.100.7, 10.1.2.3"), &trusted),
            ip("198.51.100.7")
        );
        // No header, or garbage: the nearest readable hop.
        assert_eq!(client_address(ip("127.0.0.1"), None, &trusted), ip("127.0.0.1"));
        assert_eq!(
            client_address(ip("127.0.0.1"), Some("junk, 10.0.0.5"), &trusted),
            ip("10.0.0.5")
        );
        assert_eq!(
            client_address(ip("::ffff:127.0.0.1"), Some("198.51.100.7"), &trusted),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn networks_parse_and_match() {
        assert!(Network::parse("10.0.0.0/8").unwrap().contains(ip("10.200.0.1")));
        assert!(!Network::parse("10.0.0.0/8").unwrap().contains(ip("11.0.0.1")));
        assert!(Network::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(Network::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("example.org").is_err());
    }

    #[test]
    fn one_address_gets_its_share_and_others_still_connect() {
        let limits = AddressLimits::new(AddressLimitsConfig {
            max_connections: 3,
            connects_per_s: 1000.0,
            connect_burst: 1000.0,
        });
        let now = Instant::now();
        let held: Vec<AddressSlot> = (0..3)
            .map(|_| limits.admit(ip("198.51.100.7"), now).unwrap())
            .collect();
        assert_eq!(
            limits.admit(ip("198.51.100.7"), now).unwrap_err(),
            Refusal::TooManyConnections { max: 3 }
        );
        assert!(limits.admit(ip("198.51.100.8"), now).is_ok());
        // IPv6: one /64 is one household.
        let v6: Vec<AddressSlot> = (1..=3)
            .map(|i| limits.admit(ip(&format!("2001:db8::{i}")), now).unwrap())
            .collect();
        assert!(limits.admit(ip("2001:db8::ffff"), now).is_err());
        assert!(limits.admit(ip("2001:db8:0:1::1"), now).is_ok());
        drop(held);
        drop(v6);
        assert!(limits.admit(ip("198.51.100.7"), now).is_ok(), "slots come back");
    }

    #[test]
    fn connecting_too_fast_is_refused_with_the_time_to_wait() {
        let limits = AddressLimits::new(AddressLimitsConfig {
            max_connections: 100,
            connects_per_s: 2.0,
            connect_burst: 2.0,
        });
        let now = Instant::now();
        let _a = limits.admit(ip("198.51.100.7"), now).unwrap();
        let _b = limits.admit(ip("198.51.100.7"), now).unwrap();
        match limits.admit(ip("198.51.100.7"), now) {
            Err(Refusal::TooFast { retry_after }) => assert!((retry_after.as_secs_f64() - 0.5).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        assert!(limits
            .admit(ip("198.51.100.7"), now + Duration::from_millis(500))
            .is_ok());
    }

    #[test]
    fn idle_addresses_are_pruned() {
        let limits = AddressLimits::new(AddressLimitsConfig {
            max_connections: 10,
            connects_per_s: 10.0,
            connect_burst: 10.0,
        });
        let now = Instant::now();
        for i in 0..=PRUNE_ABOVE as u32 {
            drop(limits.admit(IpAddr::from(i.to_be_bytes()), now));
        }
        assert!(limits.tracked() > PRUNE_ABOVE);
        let later = now + Duration::from_secs(5);
        let _ = limits.admit(ip("198.51.100.7"), later);
        assert_eq!(limits.tracked(), 1, "refilled, unused entries go");
    }
}
