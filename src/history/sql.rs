//! SQL text built with its arguments, with each backend's placeholders: `$1`, `$2`... for
//! PostgreSQL, `?` for SQLite.
//!
//! sqlx's `QueryBuilder` writes `?` for the Any driver, which PostgreSQL does not accept. SQLite
//! reads `$N` too (the fixed statements elsewhere use it), but as *named* parameters: SQLite
//! finds each name by a linear search, so binding a 1 100-argument insert costs ~600 000 steps;
//! anonymous `?` are bound by position.

use super::Backend;
use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Encode, Type};
use std::fmt::Write;

/// A statement being built, with its arguments.
pub struct Sql<'q> {
    backend: Backend,
    text: String,
    args: AnyArguments<'q>,
    count: usize,
}

impl<'q> Sql<'q> {
    /// A statement for `backend` starting with `text`.
    pub fn new(backend: Backend, text: &str) -> Self {
        Self {
            backend,
            text: text.to_string(),
            args: AnyArguments::default(),
            count: 0,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Any> + Type<Any>,
    {
        self.count += 1;
        match self.backend {
            Backend::Sqlite => self.text.push('?'),
            // Writing to a String cannot fail.
            Backend::Postgres => {
                let _ = write!(self.text, "${}", self.count);
            }
        }
        // Encoding into AnyArguments only pushes a value; it fails for no type we bind.
        let _ = self.args.add(value);
        self
    }

    /// The text and arguments, for `sqlx::query_with`.
    pub fn parts(self) -> (String, AnyArguments<'q>) {
        (self.text, self.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        for (backend, expected) in [
            (Backend::Postgres, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)"),
            (Backend::Sqlite, "SELECT 1 WHERE a = ? AND b IN (?, ?)"),
        ] {
            let mut sql = Sql::new(backend, "SELECT 1 WHERE a = ");
            sql.bind(1i64)
                .push(" AND b IN (")
                .bind("x")
                .push(", ")
                .bind(2.5f64)
                .push(")");
            let (text, args) = sql.parts();
            assert_eq!(text, expected);
            assert_eq!(args.len(), 3);
        }
    }
}
