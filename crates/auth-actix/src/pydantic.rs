//! Request values read as FastAPI reads them with pydantic v1 (the version under FastAPI Users
//! 10 and Fractal Server 1.x): the lax conversions pydantic makes (`"true"` and `1` are
//! booleans, `"3"` and `3.7` are integers, numbers are strings, `[]` is a dict) and its error
//! items (`loc` down to the field or list index, `type` such as `type_error.bool`, every
//! missing field), instead of serde's strict typing and first-error-only messages.
//!
//! [`from_value`] deserializes any `DeserializeOwned` type through a serde `Deserializer` over a
//! [`serde_json::Value`] that converts where the target type asks (`deserialize_bool` given a
//! string, …), so the body types stay plain serde structs. serde has no such deserializer and
//! no crate emulates pydantic's rules; they are the wire behaviour this crate reproduces.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Error as _, IntoDeserializer, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::ValidationItem;

/// How many errors one value reports at most (pydantic reports all; a bound keeps a hostile
/// body from costing one pass per field it names).
const MAX_ERRORS: usize = 32;

/// How many times one value is read at most (each pass past an error fills one place).
const MAX_PASSES: usize = 64;

/// How many values all the passes over one body may copy and read together: a body of `n`
/// values is read at most `MAX_WORK / n` times (a 64 KiB body of 10,000 values 5 times, a
/// body of a few dozen values up to `MAX_PASSES`), and the errors found by then are answered.
const MAX_WORK: usize = 50_000;

/// Deserializes `T` from `value` with pydantic v1's conversions. `root` is the first part of
/// every item's `loc` (`"body"`, `"query"`).
///
/// # Errors
/// The field errors pydantic would report, each located at `[root, field, …]` and in the
/// order of the fields' declarations: `value_error.missing` for each missing field,
/// `type_error.*` for values of the wrong type, `value_error.extra` for unknown fields of a
/// `deny_unknown_fields` type. At most 32, and fewer when reading them all would cost more
/// than reading the body a few times over (each error after the first costs one more reading).
pub fn from_value<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, Vec<ValidationItem>> {
    // After an error, that place is filled with a stand-in and the value read again, so that
    // the next error is found too (pydantic validates every field).
    let mut stand_ins = Trie::default();
    let mut errors: Vec<LaxError> = Vec::new();
    // Each pass copies the whole body: the passes are bounded by its size.
    let passes = (MAX_WORK / count_values(&value).max(1)).clamp(1, MAX_PASSES);
    for _ in 0..passes {
        let top = Lax {
            value: Some(value.clone()),
            trie: Some(&stand_ins),
        };
        let e = match T::deserialize(top) {
            Ok(t) if errors.is_empty() => return Ok(t),
            Ok(_) => break,
            Err(e) => e,
        };
        let path = e.path();
        if stand_ins.get(&path).is_some_and(|t| t.here.is_some()) {
            break;
        }
        let kind = e.kind;
        if kind != Kind::UnderStandIn {
            errors.push(e);
            if errors.len() >= MAX_ERRORS {
                break;
            }
        }
        stand_ins.insert(&path, kind);
    }
    errors.sort_by_key(LaxError::rank);
    Err(errors.iter().map(|e| e.item(root)).collect())
}

/// How many JSON values `value` holds, itself included.
fn count_values(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count_values).sum(),
        Value::Object(map) => map.values().map(count_values).sum(),
        _ => 0,
    }
}

/// One step of a `loc`: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Loc {
    Key(String),
    Index(usize),
}

/// The places filled with stand-ins, as a tree of `loc` steps (each value's place is found
/// from its parent's in one lookup), with the error each place gave.
#[derive(Debug, Default)]
struct Trie {
    here: Option<Kind>,
    children: BTreeMap<Loc, Trie>,
}

impl Trie {
    fn get(&self, path: &[Loc]) -> Option<&Trie> {
        path.iter().try_fold(self, |t, step| t.children.get(step))
    }

