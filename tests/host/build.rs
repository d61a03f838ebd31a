//! Generates the host bindings for the Spin interfaces from the `spin-sdk`
//! crate's own WIT files.
//!
//! `wasmtime::component::bindgen!` needs a literal path, and the WIT lives in
//! the `spin-sdk` crate's folder in the cargo registry (whose location depends
//! on the machine). This script asks `cargo metadata` where the `spin-sdk`
//! this crate depends on lives and writes the `bindgen!` invocation into
//! `OUT_DIR/spin_bindings.rs`, which `src/bindings.rs` includes.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

const THIS_PACKAGE: &str = "switchboard-test-host";
const SDK_PACKAGE: &str = "spin-sdk";

fn main() {
    if let Err(message) = generate() {
        // A build script reports failure by panicking; the message is what
        // the developer sees.
        panic!("switchboard-test-host build script: {message}");
    }
}

fn generate() -> Result<(), String> {
    let manifest_dir = env::var("CARGO_MANIFEST_DIR").map_err(|e| e.to_string())?;
    let out_dir = env::var("OUT_DIR").map_err(|e| e.to_string())?;
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());

    // Filtering on the wasm target keeps `cargo metadata` from needing (and
    // downloading) the crates of every other platform; `spin-sdk` is a
    // dependency of this crate for wasm targets only.
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .args(["--filter-platform", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(PathBuf::from(&manifest_dir).join("Cargo.toml"))
        .output()
        .map_err(|e| format!("cannot run `cargo metadata`: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "`cargo metadata` failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`cargo metadata` printed invalid JSON: {e}"))?;

    let wit_dir = sdk_wit_dir(&metadata)?;
    if let Some(root) = metadata["workspace_root"].as_str() {
        println!("cargo:rerun-if-changed={root}/Cargo.lock");
    }
    println!("cargo:rerun-if-changed=build.rs");

    let source = format!(
        r####"wasmtime::component::bindgen!({{
    inline: r#"
        package switchboard:test-host;

        world spin-imports {{
            import fermyon:spin/key-value@2.0.0;
            import fermyon:spin/variables@2.0.0;
            import wasi:keyvalue/store@0.2.0-draft2;
            import wasi:keyvalue/atomics@0.2.0-draft2;
            import wasi:keyvalue/batch@0.2.0-draft2;
        }}
    "#,
    path: r#"{wit}"#,
    world: "switchboard:test-host/spin-imports",
    imports: {{ default: async | trappable }},
    with: {{
        "fermyon:spin/key-value.store": crate::key_value::OpenStore,
        "wasi:keyvalue/store.bucket": crate::key_value::OpenBucket,
        "wasi:keyvalue/atomics.cas": crate::key_value::OpenCas,
    }},
}});
"####,
        wit = wit_dir.display()
    );
    fs::write(PathBuf::from(out_dir).join("spin_bindings.rs"), source)
        .map_err(|e| format!("cannot write the bindings source: {e}"))
}

/// Finds the `wit` folder of the `spin-sdk` package that this crate depends on.
fn sdk_wit_dir(metadata: &Value) -> Result<PathBuf, String> {
    let packages = metadata["packages"]
        .as_array()
        .ok_or("`cargo metadata` listed no packages")?;
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .ok_or("`cargo metadata` printed no dependency graph")?;

    let this_id = packages
        .iter()
        .find(|p| p["name"] == THIS_PACKAGE)
        .and_then(|p| p["id"].as_str())
        .ok_or("this package is missing from `cargo metadata`")?;
    let sdk_id = nodes
        .iter()
        .find(|n| n["id"] == this_id)
        .and_then(|n| n["deps"].as_array())
        .and_then(|deps| {
            deps.iter()
                .find(|d| d["name"] == SDK_PACKAGE.replace('-', "_"))
        })
        .and_then(|d| d["pkg"].as_str())
        .ok_or("`spin-sdk` is not a resolved dependency of this package")?;
    let manifest = packages
        .iter()
        .find(|p| p["id"] == sdk_id)
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or("`spin-sdk` has no manifest path in `cargo metadata`")?;

    let wit = PathBuf::from(manifest)
        .parent()
        .ok_or("`spin-sdk` manifest path has no parent folder")?
        .join("wit");
    if wit.is_dir() {
        Ok(wit)
    } else {
        Err(format!("`{}` is not a folder", wit.display()))
    }
}
