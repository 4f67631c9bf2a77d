//! The pure semantic-conventions core shared by every front end.
//!
//! Nothing here does I/O or reads globals: each function maps HTTP facts to OpenTelemetry
//! attribute values, so both the reqwest and the tower front end produce the same spans. (Host
//! and peer strings come from a per-thread cache, [`crate::intern`], which changes no value.)

mod attrs;
mod error_type;

pub(crate) use attrs::{
    error_type_of_code, method_attr, protocol_version, request_start_attributes,
    response_attributes, span_name, status_of_code, MetricAttributes,
};
pub(crate) use error_type::classify;
pub use error_type::ErrorKind;