    fn insert(&mut self, path: &[Loc], kind: Kind) {
        let node = path
            .iter()
            .fold(self, |t, step| t.children.entry(step.clone()).or_default());
        node.here = Some(kind);
    }
}

/// pydantic v1's error types, each with its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Missing,
    Extra,
    NoneNotAllowed,
    Bool,
    Integer,
    Float,
    Str,
    Dict,
    List,
    /// Not one of an enumeration's values (the message names them).
    Enum,
    /// A message of the type's own validation (`value_error`).
    Value,
    /// An error of a stand-in's own fields: not reported, and reading stops there.
    UnderStandIn,
}

impl Kind {
    fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            Kind::Missing => ("value_error.missing", "field required"),
            Kind::Extra => ("value_error.extra", "extra fields not permitted"),
            Kind::NoneNotAllowed => (
                "type_error.none.not_allowed",
                "none is not an allowed value",
            ),
            Kind::Bool => ("type_error.bool", "value could not be parsed to a boolean"),
            Kind::Integer => ("type_error.integer", "value is not a valid integer"),
            Kind::Float => ("type_error.float", "value is not a valid float"),
            Kind::Str => ("type_error.str", "str type expected"),
            Kind::Dict => ("type_error.dict", "value is not a valid dict"),
            Kind::List => ("type_error.list", "value is not a valid list"),
            Kind::Enum => ("type_error.enum", ""),
            Kind::Value | Kind::UnderStandIn => ("value_error", ""),
        }
    }

    /// The kind of a value serde expected, from its description (`"a boolean"`, `"i32"`).
    fn of_expected(expected: &str) -> Kind {
        let e = expected.to_ascii_lowercase();
        if e.contains("bool") {
            Kind::Bool
        } else if e.contains("float") || e == "f32" || e == "f64" {
            Kind::Float
        } else if e.contains("integer") || e.starts_with(['i', 'u']) && e[1..].parse::<u8>().is_ok()
        {
            Kind::Integer
        } else if e.contains("string") || e.contains("char") {
            Kind::Str
        } else if e.contains("map") || e.starts_with("struct") {
            Kind::Dict
        } else if e.contains("sequence") || e.contains("tuple") || e.contains("array") {
            Kind::List
        } else {
            Kind::Value
        }
    }
}

/// A deserialization error: what, and where, built step by step as it leaves each container
/// (innermost step first), with each step's rank among its container's declared fields.
#[derive(Debug)]
struct LaxError {
    steps: Vec<(Loc, usize)>,
    /// A field named by a struct's visitor (missing, unknown): the struct's own step for it.
    field: Option<String>,
    kind: Kind,
    message: String,
    /// pydantic's `ctx` of the item, where it has one.
    ctx: Option<Box<Value>>,
}

impl LaxError {
    fn new(kind: Kind) -> Self {
        Self {
            steps: Vec::new(),
            field: None,
            kind,
            message: String::new(),
            ctx: None,
        }
    }

    /// The error as it leaves a container: the step to the value it came from.
    fn under(mut self, step: Loc, fields: Option<&'static [&'static str]>) -> Self {
        let rank = rank_of(&step, fields);
        self.steps.push((step, rank));
        self
    }

    /// The error as it leaves a struct or map's visitor: a field it named becomes a step.
    fn of_fields(mut self, fields: Option<&'static [&'static str]>) -> Self {
        if let Some(field) = self.field.take() {
            self = self.under(Loc::Key(field), fields);
        }
        self
    }

    fn path(&self) -> Vec<Loc> {
        self.steps.iter().rev().map(|(l, _)| l.clone()).collect()
    }

    fn rank(&self) -> Vec<(usize, Loc)> {
        self.steps
            .iter()
            .rev()
            .map(|(l, r)| (*r, l.clone()))
            .collect()
    }

    fn item(&self, root: &str) -> ValidationItem {
        let (code, message) = self.kind.code_and_message();
        let msg = if matches!(self.kind, Kind::Value | Kind::Enum) {
            self.message.as_str()
        } else {
            message
        };
        let mut item = ValidationItem::new(&[root], msg, code);
        item.ctx = self.ctx.clone();
        for (part, _) in self.steps.iter().rev() {
            item.loc.push(match part {
                Loc::Key(k) => Value::from(k.as_str()),
                Loc::Index(i) => Value::from(*i),
            });
        }
        item
    }
}

