//! A bounds-checked cursor over the binary bodies of vendor tokens.
//!
//! Every read fails with [`RtcError::InvalidToken`] instead of panicking, so
//! decoders can parse untrusted bytes with `?`.

use crate::RtcError;

const TRUNCATED: RtcError = RtcError::InvalidToken("truncated token body");

/// Reads fixed-size integers and length-prefixed strings from a byte slice.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    /// How many bytes have been read.
    pub(crate) fn position(&self) -> usize {
        self.position
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.position..).unwrap_or_default()
    }

    pub(crate) fn take(&mut self, len: usize) -> Result<&'a [u8], RtcError> {
        let end = self.position.checked_add(len).ok_or(TRUNCATED)?;
        let taken = self.bytes.get(self.position..end).ok_or(TRUNCATED)?;
        self.position = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RtcError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RtcError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16_le(&mut self) -> Result<u16, RtcError> {
        self.array().map(u16::from_le_bytes)
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, RtcError> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn i32_be(&mut self) -> Result<i32, RtcError> {
        self.array().map(i32::from_be_bytes)
    }

    /// UTF-8 text of `len` bytes.
    pub(crate) fn utf8(&mut self, len: usize) -> Result<String, RtcError> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| RtcError::InvalidToken("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_width_in_its_byte_order() {
        let bytes = [
            1, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xfe, b'h', b'i',
        ];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u8(), Ok(1));
        assert_eq!(reader.u16_le(), Ok(0x1234));
        assert_eq!(reader.u32_le(), Ok(0x1234_5678));
        assert_eq!(reader.i32_be(), Ok(-2));
        assert_eq!(reader.position(), 11);
        assert_eq!(reader.rest(), b"hi");
        assert_eq!(reader.utf8(2), Ok("hi".to_owned()));
        assert!(reader.rest().is_empty());
    }

    #[test]
    fn refuses_to_read_past_the_end() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert_eq!(reader.u32_le(), Err(TRUNCATED));
        assert_eq!(reader.take(usize::MAX), Err(TRUNCATED));
        assert_eq!(reader.take(3), Ok(&[1, 2, 3][..]));
        assert_eq!(reader.u8(), Err(TRUNCATED));
    }

    #[test]
    fn refuses_invalid_utf8() {
        assert!(Reader::new(&[0xff]).utf8(1).is_err());
    }
}
