//! The history store against real databases: every behaviour runs once on an SQLite file and
//! once on a real PostgreSQL server (tests/common/postgres.rs), through the same code.

mod alerts;
#[path = "../common/mod.rs"]
mod common;
mod crash;
mod fixture;
mod reads;
mod writes;

/// Instantiates every behaviour (`module::function`, an `async fn(Backend)`) for both backends.
macro_rules! on_both_backends {
    ($($module:ident :: $test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::$module::$test(sdrhub::history::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::$module::$test(sdrhub::history::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends!(
    reads::round_trip,
    reads::pagination_and_filters,
    reads::localizations_by_time_and_bbox,
    reads::occupancy_matrix,
    reads::known_signals,
    reads::novelty,
    reads::exact_values,
    reads::emitter_ids,
    writes::retention,
    writes::observations_keep_a_track_seen,
    writes::max_bytes,
    writes::idempotent_by_sequence,
    writes::writer_drops_and_batches,
    writes::reopen_keeps_data,
    crash::crash_safety,
    alerts::alerts_round_trip,
    alerts::hourly_baselines,
);
