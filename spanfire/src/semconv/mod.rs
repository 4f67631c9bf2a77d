//! The pure semantic-conventions core shared by every front end.
//!
//! Nothing here does I/O or reads globals: each function maps HTTP facts to OpenTelemetry
//! attribute values, so both the reqwest and the tower front end produce the same spans.

mod attrs;
mod error_type;

pub(crate) use attrs::{
    method_attr, protocol_version, request_start_attributes, response_attributes, span_name,
    status_of_code,
};
pub(crate) use error_type::classify;
pub use error_type::ErrorKind;