/// Where a step falls among its container's declared fields (an index by its position).
fn rank_of(step: &Loc, fields: Option<&'static [&'static str]>) -> usize {
    match step {
        Loc::Index(i) => *i,
        Loc::Key(k) => fields
            .and_then(|f| f.iter().position(|name| name == k))
            .unwrap_or(usize::MAX),
    }
}

impl fmt::Display for LaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (code, message) = self.kind.code_and_message();
        write!(f, "{code}: {message}{}", self.message)
    }
}

impl std::error::Error for LaxError {}

impl de::Error for LaxError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        let message = msg.to_string();
        // Our types' own refusals (`JsonObject`'s, a `Patch`'s) keep their words.
        let kind = if message == "value is not a valid dict" {
            Kind::Dict
        } else {
            Kind::Value
        };
        Self {
            message,
            ..Self::new(kind)
        }
    }

    fn invalid_type(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        if unexpected == de::Unexpected::Unit || unexpected == de::Unexpected::Option {
            return Self::new(Kind::NoneNotAllowed);
        }
        match Kind::of_expected(&expected.to_string()) {
            Kind::Value => Self::custom(format_args!(
                "invalid type: {unexpected}, expected {expected}"
            )),
            kind => Self::new(kind),
        }
    }

    fn invalid_value(unexpected: de::Unexpected<'_>, expected: &dyn de::Expected) -> Self {
        match Kind::of_expected(&expected.to_string()) {
            Kind::Value => Self::custom(format_args!(
                "invalid value: {unexpected}, expected {expected}"
            )),
            kind => Self::new(kind),
        }
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let _ = variant;
        let permitted: Vec<String> = expected.iter().map(|v| format!("'{v}'")).collect();
        Self {
            message: format!(
                "value is not a valid enumeration member; permitted: {}",
                permitted.join(", ")
            ),
            ctx: Some(Box::new(serde_json::json!({ "enum_values": expected }))),
            ..Self::new(Kind::Enum)
        }
    }

    fn missing_field(field: &'static str) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(Kind::Missing)
        }
    }

    fn unknown_field(field: &str, _expected: &'static [&'static str]) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(Kind::Extra)
        }
    }
}

/// A value being read (`None`: a stand-in, a place that already gave an error) and the
/// stand-ins below it.
struct Lax<'s> {
    value: Option<Value>,
    trie: Option<&'s Trie>,
}

impl<'s> Lax<'s> {
    fn child(trie: Option<&'s Trie>, step: &Loc, value: Option<Value>) -> Lax<'s> {
        let trie = trie.and_then(|t| t.children.get(step));
        let value = if trie.is_some_and(|t| t.here.is_some()) {
            None
        } else {
            value
        };
        Lax { value, trie }
    }

    /// The wrong type, or `null` where none is allowed.
    fn wrong(&self, kind: Kind) -> LaxError {
        match self.value {
            Some(Value::Null) => LaxError::new(Kind::NoneNotAllowed),
            _ => LaxError::new(kind),
        }
    }

    fn visit_object<'de, V: Visitor<'de>>(
        trie: Option<&'s Trie>,
        entries: Vec<(String, Value)>,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        // An unknown field already reported is left out; stand-ins of missing fields join.
        let mut all: Vec<(String, Option<Value>)> = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            let below = trie.and_then(|t| t.children.get(&Loc::Key(k.clone())));
            if below.is_some_and(|t| t.here == Some(Kind::Extra)) {
                continue;
            }
            all.push((k, Some(v)));
        }
        if let Some(t) = trie {
            for (step, below) in &t.children {
                if let Loc::Key(k) = step
                    && below.here.is_some_and(|kind| kind != Kind::Extra)
                    && !all.iter().any(|(present, _)| present == k)
                {
                    all.push((k.clone(), None));
                }
            }
        }
        let access = LaxMap {
            trie,
            fields,
            entries: all.into_iter(),
            next: None,
        };
        visitor
            .visit_map(access)
            .map_err(|e: LaxError| e.of_fields(fields))
    }

