//! `cargo xtask tidy`: checks the layering rules of ARCHITECTURE.md against the real dependency
//! graph (`cargo metadata`). The same checks run as a test, so CI enforces them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

/// Crates that do IO or bring a runtime; pure crates must not reach them, even transitively.
const IO_CRATES: &[&str] = &["tokio", "sqlx", "axum", "hyper", "lapin", "wasmtime", "webrtc", "mio", "reqwest"];

/// Pure layers (vocabulary, logic, protocols), by folder.
const PURE: &[&str] = &[
    "platform/domain",
    "platform/api-types",
    "platform/routing",
    "platform/billing",
    "platform/control-link",
    "media-edge/sip",
    "media-edge/media",
    "media-edge/ivr",
];

/// Seams: may use tokio's sync primitives, never an IO adapter's heavy crate.
const SEAMS: &[&str] = &["platform/store", "platform/bus"];
const SEAM_FORBIDDEN: &[&str] = &["sqlx", "axum", "hyper", "lapin", "wasmtime", "webrtc", "reqwest"];

/// Each heavy dependency belongs to exactly one crate (test fixtures excepted).
const OWNERS: &[(&str, &str)] = &[
    ("sqlx", "switchboard-store-sql"),
    ("lapin", "switchboard-bus-amqp"),
    ("axum", "switchboard-server"),
    ("wasmtime", "switchboard-plugin-host"),
    ("webrtc", "switchboard-edge"),
    ("async-stripe", "switchboard-billing-stripe"),
];
/// Test fixtures, and benchmarks that compare an owner with its heavy dependency used bare.
const FIXTURE_CRATES: &[&str] = &["switchboard-testkit", "switchboard-plugin-bench"];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("tidy") => {
            let problems = tidy(&workspace_root())?;
            if problems.is_empty() {
                eprintln!("tidy: architecture invariants hold");
                Ok(())
            } else {
                for p in &problems {
                    eprintln!("tidy: {p}");
                }
                bail!("{} architecture problem(s)", problems.len())
            }
        }
        _ => bail!("usage: cargo xtask tidy"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Graph {
    /// package id -> (name, manifest dir relative to the root)
    members: BTreeMap<String, (String, String)>,
    /// package id -> normal (non-dev, non-build) dependency ids
    deps: BTreeMap<String, Vec<String>>,
    /// package id -> crate name
    names: BTreeMap<String, String>,
}

fn graph(root: &Path) -> anyhow::Result<Graph> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: Value = serde_json::from_slice(&out.stdout)?;
    let root_dir = meta["workspace_root"].as_str().unwrap_or_default().to_owned();
    let members: BTreeSet<&str> =
        meta["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mut g = Graph { members: BTreeMap::new(), deps: BTreeMap::new(), names: BTreeMap::new() };
    for p in meta["packages"].as_array().into_iter().flatten() {
        let id = p["id"].as_str().unwrap_or_default().to_owned();
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        if members.contains(id.as_str()) {
            let manifest = p["manifest_path"].as_str().unwrap_or_default();
            let dir = manifest
                .strip_prefix(&root_dir)
                .unwrap_or(manifest)
                .trim_start_matches('/')
                .trim_end_matches("Cargo.toml")
                .trim_end_matches('/')
                .to_owned();
            g.members.insert(id.clone(), (name.clone(), dir));
        }
        g.names.insert(id, name);
    }
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let id = node["id"].as_str().unwrap_or_default().to_owned();
        let deps = node["deps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null()))
            .filter_map(|d| d["pkg"].as_str().map(str::to_owned))
            .collect();
        g.deps.insert(id, deps);
    }
    Ok(g)
}

/// Every crate reachable from `id` through normal dependencies.
fn closure(g: &Graph, id: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![id.to_owned()];
    while let Some(next) = stack.pop() {
        for d in g.deps.get(&next).into_iter().flatten() {
            if seen.insert(d.clone()) {
                stack.push(d.clone());
            }
        }
    }
    seen.into_iter().filter_map(|d| g.names.get(&d).cloned()).collect()
}

/// All violations of the layering rules.
pub fn tidy(root: &Path) -> anyhow::Result<Vec<String>> {
    let g = graph(root)?;
    let mut problems = Vec::new();
    for (id, (name, dir)) in &g.members {
        let reach = closure(&g, id);
        if PURE.contains(&dir.as_str()) {
            for bad in IO_CRATES.iter().filter(|c| reach.contains(**c)) {
                problems.push(format!("{name} ({dir}) is a pure crate but depends on {bad}"));
            }
        }
        if SEAMS.contains(&dir.as_str()) {
            for bad in SEAM_FORBIDDEN.iter().filter(|c| reach.contains(**c)) {
                problems.push(format!("{name} ({dir}) is a seam but depends on {bad}"));
            }
        }
        if FIXTURE_CRATES.contains(&name.as_str()) {
            continue;
        }
        let direct: BTreeSet<String> =
            g.deps.get(id).into_iter().flatten().filter_map(|d| g.names.get(d).cloned()).collect();
        for (heavy, owner) in OWNERS {
            if direct.contains(*heavy) && name != owner {
                problems.push(format!("{name} depends on {heavy} directly; only {owner} may"));
            }
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architecture_invariants_hold() {
        let problems = tidy(&workspace_root()).expect("cargo metadata");
        assert!(problems.is_empty(), "architecture invariants broken:\n{}", problems.join("\n"));
    }

    #[test]
    fn the_checker_sees_the_workspace() {
        let g = graph(&workspace_root()).expect("metadata");
        let dirs: BTreeSet<&str> = g.members.values().map(|(_, d)| d.as_str()).collect();
        assert!(dirs.contains("platform/domain"), "{dirs:?}");
        assert!(dirs.contains("platform/server"), "{dirs:?}");
        // The server reaches axum and tokio, so the closure walk works.
        let server =
            g.members.iter().find(|(_, (n, _))| n == "switchboard-server").map(|(id, _)| id.clone()).expect("server");
        let reach = closure(&g, &server);
        assert!(reach.contains("axum") && reach.contains("tokio"));
    }
}
