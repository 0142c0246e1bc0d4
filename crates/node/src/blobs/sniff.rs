//! Content types: by the file's magic bytes first (they do not lie about
//! what a player will get), then by the name's extension, then "text/plain"
//! for UTF-8 text, else "application/octet-stream".

/// Bytes of the file's head kept for sniffing.
pub(crate) const HEAD: usize = 8192;

pub(crate) fn content_type(name: &str, head: &[u8]) -> String {
    if let Some(kind) = infer::get(head) {
        return kind.mime_type().to_owned();
    }
    if let Some(mime) = mime_guess::from_path(name).first() {
        return mime.essence_str().to_owned();
    }
    if !head.is_empty() && looks_like_text(head) {
        return "text/plain".into();
    }
    "application/octet-stream".into()
}

fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut at the end of the head is still text.
        Err(e) => e.error_len().is_none(),
    };
    valid && !head.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_beats_extension_and_text_is_recognised() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(content_type("photo.txt", png), "image/png");
        assert_eq!(
            content_type("subs.srt", b"1\n00:00:01,000"),
            "application/x-subrip"
        );
        assert_eq!(content_type("README", "héllo".as_bytes()), "text/plain");
        assert_eq!(
            content_type("blob", &[0, 1, 2, 255]),
            "application/octet-stream"
        );
        assert_eq!(content_type("empty", b""), "application/octet-stream");
    }
}
