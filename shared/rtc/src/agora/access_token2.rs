//! Agora AccessToken2 (`007…`) with the RTC service, as built by
//! AgoraIO/Tools `DynamicKey/AgoraDynamicKey/python3/src/AccessToken2.py`.
//!
//! Layout (all integers little-endian, strings with a `u16` length prefix):
//!
//! ```text
//! signing key = HMAC(u32(salt), HMAC(u32(issue_ts), app_certificate))
//! info        = app_id | u32 issue_ts | u32 expire | u32 salt | u16 1 (services)
//!             | u16 1 (RTC) | u16 count | (u16 privilege, u32 expire)* sorted
//!             | channel_name | uid
//! token       = "007" + Base64( zlib( string(HMAC(signing key, info)) | info ) )
//! ```
//!
//! `expire` and the privilege values are seconds **relative** to `issue_ts`.

use std::collections::BTreeMap;

use base64::{engine::general_purpose::STANDARD, Engine as _};

use crate::crypto::{hmac_sha256, hmac_sha256_matches, zlib_compress, zlib_inflate};
use crate::wire::Reader;
use crate::{RtcError, Secret};

/// The version prefix of every AccessToken2.
pub const VERSION: &str = "007";

/// The service type of RTC in AccessToken2.
pub const SERVICE_RTC: u16 = 1;

/// RTC privilege: join the channel.
pub const PRIVILEGE_JOIN_CHANNEL: u16 = 1;
/// RTC privilege: publish audio.
pub const PRIVILEGE_PUBLISH_AUDIO: u16 = 2;
/// RTC privilege: publish video.
pub const PRIVILEGE_PUBLISH_VIDEO: u16 = 3;
/// RTC privilege: publish data streams.
pub const PRIVILEGE_PUBLISH_DATA: u16 = 4;

/// What an RTC AccessToken2 asserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcTokenClaims {
    /// The Agora App ID.
    pub app_id: String,
    /// When the token was issued, Unix seconds.
    pub issue_ts: u32,
    /// Token lifetime, seconds after `issue_ts`.
    pub expire: u32,
    /// Random value mixed into the signing key.
    pub salt: u32,
    /// The channel.
    pub channel_name: String,
    /// The user account, or a numeric uid in decimal (`""` for uid 0).
    pub uid: String,
    /// `PRIVILEGE_*` → lifetime in seconds after `issue_ts`.
    pub privileges: BTreeMap<u16, u32>,
}

/// Signs `claims` with the app certificate.
pub fn encode(claims: &RtcTokenClaims, app_certificate: &Secret) -> Result<String, RtcError> {
    let content = pack(claims, app_certificate)?;
    Ok(format!(
        "{VERSION}{}",
        STANDARD.encode(zlib_compress(&content))
    ))
}

/// Decodes `token` and checks its signature with the app certificate, in
/// constant time. It does not look at the clock: compare
/// `issue_ts + expire` with the current time, and the App ID, yourself.
pub fn verify(token: &str, app_certificate: &Secret) -> Result<RtcTokenClaims, RtcError> {
    let encoded = token
        .strip_prefix(VERSION)
        .ok_or(RtcError::InvalidToken("not a 007 AccessToken2"))?;
    let compressed = STANDARD
        .decode(encoded)
        .map_err(|_| RtcError::InvalidToken("not Base64"))?;
    let content = zlib_inflate(&compressed)?;
    let mut reader = Reader::new(&content);
    let signature_len = usize::from(reader.u16_le()?);
    let signature = reader.take(signature_len)?;
    let info = reader.rest();
    let claims = read_info(&mut Reader::new(info))?;
    let key = signing_key(app_certificate, claims.issue_ts, claims.salt);
    if hmac_sha256_matches(&key, info, signature) {
        Ok(claims)
    } else {
        Err(RtcError::InvalidToken("signature mismatch"))
    }
}

/// The uncompressed token: `string(signature) | info`.
fn pack(claims: &RtcTokenClaims, app_certificate: &Secret) -> Result<Vec<u8>, RtcError> {
    let info = pack_info(claims)?;
    let key = signing_key(app_certificate, claims.issue_ts, claims.salt);
    let signature = hmac_sha256(&key, &[&info]);
    let mut content = Vec::with_capacity(2 + signature.len() + info.len());
    put_bytes(&mut content, &signature)?;
    content.extend_from_slice(&info);
    Ok(content)
}

