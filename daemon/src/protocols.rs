//! Application protocol parsers that turn reassembled byte streams into
//! requests and responses.

pub mod http1;
