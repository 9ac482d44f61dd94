//! Decoding a JSON-RPC response while it is read, from any [`Read`].
//!
//! A hand-written parser over one refilled buffer (256 KiB, grown only for a
//! single token longer than that): the answer is never held whole, decoding
//! overlaps with receiving, and projected record members are skipped without
//! being allocated. serde_json's own reader-based parser goes through the
//! input a byte at a time and is some three times slower than its slice
//! parser; this one scans strings eight bytes at a time and is faster than
//! the slice parser on large answers.
//!
//! It accepts exactly what [`decode_response`](super::decode_response) and
//! [`decode_response_projected`](super::decode_response_projected) accept and
//! builds the same values: the same number rules (integers beyond `i64`
//! become floats, `-0` is a float, out-of-range floats are errors), the bare
//! `NaN` / `Infinity` / `+Infinity` / `-Infinity` tokens outside strings, the
//! same string validation (paired surrogates, no control characters, UTF-8),
//! the same nesting limit (127 levels), only whitespace after the value.
//! Only the wording of syntax errors differs (byte offsets, not lines and
//! columns).
//!
//! Memory stays bounded whatever the server sends: a caller's `limit` caps
//! any single token (string, key, number) and the total the answer's decoded
//! value keeps (its strings and keys, and a [`Value`]'s size for each value;
//! the text of records kept as text). Members skipped by a projection cost
//! nothing, so a large pool still streams when few members are kept. Past
//! the limit, decoding stops with [`ReadError::TooLarge`] without reading
//! the rest.

use super::{err, response_of, Mode};
use crate::wire::{DecodeError, Response};
use crate::Value;
use std::io::{self, Read};

/// The read buffer's initial size.
const BUF: usize = 256 << 10;

/// Containers nest at most this deep, less one (serde_json's limit).
const MAX_DEPTH: usize = 128;

/// Record positions whose keys are remembered (see `Parser::seen`): records
/// have about a hundred members, and a hostile one with millions of keys
/// must not make the list grow with it.
const MAX_SEEN: usize = 1024;

/// What one decoded value costs besides its text.
const VALUE_SIZE: usize = std::mem::size_of::<Value>();

/// What one kept key costs besides its text.
const KEY_SIZE: usize = std::mem::size_of::<String>();

/// Why a streamed response could not be decoded.
#[derive(Debug)]
pub enum ReadError {
    /// Reading failed: the connection broke or timed out.
    Io(io::Error),
    /// The bytes read are not a well-formed response.
    Decode(DecodeError),
    /// A value (one token, or what the answer keeps in all) exceeds the
    /// caller's limit; the rest was not read.
    TooLarge,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => e.fmt(f),
            ReadError::Decode(e) => e.fmt(f),
            ReadError::TooLarge => f.write_str("a value exceeds the limit"),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads and decodes a 1.0 or 2.0 response from `r`, to its end.
///
/// With `keep`, the result is taken to map refs to records (as
/// `get_all_records` answers do) and the members of each record that `keep`
/// rejects are skipped unread, as [`decode_response_projected`](super::decode_response_projected)
/// does; without it, everything is decoded, as [`decode_response`](super::decode_response) does.
/// No token, and not what the decoded answer keeps in all, may exceed
/// `limit` bytes (see the module comment; `usize::MAX` for none).
pub fn read_response<R: Read>(r: R, keep: Option<&dyn Fn(&str) -> bool>, limit: usize) -> Result<Response, ReadError> {
    let mut p = Parser::new(r, keep);
    p.limit = limit;
    let parsed = p.value(if keep.is_some() { Mode::Envelope } else { Mode::Plain }).and_then(|v| p.end().map(|()| v));
    match parsed {
        Ok(v) => response_of(v).map_err(ReadError::Decode),
        Err(Stop) => Err(p.error.take().unwrap_or_else(|| ReadError::Decode(err("decoding stopped")))),
    }
}

/// The records of a ref-to-record answer kept as their JSON text (only the
/// members asked for), each decoded when it is used: for a large pool a
/// fraction of the memory of their values, and cheaper to read than to
/// build. The text was checked when it was read, by the rules
/// [`read_response`] checks values with: decoding it again cannot fail.
/// (Records decoded already, e.g. from XML-RPC, are kept as they are.)
#[derive(Debug, Clone, Default)]
pub struct RawRecords {
    /// The text in chunks of about [`CHUNK`] bytes, the last one being
    /// filled: nothing is moved as the text grows, a record is in one
    /// chunk, and chunks are freed as their records are decoded.
    chunks: Vec<Vec<u8>>,
    records: Vec<(String, Stored)>,
}

/// The size a chunk of [`RawRecords`] text is closed at (after the record
/// that reaches it); small in tests, so that they cross chunks.
const CHUNK: usize = if cfg!(test) { 4 << 10 } else { 4 << 20 };

#[derive(Debug, Clone)]
enum Stored {
    /// In chunk `.0`.
    Text(usize, std::ops::Range<usize>),
    Value(Value),
}

impl RawRecords {
    /// The number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds a record decoded already.
    pub fn push(&mut self, r: String, record: Value) {
        self.records.push((r, Stored::Value(record)));
    }

    /// The ref of record `i`.
    pub fn reference(&self, i: usize) -> &str {
        &self.records[i].0
    }

    /// Record `i`, with only the members `keep` accepts when given.
    pub fn record(&self, i: usize, keep: Option<&dyn Fn(&str) -> bool>) -> Value {
        match &self.records[i].1 {
            Stored::Text(c, range) => {
                let mut text = self.chunks[*c][range.clone()].to_vec();
                let len = text.len();
                decode_at(&mut text, 0..len, keep, &mut Vec::new())
            }
            Stored::Value(v) => kept(v, keep),
        }
    }

    /// Calls `f` with each record's ref and the record (only the members
    /// `keep` accepts when given), decoded one at a time.
    pub fn each_record(&mut self, keep: Option<&dyn Fn(&str) -> bool>, mut f: impl FnMut(&str, Value)) {
        let RawRecords { chunks, records } = self;
        let mut seen = Vec::new();
        for (r, stored) in records.iter() {
            let v = match stored {
                Stored::Text(c, range) => decode_at(&mut chunks[*c], range.clone(), keep, &mut seen),
                Stored::Value(v) => kept(v, keep),
            };
            f(r, v);
        }
    }

    /// The records, decoded one at a time, the text freed as they are.
    pub fn into_records(self) -> impl Iterator<Item = (String, Value)> {
        let mut chunks = self.chunks;
        let mut seen = Vec::new();
        self.records.into_iter().map(move |(r, stored)| match stored {
            Stored::Text(c, range) => {
                // Records come in the order of their chunks: the ones before are done.
                for done in &mut chunks[..c] {
                    if done.capacity() > 0 {
                        *done = Vec::new();
                    }
                }
                (r, decode_at(&mut chunks[c], range, None, &mut seen))
            }
            Stored::Value(v) => (r, v),
        })
    }

