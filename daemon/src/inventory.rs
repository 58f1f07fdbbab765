//! The API endpoint inventory (to be written).

pub mod template;
