//! A tab's WebSocket frames, decoded from a fuzz input, and what API.md says
//! the server does with them:
//!
//! > Client to server: `{"type": "activity"}`; anything else gets
//! > `{"type": "error", "error": "bad_message"}` and the connection stays
//! > open. A frame larger than 4 KiB closes the socket (1009).
//!
//! Each piece of the input (see [`crate::input`]) is one frame; its first
//! byte says which kind:
//!
//! | tag | frame |
//! | --- | --- |
//! | `t` | text: the rest of the piece |
//! | `b` | binary: the rest |
//! | `p` / `o` | ping / pong with the rest as payload |
//! | `c` | close; with two bytes or more, a close frame (code little-endian, then the reason) |
//! | `T` / `B` | a large text / binary frame: a count (u16, little-endian; neither byte can be the separator), then a unit repeated that many times (a piece of just the tag: 4 KiB + 1) |
//! | `e` | a read error from the socket (the next byte picks which; `0`: tungstenite's "message too long") |
//! | anything else | the whole piece as a text frame |

use axum::{
    body::Bytes,
    extract::ws::{CloseFrame, Message},
};
use serde_json::{json, Value};
use tungstenite::error::{CapacityError, ProtocolError};

use crate::input::{pieces, tagged, text};

/// "A frame larger than 4 KiB closes the socket (1009)."
pub const FRAME_LIMIT: usize = 4 * 1024;

/// The close code for a frame over the limit (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;

/// Large frames are capped here: well past the limit, small enough to stay fast.
const MAX_LARGE_FRAME: usize = 64 * 1024;

/// One item of the socket's stream, as the server's loop receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    /// The read failed; `too_long` is tungstenite's refusal of an oversized
    /// message, which the real socket reports instead of delivering it.
    ReadError(ReadError),
}

/// The read errors a socket can report, as tungstenite reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadError {
    MessageTooLong,
    ConnectionClosed,
    ResetWithoutClosingHandshake,
    InvalidUtf8,
    ConnectionReset,
}

impl Frame {
    /// Every frame of a fuzz input, in order.
    pub fn decode_all(data: &[u8]) -> Vec<Frame> {
        pieces(data).map(Frame::decode).collect()
    }

    fn decode(piece: &[u8]) -> Frame {
        let Some((tag, rest)) = tagged(piece) else {
            return Frame::Text(String::new());
        };
        match tag {
            b't' => Frame::Text(text(rest)),
            b'b' => Frame::Binary(rest.to_vec()),
            b'p' => Frame::Ping(rest.to_vec()),
            b'o' => Frame::Pong(rest.to_vec()),
            b'c' => Frame::Close(match rest {
                [lo, hi, reason @ ..] => Some((u16::from_le_bytes([*lo, *hi]), text(reason))),
                _ => None,
            }),
            b'T' => Frame::Text(text(&repeated(rest))),
            b'B' => Frame::Binary(repeated(rest)),
            b'e' => Frame::ReadError(match rest.first().copied().unwrap_or(0) % 5 {
                0 => ReadError::MessageTooLong,
                1 => ReadError::ConnectionClosed,
                2 => ReadError::ResetWithoutClosingHandshake,
                3 => ReadError::InvalidUtf8,
                _ => ReadError::ConnectionReset,
            }),
            _ => Frame::Text(text(piece)),
        }
    }

    /// The frame as axum's socket stream yields it.
    pub fn to_stream_item(&self) -> Result<Message, axum::Error> {
        Ok(match self {
            Frame::Text(text) => Message::Text(text.clone().into()),
            Frame::Binary(bytes) => Message::Binary(Bytes::from(bytes.clone())),
            Frame::Ping(bytes) => Message::Ping(Bytes::from(bytes.clone())),
            Frame::Pong(bytes) => Message::Pong(Bytes::from(bytes.clone())),
            Frame::Close(frame) => {
                Message::Close(frame.as_ref().map(|(code, reason)| CloseFrame {
                    code: *code,
                    reason: reason.clone().into(),
                }))
            }
            // axum wraps tungstenite's error as it is (`axum::Error::new`).
            Frame::ReadError(error) => return Err(axum::Error::new(error.as_tungstenite())),
        })
    }
}

impl ReadError {
    fn as_tungstenite(self) -> tungstenite::Error {
        match self {
            ReadError::MessageTooLong => {
                tungstenite::Error::Capacity(CapacityError::MessageTooLong {
                    size: FRAME_LIMIT + 1,
                    max_size: FRAME_LIMIT,
                })
            }
            ReadError::ConnectionClosed => tungstenite::Error::ConnectionClosed,
            ReadError::ResetWithoutClosingHandshake => {
                tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake)
            }
            ReadError::InvalidUtf8 => tungstenite::Error::Utf8("invalid utf-8 sequence".into()),
            ReadError::ConnectionReset => {
                tungstenite::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
            }
        }
    }
}

/// `count` (u16, little-endian) copies of the unit after it, capped at
/// [`MAX_LARGE_FRAME`] bytes; an empty unit is `x`.
fn repeated(rest: &[u8]) -> Vec<u8> {
    let (count, unit) = match rest {
        [lo, hi, unit @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), unit),
        _ => (FRAME_LIMIT + 1, &[][..]),
    };
    let unit = if unit.is_empty() { &b"x"[..] } else { unit };
    let mut bytes = unit.repeat(count.min(MAX_LARGE_FRAME / unit.len() + 1));
    bytes.truncate(MAX_LARGE_FRAME);
    bytes
}

