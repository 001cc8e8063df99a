//! RFC 6455 framing, server side: the header of a client frame (which must
//! be masked), unmasking, and the header of a server frame (never masked).
//! Pure functions over byte slices; the socket in [`super::socket`] owns the
//! buffers.

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Self::Continuation,
            0x1 => Self::Text,
            0x2 => Self::Binary,
            0x8 => Self::Close,
            0x9 => Self::Ping,
            0xA => Self::Pong,
            _ => return None,
        })
    }

    fn bits(self) -> u8 {
        match self {
            Self::Continuation => 0x0,
            Self::Text => 0x1,
            Self::Binary => 0x2,
            Self::Close => 0x8,
            Self::Ping => 0x9,
            Self::Pong => 0xA,
        }
    }

    /// Control frames (close, ping, pong) may not be fragmented and carry at
    /// most 125 bytes.
    pub fn is_control(self) -> bool {
        matches!(self, Self::Close | Self::Ping | Self::Pong)
    }
}

/// Why the client's bytes are not a valid WebSocket stream; each maps to
/// the close code the connection ends with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("reserved bits set (no extension was negotiated)")]
    Reserved,
    #[error("unknown opcode")]
    Opcode,
    #[error("client frames must be masked")]
    Unmasked,
    #[error("control frame fragmented or longer than 125 bytes")]
    Control,
    #[error("continuation without a message, or a new message inside one")]
    Continuation,
    #[error("frame too large")]
    Overflow,
    #[error("text frame is not valid UTF-8")]
    Utf8,
    #[error("invalid close frame")]
    Close,
}

impl ProtocolError {
    /// The close code to end the connection with (RFC 6455 §7.4.1).
    pub fn close_code(self) -> u16 {
        match self {
            Self::Overflow => 1009,
            Self::Utf8 => 1007,
            _ => 1002,
        }
    }
}

/// The header of a client frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub opcode: Opcode,
    pub mask: [u8; 4],
    /// Payload length in bytes.
    pub len: usize,
    /// Header length in bytes (2 to 14).
    pub size: usize,
}

/// Parses the header at the start of `buf`: `Ok(None)` when more bytes are
/// needed. A payload longer than `max_len` is refused before it is read.
pub fn parse_header(buf: &[u8], max_len: usize) -> Result<Option<Header>, ProtocolError> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    if b0 & 0x70 != 0 {
        return Err(ProtocolError::Reserved);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(ProtocolError::Opcode)?;
    if b1 & 0x80 == 0 {
        return Err(ProtocolError::Unmasked);
    }
    let (len, at) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else { return Ok(None) };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 4)
        }
        127 => {
            let Some(b) = buf.get(2..10) else { return Ok(None) };
            let mut n = [0u8; 8];
            n.copy_from_slice(b);
            (u64::from_be_bytes(n), 10)
        }
        n => (u64::from(n), 2),
    };
    if opcode.is_control() && (!fin || len > 125) {
        return Err(ProtocolError::Control);
    }
    let len = usize::try_from(len).ok().filter(|&l| l <= max_len).ok_or(ProtocolError::Overflow)?;
    let Some(m) = buf.get(at..at + 4) else { return Ok(None) };
    Ok(Some(Header { fin, opcode, mask: [m[0], m[1], m[2], m[3]], len, size: at + 4 }))
}

/// Unmasks a client payload in place.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let word = u32::from_ne_bytes(mask);
    let mut chunks = payload.chunks_exact_mut(4);
    for chunk in &mut chunks {
        let mut w = [0u8; 4];
        w.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u32::from_ne_bytes(w) ^ word).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i];
    }
}

/// Appends the header of an unfragmented, unmasked server frame.
pub fn put_header(out: &mut impl Extend<u8>, opcode: Opcode, len: usize) {
    let b0 = 0x80 | opcode.bits();
    if len < 126 {
        out.extend([b0, len as u8]);
    } else if let Ok(short) = u16::try_from(len) {
        let [hi, lo] = short.to_be_bytes();
        out.extend([b0, 126, hi, lo]);
    } else {
        out.extend([b0, 127]);
        out.extend((len as u64).to_be_bytes());
    }
}