    /// The chunk being filled.
    fn current(&mut self) -> &mut Vec<u8> {
        if self.chunks.is_empty() {
            self.chunks.push(Vec::new());
        }
        let last = self.chunks.len() - 1;
        &mut self.chunks[last]
    }
}

/// A record decoded already, with only the members `keep` accepts when given.
fn kept(v: &Value, keep: Option<&dyn Fn(&str) -> bool>) -> Value {
    match (v, keep) {
        (Value::Struct(members), Some(keep)) => {
            Value::Struct(members.iter().filter(|(k, _)| keep(k)).cloned().collect())
        }
        _ => v.clone(),
    }
}

/// Record keys by position, as the parser keeps them (see `Parser::seen`).
type Seen = Vec<(Vec<u8>, Option<String>)>;

/// Decodes the record text at `range` of `chunk` where it is (the chunk is
/// lent to the parser as its buffer, at the end of the input, and given
/// back), with only the members `keep` accepts when given. `seen` carries
/// the keys from record to record (they list their members in the same
/// order). The text was checked when it was read: an error here would be a
/// bug, and shows as a missing record.
fn decode_at(
    chunk: &mut Vec<u8>,
    range: std::ops::Range<usize>,
    keep: Option<&dyn Fn(&str) -> bool>,
    seen: &mut Seen,
) -> Value {
    let mut p = Parser::new(&[][..], keep);
    p.buf = std::mem::take(chunk);
    p.pos = range.start;
    p.end = range.end;
    p.eof = true;
    p.seen = std::mem::take(seen);
    // A record's members, as `Mode::Records` would read them (all of them without `keep`).
    let v = p.value(Mode::Record).and_then(|v| p.end().map(|()| v)).unwrap_or(Value::Nil);
    *chunk = std::mem::take(&mut p.buf);
    *seen = std::mem::take(&mut p.seen);
    v
}

/// A ref-to-record answer read by [`read_records`].
#[derive(Debug)]
pub enum RawAnswer {
    /// The result mapped refs to values: kept as text.
    Records(RawRecords),
    /// Anything else: an error, or a result of another shape, decoded.
    Other(Response),
}

/// Like [`read_response`] with `keep`, for a result that maps refs to
/// records, keeping the records as text ([`RawRecords`]) instead of
/// decoding them; a result of another shape (and an error) is decoded.
/// The text kept counts against `limit`.
pub fn read_records<R: Read>(r: R, keep: &dyn Fn(&str) -> bool, limit: usize) -> Result<RawAnswer, ReadError> {
    let mut p = Parser::new(r, Some(keep));
    p.limit = limit;
    p.raw = Some(RawRecords::default());
    let parsed = p.value(Mode::Envelope).and_then(|v| p.end().map(|()| v));
    match parsed {
        Ok(v) => match response_of(v).map_err(ReadError::Decode)? {
            Response::Success(_) if p.captured => Ok(RawAnswer::Records(p.raw.take().unwrap_or_default())),
            other => Ok(RawAnswer::Other(other)),
        },
        Err(Stop) => Err(p.error.take().unwrap_or_else(|| ReadError::Decode(err("decoding stopped")))),
    }
}

/// Decoding stopped; the parser holds the reason. (A zero-sized error keeps
/// every `Result` of the parser in registers.)
struct Stop;

/// A key as read: in the buffer (`start`, `len`) until the next read, or decoded from escapes.
enum KeyText {
    InBuf(usize, usize),
    Owned(String),
}

struct Parser<'k, R> {
    src: R,
    buf: Vec<u8>,
    /// The next unread byte.
    pos: usize,
    /// The end of the bytes read into `buf`.
    end: usize,
    eof: bool,
    /// How many bytes were dropped from the front of `buf` so far (for error offsets).
    base: u64,
    keep: Option<&'k dyn Fn(&str) -> bool>,
    depth: usize,
    /// The members (items) of the maps (arrays) being read, innermost on top;
    /// moved into vectors of the exact size when a container ends.
    members: Vec<(String, Value)>,
    items: Vec<Value>,
    /// A string with escapes, as decoded so far.
    text: Vec<u8>,
    /// The closing brackets of the containers being skipped.
    open: Vec<u8>,
    /// Record keys by position (followed by `":`), with whether they are
    /// kept: the records of one answer have the same keys in the same order,
    /// so most keys are decided by one comparison, without UTF-8 checks or
    /// calls to `keep`.
    seen: Seen,
    error: Option<ReadError>,
    /// Where records are captured as text, for [`read_records`].
    raw: Option<RawRecords>,
    /// Whether the result's records went to `raw` (then the result itself decodes as nil).
    captured: bool,
    /// While capturing: where in `buf` the bytes still to copy to `raw` start.
    capture: Option<usize>,
    /// The most one token, and the decoded answer in all, may take.
    limit: usize,
    /// What the decoded answer keeps so far, as counted by `retain`.
    retained: usize,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

fn is_num(b: u8) -> bool {
    matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

/// The special bytes of a word (`"`, `\` and control characters) as the
/// high bits of their bytes: exact for the lowest one flagged.
#[inline]
fn special_bits(w: u64) -> u64 {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const QUOTE: u64 = LO * b'"' as u64;
    const BACKSLASH: u64 = LO * b'\\' as u64;
    const SPACE: u64 = LO * 0x20;
    let q = w ^ QUOTE;
    let s = w ^ BACKSLASH;
    // Zero bytes of q and s, bytes of w below 0x20.
    ((q.wrapping_sub(LO) & !q) | (s.wrapping_sub(LO) & !s) | (w.wrapping_sub(SPACE) & !w)) & HI
}

#[inline]
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// The index of the first `"`, `\` or control character in `b`, eight bytes at a time.
#[inline]
fn special(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    while at + 8 <= b.len() {
        let hits = special_bits(word(&b[at..]));
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if at == b.len() {
        return None;
    }
    if b.len() >= 8 {
        // The last eight bytes, overlapping ones already known to be plain.
        let last = b.len() - 8;
        let hits = special_bits(word(&b[last..]));
        return (hits != 0).then(|| last + (hits.trailing_zeros() / 8) as usize);
    }
    b[at..].iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20).map(|i| at + i)
}

/// Byte equality for short slices (keys), a word at a time, without a call to `memcmp`.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut i = 0;
    while i + 8 < n {
        if word(&a[i..]) != word(&b[i..]) {
            return false;
        }
        i += 8;
    }
    // The last eight bytes, overlapping ones already compared.
    word(&a[n - 8..]) == word(&b[n - 8..])
}

fn hex4(b: &[u8]) -> Option<u16> {
    let mut n = 0u16;
    for &c in b {
        n = n * 16 + (c as char).to_digit(16)? as u16;
    }
    Some(n)
}

/// Checks a JSON number's grammar; returns where its integer part ends.
fn number_grammar(text: &[u8]) -> Option<usize> {
    let digits = |from: usize| from + text[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let int_start = usize::from(text.first() == Some(&b'-'));
    let int_end = match text.get(int_start) {
        Some(b'0') => int_start + 1,
        Some(b'1'..=b'9') => digits(int_start),
        _ => return None,
    };
    let mut i = int_end;
    if text.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
    }
    if matches!(text.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(text.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return None;
        }
        i = end;
    }
    (i == text.len()).then_some(int_end)
}

/// Whether a number is one serde_json accepts: when skipping it (the
/// grammar only, as serde_json's `IgnoredAny`), or, `strict`, as a value
/// (also in range).
fn valid_number(text: &[u8], strict: bool) -> bool {
    if strict {
        number_value(text).is_ok()
    } else {
        number_grammar(text).is_some()
    }
}

/// A JSON number's text as a value, with serde_json's rules.
fn number_value(text: &[u8]) -> Result<Value, &'static str> {
    let int_end = number_grammar(text).ok_or("invalid number")?;
    let neg = text[0] == b'-';
    if int_end == text.len() {
        let mut sig: u64 = 0;
        let fits = text[usize::from(neg)..].iter().all(|d| {
            match sig.checked_mul(10).and_then(|v| v.checked_add(u64::from(d - b'0'))) {
                Some(v) => {
                    sig = v;
                    true
                }
                None => false,
            }
        });
        if fits {
            return Ok(if !neg {
                i64::try_from(sig).map(Value::Int).unwrap_or(Value::Float(sig as f64))
            } else {
                // As serde_json: a float below i64::MIN, and for -0.
                let n = (sig as i64).wrapping_neg();
                if n >= 0 {
                    Value::Float(-(sig as f64))
                } else {
                    Value::Int(n)
                }
            });
        }
    }
    // ASCII by construction.
    let f: f64 = std::str::from_utf8(text).ok().and_then(|s| s.parse().ok()).ok_or("invalid number")?;
    if f.is_finite() {
        Ok(Value::Float(f))
    } else {
        Err("number out of range")
    }
}

