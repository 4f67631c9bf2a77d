//! Per-thread caches of the host names and peer addresses last made into attribute values.
//!
//! A client talks to a handful of hosts. Making `server.address` and `network.peer.address` an
//! `Arc<str>` once per thread and value, instead of a new string per request, saves an
//! allocation each and, for the peer, a pass through `Ipv4Addr`'s `Display` (about 9% of the
//! instructions spanfire added per request before this cache, see BENCHMARKS.md). Each cache
//! holds [`SLOTS`] values and replaces them in turn, so it stays small whatever the traffic.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::Arc;
use std::thread::LocalKey;

/// Values kept per thread and kind.
const SLOTS: usize = 4;

struct Cache<K> {
    entries: [Option<(K, Arc<str>)>; SLOTS],
    next: usize,
}

impl<K> Cache<K> {
    const fn new() -> Self {
        Cache {
            entries: [None, None, None, None],
            next: 0,
        }
    }
}

thread_local! {
    static HOSTS: RefCell<Cache<()>> = const { RefCell::new(Cache::new()) };
    static PEERS: RefCell<Cache<IpAddr>> = const { RefCell::new(Cache::new()) };
}

/// `host` as a shared string.
pub(crate) fn host(host: &str) -> Arc<str> {
    lookup(&HOSTS, |(), s| &**s == host, || ((), Arc::from(host)))
}

/// The text of `ip` (`127.0.0.1`, `::1`) as a shared string.
pub(crate) fn ip(ip: IpAddr) -> Arc<str> {
    lookup(&PEERS, |k, _| *k == ip, || (ip, Arc::from(ip.to_string())))
}

fn lookup<K: 'static>(
    cache: &'static LocalKey<RefCell<Cache<K>>>,
    matches: impl Fn(&K, &Arc<str>) -> bool,
    make: impl FnOnce() -> (K, Arc<str>),
) -> Arc<str> {
    // Thread-local storage gone (thread exit) or already borrowed: no caching, same value.
    let hit = cache.try_with(|cell| {
        let cache = cell.try_borrow().ok()?;
        let (_, s) = cache
            .entries
            .iter()
            .flatten()
            .find(|(k, s)| matches(k, s))?;
        Some(Arc::clone(s))
    });
    if let Ok(Some(value)) = hit {
        return value;
    }
    let (key, value) = make();
    let _ = cache.try_with(|cell| {
        if let Ok(mut cache) = cell.try_borrow_mut() {
            let slot = cache.next;
            cache.next = (slot + 1) % SLOTS;
            cache.entries[slot] = Some((key, Arc::clone(&value)));
        }
    });
    value
}

/// The exchange's [`Strings`](crate::semconv::Strings): shared copies from the per-thread cache.
pub(crate) struct Interned;

impl crate::semconv::Strings for Interned {
    fn host(&self, h: &str) -> opentelemetry::StringValue {
        host(h).into()
    }

    fn ip(&self, address: std::net::IpAddr) -> opentelemetry::StringValue {
        ip(address).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_is_shared_and_distinct_values_are_kept_apart() {
        let a = host("api.example.com");
        let b = host("api.example.com");
        assert!(Arc::ptr_eq(&a, &b), "second lookup hits the cache");
        assert_eq!(&*host("other.example.com"), "other.example.com");
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(&*ip(v4), "10.1.2.3");
        assert_eq!(&*ip(v6), "2001:db8::1");
        assert!(Arc::ptr_eq(&ip(v4), &ip(v4)));
    }

    #[test]
    fn more_values_than_slots_evict_in_turn_and_stay_correct() {
        for round in 0..3 {
            for i in 0..(SLOTS * 3) {
                let name = format!("h{i}.test");
                assert_eq!(&*host(&name), name, "round {round}");
                let addr = IpAddr::from([192, 0, 2, i as u8]);
                assert_eq!(&*ip(addr), addr.to_string(), "round {round}");
            }
        }
    }
}
