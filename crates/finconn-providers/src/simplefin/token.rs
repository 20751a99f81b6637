//! The setup token: the Base64 of a claim URL, pasted by a user from a web page. Users paste with
//! whitespace and line breaks, and pages render either Base64 alphabet, padded or not: accept all of it,
//! and refuse anything that does not decode to an http(s) URL with a host.

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("Paste a SimpleFIN setup token.")]
    Empty,
    #[error("This is not a SimpleFIN setup token: it is not Base64 text.")]
    NotBase64,
    #[error("This is not a SimpleFIN setup token: it does not decode to a web address.")]
    NotUrl,
    #[error("This SimpleFIN setup token names a claim address that is not http or https.")]
    BadScheme,
}

/// The claim URL a setup token names.
pub fn decode_setup_token(input: &str) -> Result<url::Url, TokenError> {
    let compact: String = input.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if compact.is_empty() {
        return Err(TokenError::Empty);
    }
    if compact.len() > 4096 {
        return Err(TokenError::NotBase64);
    }
    let unpadded = compact.trim_end_matches('=');
    let bytes = STANDARD_NO_PAD
        .decode(unpadded)
        .or_else(|_| URL_SAFE_NO_PAD.decode(unpadded))
        .map_err(|_| TokenError::NotBase64)?;
    let text = String::from_utf8(bytes).map_err(|_| TokenError::NotUrl)?;
    let url = url::Url::parse(text.trim()).map_err(|_| TokenError::NotUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TokenError::BadScheme);
    }
    if url.host().is_none() {
        return Err(TokenError::NotUrl);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    use proptest::prelude::*;

    #[test]
    fn the_spec_example_decodes() {
        let u = decode_setup_token("aHR0cHM6Ly9icmlkZ2Uuc2ltcGxlZmluLm9yZy9zaW1wbGVmaW4vY2xhaW0vZGVtbw==").unwrap();
        assert_eq!(u.as_str(), "https://bridge.simplefin.org/simplefin/claim/demo");
        let u =
            decode_setup_token("  aHR0cHM6Ly9icmlkZ2Uuc2ltcGxl\nZmluLm9yZy9zaW1wbGVmaW4vY2xhaW0vZGVtbw\r\n").unwrap();
        assert_eq!(u.as_str(), "https://bridge.simplefin.org/simplefin/claim/demo");
    }

    #[test]
    fn both_alphabets_are_accepted() {
        // "?>>" encodes with '+' and '/' in the standard alphabet.
        let url = "https://h.example/claim/a?x=??>>>";
        let std = STANDARD.encode(url);
        let safe = URL_SAFE.encode(url);
        assert!(std.contains('+') || std.contains('/'), "{std}");
        assert_eq!(decode_setup_token(&std).unwrap().as_str(), decode_setup_token(&safe).unwrap().as_str());
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert_eq!(decode_setup_token(""), Err(TokenError::Empty));
        assert_eq!(decode_setup_token("  \n"), Err(TokenError::Empty));
        assert_eq!(decode_setup_token("not a token!"), Err(TokenError::NotBase64));
        assert_eq!(decode_setup_token(&STANDARD.encode("hello world")), Err(TokenError::NotUrl));
        assert_eq!(decode_setup_token(&STANDARD.encode("ftp://h/claim/x")), Err(TokenError::BadScheme));
        assert_eq!(decode_setup_token(&STANDARD.encode([0xff, 0xfe, 0x00])), Err(TokenError::NotUrl));
        assert_eq!(decode_setup_token(&"A".repeat(5000)), Err(TokenError::NotBase64));
    }

    proptest! {
        #[test]
        fn any_claim_url_round_trips(host in "[a-z]{1,12}\\.[a-z]{2,5}", path in "[A-Za-z0-9_-]{1,40}", https in any::<bool>(), alphabet in 0..4usize) {
            let url = format!("{}://{host}/simplefin/claim/{path}", if https { "https" } else { "http" });
            let token = match alphabet {
                0 => STANDARD.encode(&url),
                1 => STANDARD_NO_PAD.encode(&url),
                2 => URL_SAFE.encode(&url),
                _ => URL_SAFE_NO_PAD.encode(&url),
            };
            let decoded = decode_setup_token(&token).unwrap();
            prop_assert_eq!(decoded.as_str(), url.as_str());
        }
    }
}
