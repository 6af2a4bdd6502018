//! sdrhub gateway.
