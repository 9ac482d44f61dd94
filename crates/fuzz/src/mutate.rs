//! Byte-level mutations, stacked a few at a time: flips, inserts, deletes,
//! duplicated ranges, truncation, splicing with another input, tokens of
//! the target's grammar, runs of an opening token (deep nesting), long runs
//! of one byte, invalid UTF-8 and boundary numbers.

use crate::rng::Rng;

/// Bytes that matter to one of the grammars.
const INTERESTING: &[u8] = b"\0\x01\x1f\x7f\x80\xff\"'<>&;\\/{}[],:=- \n\r\t.eE+0123456789#x";

/// Sequences that are not UTF-8: a lone continuation byte, overlong and
/// surrogate encodings, a truncated sequence, bytes never valid.
const BAD_UTF8: &[&[u8]] =
    &[b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xe2\x82", b"\xf4\x90\x80\x80", b"\xff", b"\xfe\xff", b"\xc3"];

/// Numbers at the edges of the integer and float ranges.
const NUMBERS: &[&[u8]] = &[
    b"0",
    b"-0",
    b"-0.0",
    b"1e999",
    b"-1e999",
    b"1e-999",
    b"9223372036854775807",
    b"9223372036854775808",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"1.7976931348623157e308",
    b"4.9e-324",
    b"0.1",
    b"1.",
    b".5",
    b"1e",
    b"00",
    b"65535",
    b"65536",
    b"-1",
    b"NaN",
    b"Infinity",
    b"-Infinity",
    b"+Infinity",
    b"4294967296",
];

/// Returns a mutation of `input`, at most `max_len` bytes long.
pub fn mutate(rng: &mut Rng, input: &[u8], corpus: &[Vec<u8>], dict: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        one(rng, &mut out, corpus, dict);
        if out.len() > max_len {
            out.truncate(max_len);
        }
    }
    out
}

/// A position in `v` (inclusive of its end).
fn at(rng: &mut Rng, v: &[u8]) -> usize {
    rng.below(v.len() + 1)
}

/// A range of `v`, mostly short.
fn range(rng: &mut Rng, v: &[u8]) -> (usize, usize) {
    let start = rng.below(v.len() + 1);
    let room = v.len() - start;
    let len = if rng.one_in(4) { rng.below(room + 1) } else { rng.below(room.min(16) + 1) };
    (start, start + len)
}

fn insert(v: &mut Vec<u8>, pos: usize, bytes: &[u8]) {
    v.splice(pos..pos, bytes.iter().copied());
}

fn one(rng: &mut Rng, v: &mut Vec<u8>, corpus: &[Vec<u8>], dict: &[Vec<u8>]) {
    match rng.below(15) {
        0 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] ^= 1 << rng.below(8);
        }
        1 if !v.is_empty() => {
            let i = rng.below(v.len());
            v[i] = if rng.one_in(2) { *rng.pick(INTERESTING) } else { rng.next_u64() as u8 };
        }
        2 => {
            let mut bytes = vec![0u8; 1 + rng.below(8)];
            rng.fill(&mut bytes);
            let pos = at(rng, v);
            insert(v, pos, &bytes);
        }
        3 => {
            let (a, b) = range(rng, v);
            v.drain(a..b);
        }
        4 => {
            let (a, b) = range(rng, v);
            let copy = v[a..b].to_vec();
            let pos = at(rng, v);
            insert(v, pos, &copy);
        }
        5 => {
            let n = at(rng, v);
            v.truncate(n);
        }
        6 if !corpus.is_empty() => {
            // Splice: this input's head, another's tail.
            let other = rng.pick(corpus);
            let cut = at(rng, v);
            let from = rng.below(other.len() + 1);
            v.truncate(cut);
            v.extend_from_slice(&other[from..]);
        }
        7 | 8 if !dict.is_empty() => {
            let tok = rng.pick(dict).clone();
            let pos = at(rng, v);
            insert(v, pos, &tok);
        }
        9 if !dict.is_empty() => {
            let tok = rng.pick(dict).clone();
            let (a, b) = range(rng, v);
            v.splice(a..b, tok);
        }
        10 if !dict.is_empty() => {
            // A run of one token: deep nesting when it opens something.
            let tok = rng.pick(dict).clone();
            let n = rng.between(16, 400);
            let pos = at(rng, v);
            insert(v, pos, &tok.repeat(n));
        }
        11 => {
            let b = if rng.one_in(2) { *rng.pick(b"aA \\\"<&0") } else { rng.next_u64() as u8 };
            let n = rng.between(256, 20_000);
            let pos = at(rng, v);
            insert(v, pos, &vec![b; n]);
        }
        12 => {
            let bad = BAD_UTF8[rng.below(BAD_UTF8.len())];
            let pos = at(rng, v);
            insert(v, pos, bad);
        }
        13 => {
            // Swap a run of digits (or any spot) for a boundary number.
            let num = *rng.pick(NUMBERS);
            let digits: Vec<usize> = v.iter().enumerate().filter(|(_, b)| b.is_ascii_digit()).map(|(i, _)| i).collect();
            if digits.is_empty() {
                let pos = at(rng, v);
                insert(v, pos, num);
            } else {
                let start = *rng.pick(&digits);
                let end = start + v[start..].iter().take_while(|b| b.is_ascii_digit() || **b == b'.').count();
                v.splice(start..end, num.iter().copied());
            }
        }
        _ if !corpus.is_empty() => {
            // Another input's range, inserted.
            let other = rng.pick(corpus);
            let (a, b) = range(rng, other);
            let pos = at(rng, v);
            insert(v, pos, &other[a..b]);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutations_are_deterministic_and_bounded() {
        let corpus = vec![b"<value>x</value>".to_vec(), b"{\"a\":[1,2]}".to_vec()];
        let dict = vec![b"[".to_vec(), b"<struct>".to_vec()];
        let run = |seed| {
            let mut rng = Rng::new(seed);
            let mut v = corpus[0].clone();
            let mut changed = 0;
            for _ in 0..500 {
                let next = mutate(&mut rng, &v, &corpus, &dict, 4096);
                assert!(next.len() <= 4096);
                changed += usize::from(next != v);
                v = next;
            }
            (v, changed)
        };
        let (a, changed) = run(7);
        assert_eq!(a, run(7).0);
        assert!(changed > 400, "{changed}");
    }
}
