//! xe's size syntax: an integer with an optional binary suffix (`b`/`bytes`,
//! `k`/`kb`/`kib`, `m`..., `g`..., `t`...; any case), optionally separated
//! by blanks, e.g. `10GiB`, `512 MiB`. Like xe, anything after the suffix
//! word is ignored.

use crate::error::{CliError, CmdResult};

/// Parses the size given for `field`, with xe's error naming the field.
pub fn parse_size(field: &str, text: &str) -> CmdResult<i64> {
    size_of(text).ok_or_else(|| {
        CliError::failure(format!(
            "Failed to parse field '{field}': expecting an integer (possibly with suffix KiB, MiB, GiB, TiB), got '{text}'"
        ))
    })
}

/// The grammar of xe's `%Ld %s` scan: a sign, decimal digits (with `_`
/// allowed after the first), blanks, then one word.
fn size_of(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    if !bytes.get(i).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut n: i64 = 0;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'0'..=b'9' => n = n.checked_mul(10)?.checked_add(i64::from(c - b'0'))?,
            b'_' => {}
            _ => break,
        }
        i += 1;
    }
    if negative && n != 0 {
        return None;
    }
    let rest = text[i..].trim_start_matches([' ', '\t', '\n', '\r']);
    let word = rest.split([' ', '\t', '\n', '\r']).next().unwrap_or("");
    let shift = match word.to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    // xe's arithmetic would wrap; a size that does not fit is refused instead.
    n.checked_mul(1i64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        let p = |t: &str| parse_size("disk-size", t).ok();
        assert_eq!(p("10GiB"), Some(10 << 30));
        assert_eq!(p("512 MiB"), Some(512 << 20));
        assert_eq!(p("4k"), Some(4096));
        assert_eq!(p("123"), Some(123));
        assert_eq!(p("+1_024 bytes"), Some(1024));
        assert_eq!(p("1TB"), Some(1 << 40));
        assert_eq!(p("2 GiB and more"), Some(2 << 30));
        assert_eq!(p("12XB"), None);
        assert_eq!(p(""), None);
        assert_eq!(p("GiB"), None);
        assert_eq!(p(" 1"), None);
        assert_eq!(p("-1"), None);
        assert_eq!(p("99999999999T"), None);
    }

    #[test]
    fn the_error_names_the_field() {
        assert_eq!(
            parse_size("virtual-size", "lots").unwrap_err().to_string(),
            "Error: Failed to parse field 'virtual-size': expecting an integer (possibly with suffix KiB, MiB, GiB, TiB), got 'lots'"
        );
    }
}
