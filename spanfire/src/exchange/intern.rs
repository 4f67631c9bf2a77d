//! Per-thread caches of the host names, peer addresses and URLs last made into attribute values.
//!
//! A client talks to a handful of hosts, and often asks for the same URLs again. Making `server.address` and `network.peer.address` an
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
    /// URLs that `url.full` records as they are (nothing to redact), keyed by the number of
    /// the instrumentation whose policy said so.
    static URLS: RefCell<Cache<u64>> = const { RefCell::new(Cache::new()) };
}

/// `host` as a shared string.
pub(crate) fn host(host: &str) -> Arc<str> {
    lookup(&HOSTS, |(), s| &**s == host, || ((), Arc::from(host)))
}

/// The text of `ip` (`127.0.0.1`, `::1`) as a shared string.
pub(crate) fn ip(ip: IpAddr) -> Arc<str> {
    lookup(&PEERS, |k, _| *k == ip, || (ip, Arc::from(ip.to_string())))
}

/// The `url.full` value of `url` under the policy of instrumentation `id`: `redact` gives it
/// (borrowed when the URL is recorded as it is, which is then kept for the next request to the
/// same URL: no redaction scan, no copy).
pub(crate) fn url_full<'u>(
    id: u64,
    url: &'u str,
    redact: impl FnOnce() -> std::borrow::Cow<'u, str>,
) -> opentelemetry::StringValue {
    if let Some(value) = find(&URLS, |k, s| *k == id && &**s == url) {
        return value.into();
    }
    match redact() {
        std::borrow::Cow::Borrowed(same) if same == url => {
            let value: Arc<str> = Arc::from(url);
            store(&URLS, id, &value);
            value.into()
        }
        other => other.into_owned().into(),
    }
}

/// The entry of `cache` that `matches`; `None` also when the thread-local storage is gone
/// (thread exit) or already borrowed: no caching then, the same value made afresh.
fn find<K: 'static>(
    cache: &'static LocalKey<RefCell<Cache<K>>>,
    matches: impl Fn(&K, &Arc<str>) -> bool,
) -> Option<Arc<str>> {
    let hit = cache.try_with(|cell| {
        let cache = cell.try_borrow().ok()?;
        let (_, s) = cache
            .entries
            .iter()
            .flatten()
            .find(|(k, s)| matches(k, s))?;
        Some(Arc::clone(s))
    });
    hit.ok().flatten()
}

/// Keeps `value` under `key` in `cache`, replacing the entries in turn.
fn store<K: 'static>(cache: &'static LocalKey<RefCell<Cache<K>>>, key: K, value: &Arc<str>) {
    let _ = cache.try_with(|cell| {
        if let Ok(mut cache) = cell.try_borrow_mut() {
            let slot = cache.next;
            cache.next = (slot + 1) % SLOTS;
            cache.entries[slot] = Some((key, Arc::clone(value)));
        }
    });
}

fn lookup<K: 'static>(
    cache: &'static LocalKey<RefCell<Cache<K>>>,
    matches: impl Fn(&K, &Arc<str>) -> bool,
    make: impl FnOnce() -> (K, Arc<str>),
) -> Arc<str> {
    if let Some(value) = find(cache, matches) {
        return value;
    }
    let (key, value) = make();
    store(cache, key, &value);
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
    fn clean_urls_are_shared_per_instrumentation_and_redacted_ones_never_kept() {
        use std::borrow::Cow;
        let url = "http://h/clean?page=2";
        let a = url_full(7, url, || Cow::Borrowed(url));
        let b = url_full(7, url, || panic!("a hit does not redact again"));
        assert_eq!(a.as_str(), url);
        assert_eq!(b.as_str(), url);
        // another instrumentation (another policy) decides for itself
        let other = url_full(8, url, || Cow::Owned("http://h/clean?page=REDACTED".into()));
        assert_eq!(other.as_str(), "http://h/clean?page=REDACTED");
        let again = url_full(8, url, || Cow::Owned("http://h/clean?page=REDACTED".into()));
        assert_eq!(again.as_str(), "http://h/clean?page=REDACTED");
        let secret = "http://h/?token=x";
        let redacted = url_full(7, secret, || Cow::Owned("http://h/?token=REDACTED".into()));
        assert_eq!(redacted.as_str(), "http://h/?token=REDACTED");
        let redacted = url_full(7, secret, || Cow::Owned("http://h/?token=REDACTED".into()));
        assert_eq!(redacted.as_str(), "http://h/?token=REDACTED");
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
