//! The primitives every vendor format is built from: HMAC-SHA256, SHA-256,
//! constant-time comparison and zlib.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::RtcError;

/// Decompressed tokens are a few hundred bytes; anything beyond this is not
/// a token of ours and must not make the verifier allocate without bound.
const MAX_INFLATED_LEN: usize = 64 * 1024;

/// zlib's default level, what the vendors' reference builders use.
const ZLIB_LEVEL: u8 = 6;

/// HMAC-SHA256 over the concatenation of `parts`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = new_hmac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `msg` under `key`, in constant time.
pub(crate) fn hmac_sha256_matches(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    let mut mac = new_hmac(key);
    mac.update(msg);
    mac.verify_slice(tag).is_ok()
}

fn new_hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC is defined for keys of every length (long keys are hashed, short
    // ones padded); `hmac` reports `InvalidLength` only for fixed-key MACs.
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length")
}

/// SHA-256 over the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// Byte equality whose timing does not depend on where the inputs differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// A zlib stream (RFC 1950) at the default level.
///
/// The output differs from C zlib's for the same input; both inflate to the
/// same bytes, which is all a token verifier looks at.
pub(crate) fn zlib_compress(data: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, ZLIB_LEVEL)
}

/// Inflates a zlib stream (checking its Adler-32), refusing oversized output.
pub(crate) fn zlib_inflate(data: &[u8]) -> Result<Vec<u8>, RtcError> {
    miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, MAX_INFLATED_LEN)
        .map_err(|_| RtcError::InvalidToken("not a zlib stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let tag = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex(&tag),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert!(hmac_sha256_matches(
            b"Jefe",
            b"what do ya want for nothing?",
            &tag
        ));
        assert!(!hmac_sha256_matches(
            b"Jefe",
            b"what do ya want for nothing!",
            &tag
        ));
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            hex(&sha256(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn zlib_round_trips_and_refuses_garbage_and_bombs() {
        let data = b"switchboard".repeat(20);
        assert_eq!(zlib_inflate(&zlib_compress(&data)), Ok(data));
        assert!(zlib_inflate(b"not zlib").is_err());
        let bomb = zlib_compress(&vec![0; MAX_INFLATED_LEN + 1]);
        assert!(zlib_inflate(&bomb).is_err());
    }

    #[test]
    fn zlib_refuses_a_corrupted_checksum() {
        let mut stream = zlib_compress(b"switchboard");
        if let Some(last) = stream.last_mut() {
            *last ^= 1;
        }
        assert!(zlib_inflate(&stream).is_err());
    }
}
