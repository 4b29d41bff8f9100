//! Tenant plugin guests (the SDK's examples and the test fixtures under `tenant-plugins/`), built
//! for wasm32-wasip2 once per test process.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The guest workspace.
pub fn guest_workspace() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tenant-plugins"))
}

fn target_dir() -> PathBuf {
    // Never the outer build's directory: that one is locked by the cargo running the tests.
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("guests"),
        None => guest_workspace().join("target"),
    }
}

fn target_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == "wasm32-wasip2"))
}

/// Builds every guest (release, wasm32-wasip2); the result is shared by the process's tests.
fn build_all() -> Result<PathBuf, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if !target_installed() {
                return Err("the wasm32-wasip2 target is not installed (rustup target add wasm32-wasip2)".into());
            }
            let target = target_dir();
            std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            // Test processes run in parallel; one builds at a time.
            let lock = std::fs::File::create(target.join(".switchboard-build-lock")).map_err(|e| e.to_string())?;
            lock.lock().map_err(|e| e.to_string())?;
            let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .current_dir(guest_workspace())
                .env("CARGO_TARGET_DIR", &target)
                // The VIP example calls its CRM on the test's loopback stand-in.
                .env("VIP_CRM_HOST", "127.0.0.1")
                .env_remove("RUSTFLAGS")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .args(["build", "--release", "--target", "wasm32-wasip2", "--workspace", "--quiet"])
                .output()
                .map_err(|e| format!("cargo: {e}"))?;
            if !out.status.success() {
                return Err(format!("building the guests failed:\n{}", String::from_utf8_lossy(&out.stderr)));
            }
            Ok(target.join("wasm32-wasip2").join("release"))
        })
        .clone()
}

/// The component built from guest crate `package` (e.g. `fixture-hostile`), or None after a loud
/// skip when the wasm32-wasip2 target is missing outside CI.
///
/// # Panics
/// When the guests do not build, or under CI when the target is missing.
pub fn guest(package: &str) -> Option<Vec<u8>> {
    match build_all() {
        Ok(dir) => {
            let file = dir.join(format!("{}.wasm", package.replace('-', "_")));
            Some(std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())))
        }
        Err(why) if why.contains("not installed") && !crate::in_ci() => {
            eprintln!("\n*** SKIPPED plugin guest tests: {why} ***\n");
            None
        }
        Err(why) => panic!("{why}"),
    }
}
