//! Compilation: once, at upload, in a separate worker process bounded in time and address space
//! (wasmtime does not treat slow compilation of a hostile module as a security bug); the artifact
//! is cached on disk by content hash and loaded from there afterwards.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::UploadError;
use crate::engine;

/// How the worker is started: a program and its arguments (the `switchboard` binary runs it as
/// `switchboard plugin compile-worker`).
#[derive(Debug, Clone)]
pub struct Compiler {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

/// Exit code of the worker when the input is not a valid component (stderr says why).
const INVALID: i32 = 2;

/// The worker's main: limits itself, reads a component on stdin, writes the compiled artifact to
/// stdout. Exit 0, or [`INVALID`] with the reason on stderr.
pub fn worker_main(memory_bytes: u64, cpu: Duration) -> i32 {
    // Before reading a byte of tenant input.
    let _ = rlimit::setrlimit(rlimit::Resource::AS, memory_bytes, memory_bytes);
    let secs = cpu.as_secs().max(1);
    let _ = rlimit::setrlimit(rlimit::Resource::CPU, secs, secs + 1);
    let mut input = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut input) {
        let _ = writeln!(std::io::stderr(), "reading the component: {e}");
        return 1;
    }
    let engine = match engine::compile_engine() {
        Ok(e) => e,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "engine: {e}");
            return 1;
        }
    };
    match engine.precompile_component(&input) {
        Ok(bytes) => match std::io::stdout().write_all(&bytes).and_then(|()| std::io::stdout().flush()) {
            Ok(()) => 0,
            Err(e) => {
                let _ = writeln!(std::io::stderr(), "writing the artifact: {e}");
                1
            }
        },
        Err(e) => {
            let _ = write!(std::io::stderr(), "{}", first_cause(&e));
            INVALID
        }
    }
}

/// The most telling line of a wasmtime error chain.
fn first_cause(e: &wasmtime::Error) -> String {
    let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    chain.join(": ")
}

/// Runs the worker on `wasm` and returns the artifact.
pub(crate) async fn run_worker(compiler: &Compiler, wasm: &[u8], limit: Duration) -> Result<Vec<u8>, UploadError> {
    let mut child = tokio::process::Command::new(&compiler.program)
        .args(&compiler.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| UploadError::Compile(format!("could not start the compiler: {e}")))?;
    let mut stdin = child.stdin.take().ok_or_else(|| UploadError::Compile("no stdin".into()))?;
    let mut stdout = child.stdout.take().ok_or_else(|| UploadError::Compile("no stdout".into()))?;
    let mut stderr = child.stderr.take().ok_or_else(|| UploadError::Compile("no stderr".into()))?;
    let input = wasm.to_vec();
    let work = async move {
        let feed = async move {
            let r = stdin.write_all(&input).await;
            drop(stdin);
            r
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let (fed, read_out, read_err) = tokio::join!(feed, stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
        let status = child.wait().await;
        (fed, read_out, read_err, status, out, err)
    };
    let (_fed, read_out, _read_err, status, out, err) = tokio::time::timeout(limit, work)
        .await
        .map_err(|_| UploadError::Compile(format!("compiling took longer than {} s", limit.as_secs())))?;
    let status = status.map_err(|e| UploadError::Compile(format!("compiler: {e}")))?;
    read_out.map_err(|e| UploadError::Compile(format!("compiler output: {e}")))?;
    let message = String::from_utf8_lossy(&err).trim().to_string();
    match status.code() {
        Some(0) if !out.is_empty() => Ok(out),
        Some(INVALID) => Err(UploadError::Invalid(message)),
        Some(code) => Err(UploadError::Compile(format!("compiler exited with {code}: {message}"))),
        // Killed by a signal: the address-space or CPU limit.
        None => Err(UploadError::Compile(format!("the compiler was stopped by its limits: {message}"))),
    }
}

/// Where a component's artifact lives in the cache.
pub(crate) fn artifact_path(dir: &Path, sha256: &str, engine_hash: &str) -> PathBuf {
    dir.join(format!("{sha256}-{engine_hash}.cwasm"))
}

/// Writes an artifact atomically (a reader never sees half a file).
pub(crate) fn store_artifact(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
