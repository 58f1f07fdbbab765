//! Reads struct field offsets from the running kernel's BTF
//! (`/sys/kernel/btf/vmlinux`), for the sensor's socket lookup.
//!
//! Written by hand because aya-obj keeps its BTF member tables private and
//! the one crate that exposes them is LGPL. Only what offset lookup needs is
//! parsed: the type section's struct and union members and the type chains
//! that lead to them. Format: the kernel's Documentation/bpf/btf.rst.

use std::collections::HashMap;

use common::maps::KernelOffsets;

const BTF_MAGIC: u16 = 0xeb9f;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;

/// Why BTF could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid BTF: {0}")]
    Invalid(&'static str),
    #[error("BTF has no {0}")]
    Missing(String),
}

#[derive(Clone, Copy)]
struct Member {
    name_offset: u32,
    type_id: u32,
    /// Offset in bits from the start of the enclosing struct.
    bit_offset: u32,
}

struct TypeEntry {
    kind: u32,
    name_offset: u32,
    /// For modifiers and typedefs, the type referred to.
    referred: u32,
    members: Vec<Member>,
}

/// Parsed BTF types with a name index of structs.
pub struct KernelBtf {
    types: Vec<TypeEntry>,
    strings: Vec<u8>,
    structs: HashMap<String, u32>,
}

impl KernelBtf {
    /// Loads the running kernel's BTF.
    pub fn load() -> Result<Self, BtfError> {
        let path = "/sys/kernel/btf/vmlinux";
        let data = std::fs::read(path).map_err(|source| BtfError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&data)
    }

    /// Parses little-endian BTF as the kernel exposes it.
    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        let u16_at = |at: usize| -> Option<u16> {
            Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
        };
        let u32_at = |at: usize| -> Option<u32> {
            Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
        };
        let header = || -> Option<(usize, usize, usize, usize, usize)> {
            if u16_at(0)? != BTF_MAGIC {
                return None;
            }
            let header_len = u32_at(4)? as usize;
            Some((
                header_len,
                u32_at(8)? as usize,
                u32_at(12)? as usize,
                u32_at(16)? as usize,
                u32_at(20)? as usize,
            ))
        };
        let (header_len, type_offset, type_len, string_offset, string_len) = header().ok_or(
            BtfError::Invalid("bad header or magic (big-endian BTF is not supported)"),
        )?;

        let strings_start = header_len + string_offset;
        let strings = data
            .get(strings_start..strings_start + string_len)
            .ok_or(BtfError::Invalid("string section out of bounds"))?
            .to_vec();

        // Type id 0 is `void`; ids count from 1 in section order.
        let mut types = vec![TypeEntry {
            kind: 0,
            name_offset: 0,
            referred: 0,
            members: Vec::new(),
        }];
        let mut at = header_len + type_offset;
        let end = at + type_len;
        if end > data.len() {
            return Err(BtfError::Invalid("type section out of bounds"));
        }
        while at < end {
            let truncated = BtfError::Invalid("truncated type");
            let name_offset = u32_at(at).ok_or(BtfError::Invalid("truncated type"))?;
            let info = u32_at(at + 4).ok_or(truncated)?;
            let size_or_type = u32_at(at + 8).ok_or(BtfError::Invalid("truncated type"))?;
            at += 12;

            let vlen = (info & 0xffff) as usize;
            let kind = (info >> 24) & 0x1f;
            let kind_flag = info >> 31 == 1;
            let mut members = Vec::new();
            let extra = match kind {
                1 | 14 | 17 => 4, // INT, VAR, DECL_TAG
                3 => 12,          // ARRAY
                KIND_STRUCT | KIND_UNION => {
                    for index in 0..vlen {
                        let base = at + index * 12;
                        let raw_offset =
                            u32_at(base + 8).ok_or(BtfError::Invalid("truncated member"))?;
                        members.push(Member {
                            name_offset: u32_at(base)
                                .ok_or(BtfError::Invalid("truncated member"))?,
                            type_id: u32_at(base + 4)
                                .ok_or(BtfError::Invalid("truncated member"))?,
                            // With kind_flag, the low 24 bits are the offset
                            // and the high 8 the bitfield size.
                            bit_offset: if kind_flag {
                                raw_offset & 0x00ff_ffff
                            } else {
                                raw_offset
                            },
                        });
                    }
                    vlen * 12
                }
                6 | 13 => vlen * 8,        // ENUM, FUNC_PROTO
                15 | 19 => vlen * 12,      // DATASEC, ENUM64
                2 | 7..=12 | 16 | 18 => 0, // PTR, FWD, TYPEDEF, VOLATILE, CONST, RESTRICT, FUNC, FLOAT, TYPE_TAG
                _ => return Err(BtfError::Invalid("unknown type kind")),
            };
            at += extra;
            types.push(TypeEntry {
                kind,
                name_offset,
                referred: size_or_type,
                members,
            });
        }

