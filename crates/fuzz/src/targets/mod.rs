//! The fuzz targets: each reads one input, checks its properties, and says
//! which path it took (a feature; inputs with a new one join the corpus).

mod argv;
mod calls;
mod dotxe;
mod jsonrpc;
mod roundtrip;
mod sim;
mod xmlrpc;

use crate::rng::fnv;

/// One input's outcome: a property held (`Ok(feature)`) or not (`Err(why)`).
pub type Outcome = Result<u64, String>;

pub trait Target {
    fn name(&self) -> &'static str;

    /// The inputs the run starts from.
    fn seeds(&mut self) -> Vec<Vec<u8>>;

    /// Tokens of the target's grammar, for the mutator.
    fn dictionary(&self) -> Vec<Vec<u8>>;

    /// Runs one input: a panic or an `Err` is a finding.
    fn run(&mut self, input: &[u8]) -> Outcome;

    /// Whether a slow input is a finding (a decoder's possible quadratic
    /// case) or only reported (the simulator, whose calls may wait).
    fn slow_is_finding(&self) -> bool {
        true
    }

    /// Starts afresh after a panic (state the panic may have left half done).
    fn reset(&mut self) {}

    /// Runs every check on every input. A run spreads its costliest checks
    /// over the inputs instead; replays (and the regression test) are thorough.
    fn thorough(&mut self) {}
}

/// Every target, in the order a full run takes them.
pub const NAMES: &[&str] =
    &["xmlrpc-response", "xmlrpc-call", "jsonrpc-value", "jsonrpc-stream", "roundtrip", "argv", "dotxe", "sim-request"];

/// The target called `name`.
pub fn target(name: &str) -> Option<Box<dyn Target>> {
    Some(match name {
        "xmlrpc-response" => Box::new(xmlrpc::Decoder::response()),
        "xmlrpc-call" => Box::new(xmlrpc::Decoder::call()),
        "jsonrpc-value" => Box::new(jsonrpc::ValueDecoders),
        "jsonrpc-stream" => Box::new(jsonrpc::Streaming::default()),
        "roundtrip" => Box::new(roundtrip::RoundTrip),
        "argv" => Box::new(argv::Argv::default()),
        "dotxe" => Box::new(dotxe::DotXe),
        "sim-request" => Box::new(sim::SimRequest::new()),
        _ => return None,
    })
}

/// A feature from a decoder's result: success and the value's shape, or
/// the error's wording without its numbers (offsets, depths).
pub fn feature<T, E: std::fmt::Display>(tag: &str, r: &Result<T, E>, shape: impl Fn(&T) -> String) -> u64 {
    let text = match r {
        Ok(v) => format!("{tag} ok {}", shape(v)),
        Err(e) => {
            let msg: String = e.to_string().chars().filter(|c| !c.is_ascii_digit()).take(48).collect();
            format!("{tag} err {msg}")
        }
    };
    fnv(text.as_bytes())
}

/// A value's outline: its kinds down to two levels.
pub fn shape(v: &xenapi::Value) -> String {
    use xenapi::Value;
    match v {
        Value::Array(items) => {
            format!("[{}]", items.iter().take(3).map(|i| i.kind()).collect::<Vec<_>>().join(","))
        }
        Value::Struct(members) => {
            format!("{{{}}}", members.iter().take(3).map(|(_, v)| v.kind()).collect::<Vec<_>>().join(","))
        }
        other => other.kind().to_string(),
    }
}

/// Wire documents of random values, as seeds for the decoders.
pub fn encoded_values(count: usize, seed: u64, encode: impl Fn(&xenapi::Value) -> String) -> Vec<Vec<u8>> {
    let mut rng = crate::rng::Rng::new(seed);
    (0..count)
        .map(|_| {
            let mut bytes = vec![0u8; rng.between(8, 200)];
            rng.fill(&mut bytes);
            let mut choices = crate::values::Choices::new(&bytes);
            let v = crate::values::value(&mut choices, 4);
            let v = crate::values::deepen(&mut choices, v);
            encode(&v).into_bytes()
        })
        .collect()
}

/// Dictionary entries from text tokens.
pub fn tokens(list: &[&str]) -> Vec<Vec<u8>> {
    list.iter().map(|t| t.as_bytes().to_vec()).collect()
}
