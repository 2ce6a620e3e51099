//! [`Sql`]: a statement built piece by piece with numbered `$N` binds.
//!
//! sqlx's `QueryBuilder` writes `?` placeholders for the `Any` driver, which
//! PostgreSQL rejects; `$N` is understood by both backends, so dynamic
//! statements (lists of ids, optional conditions, multi-row inserts) are
//! built here instead.

use sqlx::{
    any::{AnyArguments, AnyRow},
    query::{Query, QueryAs},
    Any, Arguments, Encode, FromRow, Type,
};

/// A `LIKE` pattern matching `text` anywhere, literally: its wildcards are
/// escaped with `\` (use with `ESCAPE '\'`).
pub fn contains_pattern(text: &str) -> String {
    format!(
        "%{}%",
        text.trim()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// A statement under construction: its text and its bound values.
#[derive(Default)]
pub struct Sql {
    text: String,
    args: AnyArguments<'static>,
    binds: usize,
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The values may be secrets' hashes or password hashes: text only.
        f.debug_struct("Sql")
            .field("text", &self.text)
            .field("binds", &self.binds)
            .finish()
    }
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Self {
        Sql {
            text: text.into(),
            ..Sql::default()
        }
    }

    /// Appends SQL text as is.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Encode<'static, Any> + Type<Any> + Send,
    {
        self.binds += 1;
        self.text.push('$');
        self.text.push_str(&self.binds.to_string());
        // Encoding into `AnyArguments` only copies the value into a buffer; it
        // fails for no type this module binds.
        if let Err(e) = self.args.add(value) {
            tracing::error!(error = %e, "Failed to bind a statement value");
        }
        self
    }

    /// Appends `(v1, v2, …)`, or `(NULL)` for no values (matching nothing).
    pub fn bind_list<T, I>(&mut self, values: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: 'static + Encode<'static, Any> + Type<Any> + Send,
    {
        self.push("(");
        let mut first = true;
        for value in values {
            if !first {
                self.push(", ");
            }
            first = false;
            self.bind(value);
        }
        if first {
            self.push("NULL");
        }
        self.push(")")
    }

    /// The statement, for `execute`. Takes the bound values: build once, run once.
    pub fn query(&mut self) -> Query<'_, Any, AnyArguments<'_>> {
        sqlx::query_with(&self.text, std::mem::take(&mut self.args))
    }

    /// The statement, decoding each row as `T`. Takes the bound values.
    pub fn query_as<T>(&mut self) -> QueryAs<'_, Any, T, AnyArguments<'_>>
    where
        T: for<'r> FromRow<'r, AnyRow>,
    {
        sqlx::query_as_with(&self.text, std::mem::take(&mut self.args))
    }
}

#[cfg(test)]
mod tests {
    use super::Sql;

    #[test]
    fn binds_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        sql.bind(1_i64).push(" AND b IN ").bind_list(["x", "y"]);
        assert_eq!(sql.text, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(sql.binds, 3);
    }

    #[test]
    fn an_empty_list_matches_nothing() {
        let mut sql = Sql::new("id IN ");
        sql.bind_list(Vec::<String>::new());
        assert_eq!(sql.text, "id IN (NULL)");
    }
}
