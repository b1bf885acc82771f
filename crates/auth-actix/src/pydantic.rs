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

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeOwned, DeserializeSeed, Error as _, IntoDeserializer, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::ValidationItem;

/// How many errors one value reports at most (pydantic reports all; a bound keeps a hostile
/// body from costing one pass per field it names).
const MAX_ERRORS: usize = 32;

/// How many times one value is read at most (each pass past an error fills one place).
const MAX_PASSES: usize = 64;

/// Deserializes `T` from `value` with pydantic v1's conversions. `root` is the first part of
/// every item's `loc` (`"body"`, `"query"`).
///
/// # Errors
/// Every field error pydantic would report (up to 32), each located at `[root, field, …]`:
/// `value_error.missing` for each missing field, `type_error.*` for values of the wrong type,
/// `value_error.extra` for unknown fields of a `deny_unknown_fields` type.
pub fn from_value<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, Vec<ValidationItem>> {
    // After an error, that place is filled with a stand-in and the value read again, so that
    // the next error is found too (pydantic validates every field).
    let mut stand_ins: BTreeSet<Vec<Loc>> = BTreeSet::new();
    let orders = RefCell::new(BTreeMap::new());
    let mut errors: Vec<LaxError> = Vec::new();
    loop {
        let top = Lax {
            value: Some(value.clone()),
            path: Vec::new(),
            stand_ins: &stand_ins,
            orders: &orders,
        };
        let e = match T::deserialize(top) {
            Ok(t) if errors.is_empty() => return Ok(t),
            Ok(_) => break,
            Err(e) => e,
        };
        let path = e.path.clone().unwrap_or_default();
        if stand_ins.contains(&path) || stand_ins.len() >= MAX_PASSES {
            break;
        }
        if e.kind != Kind::UnderStandIn {
            errors.push(e);
            if errors.len() >= MAX_ERRORS {
                break;
            }
        }
        stand_ins.insert(path);
    }
    // In the order of the fields' declarations, as pydantic validates them.
    let orders = orders.into_inner();
    let rank = |e: &LaxError| -> Vec<(usize, Loc)> {
        let path = e.path.clone().unwrap_or_default();
        (0..path.len())
            .map(|i| {
                let declared = match &path[i] {
                    Loc::Key(k) => orders
                        .get(&path[..i])
                        .and_then(|fields: &&[&str]| fields.iter().position(|f| f == k)),
                    Loc::Index(n) => Some(*n),
                };
                (declared.unwrap_or(usize::MAX), path[i].clone())
            })
            .collect()
    };
    errors.sort_by_key(|e| rank(e));
    Err(errors.iter().map(|e| e.item(root)).collect())
}

/// One step of a `loc`: an object key or a list index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Loc {
    Key(String),
    Index(usize),
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

/// A deserialization error: where (once known) and what.
#[derive(Debug)]
struct LaxError {
    path: Option<Vec<Loc>>,
    /// A field named by the type (missing, unknown): the path is the map's plus this.
    field: Option<String>,
    kind: Kind,
    message: String,
}

impl LaxError {
    fn new(kind: Kind) -> Self {
        Self {
            path: None,
            field: None,
            kind,
            message: String::new(),
        }
    }

    /// Locates an error raised by a visitor of the value at `path` (errors of inner values
    /// are located already).
    fn at(mut self, path: &[Loc]) -> Self {
        if self.path.is_none() {
            let mut full = path.to_vec();
            full.extend(self.field.take().map(Loc::Key));
            self.path = Some(full);
        }
        self
    }

    fn item(&self, root: &str) -> ValidationItem {
        let (code, message) = self.kind.code_and_message();
        let msg = if matches!(self.kind, Kind::Value | Kind::Enum) {
            self.message.as_str()
        } else {
            message
        };
        let mut item = ValidationItem::new(&[root], msg, code);
        for part in self.path.iter().flatten() {
            item.loc.push(match part {
                Loc::Key(k) => Value::from(k.as_str()),
                Loc::Index(i) => Value::from(*i),
            });
        }
        item
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

/// The declared fields of the structs read, by path (to order the errors).
type FieldOrders = RefCell<BTreeMap<Vec<Loc>, &'static [&'static str]>>;

/// A value being read: `None` for a stand-in (a place that already gave an error).
struct Lax<'s> {
    value: Option<Value>,
    path: Vec<Loc>,
    stand_ins: &'s BTreeSet<Vec<Loc>>,
    orders: &'s FieldOrders,
}

