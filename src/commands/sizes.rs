//! xe's size syntax: an integer with an optional binary suffix (`b`, `k`/`kb`/`kib`,
//! `m`, `g`, `t`; any case, optional space), e.g. `10GiB`, `512 MiB`.

use crate::error::{CliError, CmdResult};

/// Parses a size in bytes.
pub fn parse_size(text: &str) -> CmdResult<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let bad = || {
        CliError::failure(format!(
            "Invalid size '{text}': use a number of bytes, optionally with a unit such as KiB, MiB, GiB or TiB"
        ))
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1i64 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("10GiB").unwrap(), 10 << 30);
        assert_eq!(parse_size("512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("4k").unwrap(), 4096);
        assert_eq!(parse_size("123").unwrap(), 123);
        assert_eq!(parse_size("1TB").unwrap(), 1 << 40);
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("GiB").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