/// Parses a close payload: the code (1000 when absent) and checks the
/// reason is UTF-8.
pub fn parse_close(payload: &[u8]) -> Result<u16, ProtocolError> {
    match payload {
        [] => Ok(1005),
        [_] => Err(ProtocolError::Close),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !valid || std::str::from_utf8(reason).is_err() {
                return Err(ProtocolError::Close);
            }
            Ok(code)
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A masked client frame, as a browser would send it.
    pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend((n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend((n as u64).to_be_bytes());
            }
        }
        out.extend(mask);
        let mut body = payload.to_vec();
        unmask(&mut body, mask);
        out.extend(body);
        out
    }

    #[test]
    fn parses_and_unmasks_every_length_form() {
        for len in [0usize, 1, 125, 126, 1000, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let bytes = client_frame(true, 0x1, &payload, [1, 2, 3, 4]);
            let h = parse_header(&bytes, 1 << 20).unwrap().unwrap();
            assert_eq!((h.fin, h.opcode, h.len), (true, Opcode::Text, len));
            assert_eq!(h.size + len, bytes.len());
            let mut body = bytes[h.size..].to_vec();
            unmask(&mut body, h.mask);
            assert_eq!(body, payload);
            // Every strict prefix of the header asks for more bytes.
            for cut in 0..h.size {
                assert_eq!(parse_header(&bytes[..cut], 1 << 20), Ok(None), "len {len} cut {cut}");
            }
        }
    }

    #[test]
    fn refuses_what_the_rfc_forbids() {
        let ok = client_frame(true, 0x1, b"hi", [9, 9, 9, 9]);
        let mut reserved = ok.clone();
        reserved[0] |= 0x40;
        assert_eq!(parse_header(&reserved, 100), Err(ProtocolError::Reserved));
        let mut unmasked = ok.clone();
        unmasked[1] &= 0x7F;
        assert_eq!(parse_header(&unmasked, 100), Err(ProtocolError::Unmasked));
        let mut opcode = ok.clone();
        opcode[0] = 0x83;
        assert_eq!(parse_header(&opcode, 100), Err(ProtocolError::Opcode));
        let fragmented_ping = client_frame(false, 0x9, b"", [0; 4]);
        assert_eq!(parse_header(&fragmented_ping, 100), Err(ProtocolError::Control));
        let long_ping = client_frame(true, 0x9, &[0; 126], [0; 4]);
        assert_eq!(parse_header(&long_ping, 1000), Err(ProtocolError::Control));
        let big = client_frame(true, 0x1, &[b'a'; 101], [0; 4]);
        assert_eq!(parse_header(&big, 100), Err(ProtocolError::Overflow));
        // A 64-bit length past the limit is refused from the header alone,
        // before its mask arrives.
        let huge = [0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(parse_header(&huge, 1 << 30), Err(ProtocolError::Overflow));
    }

    #[test]
    fn server_headers_round_trip_through_the_parser() {
        for len in [0usize, 125, 126, 65_535, 65_536] {
            let mut out = Vec::new();
            put_header(&mut out, Opcode::Text, len);
            // Make it parseable as a client frame: set the mask bit, add a mask.
            out[1] |= 0x80;
            out.extend([0, 0, 0, 0]);
            let h = parse_header(&out, usize::MAX).unwrap().unwrap();
            assert_eq!((h.opcode, h.len, h.size), (Opcode::Text, len, out.len()));
        }
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(&[]), Ok(1005));
        assert_eq!(parse_close(&[0x03, 0xE8]), Ok(1000));
        assert_eq!(parse_close(&[0x0F, 0xA1, b'o', b'k']), Ok(4001));
        assert_eq!(parse_close(&[0x03]), Err(ProtocolError::Close));
        assert_eq!(parse_close(&[0x03, 0xED]), Err(ProtocolError::Close), "1005 is never sent");
        assert_eq!(parse_close(&[0x03, 0xE8, 0xFF]), Err(ProtocolError::Close));
    }

    #[test]
    fn unmask_matches_the_bytewise_definition() {
        let mask = [0xA1, 0x02, 0xF3, 0x44];
        for len in 0..13 {
            let data: Vec<u8> = (0..len).map(|i| i as u8 * 7).collect();
            let mut fast = data.clone();
            unmask(&mut fast, mask);
            let slow: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(fast, slow);
        }
    }
}
