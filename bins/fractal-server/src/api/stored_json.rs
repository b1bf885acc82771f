//! [`StoredJson`]: the type of the `/api/v1` JSON columns (`meta`, `args`, `args_schema`,
//! `history`, `workflow_dump`), read without serde_json's nesting limit.
//!
//! SeaORM reads a `Json` column with serde_json's default reader, which refuses values nested
//! deeper than 128 levels. This server never stores such a value (`schemas::MAX_JSON_DEPTH`),
//! but fractal-server 1.3.14 stored what Python's `json` reads, about 1,000 levels deep. Read
//! through `Json`, every request touching such a row was a 500; read through this type, the
//! row's raw JSON text is parsed without the limit, on a stack grown on demand
//! (`serde_stacker`), up to [`MAX_STORED_DEPTH`] levels. What else Python's `json` stored and
//! JSON has no word for (`NaN`, `Infinity`, lone surrogates in SQLite) is still an error.

use sea_orm::sea_query::{
    ArrayType, ColumnType, Enum, Nullable, OptionEnum, ValueType, ValueTypeErr,
};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable};
use serde::Deserialize as _;
use serde_json::Value;

/// The deepest stored JSON value this server reads: above what Python's `json` module reads
/// (its recursion limit, 1,000, less the frames in use) with room for the levels a job's
/// `workflow_dump` adds around a task's `meta`, and below what a 2 MiB worker stack survives
/// when the value is cloned or written out again in a debug build (about 1,500 levels,
/// measured). A job dump deeper than this is refused when it is made ([`depth`]).
pub const MAX_STORED_DEPTH: usize = 1_100;

/// A JSON value of a `/api/v1` column (see the module's documentation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredJson(pub Value);

impl From<Value> for StoredJson {
    fn from(v: Value) -> Self {
        Self(v)
    }
}

impl From<StoredJson> for Value {
    fn from(v: StoredJson) -> Self {
        v.0
    }
}

/// The PostgreSQL type a value is written as. Bound as serde_json's `Value`, sqlx sends `jsonb`,
/// which PostgreSQL normalises before it reaches a `json` column: keys sorted, `1e5` written
/// `100000`, `-0.0` as `0.0`. Sent as text typed `json`, the column keeps the text as written,
/// as it keeps what Python's `json` wrote for Fractal 1.3. sea-query's `Value::Enum` is that: a
/// string with a PostgreSQL type hint (`$1::"json"`); SQLite and MySQL bind it as plain text.
const WRITTEN_AS: &str = "json";

impl From<StoredJson> for sea_orm::Value {
    fn from(v: StoredJson) -> Self {
        sea_orm::Value::Enum(OptionEnum::Some(Box::new(Enum {
            type_name: WRITTEN_AS.into(),
            value: v.0.to_string().into(),
        })))
    }
}

impl Nullable for StoredJson {
    fn null() -> sea_orm::Value {
        sea_orm::Value::Enum(OptionEnum::None(WRITTEN_AS.into()))
    }
}

impl ValueType for StoredJson {
    fn try_from(v: sea_orm::Value) -> Result<Self, ValueTypeErr> {
        match v {
            sea_orm::Value::Enum(OptionEnum::Some(e)) => {
                parse(&e.value).map(Self).map_err(|_| ValueTypeErr)
            }
            sea_orm::Value::Json(Some(json)) => Ok(Self(*json)),
            _ => Err(ValueTypeErr),
        }
    }

    fn type_name() -> String {
        "StoredJson".to_owned()
    }

    /// Never bound as an array (no query filters on these columns); were one, its items would
    /// have to be written as text too.
    fn array_type() -> ArrayType {
        ArrayType::Json
    }

    fn column_type() -> ColumnType {
        ColumnType::Json
    }
}

