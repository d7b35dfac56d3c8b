//! A module's parameters, checked by the host.
//!
//! A module may declare the parameters it takes in a custom section named
//! [`DECLARED_SECTION`]: their names, comma-separated (Rust:
//! `shelf_contract::declare_params!("width", "cap")`). The host then refuses
//! any other name when it loads the module, at deploy before anything is
//! replaced. A module without the section gets whatever is given.
//!
//! Either way the host passes the given names to the module's `init` as
//! the parameter [`GIVEN_KEY`], since `fluvio-smartmodule`'s parameters can
//! only be read by name: a module cannot otherwise see a name it does not
//! know (a `widht` typo), and its own check of unknown names never fired.

use std::collections::BTreeMap;

use crate::LoadError;

pub use shelf_contract::module_params::{DECLARED_SECTION, GIVEN as GIVEN_KEY};

/// The names a module declares, `None` when it declares none.
pub fn declared(wasm: &[u8]) -> Option<Vec<String>> {
    let mut names: Option<Vec<String>> = None;
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let Ok(wasmparser::Payload::CustomSection(section)) = payload {
            if section.name() == DECLARED_SECTION {
                let text = String::from_utf8_lossy(section.data());
                names.get_or_insert_with(Vec::new).extend(
                    text.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(str::to_owned),
                );
            }
        }
    }
    names
}

/// Refuses a name the module does not declare or the host reserves, and
/// adds [`GIVEN_KEY`].
pub fn checked(
    declared: Option<&[String]>,
    mut params: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, LoadError> {
    for key in params.keys() {
        let reserved = key.starts_with("shelf.");
        let unknown = declared.is_some_and(|d| !d.iter().any(|n| n == key));
        if reserved || unknown {
            let known = match declared {
                Some([]) => "it takes none".to_owned(),
                Some(d) => format!("it takes: {}", d.join(", ")),
                None => "names starting with `shelf.` are the host's".to_owned(),
            };
            return Err(LoadError::Param(format!(
                "unknown parameter `{key}` ({known})"
            )));
        }
    }
    let given: Vec<&str> = params.keys().map(String::as_str).collect();
    let given = given.join(",");
    params.insert(GIVEN_KEY.to_owned(), given);
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_undeclared_name_is_refused_and_named() {
        let declared = ["width".to_owned(), "cap".to_owned()];
        let err = checked(Some(&declared), params(&[("widht", "10")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bad parameter: unknown parameter `widht` (it takes: width, cap)"
        );
        let ok = checked(Some(&declared), params(&[("width", "10"), ("cap", "50")])).unwrap();
        assert_eq!(ok[GIVEN_KEY], "cap,width");
        let none: [String; 0] = [];
        assert!(checked(Some(&none), params(&[("x", "1")])).is_err());
    }

    #[test]
    fn without_a_declaration_any_name_but_the_hosts_goes() {
        let ok = checked(None, params(&[("anything", "1")])).unwrap();
        assert_eq!(ok[GIVEN_KEY], "anything");
        let empty = checked(None, params(&[])).unwrap();
        assert_eq!(empty[GIVEN_KEY], "");
        let err = checked(None, params(&[(GIVEN_KEY, "x")])).unwrap_err();
        assert!(err.to_string().contains("shelf.given"), "{err}");
    }

    #[test]
    fn the_declaration_is_read_from_its_custom_section() {
        // A minimal module: the header and one custom section.
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let name = DECLARED_SECTION.as_bytes();
        let data = b"width, cap";
        wasm.push(0);
        wasm.push((1 + name.len() + data.len()) as u8);
        wasm.push(name.len() as u8);
        wasm.extend_from_slice(name);
        wasm.extend_from_slice(data);
        assert_eq!(declared(&wasm), Some(vec!["width".into(), "cap".into()]));
        assert_eq!(declared(b"\0asm\x01\0\0\0"), None);
    }
}
