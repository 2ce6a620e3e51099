//! The byte format of every target's input: pieces separated by `0xFF`.
//!
//! `0xFF` never occurs in UTF-8, so a piece that is text can hold any text,
//! and the seed files in `fuzz/seeds/` stay readable (`printf` writes them).
//! libFuzzer's mutations insert and delete separators as easily as any other
//! byte, so the number of pieces is fuzzed too.

/// The separator between pieces.
pub const SEPARATOR: u8 = 0xFF;

/// The pieces of `data`, in order. An empty input is one empty piece.
pub fn pieces(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == SEPARATOR)
}

/// A piece as text: invalid UTF-8 becomes U+FFFD, as the server does with a
/// non-UTF-8 environment variable.
pub fn text(piece: &[u8]) -> String {
    String::from_utf8_lossy(piece).into_owned()
}

/// The first byte of a piece (its tag) and the rest.
pub fn tagged(piece: &[u8]) -> Option<(u8, &[u8])> {
    piece.split_first().map(|(&tag, rest)| (tag, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_split_on_the_separator_only() {
        let input = b"a\xffbc\xff\xffd";
        let got: Vec<&[u8]> = pieces(input).collect();
        assert_eq!(got, [&b"a"[..], b"bc", b"", b"d"]);
        assert_eq!(pieces(b"").count(), 1);
        assert_eq!(tagged(b"tx"), Some((b't', &b"x"[..])));
        assert_eq!(tagged(b""), None);
    }
}
