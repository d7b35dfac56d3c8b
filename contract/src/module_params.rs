//! How the host and a module agree on the module's parameters (the host
//! side: `shelf_engine::params`).
//!
//! - A module declares the names it takes in a custom section
//!   [`DECLARED_SECTION`] (comma-separated); the host refuses any other
//!   at deploy.
//! - The host passes the names it was given to `init` as the parameter
//!   [`GIVEN`] (comma-separated), so the module can refuse a name it does
//!   not know: `fluvio-smartmodule` parameters are read by name only.
//!
//! Names starting with `shelf.` are the host's.

/// The custom section a module declares its parameter names in.
pub const DECLARED_SECTION: &str = "shelf-params";

/// The parameter carrying the given names to `init`.
pub const GIVEN: &str = "shelf.given";

/// Declares a module's parameter names for the host (a custom section
/// [`DECLARED_SECTION`] in the built module): `declare_params!("width",
/// "cap");` at the module crate's top level.
#[macro_export]
macro_rules! declare_params {
    ($($name:literal),* $(,)?) => {
        const _: () = {
            const NAMES: &str = concat!($($name, ","),*);
            #[used]
            #[cfg_attr(target_arch = "wasm32", link_section = "shelf-params")]
            static DECLARED: [u8; NAMES.len()] = {
                let mut out = [0u8; NAMES.len()];
                let bytes = NAMES.as_bytes();
                let mut i = 0;
                while i < bytes.len() {
                    out[i] = bytes[i];
                    i += 1;
                }
                out
            };
        };
    };
}

/// The given names a module did not `know`, from [`GIVEN`]'s value.
pub fn unknown<'a>(given: &'a str, known: &[&str]) -> Vec<&'a str> {
    given
        .split(',')
        .filter(|n| !n.is_empty() && !known.contains(n))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    declare_params!("width", "cap");

    #[test]
    fn unknown_names_are_those_not_known() {
        assert_eq!(unknown("cap,widht", &["width", "cap"]), ["widht"]);
        assert!(unknown("", &["width"]).is_empty());
    }
}