impl<'k, R: Read> Parser<'k, R> {
    fn new(src: R, keep: Option<&'k dyn Fn(&str) -> bool>) -> Self {
        Parser {
            src,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            eof: false,
            base: 0,
            keep,
            depth: 0,
            members: Vec::new(),
            items: Vec::new(),
            text: Vec::new(),
            open: Vec::new(),
            seen: Vec::new(),
            error: None,
            raw: None,
            captured: false,
            capture: None,
            limit: usize::MAX,
            retained: 0,
        }
    }

    #[cold]
    fn too_large(&mut self) -> Stop {
        self.error = Some(ReadError::TooLarge);
        Stop
    }

    /// Counts `n` more bytes kept for the answer; stops past the limit.
    #[inline]
    fn retain(&mut self, n: usize) -> Result<(), Stop> {
        self.retained = self.retained.saturating_add(n);
        if self.retained > self.limit {
            return Err(self.too_large());
        }
        Ok(())
    }

    /// Appends bytes of a record kept as text, counting them.
    fn raw_extend(&mut self, from: usize, to: usize) -> Result<(), Stop> {
        if let Some(raw) = &mut self.raw {
            raw.current().extend_from_slice(&self.buf[from..to]);
        }
        self.retain(to - from)
    }

    #[cold]
    fn fail(&mut self, msg: &str) -> Stop {
        self.fail_at(0, msg)
    }

    #[cold]
    fn fail_at(&mut self, ahead: usize, msg: &str) -> Stop {
        let at = self.base + (self.pos + ahead) as u64;
        self.error = Some(ReadError::Decode(err(format!("{msg} at byte {at}"))));
        Stop
    }

