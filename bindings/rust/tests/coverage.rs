// coverage.rs: ffi.rs declares every function of kvc.h and kvc_tools.h, and lib.rs wraps every
// one.
mod common;

use common::repo_path;

/// Declared in the headers, not yet wrapped by the safe layer.
const NOT_YET_WRAPPED: &[&str] = &[];

fn header_functions(file: &str) -> Vec<String> {
    let header = std::fs::read_to_string(repo_path(&["include", "kvc", file])).unwrap();
    let mut names = Vec::new();
    for part in header.split("KVC_API").skip(1) {
        let head = &part[..part.find('(').expect("a prototype")];
        if let Some(name) = head
            .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
        {
            if name.starts_with("kvc_") {
                names.push(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_function_is_declared_and_wrapped() {
    let (core, tools) = (header_functions("kvc.h"), header_functions("kvc_tools.h"));
    assert!(
        core.len() >= 20 && tools.len() >= 20,
        "only {} functions found in kvc.h and {} in kvc_tools.h",
        core.len(),
        tools.len()
    );
    let names = [core, tools].concat();
    let src =
        |f: &str| std::fs::read_to_string(repo_path(&["bindings", "rust", "src", f])).unwrap();
    let (ffi, lib) = (src("ffi.rs"), src("lib.rs"));
    for name in &names {
        assert!(
            ffi.contains(&format!("pub fn {name}(")),
            "ffi.rs lacks {name}"
        );
        if !NOT_YET_WRAPPED.contains(&name.as_str()) {
            assert!(
                lib.contains(&format!("ffi::{name}(")) || lib.contains(&format!("{name};")),
                "lib.rs does not wrap {name}"
            );
        }
    }
}
