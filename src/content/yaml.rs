//! Front matter YAML into a `serde_yaml::Value`, with a bound on what the
//! text may expand to.
//!
//! serde_yaml 0.9 limits nesting (128 levels) and alias jumps (100 per event
//! of the document), but an alias of a large anchored list, repeated, still
//! builds a value thousands of times the size of the file ("billion laughs"):
//! a few hundred kilobytes of YAML can take gigabytes. Without aliases a
//! value is never much larger than its text, so the value is built here
//! against a budget proportional to the text, and a document that exceeds it
//! is an error instead of an out-of-memory kill.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_yaml::value::{Tag, TaggedValue};
use serde_yaml::{Mapping, Value};

/// What a value may cost per byte of its text (each node costs one, each
/// string its length): comfortably above anything written out by hand.
const COST_PER_BYTE: usize = 4;
/// Headroom for tiny documents.
const BASE_COST: usize = 4096;

/// The message of a document that expands beyond its budget.
pub const TOO_LARGE: &str = "the front matter expands to far more than its own size (YAML aliases `*name` repeating an anchored `&name` value?); write the values out instead";

/// Parses YAML text into a value, within the budget.
pub fn parse(text: &str) -> Result<Value, serde_yaml::Error> {
    let budget = Cell::new(text.len().saturating_mul(COST_PER_BYTE) + BASE_COST);
    Budget(&budget).deserialize(serde_yaml::Deserializer::from_str(text))
}

/// Builds a value while spending from a shared budget.
#[derive(Clone, Copy)]
struct Budget<'b>(&'b Cell<usize>);

impl Budget<'_> {
    fn spend<E: de::Error>(self, cost: usize) -> Result<(), E> {
        match self.0.get().checked_sub(cost) {
            Some(left) => {
                self.0.set(left);
                Ok(())
            }
            None => Err(E::custom(TOO_LARGE)),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budget<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budget<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        self.spend(1)?;
        Ok(Value::Bool(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        self.spend(1)?;
        Ok(Value::Number(i.into()))
    }

    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        self.spend(1)?;
        Ok(Value::Number(u.into()))
    }

    fn visit_f64<E: de::Error>(self, f: f64) -> Result<Value, E> {
        self.spend(1)?;
        Ok(Value::Number(f.into()))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.spend(1 + s.len())?;
        Ok(Value::String(s.to_owned()))
    }

    fn visit_string<E: de::Error>(self, s: String) -> Result<Value, E> {
        self.spend(1 + s.len())?;
        Ok(Value::String(s))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.spend(1)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.spend(1)?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Sequence(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.spend(1)?;
        let mut mapping = Mapping::new();
        while let Some(key) = map.next_key_seed(self)? {
            // As serde_yaml's own Value does: a key twice is a mistake.
            if mapping.contains_key(&key) {
                let shown = match &key {
                    Value::String(s) => format!(" with key {s:?}"),
                    Value::Number(n) => format!(" with key {n}"),
                    Value::Bool(b) => format!(" with key `{b}`"),
                    _ => String::new(),
                };
                return Err(de::Error::custom(format!("duplicate entry{shown}")));
            }
            let value = map.next_value_seed(self)?;
            mapping.insert(key, value);
        }
        Ok(Value::Mapping(mapping))
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        use de::VariantAccess;
        // serde_yaml hands a tagged value (`!tag value`) over as an enum.
        let (tag, contents): (String, _) = data.variant()?;
        let value = contents.newtype_variant_seed(self)?;
        Ok(Value::Tagged(Box::new(TaggedValue {
            tag: Tag::new(tag),
            value,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_serde_yaml() {
        let text = "title: \"T\"\nn: 3\nf: 1.5\nneg: -2\nb: true\nnil: ~\nlist: [a, {x: 1}]\ntagged: !x y\nbig: 1e400\n";
        let ours = parse(text).unwrap();
        let theirs: Value = serde_yaml::from_str(text).unwrap();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn duplicate_keys_are_errors_with_a_place() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert!(
            e.to_string().contains("duplicate entry with key \"a\""),
            "{e}"
        );
        assert!(e.location().is_some());
    }

    #[test]
    fn refuses_an_alias_bomb_quickly() {
        // 1,000 strings anchored once, then aliased 20,000 times: 20 million
        // strings from 100 KB of text.
        let mut text = String::from("a: &a [");
        text.push_str(&vec!["xxxxxxxx"; 1000].join(", "));
        text.push_str("]\nb: [");
        text.push_str(&vec!["*a"; 20_000].join(", "));
        text.push_str("]\n");
        let started = std::time::Instant::now();
        let e = parse(&text).unwrap_err();
        assert!(e.to_string().contains("expands to far more"), "{e}");
        assert!(started.elapsed().as_secs() < 10);
    }

    #[test]
    fn a_few_aliases_are_fine() {
        let v = parse("a: &a [x, y]\nb: *a\n").unwrap();
        assert_eq!(v["b"], v["a"]);
    }
}