impl<'s> Lax<'s> {
    fn child(&self, step: Loc, value: Option<Value>) -> Lax<'s> {
        let mut path = self.path.clone();
        path.push(step);
        let value = if self.stand_ins.contains(&path) {
            None
        } else {
            value
        };
        Lax {
            value,
            path,
            stand_ins: self.stand_ins,
            orders: self.orders,
        }
    }

    fn fail(&self, kind: Kind) -> LaxError {
        LaxError::new(kind).at(&self.path)
    }

    /// The wrong type, or `null` where none is allowed.
    fn wrong(&self, kind: Kind) -> LaxError {
        match self.value {
            Some(Value::Null) => self.fail(Kind::NoneNotAllowed),
            _ => self.fail(kind),
        }
    }

    fn visit_object<'de, V: Visitor<'de>>(
        self,
        entries: Vec<(String, Value)>,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        // Stand-ins of missing fields join the map (their values are stand-ins too).
        let mut keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
        let mut all: Vec<(String, Option<Value>)> =
            entries.into_iter().map(|(k, v)| (k, Some(v))).collect();
        for stand_in in self.stand_ins.iter() {
            if stand_in.len() == self.path.len() + 1
                && stand_in.starts_with(&self.path)
                && let Some(Loc::Key(k)) = stand_in.last()
                && !keys.contains(k)
            {
                keys.push(k.clone());
                all.push((k.clone(), None));
            }
        }
        let access = LaxMap {
            parent: &self,
            entries: all.into_iter(),
            next: None,
        };
        visitor
            .visit_map(access)
            .map_err(|e: LaxError| e.at(&self.path))
    }

    fn visit_array<'de, V: Visitor<'de>>(
        self,
        items: Vec<Value>,
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        let access = LaxSeq {
            parent: &self,
            items: items.into_iter().enumerate(),
        };
        visitor
            .visit_seq(access)
            .map_err(|e: LaxError| e.at(&self.path))
    }

    /// A stand-in read as a struct or map: an empty one. A field it then lacks is not
    /// reported ([`Kind::UnderStandIn`] at that field): the next pass fills it with a
    /// stand-in too.
    fn visit_stand_in_map<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        let path = self.path.clone();
        self.visit_object(Vec::new(), visitor)
            .map_err(|e| LaxError {
                path: Some(e.path.unwrap_or(path)),
                ..LaxError::new(Kind::UnderStandIn)
            })
    }

    /// pydantic's `dict(v)`: an object, a list of `[key, value]` pairs, or `""`.
    fn dict_entries(&self) -> Option<Vec<(String, Value)>> {
        match &self.value {
            Some(Value::Object(map)) => Some(map.clone().into_iter().collect()),
            Some(Value::String(s)) if s.is_empty() => Some(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|pair| match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(k), v]) => Some((k.clone(), v.clone())),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
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

/// Python's `str()` of a JSON number: `5`, `5.5`, `1.0`, `1e+20`.
fn python_str(n: &Number) -> String {
    if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
        if f.is_finite() && f == f.trunc() && f.abs() < 1e16 {
            return format!("{f:.1}");
        }
        let debug = format!("{f:?}");
        return match debug.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => format!("{mantissa}e+{exp}"),
            _ => debug,
        };
    }
    n.to_string()
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
                        Err(_) => Err(self.fail(Kind::Integer)),
                    },
                }
                .map_err(|e: LaxError| e.at(&self.path)),
                None => Err(self.wrong(Kind::Integer)),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Lax<'_> {
    type Error = LaxError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        let result = match &self.value {
            None | Some(Value::Null) => visitor.visit_unit(),
            Some(Value::Bool(b)) => visitor.visit_bool(*b),
            Some(Value::Number(n)) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => visitor.visit_u64(u),
                (_, Some(i), _) => visitor.visit_i64(i),
                (_, _, Some(f)) => visitor.visit_f64(f),
                _ => visitor.visit_unit(),
            },
            Some(Value::String(s)) => visitor.visit_str(s),
            Some(Value::Array(items)) => {
                let items = items.clone();
                return self.visit_array(items, visitor);
            }
            Some(Value::Object(map)) => {
                let entries = map.clone().into_iter().collect();
                return self.visit_object(entries, visitor);
            }
        };
        result.map_err(|e: LaxError| e.at(&self.path))
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
            Some(b) => visitor
                .visit_bool(b)
                .map_err(|e: LaxError| e.at(&self.path)),
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
            Some(f) => visitor.visit_f64(f).map_err(|e: LaxError| e.at(&self.path)),
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
        let s = match &self.value {
            None => Some(String::new()),
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(python_str(n)),
            Some(Value::Bool(true)) => Some("True".to_owned()),
            Some(Value::Bool(false)) => Some("False".to_owned()),
            _ => None,
        };
        match s {
            Some(s) => visitor
                .visit_string(s)
                .map_err(|e: LaxError| e.at(&self.path)),
            None => Err(self.wrong(Kind::Str)),
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
            Some(_) => {
                let path = self.path.clone();
                visitor.visit_some(self).map_err(|e: LaxError| e.at(&path))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        match &self.value {
            None | Some(Value::Null) => {
                visitor.visit_unit().map_err(|e: LaxError| e.at(&self.path))
            }
            _ => Err(self.fail(Kind::Value)),
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
        let path = self.path.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e: LaxError| e.at(&path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        match &self.value {
            None => self.visit_array(Vec::new(), visitor),
            Some(Value::Array(items)) => {
                let items = items.clone();
                self.visit_array(items, visitor)
            }
            _ => Err(self.wrong(Kind::List)),
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
        if self.value.is_none() {
            return self.visit_stand_in_map(visitor);
        }
        match self.dict_entries() {
            Some(entries) => self.visit_object(entries, visitor),
            None => Err(self.wrong(Kind::Dict)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        self.orders.borrow_mut().insert(self.path.clone(), fields);
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LaxError> {
        match self.value.clone() {
            // A stand-in: the first variant, if it is a unit one.
            None => match variants.first() {
                Some(first) => visitor
                    .visit_enum((*first).into_deserializer())
                    .map_err(|_: LaxError| self.fail(Kind::UnderStandIn)),
                None => Err(self.fail(Kind::UnderStandIn)),
            },
            // A unit variant by its name: pydantic's `Enum` field.
            Some(Value::String(s)) => visitor
                .visit_enum(s.into_deserializer())
                .map_err(|e: LaxError| e.at(&self.path)),
            Some(Value::Null) => Err(self.fail(Kind::NoneNotAllowed)),
            Some(value) => de::Deserializer::deserialize_enum(value, name, variants, visitor)
                .map_err(|e| LaxError::custom(e).at(&self.path)),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LaxError> {
        visitor.visit_unit()
    }
}

struct LaxMap<'a, 's> {
    parent: &'a Lax<'s>,
    entries: std::vec::IntoIter<(String, Option<Value>)>,
    next: Option<(String, Option<Value>)>,
}

impl<'de> de::MapAccess<'de> for LaxMap<'_, '_> {
    type Error = LaxError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, LaxError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let read = seed.deserialize(key.clone().into_deserializer());
        self.next = Some((key, value));
        read.map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, LaxError> {
        let (key, value) = self
            .next
            .take()
            .ok_or_else(|| LaxError::custom("a value asked before its key"))?;
        seed.deserialize(self.parent.child(Loc::Key(key), value))
    }
}

struct LaxSeq<'a, 's> {
    parent: &'a Lax<'s>,
    items: std::iter::Enumerate<std::vec::IntoIter<Value>>,
}

impl<'de> de::SeqAccess<'de> for LaxSeq<'_, '_> {
    type Error = LaxError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, LaxError> {
        match self.items.next() {
            None => Ok(None),
            Some((i, value)) => seed
                .deserialize(self.parent.child(Loc::Index(i), Some(value)))
                .map(Some),
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
        assert_eq!(python_int(" 1_000 "), Some(1000));
        assert_eq!(python_int("1__0"), None);
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
