//! The stable-Rust smoke run of every fuzz target: a few thousand inputs
//! each (random bytes, and mutations of the seed inputs in `seeds/`), plus
//! whatever `cargo fuzz` left in `corpus/` and `artifacts/`. Set
//! `SMOKE_ITERATIONS` for a longer run.

use std::path::Path;

/// xorshift64*: a reproducible input generator, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Bytes that JSON decoders find interesting.
const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"1",
    b"-1",
    b"1e999",
    b"\\u0000",
    b"\"id\"",
    b"\"op\"",
    b"\"to\"",
    b"\"call\"",
    b"\"v\"",
    b"\"ts\"",
    b"\"payload\"",
    b"\"invite\"",
    b"@@@",
    b"\xff",
    b"\xc3",
];

/// One random edit of `input`: a flip, an insertion, a deletion, a token.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>) {
    let at = rng.below(input.len() + 1);
    match rng.below(5) {
        0 if !input.is_empty() => {
            let i = at.min(input.len() - 1);
            input[i] ^= 1 << rng.below(8);
        }
        1 => {
            let len = rng.below(8) + 1;
            let extra = rng.bytes(len);
            input.splice(at..at, extra);
        }
        2 if !input.is_empty() => {
            let end = (at + rng.below(16) + 1).min(input.len());
            input.drain(at.min(end)..end);
        }
        _ => {
            let token = TOKENS[rng.below(TOKENS.len())];
            input.splice(at..at, token.iter().copied());
        }
    }
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Vec<u8>> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter_map(|e| std::fs::read(e.path()).ok())
        .collect();
    out.sort();
    out
}

fn iterations() -> usize {
    std::env::var("SMOKE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4_000)
}

/// Runs `target` over the saved inputs, random bytes and seed mutations;
/// returns how many inputs it ran.
fn smoke(name: &str, target: fn(&[u8]), seed: u64) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seeds = files(&root.join("seeds").join(name));
    let mut saved = seeds.clone();
    saved.extend(files(&root.join("corpus").join(name)));
    saved.extend(files(&root.join("artifacts").join(name)));
    for input in &saved {
        target(input);
    }
    let mut rng = Rng(seed);
    let n = iterations();
    for i in 0..n {
        let input = if seeds.is_empty() || i % 2 == 0 {
            let len = rng.below(512);
            rng.bytes(len)
        } else {
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..=rng.below(8) {
                mutate(&mut rng, &mut input);
            }
            input
        };
        target(&input);
    }
    saved.len() + n
}

#[test]
fn envelope() {
    assert!(smoke("envelope", switchboard_fuzz::envelope, 0x5EED_0001) >= iterations());
}

#[test]
fn upstream() {
    assert!(smoke("upstream", switchboard_fuzz::upstream, 0x5EED_0002) >= iterations());
}

#[test]
fn state_machine() {
    assert!(
        smoke(
            "state_machine",
            switchboard_fuzz::state_machine,
            0x5EED_0003
        ) >= iterations()
    );
}
