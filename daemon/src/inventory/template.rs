//! Path templating (to be written).