    fn visit_array<'de, V: Visitor<'de>>(
        trie: Option<&'s Trie>,
        items: Vec<Value>,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        let access = LaxSeq {
            trie,
            items: items.into_iter().enumerate(),
        };
        visitor.visit_seq(access)
    }

    /// A stand-in read as a struct or map: an empty one. A field it then lacks is not
    /// reported ([`Kind::UnderStandIn`] at that field): the next pass fills it with a
    /// stand-in too.
    fn visit_stand_in_map<'de, V: Visitor<'de>>(
        self,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        Self::visit_object(self.trie, Vec::new(), fields, visitor).map_err(|e| LaxError {
            steps: e.steps,
            ..LaxError::new(Kind::UnderStandIn)
        })
    }

    fn read_map<'de, V: Visitor<'de>>(
        self,
        fields: Option<&'static [&'static str]>,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        let Lax { value, trie } = self;
        let entries = match value {
            None => {
                return Lax { value: None, trie }.visit_stand_in_map(fields, visitor);
            }
            Some(v) => dict_entries(v),
        };
        match entries {
            Ok(entries) => Self::visit_object(trie, entries, fields, visitor),
            Err(Value::Null) => Err(LaxError::new(Kind::NoneNotAllowed)),
            Err(_) => Err(LaxError::new(Kind::Dict)),
        }
    }
}

/// pydantic's `dict(v)`: an object, a list of `[key, value]` pairs (the last of a repeated key
/// kept; a number or boolean key as its text), or `""`. The value back when it is none of these.
fn dict_entries(value: Value) -> Result<Vec<(String, Value)>, Value> {
    match value {
        Value::Object(map) => Ok(map.into_iter().collect()),
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::Array(items) => {
            let pairs = items.iter().all(|pair| {
                matches!(
                    pair.as_array().map(Vec::as_slice),
                    Some([Value::String(_) | Value::Number(_) | Value::Bool(_), _])
                )
            });
            if !pairs {
                return Err(Value::Array(items));
            }
            let mut map = Map::new();
            for pair in items {
                if let Value::Array(mut kv) = pair {
                    let v = kv.pop().unwrap_or(Value::Null);
                    let key = match kv.pop() {
                        Some(Value::String(k)) => k,
                        Some(Value::Number(n)) => python_str(&n),
                        Some(Value::Bool(b)) => if b { "True" } else { "False" }.to_owned(),
                        _ => continue,
                    };
                    map.insert(key, v);
                }
            }
            Ok(map.into_iter().collect())
        }
        other => Err(other),
    }
}

/// Serializes a UTC time as Python's `datetime.isoformat()` writes it, as Fractal's responses
/// carry times (1.3's jobs, 2.x's groups): `2026-12-06T13:54:05.428203+00:00`, the microseconds
/// left out when zero. chrono's RFC 3339 form ends in `Z`, which Python's
/// `datetime.fromisoformat` reads only from 3.11 on. For `#[serde(serialize_with)]`.
///
/// # Errors
/// The serializer's.
pub fn isoformat<S: serde::Serializer>(
    time: &chrono::DateTime<chrono::Utc>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let seconds = time.format("%Y-%m-%dT%H:%M:%S");
    match time.timestamp_subsec_micros() {
        0 => s.serialize_str(&format!("{seconds}+00:00")),
        micros => s.serialize_str(&format!("{seconds}.{micros:06}+00:00")),
    }
}

