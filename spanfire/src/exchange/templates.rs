//! Client-wide URL templates: routes such as `/users/{id}` matched against the path of every
//! request, naming its span `GET /users/{id}` and recording `url.template` — low-cardinality
//! span names without a per-request [`UrlTemplate`](crate::UrlTemplate) (which still wins).

use std::sync::Arc;

/// Path templates matched against each request's path, in the order given; the first match
/// names the span. A template is a path whose segments are literals or a `{name}` parameter,
/// which matches exactly one non-empty segment; the path must have as many segments as the
/// template (no prefix match, a trailing `/` is a segment of its own). The query is not part
/// of the match. Literals compare exactly, as the path is sent (percent-encoded).
///
/// ```
/// let templates = spanfire::UrlTemplates::new(["/users/{id}", "/users/{id}/orders/{order}"])?;
/// assert_eq!(templates.find("/users/42"), Some("/users/{id}"));
/// assert_eq!(templates.find("/users/42/orders/7"), Some("/users/{id}/orders/{order}"));
/// assert_eq!(templates.find("/users/"), None);
/// assert_eq!(templates.find("/users/42/orders"), None);
/// assert!(spanfire::UrlTemplates::new(["users/{id}"]).is_err());
/// # Ok::<(), spanfire::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct UrlTemplates(Arc<[Template]>);

#[derive(Debug)]
struct Template {
    text: Arc<str>,
    /// Each segment: `Some(literal)`, or `None` for a parameter.
    segments: Box<[Option<Box<str>>]>,
}

impl UrlTemplates {
    /// Parses `templates`.
    ///
    /// # Errors
    /// When a template does not start with `/`, or has a brace outside a whole-segment
    /// `{name}` parameter.
    pub fn new<I, S>(templates: I) -> Result<Self, crate::Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let parsed: Result<Vec<Template>, crate::Error> = templates
            .into_iter()
            .map(|t| Template::parse(t.as_ref()))
            .collect();
        Ok(UrlTemplates(parsed?.into()))
    }

    /// The first template matching `path` (a URL's path, without the query).
    pub fn find(&self, path: &str) -> Option<&str> {
        self.0.iter().find(|t| t.matches(path)).map(|t| &*t.text)
    }

    /// [`UrlTemplates::find`], shared (an attribute value without a copy).
    pub(crate) fn find_shared(&self, path: &str) -> Option<&Arc<str>> {
        self.0.iter().find(|t| t.matches(path)).map(|t| &t.text)
    }

    /// No template: nothing is ever matched.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Template {
    fn parse(text: &str) -> Result<Template, crate::Error> {
        let invalid = |why: &str| crate::Error::config(format!("URL template {text:?}: {why}"));
        let Some(rest) = text.strip_prefix('/') else {
            return Err(invalid("must start with '/'"));
        };
        let segments = rest
            .split('/')
            .map(|segment| {
                let param = segment
                    .strip_prefix('{')
                    .and_then(|s| s.strip_suffix('}'))
                    .filter(|name| !name.is_empty());
                match param {
                    Some(name) if !name.contains(['{', '}']) => Ok(None),
                    _ if segment.contains(['{', '}']) => {
                        Err(invalid("a parameter is a whole segment: {name}"))
                    }
                    _ => Ok(Some(segment.into())),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Template {
            text: text.into(),
            segments,
        })
    }

    fn matches(&self, path: &str) -> bool {
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = rest.split('/');
        let same = self.segments.iter().all(|want| match (want, parts.next()) {
            (_, None) => false,
            (Some(literal), Some(part)) => **literal == *part,
            (None, Some(part)) => !part.is_empty(),
        });
        same && parts.next().is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_whole_paths_only() {
        let t = UrlTemplates::new(["/", "/a/{x}/c", "/a/{x}/{y}"]).unwrap();
        assert_eq!(t.find("/"), Some("/"));
        assert_eq!(t.find("/a/1/c"), Some("/a/{x}/c"), "first match wins");
        assert_eq!(t.find("/a/1/d"), Some("/a/{x}/{y}"));
        assert_eq!(t.find("/a//c"), None, "a parameter is never empty");
        assert_eq!(t.find("/a/1/c/"), None, "a trailing slash is a segment");
        assert_eq!(t.find("/a/1"), None);
        assert_eq!(t.find(""), None);
        assert_eq!(t.find("/A/1/c"), None, "literals are case-sensitive");
    }

    #[test]
    fn rejects_what_it_cannot_match() {
        for bad in [
            "",
            "users",
            "/users/{}",
            "/users/{id",
            "/users/id}",
            "/u/x{id}",
            "/{a{b}}",
        ] {
            let err = UrlTemplates::new([bad]).unwrap_err();
            assert!(err.to_string().contains("URL template"), "{bad}: {err}");
        }
        assert!(UrlTemplates::new(Vec::<String>::new()).unwrap().is_empty());
    }
}