fn signing_key(app_certificate: &Secret, issue_ts: u32, salt: u32) -> [u8; 32] {
    let key = hmac_sha256(&issue_ts.to_le_bytes(), &[app_certificate.as_bytes()]);
    hmac_sha256(&salt.to_le_bytes(), &[&key])
}

fn pack_info(claims: &RtcTokenClaims) -> Result<Vec<u8>, RtcError> {
    let mut info = Vec::with_capacity(128);
    put_bytes(&mut info, claims.app_id.as_bytes())?;
    info.extend_from_slice(&claims.issue_ts.to_le_bytes());
    info.extend_from_slice(&claims.expire.to_le_bytes());
    info.extend_from_slice(&claims.salt.to_le_bytes());
    info.extend_from_slice(&1_u16.to_le_bytes());
    info.extend_from_slice(&SERVICE_RTC.to_le_bytes());
    put_len(&mut info, claims.privileges.len())?;
    for (privilege, expire) in &claims.privileges {
        info.extend_from_slice(&privilege.to_le_bytes());
        info.extend_from_slice(&expire.to_le_bytes());
    }
    put_bytes(&mut info, claims.channel_name.as_bytes())?;
    put_bytes(&mut info, claims.uid.as_bytes())?;
    Ok(info)
}

fn read_info(reader: &mut Reader<'_>) -> Result<RtcTokenClaims, RtcError> {
    let app_id = read_string(reader)?;
    let issue_ts = reader.u32_le()?;
    let expire = reader.u32_le()?;
    let salt = reader.u32_le()?;
    if reader.u16_le()? != 1 || reader.u16_le()? != SERVICE_RTC {
        return Err(RtcError::InvalidToken(
            "not a token for the RTC service only",
        ));
    }
    let mut privileges = BTreeMap::new();
    for _ in 0..reader.u16_le()? {
        let privilege = reader.u16_le()?;
        let expire = reader.u32_le()?;
        if privileges.insert(privilege, expire).is_some() {
            return Err(RtcError::InvalidToken("duplicate privilege"));
        }
    }
    let channel_name = read_string(reader)?;
    let uid = read_string(reader)?;
    if !reader.rest().is_empty() {
        return Err(RtcError::InvalidToken("trailing bytes after the body"));
    }
    Ok(RtcTokenClaims {
        app_id,
        issue_ts,
        expire,
        salt,
        channel_name,
        uid,
        privileges,
    })
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), RtcError> {
    let len = u16::try_from(len)
        .map_err(|_| RtcError::InvalidInput("token field is too long".to_owned()))?;
    out.extend_from_slice(&len.to_le_bytes());
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), RtcError> {
    put_len(out, bytes.len())?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn read_string(reader: &mut Reader<'_>) -> Result<String, RtcError> {
    let len = usize::from(reader.u16_le()?);
    reader.utf8(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::hex;
    use crate::testutil::Rng;

    /// `python3/test/AccessToken2Test.py`, uid 2882341273.
    const OFFICIAL_TOKEN: &str = "007eJxTYBBbsMMnKq7p9Hf/HcIX5kce9b518kCiQgSr5Zrp4X1Tu6UUGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiVwMRhYWRsYmhkbmxgDCaiTj";
    /// The same test, uid 0.
    const OFFICIAL_TOKEN_UID_0: &str = "007eJxTYLhzZP08Lxa1Pg57+TcXb/3cZ3wi4V6kbpbOog0G2dOYk20UGCzNDZwdjU1TUs0Mkk1MzExMk5ISUy0SjQxNDcwMk4yN3b8IMEQwMTAwMoAwBIL4CgzmKeZGxmamqUmWFsYmFqbGluapxqnGaZYpJmYGSSkpiQwMADacImo=";

    fn certificate() -> Secret {
        Secret::new("5CFd2fd1755d40ecb72977518be15d3b")
    }

    fn official_claims(uid: &str) -> RtcTokenClaims {
        RtcTokenClaims {
            app_id: "970CA35de60c44645bbae8a215061b33".to_owned(),
            issue_ts: 1_111_111,
            expire: 600,
            salt: 1,
            channel_name: "7d72365eb983485397e3e3f9d460bdda".to_owned(),
            uid: uid.to_owned(),
            privileges: BTreeMap::from([(PRIVILEGE_JOIN_CHANNEL, 600)]),
        }
    }

    fn inflated(token: &str) -> Vec<u8> {
        let compressed = token
            .strip_prefix(VERSION)
            .and_then(|encoded| STANDARD.decode(encoded).ok());
        match compressed.map(|compressed| zlib_inflate(&compressed)) {
            Some(Ok(content)) if !content.is_empty() => content,
            other => panic!("{token:?} does not inflate: {other:?}"),
        }
    }

    #[test]
    fn official_signing_key() {
        assert_eq!(
            hex(&signing_key(&certificate(), 1_111_111, 1)),
            "cee2fa8dcbe868c30ca8c959d97fad4a5049c634da48449f1b8f59c14fa61073"
        );
    }

    #[test]
    fn official_vectors_are_reproduced_byte_for_byte_before_compression() {
        for (uid, token) in [("2882341273", OFFICIAL_TOKEN), ("", OFFICIAL_TOKEN_UID_0)] {
            let content = pack(&official_claims(uid), &certificate()).unwrap_or_default();
            assert_eq!(content, inflated(token), "uid {uid:?}");
            let minted = encode(&official_claims(uid), &certificate()).unwrap_or_default();
            assert_eq!(inflated(&minted), content);
        }
    }

    #[test]
    fn official_payload_matches_the_documented_layout() {
        let expected = [
            "2000",
            "16a0b84c5a5e82cbf74fb813d09f59c54bdac9c06120580539ac97578e958b1a",
            "2000",
            &hex(b"970CA35de60c44645bbae8a215061b33"),
            "47f41000", // issue_ts 1111111
            "58020000", // expire 600
            "01000000", // salt 1
            "0100",     // one service
            "0100",     // RTC
            "0100",     // one privilege
            "0100",     // join channel
            "58020000", // 600
            "2000",
            &hex(b"7d72365eb983485397e3e3f9d460bdda"),
            "0a00",
            &hex(b"2882341273"),
        ]
        .concat();
        assert_eq!(hex(&inflated(OFFICIAL_TOKEN)), expected);
    }

    #[test]
    fn official_tokens_verify() {
        assert_eq!(
            verify(OFFICIAL_TOKEN, &certificate()),
            Ok(official_claims("2882341273"))
        );
        assert_eq!(
            verify(OFFICIAL_TOKEN_UID_0, &certificate()),
            Ok(official_claims(""))
        );
    }

    #[test]
    fn refuses_a_wrong_certificate_and_a_forged_body() {
        let wrong = Secret::new("5CFd2fd1755d40ecb72977518be15d3c");
        assert_eq!(
            verify(OFFICIAL_TOKEN, &wrong),
            Err(RtcError::InvalidToken("signature mismatch"))
        );
        let mut content = inflated(OFFICIAL_TOKEN);
        let len = content.len();
        content[len - 1] = b'4'; // uid 2882341273 → 2882341274
        let forged = format!("{VERSION}{}", STANDARD.encode(zlib_compress(&content)));
        assert_eq!(
            verify(&forged, &certificate()),
            Err(RtcError::InvalidToken("signature mismatch"))
        );
    }

    #[test]
    fn refuses_malformed_tokens() {
        let with_trailing_byte = {
            let mut content = inflated(OFFICIAL_TOKEN);
            content.push(0);
            format!("{VERSION}{}", STANDARD.encode(zlib_compress(&content)))
        };
        for token in [
            "",
            "006abc",
            "007***",
            &OFFICIAL_TOKEN[..40],
            with_trailing_byte.as_str(),
        ] {
            assert!(verify(token, &certificate()).is_err(), "accepted {token:?}");
        }
    }

    #[test]
    fn random_claims_round_trip_and_any_flipped_bit_is_refused() {
        let mut rng = Rng::new(0x0007);
        for _ in 0..64 {
            let lifetime = (rng.next_u64() % 86_400) as u32;
            let claims = RtcTokenClaims {
                app_id: rng.identifier(32, 32),
                issue_ts: (rng.next_u64() >> 32) as u32,
                expire: lifetime,
                salt: (rng.next_u64() >> 32) as u32,
                channel_name: rng.identifier(1, 63),
                uid: rng.identifier(0, 255),
                privileges: (1..=4).map(|privilege| (privilege, lifetime)).collect(),
            };
            let certificate = Secret::new(rng.identifier(32, 32));
            let token = encode(&claims, &certificate).unwrap_or_default();
            assert_eq!(verify(&token, &certificate).as_ref(), Ok(&claims));

            let mut content = inflated(&token);
            let bit = rng.below(content.len() * 8);
            content[bit / 8] ^= 1 << (bit % 8);
            let tampered = format!("{VERSION}{}", STANDARD.encode(zlib_compress(&content)));
            assert!(verify(&tampered, &certificate).is_err(), "bit {bit}");
        }
    }
}