/// [`isoformat`] of an optional time; `None` is `null`.
///
/// # Errors
/// The serializer's.
pub fn isoformat_option<S: serde::Serializer>(
    time: &Option<chrono::DateTime<chrono::Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(t) => isoformat(t, s),
        None => s.serialize_none(),
    }
}

/// pydantic's `int(v)` on a string: surrounding whitespace, a sign, digits with single
/// underscores between them.
fn python_int(s: &str) -> Option<i128> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return None;
    }
    let n: i128 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -n } else { n })
}

/// pydantic's `float(v)` on a string (surrounding whitespace; `nan`, `inf`, `infinity` in
/// any case, as Rust's parser reads them too).
fn python_float(s: &str) -> Option<f64> {
    s.trim().parse().ok()
}

/// Python's `str()` of a JSON number: `5`, `5.5`, `1.0`, `1e+20`; `-0` is `0`, and a float
/// beyond `f64` (`1e400`, read as text with serde_json's `arbitrary_precision`) is `inf`.
fn python_str(n: &Number) -> String {
    let text = n.to_string();
    if !text.contains(['.', 'e', 'E']) {
        // An integer, of any size: its digits, without the sign of a zero.
        return if text.trim_start_matches('-').bytes().all(|b| b == b'0') {
            "0".to_owned()
        } else {
            text
        };
    }
    let Some(f) = n.as_f64() else {
        return if text.starts_with('-') { "-inf" } else { "inf" }.to_owned();
    };
    if f == f.trunc() && f.abs() < 1e16 {
        return format!("{f:.1}");
    }
    // Rust's shortest round-trip digits switch to an exponent where Python's `repr` does
    // (below 1e-4, from 1e16); Python writes the exponent signed, with two digits at least.
    let debug = format!("{f:?}");
    match debug.split_once('e') {
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
        None => debug,
    }
}

