//! Where the instrumentation reads its environment settings: one injectable source.

use std::fmt;
use std::sync::Arc;

/// A lookup of one variable.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// A source of environment variables: the process environment by default, a map in tests.
#[derive(Clone)]
pub(crate) struct Env(Option<Arc<Lookup>>);

impl Default for Env {
    /// The process environment.
    fn default() -> Self {
        Env(None)
    }
}

impl Env {
    pub(crate) fn new(source: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Env(Some(Arc::new(source)))
    }

    /// The value of `var`, if set.
    pub(crate) fn var(&self, var: &str) -> Option<String> {
        match &self.0 {
            Some(source) => source(var),
            None => std::env::var(var).ok(),
        }
    }

    /// A flag: `1`, `true` or `yes` (any case) is on.
    pub(crate) fn flag(&self, var: &str) -> bool {
        self.var(var).is_some_and(|v| {
            let v = v.trim();
            v == "1" || v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes")
        })
    }

    /// A comma-separated variable's non-empty items, or `None` when unset or empty.
    pub(crate) fn list(&self, var: &str) -> Option<Vec<String>> {
        let raw = self.var(var)?;
        let items: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        (!items.is_empty()).then_some(items)
    }
}

impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Env(custom)"
        } else {
            "Env(process)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_lists() {
        let env = Env::new(|k| match k {
            "ON" => Some(" True ".into()),
            "OFF" => Some("0".into()),
            "LIST" => Some(" a, ,b ,".into()),
            "EMPTY" => Some(" , ".into()),
            _ => None,
        });
        assert!(env.flag("ON") && !env.flag("OFF") && !env.flag("UNSET"));
        assert_eq!(env.list("LIST"), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(env.list("EMPTY"), None);
        assert_eq!(env.list("UNSET"), None);
    }
}