    /// Reads more, keeping the unread bytes (moved to the front of the
    /// buffer: offsets relative to `pos` stay valid). False at the end of the input.
    #[cold]
    fn fill(&mut self) -> Result<bool, Stop> {
        if self.eof {
            return Ok(false);
        }
        if let Some(start) = self.capture {
            // The bytes read so far go to the text before the buffer moves.
            self.raw_extend(start, self.pos)?;
            self.capture = Some(0);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if self.end == self.buf.len() {
            // One token fills the buffer: it may grow up to the limit, no further.
            if self.end >= self.limit.max(BUF) {
                return Err(self.too_large());
            }
            let grown = (self.buf.len() * 2).max(BUF);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(ReadError::Io(e));
                    return Err(Stop);
                }
            }
        }
    }

    /// Makes at least `n` unread bytes available; false if the input ends first.
    #[inline]
    fn ensure(&mut self, n: usize) -> Result<bool, Stop> {
        while self.end - self.pos < n {
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Result<Option<u8>, Stop> {
        if let Some(&b) = self.buf[..self.end].get(self.pos) {
            if !is_ws(b) {
                return Ok(Some(b));
            }
        }
        self.peek_slow()
    }

    fn peek_slow(&mut self) -> Result<Option<u8>, Stop> {
        loop {
            while let Some(&b) = self.buf[..self.end].get(self.pos) {
                if !is_ws(b) {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// Whitespace only, to the end of the input.
    fn end(&mut self) -> Result<(), Stop> {
        match self.peek()? {
            None => Ok(()),
            Some(_) => Err(self.fail("trailing characters")),
        }
    }

    fn enter(&mut self) -> Result<(), Stop> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(self.fail("recursion limit exceeded"));
        }
        Ok(())
    }

    fn value(&mut self, mode: Mode) -> Result<Value, Stop> {
        let Some(b) = self.peek()? else { return Err(self.fail("EOF while parsing a value")) };
        self.retain(VALUE_SIZE)?;
        match b {
            b'"' => {
                self.pos += 1;
                self.string().map(Value::String)
            }
            b'{' => {
                self.pos += 1;
                self.object(mode)
            }
            b'[' => {
                self.pos += 1;
                self.array()
            }
            b'-' | b'0'..=b'9' if !self.negative_infinity()? => {
                let n = self.number_len()?;
                match number_value(&self.buf[self.pos..self.pos + n]) {
                    Ok(v) => {
                        self.pos += n;
                        Ok(v)
                    }
                    Err(m) => Err(self.fail(m)),
                }
            }
            _ => self.literal(),
        }
    }

    /// Whether the input continues with `-I` (the start of `-Infinity`).
    fn negative_infinity(&mut self) -> Result<bool, Stop> {
        Ok(self.buf[self.pos] == b'-' && self.ensure(2)? && self.buf[self.pos + 1] == b'I')
    }

    /// `true`, `false`, `null`, or a bare non-finite float.
    fn literal(&mut self) -> Result<Value, Stop> {
        const LITERALS: [(&[u8], Value); 7] = [
            (b"true", Value::Bool(true)),
            (b"false", Value::Bool(false)),
            (b"null", Value::Nil),
            (b"NaN", Value::Float(f64::NAN)),
            (b"Infinity", Value::Float(f64::INFINITY)),
            (b"+Infinity", Value::Float(f64::INFINITY)),
            (b"-Infinity", Value::Float(f64::NEG_INFINITY)),
        ];
        let first = self.buf[self.pos];
        let Some((word, v)) = LITERALS.iter().find(|(w, _)| w[0] == first) else {
            return Err(self.fail("expected value"));
        };
        if !self.ensure(word.len())? {
            return Err(self.fail("EOF while parsing a value"));
        }
        if &self.buf[self.pos..self.pos + word.len()] != *word {
            return Err(self.fail("expected value"));
        }
        self.pos += word.len();
        Ok(v.clone())
    }

    /// The length of the number at `pos`, all of it in the buffer.
    fn number_len(&mut self) -> Result<usize, Stop> {
        let mut n = 0;
        loop {
            n += self.buf[self.pos + n..self.end].iter().take_while(|&&b| is_num(b)).count();
            if self.pos + n < self.end || !self.fill()? {
                return Ok(n);
            }
        }
    }

    /// Reads a string's text up to its closing quote (the opening one is consumed).
    /// Without escapes, it is found in the buffer and copied once.
    #[inline]
    fn string_text(&mut self) -> Result<KeyText, Stop> {
        let mut n = 0;
        loop {
            match special(&self.buf[self.pos + n..self.end]) {
                Some(j) => {
                    n += j;
                    return match self.buf[self.pos + n] {
                        b'"' => {
                            let start = self.pos;
                            self.pos += n + 1;
                            Ok(KeyText::InBuf(start, n))
                        }
                        b'\\' => self.escaped(n).map(KeyText::Owned),
                        _ => Err(self.fail_at(n, "control character while parsing a string")),
                    };
                }
                None => {
                    n = self.end - self.pos;
                    if !self.fill()? {
                        return Err(self.fail_at(n, "EOF while parsing a string"));
                    }
                }
            }
        }
    }

    fn string(&mut self) -> Result<String, Stop> {
        match self.string_text()? {
            KeyText::InBuf(start, n) => {
                self.retain(n)?;
                match std::str::from_utf8(&self.buf[start..start + n]) {
                    Ok(s) => Ok(s.to_owned()),
                    Err(e) => Err(self.bad_utf8(start, e)),
                }
            }
            KeyText::Owned(s) => {
                self.retain(s.len())?;
                Ok(s)
            }
        }
    }

    #[cold]
    fn bad_utf8(&mut self, start: usize, e: std::str::Utf8Error) -> Stop {
        let at = self.base + (start + e.valid_up_to()) as u64;
        self.error = Some(ReadError::Decode(err(format!("invalid unicode code point at byte {at}"))));
        Stop
    }

    /// The rest of a string with escapes; `n` plain bytes precede the first backslash.
    fn escaped(&mut self, n: usize) -> Result<String, Stop> {
        self.text.clear();
        self.text.extend_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        loop {
            // At a backslash.
            self.escape()?;
            loop {
                match special(&self.buf[self.pos..self.end]) {
                    Some(j) => {
                        self.text.extend_from_slice(&self.buf[self.pos..self.pos + j]);
                        self.pos += j;
                        match self.buf[self.pos] {
                            b'"' => {
                                self.pos += 1;
                                return match String::from_utf8(self.text.clone()) {
                                    Ok(s) => Ok(s),
                                    Err(_) => Err(self.fail("invalid unicode code point in a string")),
                                };
                            }
                            b'\\' => break,
                            _ => return Err(self.fail("control character while parsing a string")),
                        }
                    }
                    None => {
                        self.text.extend_from_slice(&self.buf[self.pos..self.end]);
                        self.pos = self.end;
                        if self.text.len() > self.limit {
                            return Err(self.too_large());
                        }
                        if !self.fill()? {
                            return Err(self.fail("EOF while parsing a string"));
                        }
                    }
                }
            }
        }
    }

    /// Decodes the escape at `pos` into `text`.
    fn escape(&mut self) -> Result<(), Stop> {
        if !self.ensure(2)? {
            return Err(self.fail("EOF while parsing a string"));
        }
        let c = self.buf[self.pos + 1];
        let simple = match c {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => 0,
            _ => return Err(self.fail_at(1, "invalid escape")),
        };
        if c != b'u' {
            self.text.push(simple);
            self.pos += 2;
            return Ok(());
        }
        let n = self.hex_escape()?;
        let code = match n {
            0xDC00..=0xDFFF => return Err(self.fail("lone leading surrogate in hex escape")),
            0xD800..=0xDBFF => {
                if !self.ensure(2)? || &self.buf[self.pos..self.pos + 2] != b"\\u" {
                    return Err(self.fail("unexpected end of hex escape"));
                }
                let low = self.hex_escape()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err(self.fail("lone leading surrogate in hex escape"));
                }
                (((u32::from(n) - 0xD800) << 10) | (u32::from(low) - 0xDC00)) + 0x1_0000
            }
            _ => u32::from(n),
        };
        let Some(ch) = char::from_u32(code) else { return Err(self.fail("invalid unicode code point")) };
        let mut utf8 = [0u8; 4];
        self.text.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        Ok(())
    }

    /// Reads `\uXXXX` at `pos`.
    fn hex_escape(&mut self) -> Result<u16, Stop> {
        if !self.ensure(6)? {
            return Err(self.fail("EOF while parsing a string"));
        }
        match hex4(&self.buf[self.pos + 2..self.pos + 6]) {
            Some(n) => {
                self.pos += 6;
                Ok(n)
            }
            None => Err(self.fail_at(2, "invalid escape")),
        }
    }

    /// Reads past a string's closing quote (the opening one is consumed),
    /// checking escapes and control characters, decoding nothing.
    fn skip_string(&mut self) -> Result<(), Stop> {
        loop {
            match special(&self.buf[self.pos..self.end]) {
                Some(j) => {
                    self.pos += j;
                    match self.buf[self.pos] {
                        b'"' => {
                            self.pos += 1;
                            return Ok(());
                        }
                        b'\\' => {
                            if !self.ensure(2)? {
                                return Err(self.fail("EOF while parsing a string"));
                            }
                            match self.buf[self.pos + 1] {
                                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 2,
                                b'u' => {
                                    self.hex_escape()?;
                                }
                                _ => return Err(self.fail_at(1, "invalid escape")),
                            }
                        }
                        _ => return Err(self.fail("control character while parsing a string")),
                    }
                }
                None => {
                    self.pos = self.end;
                    if !self.fill()? {
                        return Err(self.fail("EOF while parsing a string"));
                    }
                }
            }
        }
    }

    #[inline]
    fn colon(&mut self) -> Result<(), Stop> {
        match self.peek()? {
            Some(b':') => {
                self.pos += 1;
                Ok(())
            }
            Some(_) => Err(self.fail("expected ':'")),
            None => Err(self.fail("EOF while parsing an object")),
        }
    }

    /// After a member or item: true at the container's end, false after a comma.
    #[inline]
    fn next_or_close(&mut self, close: u8) -> Result<bool, Stop> {
        match self.peek()? {
            Some(b',') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b) if b == close => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Err(self.fail(if close == b'}' { "expected ',' or '}'" } else { "expected ',' or ']'" })),
            None => {
                Err(self.fail(if close == b'}' { "EOF while parsing an object" } else { "EOF while parsing a list" }))
            }
        }
    }

    /// Consumes the opening quote of a key; true at an empty container's end instead.
    #[inline]
    fn key_start(&mut self, first: bool) -> Result<bool, Stop> {
        match self.peek()? {
            Some(b'"') => {
                self.pos += 1;
                Ok(false)
            }
            Some(b'}') if first => {
                self.pos += 1;
                Ok(true)
            }
            Some(_) => Err(self.fail("key must be a string")),
            None => Err(self.fail("EOF while parsing an object")),
        }
    }

    /// Reads a key (its opening quote consumed): the key unless it is a record
    /// member `keep` rejects, and whether the colon after it was read too.
    /// Keys without escapes are looked at in the buffer: a rejected one is never allocated.
    #[inline]
    fn key(&mut self, mode: Mode, index: usize) -> Result<(Option<String>, bool), Stop> {
        if mode == Mode::Record {
            // What this position held last time: the key, its closing quote and a
            // colon. The key's bytes hold no quote, backslash or control
            // character, so a match is exactly that key, already checked and decided.
            if let Some((seen, kept)) = self.seen.get(index) {
                let n = seen.len();
                if self.end - self.pos >= n && same(&self.buf[self.pos..self.pos + n], seen) {
                    self.pos += n;
                    return Ok((kept.clone(), true));
                }
            }
        }
        self.new_key(mode, index).map(|k| (k, false))
    }

    fn new_key(&mut self, mode: Mode, index: usize) -> Result<Option<String>, Stop> {
        let (start, n) = match self.string_text()? {
            KeyText::InBuf(start, n) => (start, n),
            KeyText::Owned(k) => return Ok(self.wanted(mode, &k).then_some(k)),
        };
        let bytes = &self.buf[start..start + n];
        let k = match std::str::from_utf8(bytes) {
            Ok(k) => k,
            Err(e) => return Err(self.bad_utf8(start, e)),
        };
        let kept = self.wanted(mode, k).then(|| k.to_owned());
        if mode == Mode::Record && index <= self.seen.len() && index < MAX_SEEN {
            let mut pattern = Vec::with_capacity(n + 2);
            pattern.extend_from_slice(bytes);
            pattern.extend_from_slice(b"\":");
            let entry = (pattern, kept.clone());
            if index == self.seen.len() {
                self.seen.push(entry);
            } else {
                self.seen[index] = entry;
            }
        }
        Ok(kept)
    }

    fn wanted(&self, mode: Mode, key: &str) -> bool {
        mode != Mode::Record || self.keep.is_none_or(|keep| keep(key))
    }

    fn object(&mut self, mode: Mode) -> Result<Value, Stop> {
        self.enter()?;
        let start = self.members.len();
        let mut index = 0;
        while !self.key_start(index == 0)? {
            let (key, colon_read) = self.key(mode, index)?;
            index += 1;
            if !colon_read {
                self.colon()?;
            }
            match key {
                Some(k) => {
                    self.retain(k.len() + KEY_SIZE)?;
                    let child = match mode {
                        Mode::Envelope if k == "result" => Mode::Records,
                        Mode::Records => Mode::Record,
                        _ => Mode::Plain,
                    };
                    let v = if child == Mode::Records && self.raw.is_some() && !self.captured {
                        self.capture_records()?
                    } else {
                        self.value(child)?
                    };
                    self.members.push((k, v));
                }
                None => self.skip(false)?,
            }
            if self.next_or_close(b'}')? {
                break;
            }
        }
        self.depth -= 1;
        Ok(Value::Struct(self.members.drain(start..).collect()))
    }

    fn array(&mut self) -> Result<Value, Stop> {
        self.enter()?;
        let start = self.items.len();
        if self.peek()? == Some(b']') {
            self.pos += 1;
        } else {
            loop {
                let v = self.value(Mode::Plain)?;
                self.items.push(v);
                if self.next_or_close(b']')? {
                    break;
                }
            }
        }
        self.depth -= 1;
        Ok(Value::Array(self.items.drain(start..).collect()))
    }

    /// Reads past one value, checking it is well-formed, building nothing.
    /// Iterative and without a nesting limit, as serde_json skips; `strict`
    /// checks what building the value would (strings, keys, nesting, numbers
    /// in range), for text kept to be decoded later.
    fn skip(&mut self, strict: bool) -> Result<(), Stop> {
        self.open.clear();
        loop {
            let Some(b) = self.peek()? else { return Err(self.fail("EOF while parsing a value")) };
            match b {
                b'"' => {
                    self.pos += 1;
                    self.skip_or_check_string(strict)?;
                }
                b'{' => {
                    self.pos += 1;
                    self.nest(strict)?;
                    if !self.key_start(true)? {
                        self.skip_or_check_string(strict)?;
                        self.colon()?;
                        self.open_container(b'}')?;
                        continue;
                    }
                }
                b'[' => {
                    self.pos += 1;
                    self.nest(strict)?;
                    if self.peek()? == Some(b']') {
                        self.pos += 1;
                    } else {
                        self.open_container(b']')?;
                        continue;
                    }
                }
                b'-' | b'0'..=b'9' if !self.negative_infinity()? => {
                    let n = self.number_len()?;
                    if !valid_number(&self.buf[self.pos..self.pos + n], strict) {
                        return Err(self.fail("invalid number"));
                    }
                    self.pos += n;
                }
                _ => {
                    self.literal()?;
                }
            }
            // A value ended: close what it ended, or go on to the next member or item.
            loop {
                let Some(&close) = self.open.last() else { return Ok(()) };
                if self.next_or_close(close)? {
                    self.open.pop();
                    continue;
                }
                if close == b'}' {
                    self.key_start(false)?;
                    self.skip_or_check_string(strict)?;
                    self.colon()?;
                }
                break;
            }
        }
    }

    /// Notes a container entered while skipping: nesting is not limited
    /// there, but the list of open brackets is memory like any other.
    fn open_container(&mut self, close: u8) -> Result<(), Stop> {
        if self.open.len() >= self.limit {
            return Err(self.too_large());
        }
        self.open.push(close);
        Ok(())
    }

    /// Entering a container while skipping: checks the nesting limit if `strict`.
    fn nest(&mut self, strict: bool) -> Result<(), Stop> {
        if strict && self.depth + self.open.len() + 1 >= MAX_DEPTH {
            return Err(self.fail("recursion limit exceeded"));
        }
        Ok(())
    }

    fn skip_or_check_string(&mut self, strict: bool) -> Result<(), Stop> {
        if !strict {
            return self.skip_string();
        }
        // As building the string would: escapes decoded, UTF-8 checked.
        if let KeyText::InBuf(start, n) = self.string_text()? {
            if let Err(e) = std::str::from_utf8(&self.buf[start..start + n]) {
                return Err(self.bad_utf8(start, e));
            }
        }
        Ok(())
    }

    /// Reads the records of the result (at `{` or whatever it is) into `raw`,
    /// each as the text of its kept members; returns the result's stand-in.
    /// A result that is not a map decodes as usual.
    fn capture_records(&mut self) -> Result<Value, Stop> {
        if self.peek()? != Some(b'{') {
            // The first `result` is the answer: a later one is not captured.
            self.raw = None;
            return self.value(Mode::Records);
        }
        self.captured = true;
        self.pos += 1;
        self.enter()?;
        let mut index = 0;
        while !self.key_start(index == 0)? {
            // Record refs are kept whatever `keep` says, as a map's keys.
            let (key, colon_read) = self.key(Mode::Records, index)?;
            index += 1;
            if !colon_read {
                self.colon()?;
            }
            self.retain(key.as_ref().map_or(0, String::len) + KEY_SIZE + std::mem::size_of::<Stored>())?;
            let start = self.raw_len();
            self.capture_record()?;
            let end = self.raw_len();
            if let Some(raw) = &mut self.raw {
                let chunk = raw.chunks.len() - 1;
                raw.records.push((key.unwrap_or_default(), Stored::Text(chunk, start..end)));
                if end >= CHUNK {
                    raw.chunks.push(Vec::new());
                }
            }
            if self.next_or_close(b'}')? {
                break;
            }
        }
        self.depth -= 1;
        Ok(Value::Nil)
    }

    /// The length of the chunk being filled.
    fn raw_len(&mut self) -> usize {
        self.raw.as_mut().map_or(0, |r| r.current().len())
    }

    fn raw_push(&mut self, b: u8) -> Result<(), Stop> {
        if let Some(raw) = &mut self.raw {
            raw.current().push(b);
        }
        self.retain(1)
    }

    /// Copies what was read since `capture` started to the text, and stops capturing.
    fn end_capture(&mut self) -> Result<(), Stop> {
        match self.capture.take() {
            Some(start) => self.raw_extend(start, self.pos),
            None => Ok(()),
        }
    }

    /// Captures one record: the members `keep` accepts, as `{"k":v,...}`
    /// (whitespace inside them kept); anything but a map whole.
    fn capture_record(&mut self) -> Result<(), Stop> {
        if self.peek()? != Some(b'{') {
            self.capture = Some(self.pos);
            self.skip(true)?;
            return self.end_capture();
        }
        self.pos += 1;
        self.enter()?;
        self.raw_push(b'{')?;
        let mut kept_any = false;
        let mut index = 0;
        while !self.key_start(index == 0)? {
            // From the key's opening quote; undone if the member is not kept.
            let mark = self.raw_len();
            if kept_any {
                self.raw_push(b',')?;
            }
            self.capture = Some(self.pos - 1);
            let (kept, colon_read) = self.key_decision(index)?;
            index += 1;
            if !colon_read {
                self.colon()?;
            }
            if kept {
                self.skip(true)?;
                self.end_capture()?;
                kept_any = true;
            } else {
                self.capture = None;
                // A member skipped costs nothing: its key's bytes are given back.
                let len = self.raw_len();
                self.retained = self.retained.saturating_sub(len - mark);
                if let Some(raw) = &mut self.raw {
                    raw.current().truncate(mark);
                }
                self.skip(false)?;
            }
            if self.next_or_close(b'}')? {
                break;
            }
        }
        self.raw_push(b'}')?;
        self.depth -= 1;
        Ok(())
    }

    /// Like [`Parser::key`] for a record member, without copying a kept key.
    fn key_decision(&mut self, index: usize) -> Result<(bool, bool), Stop> {
        if let Some((seen, kept)) = self.seen.get(index) {
            let n = seen.len();
            if self.end - self.pos >= n && same(&self.buf[self.pos..self.pos + n], seen) {
                self.pos += n;
                return Ok((kept.is_some(), true));
            }
        }
        self.new_key(Mode::Record, index).map(|k| (k.is_some(), false))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{decode_response, decode_response_projected, encode_response, Version};
    use super::*;

    /// A reader that hands out at most `step` bytes per read, to cross every buffer boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn streamed(body: &[u8], keep: Option<&dyn Fn(&str) -> bool>, step: usize) -> Result<Response, DecodeError> {
        read_response(Trickle { data: body, step }, keep, usize::MAX).map_err(|e| match e {
            ReadError::Decode(d) => d,
            ReadError::Io(e) => panic!("{e}"),
            ReadError::TooLarge => panic!("no limit was set"),
        })
    }

    /// Decodes `body` every way: streamed in several step sizes must agree with the slice decoders.
    fn agree(body: &[u8]) {
        agree_in_steps(body, &[1, 2, 3, 7, 64, 1 << 20]);
    }

    fn agree_in_steps(body: &[u8], steps: &[usize]) {
        let keep = |k: &str| k == "uuid" || k == "name_label" || k.is_empty() || k == "a\"b";
        let whole = decode_response(body);
        let projected = decode_response_projected(body, &keep);
        for &step in steps {
            let s = streamed(body, None, step);
            let p = streamed(body, Some(&keep), step);
            let shown = String::from_utf8_lossy(body);
            assert_eq!(s.is_ok(), whole.is_ok(), "{shown}: {s:?} vs {whole:?}");
            assert_eq!(p.is_ok(), projected.is_ok(), "{shown}: {p:?} vs {projected:?}");
            if let (Ok(a), Ok(b)) = (&s, &whole) {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{shown}");
            }
            if let (Ok(a), Ok(b)) = (&p, &projected) {
                assert_eq!(format!("{a:?}"), format!("{b:?}"), "{shown}");
            }
            // Records kept as text decode to what the projected decode gives.
            let raw = read_records(Trickle { data: body, step }, &keep, usize::MAX);
            match (raw, &projected) {
                (Ok(RawAnswer::Records(mut raw)), Ok(Response::Success(Value::Struct(want)))) => {
                    let uuid_only = |k: &str| k == "uuid";
                    let mut each = Vec::new();
                    raw.each_record(Some(&uuid_only), |r, v| each.push((r.to_string(), v)));
                    assert_eq!(each.len(), want.len(), "{shown}");
                    for (i, (r, rec)) in want.iter().enumerate() {
                        assert_eq!(raw.reference(i), r, "{shown}");
                        let mut projected = rec.clone();
                        if let Value::Struct(m) = &mut projected {
                            m.retain(|(k, _)| k == "uuid");
                        }
                        let got = raw.record(i, Some(&uuid_only));
                        assert_eq!(format!("{got:?}"), format!("{projected:?}"), "{shown}");
                        assert_eq!(format!("{:?}", each[i]), format!("{:?}", (r, &projected)), "{shown}");
                    }
                    let got: Vec<(String, Value)> = raw.into_records().collect();
                    assert_eq!(format!("{got:?}"), format!("{want:?}"), "{shown}");
                }
                (Ok(RawAnswer::Records(raw)), other) => panic!("{shown}: records {raw:?} vs {other:?}"),
                (Ok(RawAnswer::Other(a)), Ok(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{shown}"),
                (Err(ReadError::Decode(_)), Err(_)) => {}
                (a, b) => panic!("{shown}: {a:?} vs {b:?}"),
            }
        }
    }

    const SAMPLES: &[&str] = &[
        r#"{"jsonrpc":"2.0","result":{"OpaqueRef:a":{"uuid":"u1","name_label":"a","other_config":{"uuid":"x"},"VBDs":["r"]},"OpaqueRef:b":{"name_label":"b","bad":NaN,"uuid":"u2"}},"id":1}"#,
        r#"{"jsonrpc":"2.0","result":["a",{"x":1}],"id":1}"#,
        r#"{"jsonrpc":"2.0","error":{"code":1,"message":"SESSION_INVALID","data":["r"]},"id":1}"#,
        r#"{"result":{"r":{"a":1,"b":}}}"#,
        r#"{"result":null,"error":["SESSION_INVALID","OpaqueRef:93"],"id":"xyz"}"#,
        r#"{"result":{},"error":{"code":"abcd","message":123456,"data":2.0}}"#,
        r#"{"jsonrpc":"2.0","result":{"a":Infinity,"b":-Infinity,"c":+Infinity,"d":[NaN,-0,0,-1,1e2]},"id":1}"#,
        r#"  {"result" : { "r" : { "uuid" : "x" , "z" : [ 1 , 2 ] } } , "id" : 1 }  "#,
        r#"{"result":[9223372036854775807,-9223372036854775808,9223372036854775808,-9223372036854775809,18446744073709551616,1.5e300,1e400,0.1,2.5E-3]}"#,
        r#"{"result":{"r":{"uuid":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00 ünï","a\"b":1,"x":"\u0041\\"}}}"#,
        r#"{"result":{"r":{"uuid":"\ud800"}}}"#,
        r#"{"result":{"r":{"skip":"\ud800","uuid":"\udc00"}}}"#,
        r#"{"result":{"r":{"uuid":"\ud800\u0041"}}}"#,
        r#"{"result":{"r":{"uuid":"\q"}}}"#,
        r#"{"result":{"r":{"skip":"\q"}}}"#,
        r#"{"result":{"r":{"uuid":"\u12"}}}"#,
        "{\"result\":{\"r\":{\"uuid\":\"a\u{1}b\"}}}",
        "{\"result\":{\"r\":{\"skip\":\"a\u{1}b\"}}}",
        "{\"result\":\"\u{7f}\"}",
        r#"{"result":1} x"#,
        r#"{"result":1,}"#,
        r#"{"result":[1,]}"#,
        r#"{"result":[01]}"#,
        r#"{"result":[1.]}"#,
        r#"{"result":[.5]}"#,
        r#"{"result":[1e]}"#,
        r#"{"result":[-]}"#,
        r#"{"result":[- 1]}"#,
        r#"{"result":[Infinityx]}"#,
        r#"{"result":[NaNa]}"#,
        r#"{"result":[1Infinity]}"#,
        r#"{"result":[tru]}"#,
        r#"{"result":[true,false,null]}"#,
        r#"{"result":{"r":{"uuid":true,"skip":{"a":[{"b":null}],"c":-2.5e-3}}}}"#,
        r#"{"result":{"r":{"skip":1e400,"uuid":"a"},"s":{"skip":-1e999,"x":123456789012345678901234567890}}}"#,
        r#"{"result":{"r":{"uuid":1e400}}}"#,
        r#"{"result":{"r":{"uuid":[1,{"a":"\ud83d\ude00","b\n":[]}],"name_label":{"\u00e9":"x"}}},"id":1}"#,
        r#"{"result":{"r":{"uuid":{"\ud800":1}}}}"#,
        r#"{"result":{"r":{"uuid":1},"r":{"uuid":2}},"result":{"x":{}}}"#,
        r#"{"result":"","result":{"r":{"uuid":"u"}}}"#,
        r#"{"error":["E"],"result":{"r":{"uuid":1}}}"#,
        r#"{"result":{}}"#,
        r#"{"result":{"r":{}, "s":{"skip":1}, "t" : { "uuid" : "x" , "name_label" : [ 1 ] } }}"#,
        r#"{"result":{"r":"not a record","s":["x"],"t":{}},"id":1}"#,
        r#"{"result":{"":{"":""}}}"#,
        r#"{1:2}"#,
        r#"{"a" 1}"#,
        r#"[1]"#,
        r#""x""#,
        "",
        "   ",
        r#"{"id":1}"#,
        r#"{"error":null}"#,
    ];

    #[test]
    fn streamed_decoding_agrees_with_the_slice_decoders() {
        for body in SAMPLES {
            agree(body.as_bytes());
        }
        // Invalid UTF-8 in a kept string, a skipped one, a key.
        agree(b"{\"result\":{\"r\":{\"uuid\":\"\xff\"}}}");
        agree(b"{\"result\":{\"r\":{\"skip\":\"\xff\"}}}");
        agree(b"{\"result\":{\"r\":{\"\xff\":1}}}");
        // The wire samples, and every truncation of them.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let body = std::fs::read(&path).unwrap();
                agree(&body);
                for i in (0..body.len()).step_by(61) {
                    agree_in_steps(&body[..i], &[1, 3, 1 << 20]);
                }
            }
        }
    }

    #[test]
    fn every_truncation_fails_cleanly_and_large_answers_cross_buffers() {
        let body = SAMPLES[9];
        for i in 0..body.len() {
            agree_in_steps(&body.as_bytes()[..i], &[1, 3, 1 << 20]);
        }
        // Larger than the buffer, with a string longer than it.
        let long = "é\\\"x".repeat(BUF / 4);
        let mut records = Vec::new();
        for i in 0..500 {
            let rec = Value::Struct(vec![
                ("uuid".into(), Value::String(format!("u{i}"))),
                ("name_label".into(), Value::String(if i == 7 { long.clone() } else { format!("vm {i}") })),
                ("other".into(), Value::Array(vec![Value::Float(0.5), Value::String(long[..100].to_string())])),
            ]);
            records.push((format!("OpaqueRef:{i}"), rec));
        }
        let body = encode_response(&Response::Success(Value::Struct(records)), &serde_json::json!(1), Version::V2);
        // (Reads of odd sizes cross every kind of token at the buffer's edge, many times over.)
        agree_in_steps(body.as_bytes(), &[4093, 65521, 1 << 20]);
    }

    #[test]
    fn nesting_is_limited_as_serde_json_limits_it() {
        for depth in [126, 127, 128, 129, 100_000] {
            let body = format!("{{\"result\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
            agree(body.as_bytes());
            let body = format!("{{\"result\":{{\"r\":{{\"skip\":{}1{}}}}}}}", "[".repeat(depth), "]".repeat(depth));
            agree(body.as_bytes());
        }
        for depth in [122, 123, 124, 125, 126] {
            let body = format!("{{\"result\":{{\"r\":{{\"uuid\":{}1{}}}}}}}", "[".repeat(depth), "]".repeat(depth));
            agree(body.as_bytes());
            let body = format!("{{\"result\":{{\"r\":{}1{}}}}}", "[".repeat(depth), "]".repeat(depth));
            agree(body.as_bytes());
        }
    }

    #[test]
    fn read_errors_are_not_decode_errors() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::TimedOut, "slow"))
            }
        }
        assert!(
            matches!(read_response(Broken, None, usize::MAX), Err(ReadError::Io(e)) if e.kind() == io::ErrorKind::TimedOut)
        );
    }

    /// `head`, then `unit` repeated up to `total` bytes in all, then `tail`:
    /// an answer of any size, generated as it is read, counting what was read.
    struct Generated<'a> {
        parts: [&'a [u8]; 3],
        /// Bytes of `unit` still to give.
        middle: u64,
        at: usize,
        part: usize,
        read: u64,
    }

    impl<'a> Generated<'a> {
        fn new(head: &'a [u8], unit: &'a [u8], total: u64, tail: &'a [u8]) -> Self {
            let middle = total.saturating_sub((head.len() + tail.len()) as u64);
            Generated {
                parts: [head, unit, tail],
                middle: middle - middle % unit.len() as u64,
                at: 0,
                part: 0,
                read: 0,
            }
        }
    }

    impl Read for Generated<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let mut n = 0;
            while n < out.len() && self.part < 3 {
                let src = self.parts[self.part];
                if self.part == 1 && self.middle == 0 {
                    self.part += 1;
                    continue;
                }
                let take = (src.len() - self.at).min(out.len() - n);
                out[n..n + take].copy_from_slice(&src[self.at..self.at + take]);
                n += take;
                self.at += take;
                if self.at == src.len() {
                    self.at = 0;
                    if self.part == 1 {
                        self.middle -= src.len() as u64;
                    } else {
                        self.part += 1;
                    }
                }
            }
            self.read += n as u64;
            Ok(n)
        }
    }

    const GIB: u64 = 1 << 30;
    const LIMIT: usize = 1 << 20;

    /// Reads a 1 GiB answer with a 1 MiB limit: refused, having read at most a few MiB.
    fn refused_early(head: &[u8], unit: &[u8], tail: &[u8], keep: Option<&dyn Fn(&str) -> bool>) {
        let mut g = Generated::new(head, unit, GIB, tail);
        let r = read_response(&mut g, keep, LIMIT);
        assert!(matches!(r, Err(ReadError::TooLarge)), "{}: {r:?}", String::from_utf8_lossy(head));
        assert!(g.read < 4 * LIMIT as u64 + 2 * BUF as u64, "read {} bytes before refusing", g.read);
        let mut g = Generated::new(head, unit, GIB, tail);
        let r = read_records(&mut g, keep.unwrap_or(&|_| true), LIMIT);
        assert!(matches!(r, Err(ReadError::TooLarge)), "{}: {r:?}", String::from_utf8_lossy(head));
        assert!(g.read < 4 * LIMIT as u64 + 2 * BUF as u64, "read {} bytes before refusing", g.read);
    }

    #[test]
    fn answers_beyond_the_limit_are_refused_without_reading_them_whole() {
        // One long string, key, number; many small items; records kept as text.
        refused_early(br#"{"result":""#, b"x", br#""}"#, None);
        refused_early(br#"{"result":"\n"#, b"\\", br#""}"#, None);
        refused_early(br#"{"result":{""#, b"k", br#"":1}}"#, None);
        refused_early(br#"{"result":[1"#, b"0", br#"]}"#, None);
        refused_early(br#"{"result":["#, b"1,", br#"1]}"#, None);
        refused_early(br#"{"result":["#, br#""abc","#, br#""z"]}"#, None);
        refused_early(br#"{"result":{"#, br#""OpaqueRef:x":{"uuid":"u"},"#, br#""r":{}}}"#, Some(&|_| true));
        refused_early(br#"{"result":{"r":{"uuid":["#, b"[],", b"[]]}}}", Some(&|k| k == "uuid"));
        // Skipped brackets are memory too.
        refused_early(br#"{"result":{"r":{"skip":"#, b"[", b"]}}}", Some(&|k| k == "uuid"));
    }

    #[test]
    fn members_skipped_by_a_projection_do_not_count() {
        // 10,000 records of ~1 KiB each, of which only `uuid` is kept: 10 MiB read, a little kept.
        let padding = "p".repeat(1000);
        let records: Vec<String> =
            (0..10_000).map(|i| format!(r#""OpaqueRef:{i}":{{"uuid":"u{i}","big":"{padding}","x":[[1]]}}"#)).collect();
        let body = format!(r#"{{"result":{{{}}}}}"#, records.join(","));
        let uuid = |k: &str| k == "uuid";
        // Kept: ~140 bytes a record (a ref, a key, two values), 1.4 MB in all.
        let limit = 4 << 20;
        match read_response(body.as_bytes(), Some(&uuid), limit) {
            Ok(Response::Success(Value::Struct(m))) => assert_eq!(m.len(), 10_000),
            other => panic!("{other:?}"),
        }
        match read_records(body.as_bytes(), &uuid, limit) {
            Ok(RawAnswer::Records(r)) => assert_eq!(r.len(), 10_000),
            other => panic!("{other:?}"),
        }
        // Kept whole, the same answer is over the limit.
        assert!(matches!(read_response(body.as_bytes(), None, limit), Err(ReadError::TooLarge)));
        assert!(matches!(read_records(body.as_bytes(), &|_| true, limit), Err(ReadError::TooLarge)));
        // Under a limit it fits, it decodes as without one.
        let all = read_response(body.as_bytes(), None, usize::MAX).unwrap();
        assert_eq!(read_response(body.as_bytes(), None, 64 << 20).unwrap(), all);
    }

    #[test]
    fn records_with_endless_keys_do_not_grow_the_key_list() {
        let keys: Vec<String> = (0..100_000).map(|i| format!(r#""k{i}":{i}"#)).collect();
        let body = format!(r#"{{"result":{{"r":{{{}}}}}}}"#, keys.join(","));
        let uuid = |k: &str| k == "uuid";
        let mut p = Parser::new(body.as_bytes(), Some(&uuid));
        let v = p.value(Mode::Envelope).and_then(|v| p.end().map(|()| v));
        assert!(v.is_ok());
        assert_eq!(p.seen.len(), MAX_SEEN);
    }

    #[test]
    fn the_scan_finds_the_first_special_byte() {
        for len in 0..40 {
            for at in 0..len {
                for b in [b'"', b'\\', 0x00, 0x1f] {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    if at + 1 < len {
                        v[at + 1] = b'"';
                    }
                    assert_eq!(special(&v), Some(at));
                }
            }
            assert_eq!(special(&vec![0x20; len]), None);
            assert_eq!(special(&vec![0xff; len]), None);
        }
    }
}
