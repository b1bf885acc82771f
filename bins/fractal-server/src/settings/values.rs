//! How one variable's text becomes a value; every error names the variable.

use super::SettingsError;

/// The variable parsed, or `default` when unset.
pub(super) fn parse<T: std::str::FromStr>(
    get: impl Fn(&str) -> Option<String>,
    var: &str,
    default: T,
) -> Result<T, SettingsError> {
    match get(var) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| SettingsError::new(var, format!("cannot parse {v:?}"))),
    }
}

/// A number of seconds (or milliseconds) between 1 and ten years' worth.
pub(super) fn positive(
    get: impl Fn(&str) -> Option<String>,
    var: &str,
    default: u64,
) -> Result<u64, SettingsError> {
    let v: u64 = parse(get, var, default)?;
    if v == 0 || v > 10 * 365 * 24 * 3600 {
        return Err(SettingsError::new(
            var,
            "expected a number of seconds between 1 and ten years",
        ));
    }
    Ok(v)
}

/// `1/true/yes/on` or `0/false/no/off`, any case; `default` when unset.
pub(super) fn parse_bool(
    get: impl Fn(&str) -> Option<String>,
    var: &str,
    default: bool,
) -> Result<bool, SettingsError> {
    match get(var).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(SettingsError::new(
            var,
            format!("expected true or false, got {v:?}"),
        )),
    }
}
