//! The cluster's history in docker-compose.yml and deploy/cluster.toml: PostgreSQL, one history
//! writer, and the gateways' `[history] url` pointing at it.

use super::{compose, environment, is_bind, mounts, repo, service, string_list};

#[test]
fn the_cluster_history_is_postgres_filled_by_one_writer_and_read_by_the_gateways() {
    let compose = compose();
    // PostgreSQL: the official image, its data in a declared volume, a health check, reached
    // on the compose network only.
    let postgres = service(&compose, "postgres");
    let image = postgres["image"].as_str().expect("an image");
    assert!(image.starts_with("postgres:"), "{image}");
    let data = mounts(postgres)
        .into_iter()
        .find(|m| m.target == "/var/lib/postgresql/data")
        .expect("the data directory is mounted");
    assert!(!is_bind(&data), "the data is a named volume");
    assert!(
        compose["volumes"]
            .as_mapping()
            .is_some_and(|v| v.contains_key(data.source.as_str())),
        "volume {} is not declared",
        data.source
    );
    let env = environment(postgres);
    let test = string_list(&postgres["healthcheck"]["test"]);
    assert_eq!(
        test,
        [
            "CMD",
            "pg_isready",
            "-U",
            &env["POSTGRES_USER"],
            "-d",
            &env["POSTGRES_DB"]
        ]
    );
    for key in ["interval", "timeout", "retries"] {
        assert!(!postgres["healthcheck"][key].is_null(), "healthcheck.{key}");
    }
    assert!(
        postgres["ports"].is_null(),
        "PostgreSQL is not published to the host"
    );
    assert_eq!(string_list(&postgres["expose"]), ["5432"]);

    // The writer waits for both NATS and PostgreSQL, has a node id of its own, and runs once.
    let writer = service(&compose, "history-writer");
    for dependency in ["nats", "postgres"] {
        assert_eq!(
            writer["depends_on"][dependency]["condition"].as_str(),
            Some("service_healthy"),
            "{dependency}"
        );
    }
    assert_eq!(environment(writer)["SDRHUB_BUS__NODE_ID"], "history-1");
    assert!(writer["deploy"]["replicas"].is_null(), "one history writer");
    assert_eq!(
        writer["healthcheck"]["disable"].as_bool(),
        Some(true),
        "it serves no HTTP"
    );

    // deploy/cluster.toml: the gateways' and the writer's configuration. Its history URL names
    // the postgres service with the user, password and database the service creates.
    let path = repo().join("deploy/cluster.toml");
    let cluster = sdrhub::config::Config::load(Some(&path), figment::Figment::new())
        .unwrap_or_else(|e| panic!("deploy/cluster.toml: {e}"));
    assert!(cluster.history.enabled);
    let url = &cluster.history.url;
    assert_eq!(
        url,
        &format!(
            "postgres://{}:{}@postgres:5432/{}",
            env["POSTGRES_USER"], env["POSTGRES_PASSWORD"], env["POSTGRES_DB"]
        ),
        "deploy/cluster.toml's [history] url and the postgres service agree"
    );
    assert_eq!(cluster.history.backend(), Ok(sdrhub::history::Backend::Postgres));
    // Its [server] and [log] are the single hub's (the gateways serve as it does).
    let single =
        sdrhub::config::Config::load(Some(&repo().join("deploy/sdrhub.toml")), figment::Figment::new())
            .unwrap_or_else(|e| panic!("deploy/sdrhub.toml: {e}"));
    assert_eq!(cluster.server, single.server, "[server] of deploy/cluster.toml");
    assert_eq!(cluster.log, single.log, "[log] of deploy/cluster.toml");
    // The single hub keeps its embedded SQLite.
    assert_eq!(single.history.backend(), Ok(sdrhub::history::Backend::Sqlite));
}
