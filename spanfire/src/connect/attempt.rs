//! [`Attempt`]: the marks of one connect in progress, and the phase events made from them.
//!
//! The outer connector (hyper-util: [`InstrumentedConnector`](super::InstrumentedConnector);
//! reqwest: the connector layer) creates an attempt when it is called inside a request that
//! collects phases, and keeps it current while the inner connector runs. Inside, the resolver
//! marks the DNS lookup and [`TcpPhase`](super::TcpPhase) the end of the TCP connect. When the
//! connect ends, [`Attempt::events`] turns the marks into the events of
//! [the module docs](super).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use opentelemetry::{Context, KeyValue};
use opentelemetry_semantic_conventions::attribute as semattr;

use super::slot::PhaseEvent;
use super::{
    CONNECT_EVENT, DNS_ADDRESS_COUNT_ATTRIBUTE, DNS_EVENT, PHASE_DURATION_ATTRIBUTE, TLS_EVENT,
};

/// The marks of one connect; shared by the connectors and the resolver it runs through.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    started: SystemTime,
    marks: Arc<Mutex<Marks>>,
}

#[derive(Debug, Default)]
struct Marks {
    /// Start, end, and the number of addresses (`None`: the lookup failed).
    dns: Option<(SystemTime, SystemTime, Option<usize>)>,
    /// When the TCP connect ended, and whether it succeeded (under a TLS connector).
    tcp: Option<(SystemTime, bool)>,
}

/// What the TLS handshake negotiated, as far as the connection says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TlsDetails {
    /// `tls.protocol.version`: `1.2`, `1.3`.
    pub(crate) version: Option<&'static str>,
    /// `tls.next_protocol`: the ALPN protocol (`h2`, `http/1.1`).
    pub(crate) alpn: Option<Cow<'static, str>>,
}

/// How a connect ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    Connected {
        peer: Option<SocketAddr>,
        /// `Some` when the connection is TLS.
        tls: Option<TlsDetails>,
    },
    /// The connect failed.
    Failed,
}

impl Attempt {
    /// A new attempt, starting now.
    pub(crate) fn start() -> Attempt {
        Attempt {
            started: SystemTime::now(),
            marks: Arc::default(),
        }
    }

    /// The attempt the current context is part of.
    pub(crate) fn current() -> Option<Attempt> {
        Context::map_current(|cx| cx.get::<Attempt>().cloned())
    }

    /// The current context with this attempt in it: current while the inner connector runs.
    pub(crate) fn context(&self) -> Context {
        Context::current_with_value(self.clone())
    }

    /// The DNS lookup from `start` ended now with `addresses` (`None`: failed).
    pub(crate) fn dns_done(&self, start: SystemTime, addresses: Option<usize>) {
        if let Ok(mut marks) = self.marks.lock() {
            marks.dns = Some((start, SystemTime::now(), addresses));
        }
    }

    /// The TCP connect under a TLS connector ended now (`ok`: connected).
    #[cfg(any(feature = "tower", test))]
    pub(crate) fn tcp_done(&self, ok: bool) {
        if let Ok(mut marks) = self.marks.lock() {
            marks.tcp = Some((SystemTime::now(), ok));
        }
    }

    /// The events of this attempt, which ended now as `outcome`.
    pub(crate) fn events(&self, outcome: &Outcome) -> Vec<PhaseEvent> {
        let end = SystemTime::now();
        let Ok(marks) = self.marks.lock() else {
            return Vec::new();
        };
        let mut events = Vec::with_capacity(3);
        let connect_start = match marks.dns {
            Some(dns) => {
                events.push(dns_event(dns));
                match dns {
                    (_, _, None) => return events,
                    (_, dns_end, Some(_)) => dns_end,
                }
            }
            None => self.started,
        };
        match marks.tcp {
            Some((tcp_end, ok)) => {
                events.push(tcp_event(connect_start, tcp_end, ok, outcome));
                if ok {
                    events.push(tls_event(tcp_end, end, outcome));
                }
            }
            // no mark between TCP and TLS: the connect event covers both
            None => events.push(connect_event(connect_start, end, outcome)),
        }
        events
    }
}

fn dns_event((start, end, addresses): (SystemTime, SystemTime, Option<usize>)) -> PhaseEvent {
    let outcome = match addresses {
        Some(n) => KeyValue::new(DNS_ADDRESS_COUNT_ATTRIBUTE, n as i64),
        None => KeyValue::new(semattr::ERROR_TYPE, "dns"),
    };
    PhaseEvent::new(DNS_EVENT, start, vec![duration(start, end), outcome])
}

/// The TCP connect, timed apart from the TLS handshake that follows.
fn tcp_event(start: SystemTime, end: SystemTime, ok: bool, outcome: &Outcome) -> PhaseEvent {
    let mut attributes = vec![duration(start, end)];
    attributes.extend(peer_attributes(outcome));
    if !ok {
        attributes.push(KeyValue::new(semattr::ERROR_TYPE, "connect"));
    }
    PhaseEvent::new(CONNECT_EVENT, start, attributes)
}

fn tls_event(start: SystemTime, end: SystemTime, outcome: &Outcome) -> PhaseEvent {
    let mut attributes = vec![duration(start, end)];
    tls_attributes(outcome, &mut attributes, "tls");
    PhaseEvent::new(TLS_EVENT, start, attributes)
}

