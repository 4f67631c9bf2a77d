//! `exception.message` and other error text, without the secrets the error carries.

use super::names::Names;
use super::text::redact_text;
use super::url::redact_url;
use super::REDACTED_VALUE;

/// The error and its sources joined by `: ` (a source whose text is already in the message is
/// left out). The URL the error reports (`reported_url`: reqwest's errors quote the request
/// URL) is replaced by its redacted form wherever it appears; then the whole text goes through
/// the free-text redaction, for URLs and secrets the error quotes without saying so.
pub(crate) fn error_message(
    error: &(dyn std::error::Error + 'static),
    reported_url: Option<&str>,
    names: &Names,
) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = e.source();
    }
    if let Some(url) = reported_url.filter(|u| !u.is_empty()) {
        let redacted = redact_url(url, names);
        if redacted != url {
            message = message.replace(url, &redacted);
        }
    }
    redact_text(&message, names, &|_| REDACTED_VALUE.to_owned(), None).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Quoting(String, Option<std::io::Error>);
    impl std::fmt::Display for Quoting {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }
    impl std::error::Error for Quoting {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn the_reported_url_is_replaced_by_its_redacted_form() {
        let names = Names::new(true, &[]).unwrap();
        // a value ending in `)` next to the `)` that closes the quote: only exact replacement
        // can tell them apart
        let url = "http://u:p@h/hang?sig=S1,x&X-Amz-Signature=S2(a)";
        let err = Quoting(
            format!("error sending request for url ({url})"),
            Some(std::io::Error::from(std::io::ErrorKind::TimedOut)),
        );
        let message = error_message(&err, Some(url), &names);
        assert_eq!(
            message,
            "error sending request for url (http://REDACTED:REDACTED@h/hang?sig=REDACTED&X-Amz-Signature=REDACTED): timed out"
        );
        let unreported = Quoting("bad next hop http://h/?token=t".to_owned(), None);
        assert_eq!(
            error_message(&unreported, None, &names),
            "bad next hop http://h/?token=REDACTED"
        );
    }
}
