//! Value rules shared by several settings; every error names the variable.

use serde::{Deserialize, Deserializer, de::Error as _};

use super::SettingsError;
use super::sources::Sources;

/// Ten years, in seconds: the longest lifetime or interval a setting may ask for.
const TEN_YEARS: u64 = 10 * 365 * 24 * 3600;
const SECONDS_RANGE: &str = "expected a number of seconds between 1 and ten years";

/// A serde field reader: a number of seconds (or milliseconds) between 1 and ten years' worth.
pub(super) fn seconds<'de, D: Deserializer<'de>>(de: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(de)?;
    if v == 0 || v > TEN_YEARS {
        return Err(D::Error::custom(SECONDS_RANGE));
    }
    Ok(v)
}

impl Sources {
    /// `var` as a number of seconds between 1 and ten years' worth; `default` when unset.
    pub(super) fn seconds(&self, var: &str, default: u64) -> Result<u64, SettingsError> {
        let v: u64 = self.value(var, default)?;
        if v == 0 || v > TEN_YEARS {
            return Err(self.invalid(var, SECONDS_RANGE));
        }
        Ok(v)
    }

    /// `var` as a boolean (`1/true/yes/on` or `0/false/no/off`, any case); `default` when unset.
    pub(super) fn flag(&self, var: &str, default: bool) -> Result<bool, SettingsError> {
        self.value(var, default)
    }
}
