//! What is captured of an exchange: request and response bodies ([`body`], bounded, decoded
//! per charset), the request body as it is sent ([`tee`]), and headers ([`headers`]). The
//! [secrets policy](crate::secrets) decides what of it may be recorded.

pub(crate) mod body;
pub(crate) mod headers;
pub(crate) mod seal;
pub(crate) mod tee;

pub(crate) use body::{BodyCapture, Payload};
pub use body::{DEFAULT_BODY_LIMIT, TRUNCATION_MARKER};
pub use tee::TeeBody;
#[cfg(feature = "ureq")]
pub(crate) use tee::TeeReader;
