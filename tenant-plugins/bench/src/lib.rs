//! Support for the plugin invocation benchmark (`benches/invoke.rs`): building the guest
//! components it measures without the test kit, so a release build stays small.

use std::path::PathBuf;
use std::process::Command;

/// Builds one package of the guest workspace (release, wasm32-wasip2) and returns its component.
pub fn guest(package: &str) -> Result<Vec<u8>, String> {
    let workspace = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    // Never the outer build's directory: the cargo running the benchmark holds its lock.
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("guests"),
        None => workspace.join("target"),
    };
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(&workspace)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args(["build", "--release", "--target", "wasm32-wasip2", "--quiet", "-p", package])
        .output()
        .map_err(|e| format!("cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("building {package}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let file = target.join("wasm32-wasip2/release").join(format!("{}.wasm", package.replace('-', "_")));
    std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))
}