macro_rules! integer {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
            let n: Option<i128> = match &self.value {
                None => Some(0),
                Some(Value::Bool(b)) => Some(i128::from(*b)),
                Some(Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                    (Some(i), _, _) => Some(i128::from(i)),
                    (_, Some(u), _) => Some(i128::from(u)),
                    // `int(0.7)` is 0: pydantic v1 truncates.
                    (_, _, Some(f)) if f.is_finite() => Some(f.trunc() as i128),
                    _ => None,
                },
                Some(Value::String(s)) => python_int(s),
                _ => None,
            };
            match n {
                Some(n) => match i64::try_from(n) {
                    Ok(i) => visitor.visit_i64(i),
                    Err(_) => match u64::try_from(n) {
                        Ok(u) => visitor.visit_u64(u),
                        Err(_) => Err(LaxError::new(Kind::Integer)),
                    },
                },
                None => Err(self.wrong(Kind::Integer)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Lax<'_> {
    type Error = LaxError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        let Lax { value, trie } = self;
        match value {
            None | Some(Value::Null) => visitor.visit_unit(),
            Some(Value::Bool(b)) => visitor.visit_bool(b),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
                (Some(u), _) => visitor.visit_u64(u),
                (_, Some(i)) => visitor.visit_i64(i),
                // A float, or an integer beyond 64 bits: handed on as `Number` holds it, so a
                // `Value` field keeps its digits where serde_json does (`arbitrary_precision`).
                _ => de::Deserializer::deserialize_any(n, visitor).map_err(LaxError::custom),
            },
            Some(Value::String(s)) => visitor.visit_string(s),
            Some(Value::Array(items)) => Lax::visit_array(trie, items, visitor),
            Some(Value::Object(map)) => {
                Lax::visit_object(trie, map.into_iter().collect(), None, visitor)
            }
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        let b = match &self.value {
            None => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(0.0) => Some(false),
                Some(1.0) => Some(true),
                _ => None,
            },
            Some(Value::String(s)) => match s.to_lowercase().as_str() {
                "0" | "off" | "f" | "false" | "n" | "no" => Some(false),
                "1" | "on" | "t" | "true" | "y" | "yes" => Some(true),
                _ => None,
            },
            _ => None,
        };
        match b {
            Some(b) => visitor.visit_bool(b),
            None => Err(self.wrong(Kind::Bool)),
        }
    }

    integer! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        let f = match &self.value {
            None => Some(0.0),
            Some(Value::Bool(b)) => Some(f64::from(u8::from(*b))),
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => python_float(s),
            _ => None,
        };
        match f {
            Some(f) => visitor.visit_f64(f),
            None => Err(self.wrong(Kind::Float)),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        // pydantic v1's `str` takes numbers (and booleans, an `int` in Python) as `str(v)`.
        match self.value {
            None => visitor.visit_string(String::new()),
            Some(Value::String(s)) => visitor.visit_string(s),
            Some(Value::Number(n)) => visitor.visit_string(python_str(&n)),
            Some(Value::Bool(b)) => visitor.visit_str(if b { "True" } else { "False" }),
            Some(Value::Null) => Err(LaxError::new(Kind::NoneNotAllowed)),
            Some(_) => Err(LaxError::new(Kind::Str)),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        match &self.value {
            None | Some(Value::Null) => visitor.visit_none(),
            Some(_) => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        match &self.value {
            None | Some(Value::Null) => visitor.visit_unit(),
            _ => Err(LaxError::custom("value is not none")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        let Lax { value, trie } = self;
        match value {
            None => Lax::visit_array(trie, Vec::new(), visitor),
            Some(Value::Array(items)) => Lax::visit_array(trie, items, visitor),
            Some(Value::Null) => Err(LaxError::new(Kind::NoneNotAllowed)),
            Some(_) => Err(LaxError::new(Kind::List)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.read_map(None, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        self.read_map(Some(fields), visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        match self.value {
            // A stand-in: the first variant, if it is a unit one.
            None => match variants.first() {
                Some(first) => visitor
                    .visit_enum((*first).into_deserializer())
                    .map_err(|_: LaxError| LaxError::new(Kind::UnderStandIn)),
                None => Err(LaxError::new(Kind::UnderStandIn)),
            },
            // A unit variant by its name: pydantic's `Enum` field.
            Some(Value::String(s)) => visitor.visit_enum(s.into_deserializer()),
            Some(Value::Null) => Err(LaxError::new(Kind::NoneNotAllowed)),
            Some(value) => de::Deserializer::deserialize_enum(value, name, variants, visitor)
                .map_err(LaxError::custom),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        visitor.visit_unit()
    }
}

struct LaxMap<'s> {
    trie: Option<&'s Trie>,
    fields: Option<&'static [&'static str]>,
    entries: std::vec::IntoIter<(String, Option<Value>)>,
    next: Option<(String, Option<Value>)>,
}

impl<'de> de::MapAccess<'de> for LaxMap<'_> {
    type Error = LaxError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, LaxError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let read = seed.deserialize(key.as_str().into_deserializer());
        self.next = Some((key, value));
        read.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, LaxError> {
        let (key, value) = self
            .next
            .take()
            .ok_or_else(|| LaxError::custom("a value asked before its key"))?;
        let step = Loc::Key(key);
        seed.deserialize(Lax::child(self.trie, &step, value))
            .map_err(|e| e.under(step, self.fields))
    }
}

struct LaxSeq<'s> {
    trie: Option<&'s Trie>,
    items: std::iter::Enumerate<std::vec::IntoIter<Value>>,
}

impl<'de> de::SeqAccess<'de> for LaxSeq<'_> {
    type Error = LaxError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, LaxError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, value)) => {
                let step = Loc::Index(i);
                seed.deserialize(Lax::child(self.trie, &step, Some(value)))
                    .map(Some)
                    .map_err(|e| e.under(step, None))
            }
        }
    }
}

