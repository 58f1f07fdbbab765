//! Which TCP ports have a listening socket in the daemon's network
//! namespace, read from `/proc/net/tcp` and `/proc/net/tcp6`. Used only to
//! tell client from server on connections first seen mid-way, where the
//! bytes cannot tell.

use std::path::Path;

/// `TCP_LISTEN` in the `st` column (include/net/tcp_states.h).
const LISTEN_STATE: &str = "0A";

/// Whether any socket listens on `port` in the tables under `proc_net`.
pub fn is_listening(proc_net: &Path, port: u16) -> bool {
    ["tcp", "tcp6"].iter().any(|table| {
        std::fs::read_to_string(proc_net.join(table))
            .map(|text| table_has_listener(&text, port))
            .unwrap_or(false)
    })
}

/// Whether a `/proc/net/tcp`-format table has a listener on `port`.
pub fn table_has_listener(table: &str, port: u16) -> bool {
    table.lines().skip(1).any(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1).unwrap_or("");
        let state = fields.nth(1).unwrap_or("");
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, port)| u16::from_str_radix(port, 16).ok());
        state == LISTEN_STATE && local_port == Some(port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0000000000000000 100 0 0 10 0
   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 12346 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn listener_found_by_port() {
        assert!(table_has_listener(TABLE, 8080), "0x1F90 listens");
        assert!(
            !table_has_listener(TABLE, 40000),
            "0x9C40 is an established client socket"
        );
        assert!(!table_has_listener("", 8080));
    }
}