/// The whole connect: TCP, and TLS for a TLS connection.
fn connect_event(start: SystemTime, end: SystemTime, outcome: &Outcome) -> PhaseEvent {
    let mut attributes = vec![duration(start, end)];
    attributes.extend(peer_attributes(outcome));
    tls_attributes(outcome, &mut attributes, "connect");
    PhaseEvent::new(CONNECT_EVENT, start, attributes)
}

impl PhaseEvent {
    fn new(name: &'static str, start: SystemTime, attributes: Vec<KeyValue>) -> Self {
        PhaseEvent {
            name,
            start,
            attributes,
        }
    }
}

fn duration(start: SystemTime, end: SystemTime) -> KeyValue {
    let seconds = end.duration_since(start).unwrap_or_default().as_secs_f64();
    KeyValue::new(PHASE_DURATION_ATTRIBUTE, seconds)
}

fn peer_attributes(outcome: &Outcome) -> impl Iterator<Item = KeyValue> {
    let peer = match outcome {
        Outcome::Connected { peer, .. } => *peer,
        Outcome::Failed => None,
    };
    peer.into_iter().flat_map(|addr| {
        [
            KeyValue::new(semattr::NETWORK_PEER_ADDRESS, addr.ip().to_string()),
            KeyValue::new(semattr::NETWORK_PEER_PORT, i64::from(addr.port())),
        ]
    })
}

/// The TLS attributes of `outcome`, or `error.type` = `failure` when it failed.
fn tls_attributes(outcome: &Outcome, out: &mut Vec<KeyValue>, failure: &'static str) {
    match outcome {
        Outcome::Connected { tls: Some(tls), .. } => {
            out.push(KeyValue::new(semattr::TLS_PROTOCOL_NAME, "tls"));
            if let Some(version) = tls.version {
                out.push(KeyValue::new(semattr::TLS_PROTOCOL_VERSION, version));
            }
            if let Some(alpn) = &tls.alpn {
                out.push(KeyValue::new(semattr::TLS_NEXT_PROTOCOL, alpn.clone()));
            }
        }
        Outcome::Connected { tls: None, .. } => {}
        Outcome::Failed => out.push(KeyValue::new(semattr::ERROR_TYPE, failure)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (DNS mark, TCP mark, outcome, the events wanted)
    type Case = (
        Option<Option<usize>>,
        Option<bool>,
        Outcome,
        Vec<&'static str>,
    );

    /// Each event as `name` plus its attribute keys (the duration left out) and `error.type`.
    fn shape(events: &[PhaseEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| {
                let mut keys: Vec<String> = e
                    .attributes
                    .iter()
                    .filter(|kv| kv.key.as_str() != PHASE_DURATION_ATTRIBUTE)
                    .map(|kv| match kv.key.as_str() {
                        "error.type" => format!("error.type={}", kv.value),
                        key => key.to_owned(),
                    })
                    .collect();
                keys.sort();
                format!("{} {}", e.name, keys.join(","))
            })
            .collect()
    }

    #[test]
    fn each_outcome_makes_its_events() {
        let peer = Some(SocketAddr::from(([127, 0, 0, 1], 8080)));
        let tls = TlsDetails {
            version: Some("1.3"),
            alpn: Some("h2".into()),
        };
        let plain = || Outcome::Connected { peer, tls: None };
        let secure = || Outcome::Connected {
            peer,
            tls: Some(tls.clone()),
        };
        let cases: Vec<Case> = vec![
            (None, None, plain(), vec![
                "spanfire.connect network.peer.address,network.peer.port",
            ]),
            (Some(Some(2)), None, plain(), vec![
                "spanfire.dns spanfire.dns.address_count",
                "spanfire.connect network.peer.address,network.peer.port",
            ]),
            (Some(None), None, Outcome::Failed, vec!["spanfire.dns error.type=dns"]),
            (None, None, Outcome::Failed, vec!["spanfire.connect error.type=connect"]),
            (None, None, secure(), vec![
                "spanfire.connect network.peer.address,network.peer.port,tls.next_protocol,tls.protocol.name,tls.protocol.version",
            ]),
            (Some(Some(1)), Some(true), secure(), vec![
                "spanfire.dns spanfire.dns.address_count",
                "spanfire.connect network.peer.address,network.peer.port",
                "spanfire.tls tls.next_protocol,tls.protocol.name,tls.protocol.version",
            ]),
            (None, Some(true), Outcome::Failed, vec![
                "spanfire.connect ",
                "spanfire.tls error.type=tls",
            ]),
            (None, Some(false), Outcome::Failed, vec!["spanfire.connect error.type=connect"]),
        ];
        for (dns, tcp, outcome, want) in cases {
            let attempt = Attempt::start();
            if let Some(addresses) = dns {
                attempt.dns_done(SystemTime::now(), addresses);
            }
            if let Some(ok) = tcp {
                attempt.tcp_done(ok);
            }
            let got = shape(&attempt.events(&outcome));
            assert_eq!(got, want, "dns {dns:?}, tcp {tcp:?}, {outcome:?}");
        }
    }
}
