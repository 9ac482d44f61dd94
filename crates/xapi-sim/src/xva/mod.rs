//! XVA, xapi's VM archive (xapi's export.ml, import.ml, stream_vdi.ml): a
//! V7 tar whose first member is `ova.xml` (the exported objects as one
//! XML-RPC value), then each streamed disk as `Ref:N/%08d` blocks of 1 MiB,
//! each followed by its `.xxhash` checksum member. [`export`] writes it,
//! [`import`] reads it back into the pool.

pub mod export;
pub mod import;

/// The size of one disk block member.
pub const BLOCK: usize = 1 << 20;

/// A block's checksum member as xapi writes it: XXH64 with seed 0, as 16
/// upper-case hex digits, no newline.
pub fn block_checksum(bytes: &[u8]) -> String {
    format!("{:016X}", xxhash_rust::xxh64::xxh64(bytes, 0))
}

/// The name of a block's checksum member.
pub fn checksum_member(block: &str) -> String {
    format!("{block}.xxhash")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_block_checksum_is_xapis_keepalive_value() {
        // xapi's keepalive (a zero-length block) carries this checksum.
        assert_eq!(block_checksum(b""), "EF46DB3751D8E999");
    }
}
