//! Compiling components, with an on-disk cache of the machine code so a host
//! built in debug mode does not spend seconds in Cranelift at every start.
//!
//! The cache file name holds a SHA-256 of the Wasm bytes and the engine's
//! compatibility hash (Wasmtime version and settings); a file that no longer loads
//! is simply compiled again.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmtime::component::Component;
use wasmtime::Engine;

/// The environment variable that overrides where compiled components are cached.
pub const CACHE_DIR_ENV: &str = "SWITCHBOARD_HOST_CACHE_DIR";

/// A component that cannot be loaded.
#[derive(Debug, Error)]
pub enum CompileError {
    /// The Wasm file could not be read.
    #[error("cannot read component source {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Wasmtime rejected the component.
    #[error("cannot compile {path}: {message}")]
    Compile {
        /// The file.
        path: PathBuf,
        /// Wasmtime's error, with its causes.
        message: String,
    },
}

/// Loads the component at `path`, from `cache_dir` when it holds a compiled
/// copy of the same bytes, compiling (and caching) it otherwise.
pub fn load_component(
    engine: &Engine,
    path: &Path,
    cache_dir: Option<&Path>,
) -> Result<Component, CompileError> {
    let bytes = std::fs::read(path).map_err(|source| CompileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let compile_error = |e: wasmtime::Error| CompileError::Compile {
        path: path.to_owned(),
        message: format!("{e:#}"),
    };

    let cached = cache_dir.map(|dir| dir.join(cache_file_name(engine, &bytes)));
    if let Some(cached) = cached.as_deref().filter(|c| c.is_file()) {
        // SAFETY: the file is one this host wrote with
        // `Engine::precompile_component` into its own cache folder; Wasmtime
        // checks its header against this engine before using it.
        match unsafe { Component::deserialize_file(engine, cached) } {
            Ok(component) => return Ok(component),
            Err(e) => eprintln!(
                "switchboard-host: ignoring unusable compiled cache {}: {e:#}",
                cached.display()
            ),
        }
    }

    let compiled = engine.precompile_component(&bytes).map_err(compile_error)?;
    if let Some(cached) = cached.as_deref() {
        if let Err(e) = write_atomically(cached, &compiled) {
            eprintln!(
                "switchboard-host: cannot cache compiled component at {}: {e}",
                cached.display()
            );
        }
    }
    // SAFETY: `compiled` was produced just above by this engine.
    unsafe { Component::deserialize(engine, &compiled) }.map_err(compile_error)
}

fn cache_file_name(engine: &Engine, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{hex}-{:016x}.cwasm", hasher.finish())
}

/// Writes through a temporary file and a rename, so a concurrent host never
/// reads a half-written file.
fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, contents)?;
    std::fs::rename(&temporary, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal component: `(component)` in the binary format.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    #[test]
    fn compiles_once_then_loads_from_the_cache() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let wasm = dir.path().join("empty.wasm");
        std::fs::write(&wasm, EMPTY_COMPONENT).unwrap_or_else(|e| panic!("{e}"));
        let cache = dir.path().join("cache");
        let engine = Engine::default();

        load_component(&engine, &wasm, Some(&cache)).unwrap_or_else(|e| panic!("{e}"));
        let files: Vec<_> = std::fs::read_dir(&cache)
            .unwrap_or_else(|e| panic!("{e}"))
            .collect();
        assert_eq!(files.len(), 1);
        load_component(&engine, &wasm, Some(&cache)).unwrap_or_else(|e| panic!("{e}"));

        // A corrupt cache entry is replaced, not fatal.
        let entry = cache.join(cache_file_name(&engine, EMPTY_COMPONENT));
        std::fs::write(&entry, b"garbage").unwrap_or_else(|e| panic!("{e}"));
        load_component(&engine, &wasm, Some(&cache)).unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(std::fs::read(&entry).unwrap_or_default(), b"garbage");
    }

    #[test]
    fn a_missing_source_is_reported() {
        let err = load_component(&Engine::default(), Path::new("/nonexistent.wasm"), None);
        assert!(matches!(err, Err(CompileError::Read { .. })));
    }
}
