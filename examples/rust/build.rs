// build.rs: an rpath to the libkvc the kvc crate linked (its DEP_KVC_LIBRARY_DIRS metadata).
fn main() {
    if let Ok(dirs) = std::env::var("DEP_KVC_LIBRARY_DIRS") {
        for dir in dirs.split(':').filter(|d| !d.is_empty()) {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
