//! xapi's query language for `get_all_records_where`:
//! `field "power_state" = "Running" and not (field "is_a_template" = "true")`.

use xenapi::Value;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    True,
    False,
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Eq(Operand, Operand),
}

/// One side of an `=`.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Field(String),
    Literal(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Word(String),
    Eq,
    Open,
    Close,
}

fn lex(s: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '=' => {
                chars.next();
                out.push(Token::Eq);
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => text.push(chars.next().ok_or("unterminated string")?),
                        Some(ch) => text.push(ch),
                        None => return Err("unterminated string".into()),
                    }
                }
                out.push(Token::Str(text));
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut w = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_alphanumeric() || ch == '_' {
                        w.push(ch);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(w.to_ascii_lowercase()));
            }
            other => return Err(format!("unexpected character '{other}'")),
        }
    }
    Ok(out)
}

/// Parses an expression; the error says what was wrong.
pub fn parse(s: &str) -> Result<Expr, String> {
    let tokens = lex(s)?;
    let mut p = Parser { tokens, pos: 0 };
    let e = p.or()?;
    if p.pos != p.tokens.len() {
        return Err("trailing input".into());
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Word(w)) if w == "not" => {
                self.pos += 1;
                Ok(Expr::Not(Box::new(self.unary()?)))
            }
            Some(Token::Word(w)) if w == "true" => {
                self.pos += 1;
                Ok(Expr::True)
            }
            Some(Token::Word(w)) if w == "false" => {
                self.pos += 1;
                Ok(Expr::False)
            }
            Some(Token::Open) => {
                self.pos += 1;
                let e = self.or()?;
                if self.tokens.get(self.pos) != Some(&Token::Close) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(e)
            }
            _ => {
                let a = self.operand()?;
                if self.tokens.get(self.pos) != Some(&Token::Eq) {
                    return Err("expected '='".into());
                }
                self.pos += 1;
                let b = self.operand()?;
                Ok(Expr::Eq(a, b))
            }
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        match self.tokens.get(self.pos).cloned() {
            Some(Token::Word(w)) if w == "field" => match self.tokens.get(self.pos + 1).cloned() {
                Some(Token::Str(name)) => {
                    self.pos += 2;
                    Ok(Operand::Field(name))
                }
                _ => Err("expected a quoted field name after 'field'".into()),
            },
            Some(Token::Str(s)) => {
                self.pos += 1;
                Ok(Operand::Literal(s))
            }
            _ => Err("expected 'field \"name\"' or a quoted literal".into()),
        }
    }
}

/// The text a field is compared as: scalars plainly, collections in xapi's
/// s-expression-like form.
pub fn compare_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Float(f) => f.to_string(),
        other => other.to_string(),
    }
}

impl Expr {
    /// Evaluates against a record, reading fields through `lookup`.
    pub fn eval<'a>(&self, lookup: &dyn Fn(&str) -> Option<&'a Value>) -> bool {
        match self {
            Expr::True => true,
            Expr::False => false,
            Expr::Not(e) => !e.eval(lookup),
            Expr::And(a, b) => a.eval(lookup) && b.eval(lookup),
            Expr::Or(a, b) => a.eval(lookup) || b.eval(lookup),
            Expr::Eq(a, b) => {
                let side = |o: &Operand| match o {
                    Operand::Literal(s) => Some(s.clone()),
                    Operand::Field(f) => lookup(f).map(compare_text),
                };
                match (side(a), side(b)) {
                    (Some(x), Some(y)) => x == y,
                    _ => false,
                }
            }
        }
    }
}

impl Expr {
    /// Evaluates against a record whose fields are read as text through
    /// `lookup`, where reading an unknown field is an error (`None`), as in
    /// xapi's message store: `and`/`or` evaluate left to right and stop early,
    /// so an unknown field only matters when it is reached.
    pub fn eval_strict(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<bool> {
        match self {
            Expr::True => Some(true),
            Expr::False => Some(false),
            Expr::Not(e) => e.eval_strict(lookup).map(|b| !b),
            Expr::And(a, b) => match a.eval_strict(lookup)? {
                true => b.eval_strict(lookup),
                false => Some(false),
            },
            Expr::Or(a, b) => match a.eval_strict(lookup)? {
                true => Some(true),
                false => b.eval_strict(lookup),
            },
            Expr::Eq(a, b) => {
                let side = |o: &Operand| match o {
                    Operand::Literal(s) => Some(s.clone()),
                    Operand::Field(f) => lookup(f),
                };
                Some(side(a)? == side(b)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_evaluates() {
        let e = parse(r#"field "power_state" = "Running" and not (field "is_a_template" = "true")"#).unwrap();
        let ps = Value::str("Running");
        let t = Value::Bool(false);
        let look = |n: &str| match n {
            "power_state" => Some(&ps),
            "is_a_template" => Some(&t),
            _ => None,
        };
        assert!(e.eval(&look));
        assert!(parse("true").unwrap().eval(&look));
        assert!(!parse(r#""x" = field "nope""#).unwrap().eval(&look));
        assert!(parse(r#"field "a" ="#).is_err());
        assert!(parse("field").is_err());
        assert!(parse("(true").is_err());
    }

    #[test]
    fn strict_evaluation_fails_on_unknown_fields_it_reaches() {
        let look = |n: &str| (n == "name").then(|| "HA_POOL_OVERCOMMITTED".to_string());
        let e = |s: &str| parse(s).unwrap().eval_strict(&look);
        assert_eq!(e(r#"field "name" = "HA_POOL_OVERCOMMITTED""#), Some(true));
        assert_eq!(e(r#"not (field "nope" = "x")"#), None);
        assert_eq!(e(r#"field "name" = "x" and field "nope" = "x""#), Some(false));
        assert_eq!(e(r#"field "name" = "HA_POOL_OVERCOMMITTED" or field "nope" = "x""#), Some(true));
        assert_eq!(e(r#"field "nope" = "x" or true"#), None);
    }
}
