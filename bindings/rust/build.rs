// build.rs: finds libkvc (KVC_LIBRARY_DIR, else `pkg-config --libs kvc` run by hand), links it and
// sets an rpath so this crate's tests and examples run without LD_LIBRARY_PATH.
use std::env;
use std::process::Command;

fn library_dirs() -> Vec<String> {
    if let Ok(dir) = env::var("KVC_LIBRARY_DIR") {
        return vec![dir];
    }
    let output = Command::new("pkg-config")
        .args(["--libs-only-L", "kvc"])
        .output();
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|flag| flag.strip_prefix("-L").map(str::to_owned))
            .collect(),
        _ => {
            println!("cargo:warning=kvc: neither KVC_LIBRARY_DIR nor pkg-config kvc; linking -lkvc from the default paths");
            Vec::new()
        }
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=KVC_LIBRARY_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    let dirs = library_dirs();
    for dir in &dirs {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    // Dependent crates read DEP_KVC_LIBRARY_DIRS in their own build scripts for an rpath.
    println!("cargo:library_dirs={}", dirs.join(":"));
    println!("cargo:rustc-link-lib=dylib=kvc");
}
