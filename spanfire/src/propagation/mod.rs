//! Trace context in and out: where a request span's parent comes from ([`parent`]) and how
//! its context is written into the outgoing request ([`inject`], [`w3c`]).

mod inject;
mod parent;
pub(crate) mod w3c;

pub(crate) use inject::inject;
pub(crate) use parent::current_parent;
#[cfg(feature = "configure")]
pub use w3c::W3cPropagator;