        let mut btf = KernelBtf {
            types,
            strings,
            structs: HashMap::new(),
        };
        for (id, entry) in btf.types.iter().enumerate() {
            if entry.kind == KIND_STRUCT && entry.name_offset != 0 {
                let name = btf.string(entry.name_offset).to_owned();
                btf.structs.entry(name).or_insert(id as u32);
            }
        }
        btf.structs.shrink_to_fit();
        // Member tables of unneeded types could be dropped here, but the
        // whole structure is short-lived: it is freed after the lookup.
        Ok(btf)
    }

    fn string(&self, offset: u32) -> &str {
        let tail = self.strings.get(offset as usize..).unwrap_or_default();
        let end = tail
            .iter()
            .position(|&byte| byte == 0)
            .unwrap_or(tail.len());
        std::str::from_utf8(&tail[..end]).unwrap_or("")
    }

    /// Follows typedefs and qualifiers (TYPEDEF, VOLATILE, CONST, RESTRICT,
    /// TYPE_TAG) to the underlying type.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.types.get(id as usize) {
                Some(entry) if matches!(entry.kind, 8..=11 | 18) => id = entry.referred,
                _ => break,
            }
        }
        id
    }

    /// Finds `field` in struct or union `id`, looking into anonymous members,
    /// and returns its offset in bits.
    fn find_member(&self, id: u32, field: &str, depth: u32) -> Option<u32> {
        if depth > 8 {
            return None;
        }
        let entry = self.types.get(self.resolve(id) as usize)?;
        for member in &entry.members {
            if member.name_offset == 0 {
                if let Some(inner) = self.find_member(member.type_id, field, depth + 1) {
                    return Some(member.bit_offset + inner);
                }
            } else if self.string(member.name_offset) == field {
                return Some(member.bit_offset);
            }
        }
        None
    }

    /// Byte offset of `field` in `struct name`.
    pub fn field_offset(&self, name: &str, field: &str) -> Result<u32, BtfError> {
        let id = *self
            .structs
            .get(name)
            .ok_or_else(|| BtfError::Missing(format!("struct {name}")))?;
        let bits = self
            .find_member(id, field, 0)
            .ok_or_else(|| BtfError::Missing(format!("field {name}.{field}")))?;
        if bits % 8 != 0 {
            return Err(BtfError::Missing(format!(
                "byte-aligned field {name}.{field}"
            )));
        }
        Ok(bits / 8)
    }

    /// Offsets the sensor needs to read a socket's addresses.
    pub fn socket_offsets(&self) -> Result<KernelOffsets, BtfError> {
        Ok(KernelOffsets {
            valid: 1,
            task_files: self.field_offset("task_struct", "files")?,
            files_fdt: self.field_offset("files_struct", "fdt")?,
            fdtable_fd: self.field_offset("fdtable", "fd")?,
            file_private_data: self.field_offset("file", "private_data")?,
            file_inode: self.field_offset("file", "f_inode")?,
            inode_mode: self.field_offset("inode", "i_mode")?,
            socket_sk: self.field_offset("socket", "sk")?,
            sock_daddr: self.field_offset("sock_common", "skc_daddr")?,
            sock_rcv_saddr: self.field_offset("sock_common", "skc_rcv_saddr")?,
            sock_dport: self.field_offset("sock_common", "skc_dport")?,
            sock_num: self.field_offset("sock_common", "skc_num")?,
            sock_family: self.field_offset("sock_common", "skc_family")?,
            sock_v6_daddr: self.field_offset("sock_common", "skc_v6_daddr")?,
            sock_v6_rcv_saddr: self.field_offset("sock_common", "skc_v6_rcv_saddr")?,
            sock_protocol: self.field_offset("sock", "sk_protocol")?,
            tcp_bytes_received: self.field_offset("tcp_sock", "bytes_received")?,
            tcp_bytes_acked: self.field_offset("tcp_sock", "bytes_acked")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs against the kernel the tests run on, which has BTF; the offsets
    /// at the start of `sock_common` have been stable since Linux 2.6.
    #[test]
    fn running_kernel_socket_offsets() {
        let btf = KernelBtf::load().expect("/sys/kernel/btf/vmlinux must be readable");
        let offsets = btf
            .socket_offsets()
            .expect("every socket field must be found");
        assert_eq!(offsets.sock_daddr, 0, "skc_daddr starts sock_common");
        assert_eq!(offsets.sock_rcv_saddr, 4);
        assert_eq!(offsets.sock_dport, 12);
        assert_eq!(offsets.sock_num, 14);
        assert_eq!(offsets.sock_family, 16);
        assert!(offsets.sock_v6_daddr > offsets.sock_family);
    }

    #[test]
    fn garbage_rejected() {
        assert!(KernelBtf::parse(b"not btf at all").is_err());
        assert!(KernelBtf::parse(&[]).is_err());
        let mut header = vec![0x9f, 0xeb, 1, 0, 24, 0, 0, 0];
        header.extend_from_slice(&[0, 0, 0, 0, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(
            KernelBtf::parse(&header).is_err(),
            "a type section past the end must be rejected"
        );
    }
}
