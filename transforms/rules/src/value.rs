//! Reading loosely typed JSON values the way the contract allows.

use serde_json::Value;

/// A finite number, from a JSON number or a string holding one. `None` for
/// anything else (including NaN and infinities).
pub(crate) fn finite_number(v: &Value) -> Option<f64> {
    let x = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

/// `true` for a missing value: JSON null or a blank string (an empty CSV cell).
pub(crate) fn is_blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.trim().is_empty(),
        _ => false,
    }
}

/// A whole number >= 0 (`12`, `"12"`, `12.0`), or `None`.
pub(crate) fn whole_number(v: &Value) -> Option<u64> {
    if let Value::Number(n) = v {
        if let Some(u) = n.as_u64() {
            return Some(u);
        }
    }
    let x = finite_number(v)?;
    // 2^53: beyond it an f64 no longer tells whole numbers apart.
    (x >= 0.0 && x.fract() == 0.0 && x <= 9_007_199_254_740_992.0).then_some(x as u64)
}

/// A short rendering of a value for reject details.
pub(crate) fn show(v: Option<&Value>) -> String {
    match v {
        None => "missing".to_owned(),
        Some(v) => {
            let s = v.to_string();
            if s.chars().count() > 60 {
                let cut: String = s.chars().take(57).collect();
                format!("{cut}...")
            } else {
                s
            }
        }
    }
}