/// Whether the contract calls a text message `{"type": "activity"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Understood {
    /// Exactly `{"type":"activity"}`, up to JSON whitespace.
    Activity,
    /// Not JSON, or JSON that is not an object whose `type` is `activity`:
    /// certainly "anything else".
    NotUnderstood,
    /// An object whose `type` is `activity` with something more (other keys,
    /// a repeated key, escapes): the contract leaves open whether a server
    /// takes it as activity, so either answer is accepted.
    Unclear,
}

impl Understood {
    pub fn of(text: &str) -> Self {
        let Ok(value) = serde_json::from_str::<Value>(text) else {
            return Understood::NotUnderstood;
        };
        let exact = || {
            let bare: String = text
                .chars()
                .filter(|c| !matches!(c, ' ' | '\t' | '\n' | '\r'))
                .collect();
            bare == r#"{"type":"activity"}"#
        };
        match value.get("type") {
            Some(kind) if value.is_object() && *kind == json!("activity") => {
                if exact() {
                    Understood::Activity
                } else {
                    Understood::Unclear
                }
            }
            _ => Understood::NotUnderstood,
        }
    }
}

/// How the server's loop must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The stream ran out (the peer went away): no close frame is sent.
    InputEnded,
    /// The client sent a close frame: the socket answers it itself.
    ClientClosed,
    /// A frame over the limit: the server closes with 1009.
    TooBig,
    /// Another read error: nothing more can be sent.
    ReadFailed,
}

/// What the server must answer to a sequence of frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    /// `activity` messages read before the end.
    pub activity: usize,
    /// Messages that must each get one `bad_message` error.
    pub not_understood: usize,
    /// Messages that may get one `bad_message` error or count as activity.
    pub unclear: usize,
    pub ending: Ending,
}

impl Expected {
    /// Walks the frames as the server reads them: frames after the end are
    /// never read.
    pub fn of(frames: &[Frame]) -> Self {
        let mut expected = Expected {
            activity: 0,
            not_understood: 0,
            unclear: 0,
            ending: Ending::InputEnded,
        };
        for frame in frames {
            let ending = match frame {
                Frame::Text(text) if text.len() > FRAME_LIMIT => Some(Ending::TooBig),
                Frame::Binary(bytes) if bytes.len() > FRAME_LIMIT => Some(Ending::TooBig),
                Frame::Text(text) => {
                    match Understood::of(text) {
                        Understood::Activity => expected.activity += 1,
                        Understood::NotUnderstood => expected.not_understood += 1,
                        Understood::Unclear => expected.unclear += 1,
                    }
                    None
                }
                Frame::Binary(_) => {
                    expected.not_understood += 1;
                    None
                }
                Frame::Ping(_) | Frame::Pong(_) => None,
                Frame::Close(_) => Some(Ending::ClientClosed),
                Frame::ReadError(ReadError::MessageTooLong) => Some(Ending::TooBig),
                Frame::ReadError(_) => Some(Ending::ReadFailed),
            };
            if let Some(ending) = ending {
                expected.ending = ending;
                break;
            }
        }
        expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_each_kind_of_frame() {
        let frames = Frame::decode_all(
            b"t{\"type\":\"activity\"}\xffb\x01\x02\xffp\xffo!\xffc\xffc\xe8\x03bye\xffe\x01\xffPlain",
        );
        assert_eq!(
            frames,
            [
                Frame::Text(r#"{"type":"activity"}"#.into()),
                Frame::Binary(vec![1, 2]),
                Frame::Ping(vec![]),
                Frame::Pong(b"!".to_vec()),
                Frame::Close(None),
                Frame::Close(Some((1000, "bye".into()))),
                Frame::ReadError(ReadError::ConnectionClosed),
                Frame::Text("Plain".into()),
            ]
        );
    }

    #[test]
    fn large_frames_repeat_their_unit_up_to_the_cap() {
        assert_eq!(Frame::decode(b"T\x03\x00ab"), Frame::Text("ababab".into()));
        let Frame::Binary(big) = Frame::decode(b"B\xfe\xfexyz") else {
            panic!("a binary frame");
        };
        assert_eq!(big.len(), MAX_LARGE_FRAME);
        let Frame::Text(default) = Frame::decode(b"T") else {
            panic!("a text frame");
        };
        assert_eq!(default.len(), FRAME_LIMIT + 1);
    }

    #[test]
    fn only_the_activity_object_is_understood() {
        assert_eq!(
            Understood::of(r#" { "type" : "activity" } "#),
            Understood::Activity
        );
        for bad in [
            "",
            "activity",
            r#"{"type":"revoke","session":"s_1"}"#,
            r#"["activity"]"#,
            r#"{"type":"Activity"}"#,
            r#"{"type":"activity"}x"#,
        ] {
            assert_eq!(Understood::of(bad), Understood::NotUnderstood, "{bad}");
        }
        for unclear in [
            r#"{"type":"activity","session":"s_other"}"#,
            r#"{"type":"x","type":"activity"}"#,
            r#"{"type":"\u0061ctivity"}"#,
        ] {
            assert_eq!(Understood::of(unclear), Understood::Unclear, "{unclear}");
        }
    }

    #[test]
    fn nothing_after_the_end_is_read() {
        let frames = Frame::decode_all(b"tnope\xffT\xff\xfft{\"type\":\"activity\"}");
        let expected = Expected::of(&frames);
        assert_eq!(expected.ending, Ending::TooBig);
        assert_eq!((expected.not_understood, expected.activity), (1, 0));
        let closed = Expected::of(&Frame::decode_all(b"b\xffc\xfftnope"));
        assert_eq!(closed.ending, Ending::ClientClosed);
        assert_eq!(closed.not_understood, 1);
    }
}
