//! Reliability and security against hostile peers and hostile plug-ins (issue 8).
//!
//! - Hostile servers ([`server`]: a raw TCP server on 127.0.0.1 writes broken HTTP byte for
//!   byte): broken heads ([`heads`]), broken bodies ([`bodies`]), servers that never finish
//!   ([`timing`]). Each case runs on every front end (reqwest + middleware, hyper-util's
//!   client + the tower layer, ureq + its middleware): the same exchange through the plain client and an instrumented
//!   one (`capture_all`); the application must see exactly the same thing (status, headers,
//!   bytes, and the kind and text of every error), and exactly one span ends, with the right
//!   `error.type` and its full attribute set.
//! - Garbage plug-ins ([`garbage`]): global propagators that panic or inject invalid headers,
//!   URL filters that return nonsense, hooks that panic: the request goes through unchanged.
//! - Secret leaks through the whole pipeline ([`secrets`]): exchanges full of secrets, exported
//!   to a real collector (rotel, `scripts/rotel`); none of the secrets may appear in what it
//!   received.
//! - Regressions for what the fuzz targets in `fuzz/` found ([`fuzz_regressions`]).

mod bodies;
mod fuzz_regressions;
mod garbage;
mod heads;
mod secrets;
mod server;
mod timing;
