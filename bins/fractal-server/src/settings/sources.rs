//! Where settings come from, merged by [figment]: the `.fractal_server.env` file, under the
//! process environment, under the command line. Figment keeps which source gave each value, so
//! an error says where the bad value was set; and its lossy reading gives Fractal's booleans
//! (`1/true/yes/on`, `0/false/no/off`, any case) and numbers from text.
//!
//! Every source is read as text: a value is trimmed, and a blank one counts as unset in its
//! source (a lower source, or the default, shows through). The process environment is never
//! written to.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use figment::error::{Actual, Kind};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use serde::Deserialize;

use super::SettingsError;

/// Names of the sources, as error messages show them.
const ENVIRONMENT: &str = "the environment";
const COMMAND_LINE: &str = "the command line";

/// One source of variables: a name and its non-blank values.
struct Variables {
    source: String,
    values: BTreeMap<String, String>,
}

impl Variables {
    fn new(source: impl Into<String>, pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            source: source.into(),
            values: pairs
                .into_iter()
                .filter_map(|(k, v)| {
                    let v = v.trim();
                    (!v.is_empty()).then(|| (k, v.to_owned()))
                })
                .collect(),
        }
    }
}

impl Provider for Variables {
    fn metadata(&self) -> Metadata {
        Metadata::named(self.source.clone())
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let dict: Dict = self
            .values
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        Ok(Profile::Default.collect(dict))
    }
}

/// The flag a variable is given by on the command line.
fn flag_of(var: &str) -> String {
    match var {
        "FRACTAL_HOST" => "--host",
        "FRACTAL_PORT" => "--port",
        other => other,
    }
    .to_owned()
}

/// Every source of settings, merged: later sources win.
pub struct Sources {
    figment: Figment,
}

impl Sources {
    /// `file` (if it exists) under the process environment.
    ///
    /// # Errors
    /// An unreadable or malformed `file`, named.
    pub fn from_process(file: &Path) -> Result<Self, SettingsError> {
        // A variable whose name or value is not Unicode cannot be a setting: skipped.
        let environment = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Self::layered(file, environment)
    }

    /// `file` (if it exists) under `environment`.
    ///
    /// # Errors
    /// An unreadable or malformed `file`, named.
    pub fn layered(
        file: &Path,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let name = file.display().to_string();
        let mut figment = Figment::new();
        match std::fs::read_to_string(file) {
            Ok(text) => {
                // An editor's byte-order mark is not part of the first variable's name.
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                let pairs = dotenvy::from_read_iter(text.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| SettingsError::new(&name, unparsable(text, &e)))?;
                figment = figment.merge(Variables::new(name, pairs));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(SettingsError::new(&name, e.to_string())),
        }
        Ok(Self {
            figment: figment.merge(Variables::new(ENVIRONMENT, environment)),
        })
    }

    /// One map of variables, as if it were the environment.
    pub fn from_map(vars: &HashMap<String, String>) -> Self {
        Self {
            figment: Figment::from(Variables::new(
                ENVIRONMENT,
                vars.iter().map(|(k, v)| (k.clone(), v.clone())),
            )),
        }
    }

    /// These variables given as command-line flags, over every other source.
    pub fn with_flags(self, flags: impl IntoIterator<Item = (&'static str, String)>) -> Self {
        let source = Variables::new(
            COMMAND_LINE,
            flags.into_iter().map(|(k, v)| (k.to_owned(), v)),
        );
        Self {
            figment: self.figment.merge(source),
        }
    }

    /// The value of `var`, trimmed; `None` when no source sets it.
    pub fn get(&self, var: &str) -> Option<String> {
        match self.figment.find_value(var) {
            Ok(Value::String(_, s)) => Some(s),
            _ => None,
        }
    }

    /// The names of every variable set, in order.
    pub fn keys(&self) -> Vec<String> {
        self.figment
            .data()
            .ok()
            .and_then(|mut profiles| profiles.remove(&Profile::Default))
            .map(|dict| dict.into_keys().collect())
            .unwrap_or_default()
    }

    /// Whether a command-line flag gave `var`.
    pub fn given_by_flag(&self, var: &str) -> bool {
        self.figment
            .find_metadata(var)
            .is_some_and(|m| m.name == COMMAND_LINE)
    }

    /// The file that set `var`, when a file did (not the environment, not a flag).
    pub fn file_of(&self, var: &str) -> Option<String> {
        self.figment
            .find_metadata(var)
            .filter(|m| m.name != ENVIRONMENT && m.name != COMMAND_LINE)
            .map(|m| m.name.to_string())
    }

    /// An error about the value of `var`, saying where it was set when that was not the
    /// environment (a file, a flag).
    pub fn invalid(&self, var: &str, message: impl Into<String>) -> SettingsError {
        let message = message.into();
        match self.file_of(var) {
            Some(file) => SettingsError::new(var, format!("{message} (set in {file})")),
            None if self.given_by_flag(var) => SettingsError::new(&flag_of(var), message),
            None => SettingsError::new(var, message),
        }
    }

    /// `var` read as a `T` (Fractal's booleans, numbers from text), or `default` when unset.
    ///
    /// # Errors
    /// A value that is not a `T`, named.
    pub fn value<'de, T: Deserialize<'de>>(
        &self,
        var: &str,
        default: T,
    ) -> Result<T, SettingsError> {
        if !self.figment.contains(var) {
            return Ok(default);
        }
        self.figment
            .extract_inner_lossy(var)
            .map_err(|e| self.error(var, e))
    }

    /// Every variable named by `T`'s fields at once (serde defaults for the unset ones).
    ///
    /// # Errors
    /// The first value that is not what its field wants, named.
    pub fn extract<'de, T: Deserialize<'de>>(&self) -> Result<T, SettingsError> {
        self.figment
            .extract_lossy()
            .map_err(|e| match e.path.first().cloned() {
                Some(var) => self.error(&var, e),
                None => SettingsError::new("settings", e.kind.to_string()),
            })
    }

    fn error(&self, var: &str, e: figment::Error) -> SettingsError {
        self.invalid(var, message(&e.kind))
    }
}

/// Where a settings file cannot be parsed: its line number, never its text (a line may hold
/// a secret, and dotenvy's message quotes it).
fn unparsable(text: &str, e: &dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, _) => {
            let first = line.lines().next().unwrap_or_default();
            match text.lines().position(|l| l == first) {
                Some(n) => format!("line {} cannot be parsed as NAME=value", n + 1),
                None => "a line cannot be parsed as NAME=value".to_owned(),
            }
        }
        other => other.to_string(),
    }
}

/// A type error in the words of the settings: what was expected, then the value as written.
fn message(kind: &Kind) -> String {
    let (Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected)) = kind else {
        return kind.to_string();
    };
    let expected = match expected.as_str() {
        "a boolean" => "true or false (or yes/no, on/off, 1/0)".to_owned(),
        "u8" => format!("a whole number from 0 to {}", u8::MAX),
        "u16" => format!("a whole number from 0 to {}", u16::MAX),
        "u32" => format!("a whole number from 0 to {}", u32::MAX),
        "u64" => "a whole number, 0 or more".to_owned(),
        other => other.to_owned(),
    };
    let got = match actual {
        Actual::Str(v) => format!("{v:?}"),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(x) => x.to_string(),
        other => other.to_string(),
    };
    format!("expected {expected}, got {got}")
}