impl TryGetable for StoredJson {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        use sea_orm::sqlx::Row as _;
        // Kept whole, so that a lost connection is storage trouble (503), not a type error.
        let sqlx = |e: sea_orm::sqlx::Error| {
            TryGetError::DbErr(DbErr::Query(sea_orm::RuntimeErr::SqlxError(
                std::sync::Arc::new(e),
            )))
        };
        let text: Option<String> = if let Some(row) = res.try_as_pg_row() {
            // `json` or `jsonb`: sqlx hands over the text either way.
            row.try_get::<Option<sea_orm::sqlx::types::Json<Box<serde_json::value::RawValue>>>, _>(
                index.as_sqlx_postgres_index(),
            )
            .map_err(sqlx)?
            .map(|raw| raw.0.get().to_owned())
        } else if let Some(row) = res.try_as_sqlite_row() {
            // Text in a column declared `JSON` (SQLAlchemy's and ours).
            row.try_get_unchecked::<Option<String>, _>(index.as_sqlx_sqlite_index())
                .map_err(sqlx)?
        } else if let Some(row) = res.try_as_mysql_row() {
            row.try_get_unchecked::<Option<String>, _>(index.as_sqlx_mysql_index())
                .map_err(sqlx)?
        } else {
            // Another connection kind (SeaORM's mock or proxy): its own reading.
            return Value::try_get_by(res, index).map(Self);
        };
        let text = text.ok_or_else(|| TryGetError::Null(format!("{index:?}")))?;
        parse(&text)
            .map(Self)
            .map_err(|e| TryGetError::DbErr(DbErr::Json(e)))
    }
}

/// `text` as JSON, nested up to [`MAX_STORED_DEPTH`] levels.
///
/// # Errors
/// The parser's message, or the depth found above the limit.
fn parse(text: &str) -> Result<Value, String> {
    let depth = nesting(text);
    if depth > MAX_STORED_DEPTH {
        return Err(format!(
            "stored JSON nested {depth} levels deep (at most {MAX_STORED_DEPTH} are read)"
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let value =
        Value::deserialize(serde_stacker::Deserializer::new(&mut de)).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(value)
}

/// The nesting of arrays and objects of `value` (a scalar is 0), counted without recursion.
pub fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut todo = vec![(value, 0usize)];
    while let Some((v, d)) = todo.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        todo.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

/// The deepest nesting of arrays and objects in JSON `text` (brackets inside strings do not
/// count). A malformed text gives some number; the parser then refuses it.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn values_deeper_than_serde_jsons_limit_are_read() {
        assert!(serde_json::from_str::<Value>(&nested(1_000)).is_err());
        let v = parse(&nested(1_000)).unwrap();
        let mut depth = 0;
        let mut at = &v;
        while let Value::Array(items) = at {
            depth += 1;
            match items.first() {
                Some(next) => at = next,
                None => break,
            }
        }
        assert_eq!(depth, 1_000);
        // Written out again in full.
        assert_eq!(serde_json::to_string(&v).unwrap(), nested(1_000));
    }

    #[test]
    fn the_depth_is_bounded_and_strings_do_not_count() {
        assert!(
            parse(&nested(MAX_STORED_DEPTH + 1))
                .unwrap_err()
                .contains("1101")
        );
        assert!(parse(&nested(MAX_STORED_DEPTH)).is_ok());
        assert_eq!(
            depth(&parse(&nested(MAX_STORED_DEPTH)).unwrap()),
            MAX_STORED_DEPTH
        );
        assert_eq!(depth(&serde_json::json!({"a": [1, {"b": {}}], "c": 2})), 4);
        assert_eq!(depth(&serde_json::json!(5)), 0);
        assert_eq!(nesting(r#"{"a": "[[[[\"{{{", "b": [1, {"c": []}]}"#), 4);
        assert!(parse(r#"{"a": 1} x"#).is_err());
        assert_eq!(parse(r#"{"a": [1, "]"]}"#).unwrap()["a"][1], "]");
    }
}
