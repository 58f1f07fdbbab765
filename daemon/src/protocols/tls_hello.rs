//! Recognising TLS in cleartext captures: the record header, and the server
//! name (SNI) from a ClientHello, so connections that no hook decrypted can
//! be listed with the name they asked for.
//!
//! Formats: RFC 8446 section 5.1 (records), 4.1.2 (ClientHello) and RFC 6066
//! section 3 (server_name extension).

/// Whether `data` starts with a TLS handshake record (content type 22,
/// legacy version 3.x).
pub fn is_tls_handshake(data: &[u8]) -> bool {
    data.len() >= 3 && data[0] == 0x16 && data[1] == 0x03 && data[2] <= 0x04
}

/// The SNI host name of a ClientHello at the start of `data`, if the
/// record is one and carries it. Bytes past the buffer yield `None`.
pub fn server_name(data: &[u8]) -> Option<String> {
    let mut reader = Reader { data, at: 0 };
    // Record header: type, version, length.
    if reader.u8()? != 0x16 {
        return None;
    }
    reader.skip(2)?;
    let record_len = reader.u16()? as usize;
    let record_end = (reader.at + record_len).min(data.len());
    let mut reader = Reader {
        data: &data[..record_end],
        at: reader.at,
    };

    // Handshake header: type 1 is ClientHello.
    if reader.u8()? != 1 {
        return None;
    }
    reader.skip(3)?;
    reader.skip(2 + 32)?; // legacy_version, random
    let session_id_len = reader.u8()? as usize;
    reader.skip(session_id_len)?;
    let cipher_suites_len = reader.u16()? as usize;
    reader.skip(cipher_suites_len)?;
    let compression_len = reader.u8()? as usize;
    reader.skip(compression_len)?;
    let extensions_len = reader.u16()? as usize;
    let extensions_end = reader.at + extensions_len;

    while reader.at + 4 <= extensions_end {
        let extension_type = reader.u16()?;
        let extension_len = reader.u16()? as usize;
        if extension_type != 0 {
            reader.skip(extension_len)?;
            continue;
        }
        // server_name_list: length, then entries of (type, length, name).
        reader.skip(2)?;
        let name_type = reader.u8()?;
        let name_len = reader.u16()? as usize;
        let name = reader.bytes(name_len)?;
        if name_type != 0 {
            return None;
        }
        return std::str::from_utf8(name).ok().map(str::to_owned);
    }
    None
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, len: usize) -> Option<&'a [u8]> {
        let bytes = self.data.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(bytes)
    }

    fn skip(&mut self, len: usize) -> Option<()> {
        self.bytes(len).map(|_| ())
    }

    fn u8(&mut self) -> Option<u8> {
        self.bytes(1).map(|bytes| bytes[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.bytes(2)
            .map(|bytes| u16::from_be_bytes([bytes[0], bytes[1]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ClientHello with one server_name extension.
    fn client_hello(host: &str) -> Vec<u8> {
        let mut server_name = vec![0u8, 0]; // extension type 0
        let entry_len = 3 + host.len();
        let list_len = entry_len;
        let extension_len = 2 + list_len;
        server_name.extend_from_slice(&(extension_len as u16).to_be_bytes());
        server_name.extend_from_slice(&(list_len as u16).to_be_bytes());
        server_name.push(0);
        server_name.extend_from_slice(&(host.len() as u16).to_be_bytes());
        server_name.extend_from_slice(host.as_bytes());

        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[7u8; 32]);
        body.push(0); // session id
        body.extend_from_slice(&[0, 2, 0x13, 0x01]); // one cipher suite
        body.extend_from_slice(&[1, 0]); // null compression
                                         // An unrelated extension first (supported_versions), then the name.
        let mut extensions = vec![0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04];
        extensions.extend_from_slice(&server_name);
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);

        let mut handshake = vec![1];
        handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        handshake.extend_from_slice(&body);
        let mut record = vec![0x16, 0x03, 0x01];
        record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
        record.extend_from_slice(&handshake);
        record
    }

    #[test]
    fn sni_extracted() {
        let hello = client_hello("api.example.test");
        assert!(is_tls_handshake(&hello));
        assert_eq!(server_name(&hello).as_deref(), Some("api.example.test"));
    }

    #[test]
    fn truncated_hello_yields_none() {
        let hello = client_hello("api.example.test");
        for len in 0..hello.len() - 1 {
            assert_eq!(server_name(&hello[..len]), None, "prefix of {len} bytes");
        }
    }

    #[test]
    fn http_is_not_tls() {
        assert!(!is_tls_handshake(b"GET / HTTP/1.1\r\n"));
        assert!(!is_tls_handshake(&[0x16, 0x03]));
        assert_eq!(server_name(b"GET / HTTP/1.1\r\n"), None);
    }
}
