//! Integers read the way xe reads them.

/// An integer as OCaml's `Int64.of_string` reads one: a sign, then decimal,
/// or `0x`/`0o`/`0b` digits, with `_` allowed between digits.
pub fn ocaml_int64(text: &str) -> Option<i64> {
    let (negative, rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = match rest.get(..2).map(str::to_ascii_lowercase).as_deref() {
        Some("0x") => (16, &rest[2..]),
        Some("0o") => (8, &rest[2..]),
        Some("0b") => (2, &rest[2..]),
        _ => (10, rest),
    };
    if !digits.chars().next().is_some_and(|c| c.is_digit(radix)) {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let n = i64::from_str_radix(&clean, radix).ok()?;
    Some(if negative { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::ocaml_int64;

    #[test]
    fn integers_as_ocaml_reads_them() {
        assert_eq!(ocaml_int64("1500"), Some(1500));
        assert_eq!(ocaml_int64("0x10"), Some(16));
        assert_eq!(ocaml_int64("1_000"), Some(1000));
        assert_eq!(ocaml_int64("-7"), Some(-7));
        assert_eq!(ocaml_int64("12a"), None);
        assert_eq!(ocaml_int64(""), None);
        assert_eq!(ocaml_int64("_1"), None);
    }
}
