//! Values built from bytes (so a mutated input is a different value and a
//! saved input replays as the same one), what each codec's round trip
//! documents it turns them into, and an equality that sees NaN and the sign
//! of zero.

use xenapi::wire::Response;
use xenapi::Value;

/// Reads an input as a stream of choices; zeros once it is used up.
pub struct Choices<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Choices<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Choices { data, pos: 0 }
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    pub fn u64(&mut self) -> u64 {
        let mut n = 0u64;
        for _ in 0..8 {
            n = (n << 8) | u64::from(self.byte());
        }
        n
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            usize::from(self.byte()) % n
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Up to `max` raw bytes of the input.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = self.below(max + 1);
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos = start + n;
        &self.data[start..end]
    }
}

/// Strings that stress one codec or another.
pub const STRINGS: &[&str] = &[
    "",
    " ",
    "  spaced  ",
    "OpaqueRef:NULL",
    "a&b<c>d",
    "]]>",
    "<![CDATA[x]]>",
    "&amp;",
    "&#x0;",
    "\"quoted\" 'single'",
    "back\\slash",
    "ünïcödé",
    "\u{1F600}",
    "\u{0}",
    "\u{1}\u{8}\u{b}\u{c}\u{1f}",
    "\r\n",
    "\r",
    "\t",
    "NaN",
    "Infinity",
    "-Infinity",
    "+Infinity",
    "\u{0}xenapi:NaN",
    "\u{0}xenapi:+Infinity",
    "\u{FFFE}\u{FFFF}",
    "\u{2028}\u{2029}",
    "\u{7f}\u{80}\u{9f}",
    "\u{feff}bom",
    "1e999",
    "-0",
    "20240420T12:00:00Z",
    "Success",
    "Failure",
    "{\"a\":[1]}",
    "<value>x</value>",
];

/// A string: one of [`STRINGS`], raw input bytes (made UTF-8), or a mix.
pub fn string(c: &mut Choices<'_>) -> String {
    match c.below(4) {
        0 | 1 => STRINGS[c.below(STRINGS.len())].to_string(),
        2 => String::from_utf8_lossy(c.bytes(24)).into_owned(),
        _ => {
            let mut s = String::new();
            for _ in 0..c.below(4) {
                s.push_str(STRINGS[c.below(STRINGS.len())]);
                s.push_str(&String::from_utf8_lossy(c.bytes(6)));
            }
            s
        }
    }
}

fn float(c: &mut Choices<'_>) -> f64 {
    const EDGES: &[f64] = &[
        0.0,
        -0.0,
        1.0,
        0.1,
        -2.5,
        1e300,
        1e16,
        1e-300,
        f64::MAX,
        f64::MIN_POSITIVE,
        5e-324,
        9.2e18,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ];
    if c.below(2) == 0 {
        EDGES[c.below(EDGES.len())]
    } else {
        f64::from_bits(c.u64())
    }
}

fn int(c: &mut Choices<'_>) -> i64 {
    const EDGES: &[i64] = &[0, 1, -1, i64::MAX, i64::MIN, 1 << 31, -(1 << 53), 4_294_967_296];
    if c.below(2) == 0 {
        EDGES[c.below(EDGES.len())]
    } else {
        c.u64() as i64
    }
}

fn datetime(c: &mut Choices<'_>) -> String {
    match c.below(3) {
        0 => "20240420T12:00:00Z".to_string(),
        1 => format!(
            "{:04}{:02}{:02}T{:02}:{:02}:{:02}Z",
            1970 + c.below(100),
            1 + c.below(12),
            1 + c.below(28),
            c.below(24),
            c.below(60),
            c.below(60)
        ),
        _ => string(c),
    }
}

/// A value of at most `depth` levels below this one.
pub fn value(c: &mut Choices<'_>, depth: usize) -> Value {
    let kinds = if depth == 0 || c.is_empty() { 7 } else { 9 };
    match c.below(kinds) {
        0 => Value::Nil,
        1 | 2 => Value::String(string(c)),
        3 => Value::Int(int(c)),
        4 => Value::Float(float(c)),
        5 => Value::Bool(c.byte() & 1 == 1),
        6 => Value::DateTime(datetime(c)),
        7 => Value::Array((0..c.below(5)).map(|_| value(c, depth - 1)).collect()),
        _ => Value::Struct((0..c.below(5)).map(|_| (string(c), value(c, depth - 1))).collect()),
    }
}

/// Now and then (one value in 16) `v` wrapped in a long chain of one-item
/// containers, 100 to 269 levels: both decoders' nesting limits are in
/// this range.
pub fn deepen(c: &mut Choices<'_>, v: Value) -> Value {
    if c.below(16) != 0 {
        return v;
    }
    let n = 100 + c.below(170);
    let mut v = v;
    for i in 0..n {
        v = if (i + n) % 3 == 0 { Value::Struct(vec![(string(c), v)]) } else { Value::Array(vec![v]) };
    }
    v
}

/// Levels of `<value>` elements: 1 for a scalar (XML-RPC's measure).
pub fn value_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
        Value::Struct(members) => 1 + members.iter().map(|(_, v)| value_depth(v)).max().unwrap_or(0),
        _ => 1,
    }
}

/// Levels of containers: 0 for a scalar (serde_json's measure).
pub fn container_depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(container_depth).max().unwrap_or(0),
        Value::Struct(members) => 1 + members.iter().map(|(_, v)| container_depth(v)).max().unwrap_or(0),
        _ => 0,
    }
}

/// What an XML-RPC round trip documents: ints travel as untyped strings,
/// datetimes are trimmed and normalised when they parse.
pub fn xml_view(v: &Value) -> Value {
    match v {
        Value::Int(i) => Value::String(i.to_string()),
        Value::DateTime(d) => {
            let t = d.trim();
            Value::DateTime(xenapi::datetime::normalise(t).unwrap_or_else(|| t.to_string()))
        }
        Value::Array(a) => Value::Array(a.iter().map(xml_view).collect()),
        Value::Struct(m) => Value::Struct(m.iter().map(|(k, v)| (k.clone(), xml_view(v))).collect()),
        other => other.clone(),
    }
}

/// What a JSON-RPC round trip documents: datetimes and non-finite floats
/// become strings.
pub fn json_view(v: &Value) -> Value {
    match v {
        Value::DateTime(d) => Value::String(d.clone()),
        Value::Float(f) if f.is_nan() => Value::str("NaN"),
        Value::Float(f) if f.is_infinite() => Value::str(if *f > 0.0 { "+Infinity" } else { "-Infinity" }),
        Value::Array(a) => Value::Array(a.iter().map(json_view).collect()),
        Value::Struct(m) => Value::Struct(m.iter().map(|(k, v)| (k.clone(), json_view(v))).collect()),
        other => other.clone(),
    }
}

/// Equality where NaN equals NaN and `0.0` differs from `-0.0`.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, a), (kb, b))| ka == kb && same(a, b))
        }
        _ => a == b,
    }
}

/// [`same`] for responses.
pub fn same_response(a: &Response, b: &Response) -> bool {
    match (a, b) {
        (Response::Success(x), Response::Success(y)) => same(x, y),
        (Response::Failure(x), Response::Failure(y)) => x == y,
        _ => false,
    }
}

/// A short rendering for messages.
pub fn brief(v: &impl std::fmt::Debug) -> String {
    let s = format!("{v:?}");
    if s.len() > 160 {
        let cut = (0..=160).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
        format!("{}...", &s[..cut])
    } else {
        s
    }
}
