//! SQL text with numbered placeholders (`$1`, `$2`...) that both backends read, built with its
//! arguments.
//!
//! sqlx's `QueryBuilder` writes `?` for the Any driver, which PostgreSQL does not accept;
//! SQLite accepts `$N` as well as PostgreSQL does, so one text serves both.

use sqlx::any::AnyArguments;
use sqlx::{Any, Arguments, Encode, Type};
use std::fmt::Write;

/// A statement being built, with its arguments.
#[derive(Default)]
pub struct Sql<'q> {
    text: String,
    args: AnyArguments<'q>,
    count: usize,
}

impl<'q> Sql<'q> {
    /// A statement starting with `text`.
    pub fn new(text: &str) -> Self {
        Self {
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
        // Writing to a String cannot fail.
        let _ = write!(self.text, "${}", self.count);
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
    fn placeholders_are_numbered_in_order() {
        let mut sql = Sql::new("SELECT 1 WHERE a = ");
        sql.bind(1i64)
            .push(" AND b IN (")
            .bind("x")
            .push(", ")
            .bind(2.5f64)
            .push(")");
        let (text, args) = sql.parts();
        assert_eq!(text, "SELECT 1 WHERE a = $1 AND b IN ($2, $3)");
        assert_eq!(args.len(), 3);
    }
}
