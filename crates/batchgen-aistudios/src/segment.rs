//! Ids that go into URL paths: checked, then percent-encoded by the URL builder.

/// Why an id cannot be put into a request path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SegmentError {
    /// The id is the empty string.
    #[error("{what} is empty")]
    Empty {
        /// Which id (e.g. "project id").
        what: &'static str,
    },
    /// The id contains `/`, which would change the endpoint.
    #[error("{what} {value:?} contains '/'; pass the id alone, not a path")]
    Slash {
        /// Which id.
        what: &'static str,
        /// The offending id (ids are not secrets).
        value: String,
    },
    /// The id is `.` or `..`, which URL normalisation would remove.
    #[error("{what} {value:?} is a dot segment; pass a real id")]
    Dot {
        /// Which id.
        what: &'static str,
        /// The offending id.
        value: String,
    },
    /// The id contains a control character (newline, tab, NUL...).
    #[error("{what} {value:?} contains a control character")]
    Control {
        /// Which id.
        what: &'static str,
        /// The offending id.
        value: String,
    },
}

/// Checks that `value` can be one path segment: not empty, no `/`, not `.`/`..`, no control
/// characters. Everything else (spaces, `?`, `#`, `%`, non-ASCII) is allowed and gets
/// percent-encoded when the URL is built.
pub fn check_segment(what: &'static str, value: &str) -> Result<(), SegmentError> {
    if value.is_empty() {
        return Err(SegmentError::Empty { what });
    }
    if value.contains('/') {
        return Err(SegmentError::Slash {
            what,
            value: value.to_owned(),
        });
    }
    if value == "." || value == ".." {
        return Err(SegmentError::Dot {
            what,
            value: value.to_owned(),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(SegmentError::Control {
            what,
            value: value.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for id in [
            "65f1c0ffee0123456789abcd",
            "project_001",
            "123",
            "a b",
            "x?y#z%",
            "é",
        ] {
            check_segment("project id", id).unwrap();
        }
    }

    #[test]
    fn rejects_what_would_change_the_path() {
        assert_eq!(
            check_segment("project id", ""),
            Err(SegmentError::Empty { what: "project id" })
        );
        let e = check_segment("folder id", "a/b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "folder id \"a/b\" contains '/'; pass the id alone, not a path"
        );
        assert!(matches!(
            check_segment("x", ".."),
            Err(SegmentError::Dot { .. })
        ));
        assert!(matches!(
            check_segment("x", "."),
            Err(SegmentError::Dot { .. })
        ));
        assert!(matches!(
            check_segment("x", "a\nb"),
            Err(SegmentError::Control { .. })
        ));
        assert!(matches!(
            check_segment("x", "a\0"),
            Err(SegmentError::Control { .. })
        ));
    }

    #[test]
    fn url_builder_percent_encodes_checked_segments() {
        let mut url = url::Url::parse("http://127.0.0.1:1/v2").unwrap();
        for seg in ["projects", "a b", "x?y#z%", "é"] {
            check_segment("id", seg).unwrap();
            url.path_segments_mut().unwrap().push(seg);
        }
        assert_eq!(url.path(), "/v2/projects/a%20b/x%3Fy%23z%25/%C3%A9");
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
    }
}