/// Reads an object of string values (a query string, a form) with the same conversions and
/// items: `[("a", "1"), ("a", "2")]` keeps the last value of a repeated name, as Starlette's
/// `QueryParams` and `FormData` give FastAPI.
///
/// # Errors
/// As [`from_value`].
pub fn from_pairs<T: DeserializeOwned>(
    pairs: impl IntoIterator<Item = (String, String)>,
    root: &str,
) -> Result<T, Vec<ValidationItem>> {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert(k, Value::String(v));
    }
    from_value(Value::Object(map), root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Body {
        email: String,
        password: String,
        is_active: Option<bool>,
        order: Option<i32>,
        meta: Option<Map<String, Value>>,
        ids: Option<Vec<i32>>,
    }

    fn items(value: Value) -> Vec<(Value, String, String)> {
        from_value::<Body>(value, "body")
            .unwrap_err()
            .into_iter()
            .map(|i| (Value::from(i.loc), i.msg, i.kind))
            .collect()
    }

    #[test]
    fn pydantic_conversions() {
        let b: Body = from_value(
            json!({"email": 5, "password": 1.0, "is_active": "Yes", "order": "+3",
                   "meta": [], "ids": ["1", 2.9]}),
            "body",
        )
        .unwrap();
        assert_eq!(
            b,
            Body {
                email: "5".into(),
                password: "1.0".into(),
                is_active: Some(true),
                order: Some(3),
                meta: Some(Map::new()),
                ids: Some(vec![1, 2]),
            }
        );
        for (v, want) in [
            (json!(1), true),
            (json!(0), false),
            (json!("off"), false),
            (json!("T"), true),
        ] {
            let b: Body = from_value(
                json!({"email": "e", "password": "p", "is_active": v}),
                "body",
            )
            .unwrap();
            assert_eq!(b.is_active, Some(want));
        }
        let b: Body = from_value(
            json!({"email": true, "password": "p", "meta": [["a", 1]]}),
            "body",
        )
        .unwrap();
        assert_eq!(
            (b.email.as_str(), b.meta),
            ("True", Some(json!({"a": 1}).as_object().cloned().unwrap()))
        );
        assert_eq!(python_str(&Number::from_f64(1e20).unwrap()), "1e+20");
        assert_eq!(python_str(&Number::from(-0_i64)), "0");
        assert_eq!(python_str(&Number::from_f64(-0.0).unwrap()), "-0.0");
        assert_eq!(python_str(&Number::from_f64(2.5).unwrap()), "2.5");
        assert_eq!(python_str(&Number::from(u64::MAX)), "18446744073709551615");
        // As the server reads them (`arbitrary_precision`, which alone reads `1e400`): the
        // digits, or Python's infinity. (Without it, `-0` is read as the float `-0.0`.)
        if serde_json::from_str::<Value>("1e400").is_ok() {
            for (text, python) in [("-0", "0"), ("1e400", "inf"), ("-1e400", "-inf")] {
                let n: Number = serde_json::from_str(text).unwrap();
                assert_eq!(python_str(&n), python, "{text}");
            }
        }
        assert_eq!(python_str(&Number::from_f64(1e-5).unwrap()), "1e-05");
        assert_eq!(python_str(&Number::from_f64(1.5e-7).unwrap()), "1.5e-07");
        assert_eq!(python_int(" 1_000 "), Some(1000));
        assert_eq!(python_int("1__0"), None);
    }

    #[test]
    fn times_are_written_as_python_writes_them() {
        #[derive(serde::Serialize)]
        struct T(
            #[serde(serialize_with = "isoformat_option")] Option<chrono::DateTime<chrono::Utc>>,
        );
        let text = |t: Option<&str>| {
            let t = t.map(|t| {
                chrono::DateTime::parse_from_rfc3339(t)
                    .unwrap()
                    .with_timezone(&chrono::Utc)
            });
            serde_json::to_string(&T(t)).unwrap()
        };
        assert_eq!(
            text(Some("2026-12-06T13:54:05.428203Z")),
            r#""2026-12-06T13:54:05.428203+00:00""#
        );
        assert_eq!(
            text(Some("2026-12-06T13:54:05.000042Z")),
            r#""2026-12-06T13:54:05.000042+00:00""#
        );
        assert_eq!(
            text(Some("2026-12-06T13:54:05Z")),
            r#""2026-12-06T13:54:05+00:00""#
        );
        assert_eq!(text(None), "null");
    }

    #[test]
    fn every_error_is_located_and_typed() {
        assert_eq!(
            items(json!({})),
            vec![
                (
                    json!(["body", "email"]),
                    "field required".into(),
                    "value_error.missing".into()
                ),
                (
                    json!(["body", "password"]),
                    "field required".into(),
                    "value_error.missing".into()
                ),
            ]
        );
        assert_eq!(
            items(
                json!({"email": null, "password": [], "is_active": "maybe", "order": "1.5",
                         "meta": "x", "ids": [1, "x"]})
            ),
            vec![
                (
                    json!(["body", "email"]),
                    "none is not an allowed value".into(),
                    "type_error.none.not_allowed".into()
                ),
                (
                    json!(["body", "password"]),
                    "str type expected".into(),
                    "type_error.str".into()
                ),
                (
                    json!(["body", "is_active"]),
                    "value could not be parsed to a boolean".into(),
                    "type_error.bool".into()
                ),
                (
                    json!(["body", "order"]),
                    "value is not a valid integer".into(),
                    "type_error.integer".into()
                ),
                (
                    json!(["body", "meta"]),
                    "value is not a valid dict".into(),
                    "type_error.dict".into()
                ),
                (
                    json!(["body", "ids", 1]),
                    "value is not a valid integer".into(),
                    "type_error.integer".into()
                ),
            ]
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Strict {
        cache_dir: Option<String>,
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        workflowtask: Value,
        status: String,
    }

    #[test]
    fn unknown_fields_and_nested_models() {
        let e =
            from_value::<Strict>(json!({"password": "x", "inner": {"x": 1}}), "body").unwrap_err();
        let got: Vec<(Value, &str)> = e
            .iter()
            .map(|i| (Value::from(i.loc.clone()), i.kind.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    json!(["body", "inner", "workflowtask"]),
                    "value_error.missing"
                ),
                (json!(["body", "inner", "status"]), "value_error.missing"),
                (json!(["body", "password"]), "value_error.extra"),
            ]
        );
        // Every unknown field, and the fields after them (keys are read in sorted order).
        let e = from_value::<Strict>(json!({"a": 1, "b": 2, "cache_dir": []}), "body").unwrap_err();
        let got: Vec<(Value, &str)> = e
            .iter()
            .map(|i| (Value::from(i.loc.clone()), i.kind.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (json!(["body", "cache_dir"]), "type_error.str"),
                (json!(["body", "a"]), "value_error.extra"),
                (json!(["body", "b"]), "value_error.extra"),
            ]
        );
        // A big body is read few times: its errors past that are not collected (each pass
        // copies the whole body). 20,000 values: two passes, two items of the 40.
        let filler: Vec<Value> = (0..20_000).map(Value::from).collect();
        let inners: Vec<Value> = (0..20).map(|_| json!({})).collect();
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Many {
            inner: Vec<Inner>,
            filler: Vec<i64>,
        }
        let e = from_value::<Many>(json!({"inner": inners, "filler": filler}), "body").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        let e = from_value::<Many>(json!({"inner": inners, "filler": []}), "body").unwrap_err();
        assert_eq!(
            e.len(),
            MAX_ERRORS,
            "a small body reports up to {MAX_ERRORS}"
        );
        // A model given a string: one item, not its fields' too.
        let e = from_value::<Strict>(json!({"inner": "x"}), "body").unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].kind, "type_error.dict");
        let q: Strict = from_pairs(
            [
                ("cache_dir".into(), "/a".into()),
                ("cache_dir".into(), "/b".into()),
            ],
            "query",
        )
        .unwrap();
        assert_eq!(q.cache_dir.as_deref(), Some("/b"));
    }
}
