//! xe's record blocks, byte for byte (xen-api `Cli_printer.multi_line_record`):
//! width = 4 + longest key; the first key left-aligned, every other key
//! right-aligned; `key: value`; two empty lines after every record.

use crate::facts::Access;

/// One printed field: the key with its marker, the text and a typed JSON value.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// CLI field name, e.g. `name-label`.
    pub name: String,
    /// Printed key, e.g. `name-label ( RW)` or `ha-always-run ( RW) [DEPRECATED]`.
    pub key: String,
    pub text: String,
    pub json: serde_json::Value,
}

impl Field {
    pub fn new(name: &str, access: Access, deprecated: bool, text: String, json: serde_json::Value) -> Field {
        Field { name: name.to_string(), key: field_key(name, access, deprecated), text, json }
    }

    /// A field printed without a marker (help records, listings of our own).
    pub fn plain(key: &str, text: String) -> Field {
        Field { name: key.to_string(), key: key.to_string(), json: serde_json::Value::String(text.clone()), text }
    }
}

/// One record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub fields: Vec<Field>,
}

impl Record {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.fields.iter().map(|f| (f.name.clone(), f.json.clone())).collect())
    }
}

/// The printed key of a field: `name ( RW)`, with ` [DEPRECATED]` after a deprecated one.
pub fn field_key(name: &str, access: Access, deprecated: bool) -> String {
    const DEPRECATED: &str = " [DEPRECATED]";
    let marker = access.marker();
    let mut key = String::with_capacity(name.len() + 1 + marker.len() + DEPRECATED.len());
    key.push_str(name);
    key.push(' ');
    key.push_str(marker);
    if deprecated {
        key.push_str(DEPRECATED);
    }
    key
}

/// The width of a record block's key column: 4 + the longest key, in characters.
pub fn key_width<'a>(keys: impl IntoIterator<Item = &'a str>) -> usize {
    4 + keys.into_iter().map(|k| k.chars().count()).max().unwrap_or(0)
}

/// Appends one `key: text` line of a record block: the first key left-aligned
/// in the key column, every other right-aligned.
pub fn push_line(out: &mut String, first: bool, key: &str, width: usize, text: &str) {
    push_padded(out, first, key, width.saturating_sub(key.chars().count()), text);
}

/// Like [`push_line`] with the key's padding to the column width already known.
pub fn push_padded(out: &mut String, first: bool, key: &str, pad: usize, text: &str) {
    if !first {
        push_spaces(out, pad);
    }
    out.push_str(key);
    if first {
        push_spaces(out, pad);
    }
    out.push_str(": ");
    out.push_str(text);
    out.push('\n');
}

fn push_spaces(out: &mut String, n: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = n;
    while left > 0 {
        let k = left.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        left -= k;
    }
}

/// Ends a record block: two empty lines.
pub fn end_block(out: &mut String) {
    out.push_str("\n\n");
}

/// Appends one record block to `out`. A record without fields is xe's
/// empty line followed by the block's two.
pub fn render_record(rec: &Record, out: &mut String) {
    if rec.fields.is_empty() {
        out.push('\n');
    }
    let width = key_width(rec.fields.iter().map(|f| f.key.as_str()));
    for (i, f) in rec.fields.iter().enumerate() {
        push_line(out, i == 0, &f.key, width, &f.text);
    }
    end_block(out);
}

/// Renders records as an aligned table fitted to the terminal (our `--table`).
pub fn render_table(records: &[Record]) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    let mut headers: Vec<&str> = Vec::new();
    for r in records {
        for f in &r.fields {
            if !headers.contains(&f.name.as_str()) {
                headers.push(&f.name);
            }
        }
    }
    table.set_header(headers.clone());
    for r in records {
        let row: Vec<String> = headers
            .iter()
            .map(|h| r.fields.iter().find(|f| f.name == *h).map(|f| f.text.clone()).unwrap_or_default())
            .collect();
        table.add_row(row);
    }
    format!("{table}\n")
}

/// The record `xe help <command>` prints: xe pads its keys (20 columns for
/// the first, 16 for the others) so that the block lines up.
pub fn help_record(name: &str, reqd: &str, optn: &str, description: &str) -> Record {
    Record {
        fields: vec![
            Field::plain(&format!("{:<20}", "command name"), name.to_string()),
            Field::plain(&format!("{:<16}", "reqd params"), reqd.to_string()),
            Field::plain(&format!("{:<16}", "optional params"), optn.to_string()),
            Field::plain(&format!("{:<16}", "description"), description.to_string()),
        ],
    }
}

/// Record blocks laid out one field at a time, for a listing whose records
/// all have the same keys: what [`render_record`] writes for each of them,
/// without building the records first.
pub struct Blocks {
    keys: Vec<String>,
    pads: Vec<usize>,
    next: usize,
    out: String,
}

impl Blocks {
    /// Blocks with these printed keys, in order.
    pub fn new(keys: Vec<String>) -> Blocks {
        let width = key_width(keys.iter().map(String::as_str));
        let pads = keys.iter().map(|k| width - k.chars().count()).collect();
        Blocks { keys, pads, next: 0, out: String::new() }
    }

    /// The text of the record's next field.
    pub fn field(&mut self, text: &str) {
        let i = self.next;
        push_padded(&mut self.out, i == 0, &self.keys[i], self.pads[i], text);
        self.next += 1;
    }

    /// Ends the record (an empty one is xe's lone empty line, then the block's two).
    pub fn end(&mut self) {
        if self.keys.is_empty() {
            self.out.push('\n');
        }
        end_block(&mut self.out);
        self.next = 0;
    }

    /// How much text is waiting.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether no text is waiting.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// The text laid out so far, leaving none behind.
    pub fn take(&mut self) -> String {
        let room = self.out.capacity();
        std::mem::replace(&mut self.out, String::with_capacity(room))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_xe() {
        let rec = Record {
            fields: vec![
                Field::new("uuid", Access::Ro, false, "5d1e".into(), serde_json::json!("5d1e")),
                Field::new("name-label", Access::Rw, false, "db,01".into(), serde_json::json!("db,01")),
                Field::new("tags", Access::Srw, false, "prod, eu".into(), serde_json::json!(["prod", "eu"])),
                Field::new("ha-always-run", Access::Rw, true, "false".into(), serde_json::json!(false)),
            ],
        };
        let mut s = String::new();
        render_record(&rec, &mut s);
        assert_eq!(
            s,
            "uuid ( RO)                          : 5d1e\n                    name-label ( RW): db,01\n                          tags (SRW): prod, eu\n    ha-always-run ( RW) [DEPRECATED]: false\n\n\n"
        );
    }

    #[test]
    fn empty_value_keeps_the_space() {
        let rec = Record {
            fields: vec![Field::new("name-description", Access::Rw, false, String::new(), serde_json::json!(""))],
        };
        let mut s = String::new();
        render_record(&rec, &mut s);
        assert_eq!(s, "name-description ( RW)    : \n\n\n");
    }
}
