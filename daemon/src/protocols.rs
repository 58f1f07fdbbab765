//! Application protocol parsers that turn reassembled byte streams into
//! requests and responses.

pub mod http1;
pub mod http2;
pub mod tls_hello;
