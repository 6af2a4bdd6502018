//! The deployment files hold together: docker-compose.yml (parsed as YAML), the Dockerfile,
//! .dockerignore, deploy/sdrhub.toml, the container health check and nginx/ as the compose file
//! mounts it (`nginx -t` by the real nginx, with the compose service name `sdrhub` replaced by
//! 127.0.0.1 since there is no Docker DNS here). No Docker engine is needed; tests/nginx.rs
//! runs the same nginx configuration in front of a real sdrhub.

mod common;
#[path = "deploy/history.rs"]
mod history;

use common::nginx;
use serde_norway::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    nginx::repo()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn compose() -> Value {
    serde_norway::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is valid YAML")
}

fn service<'a>(compose: &'a Value, name: &str) -> &'a Value {
    let service = &compose["services"][name];
    assert!(service.is_mapping(), "docker-compose.yml has no service {name}");
    service
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_sequence()
        .map(|items| {
            items
                .iter()
                .map(|item| item.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// A service's `environment` (map form) as strings.
fn environment(service: &Value) -> HashMap<String, String> {
    let map = service["environment"].as_mapping().expect("environment as a map");
    map.iter()
        .map(|(k, v)| {
            let value = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => panic!("environment value {other:?}"),
            };
            (k.as_str().expect("a name").to_owned(), value)
        })
        .collect()
}

/// A short-syntax volume `SOURCE:TARGET[:MODE]`.
struct Mount {
    source: String,
    target: String,
}

fn mounts(service: &Value) -> Vec<Mount> {
    string_list(&service["volumes"])
        .into_iter()
        .map(|spec| {
            let mut parts = spec.split(':');
            let source = parts.next().expect("a source").to_owned();
            let target = parts
                .next()
                .unwrap_or_else(|| panic!("volume {spec:?} has no target"))
                .to_owned();
            Mount { source, target }
        })
        .collect()
}

fn is_bind(mount: &Mount) -> bool {
    mount.source.starts_with('.') || mount.source.starts_with('/')
}

/// Where `target` is bind-mounted from in `service`, as a path in the repository.
fn bind_source(service: &Value, target: &str) -> String {
    mounts(service)
        .into_iter()
        .find(|m| m.target == target)
        .map(|m| m.source)
        .unwrap_or_else(|| panic!("nothing is mounted at {target}"))
}

#[test]
fn compose_has_sdrhub_and_nginx_with_health_checks_and_restart_policies() {
    let compose = compose();
    for name in ["sdrhub", "nginx"] {
        let service = service(&compose, name);
        let restart = service["restart"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no restart"));
        assert!(
            ["always", "unless-stopped", "on-failure"].contains(&restart),
            "{name}: restart {restart:?}"
        );
        let test = string_list(&service["healthcheck"]["test"]);
        assert!(
            test.len() >= 2 && test[0] == "CMD",
            "{name}: healthcheck {test:?}"
        );
        for key in ["interval", "timeout", "retries"] {
            assert!(
                !service["healthcheck"][key].is_null(),
                "{name}: healthcheck.{key}"
            );
        }
    }
    let sdrhub = service(&compose, "sdrhub");
    let nginx = service(&compose, "nginx");
    assert_eq!(
        nginx["depends_on"]["sdrhub"]["condition"].as_str(),
        Some("service_healthy"),
        "nginx waits for a healthy sdrhub"
    );
    // Only nginx faces the outside; sdrhub is reached on the compose network.
    assert!(
        sdrhub["ports"].is_null(),
        "sdrhub publishes ports: {:?}",
        sdrhub["ports"]
    );
    assert_eq!(string_list(&sdrhub["expose"]), ["8080"]);
    let ports = string_list(&nginx["ports"]);
    assert_eq!(ports.len(), 1, "{ports:?}");
    let container_port = ports[0].rsplit(':').next().unwrap();
    assert_eq!(
        container_port,
        environment(nginx)["NGINX_LISTEN"],
        "published port is nginx's"
    );
    // The container health check is the image's script.
    assert_eq!(
        string_list(&sdrhub["healthcheck"]["test"]),
        ["CMD", "sdrhub-healthcheck"]
    );
    assert!(
        sdrhub["build"]["context"].as_str() == Some("."),
        "sdrhub is built from this repository's Dockerfile"
    );
}

#[test]
fn compose_mounts_exist_and_nginx_gets_the_repository_configuration() {
    let compose = compose();
    let named: Vec<String> = compose["volumes"]
        .as_mapping()
        .map(|m| m.keys().map(|k| k.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default();
    for name in ["sdrhub", "nginx"] {
        for mount in mounts(service(&compose, name)) {
            if is_bind(&mount) {
                let path = repo().join(&mount.source);
                assert!(
                    path.exists(),
                    "{name}: bind mount {} does not exist",
                    path.display()
                );
            } else {
                assert!(
                    named.contains(&mount.source),
                    "{name}: volume {} is not declared",
                    mount.source
                );
            }
        }
    }
    let sdrhub = service(&compose, "sdrhub");
    let config_path = &environment(sdrhub)["SDRHUB_CONFIG"];
    assert_eq!(bind_source(sdrhub, config_path), "./deploy/sdrhub.toml");
    let recordings = mounts(sdrhub)
        .into_iter()
        .find(|m| m.target == "/var/lib/sdrhub/recordings")
        .expect("a recordings volume");
    assert!(
        !is_bind(&recordings),
        "recordings live in a named volume (owned by the image's user)"
    );

    // The nginx image reads /etc/nginx/nginx.conf and renders /etc/nginx/templates/*.template;
    // the template includes snippets/ relative to /etc/nginx.
    let nginx = service(&compose, "nginx");
    assert_eq!(bind_source(nginx, "/etc/nginx/nginx.conf"), "./nginx/nginx.conf");
    assert_eq!(bind_source(nginx, "/etc/nginx/templates"), "./nginx/templates");
    assert_eq!(bind_source(nginx, "/etc/nginx/snippets"), "./nginx/snippets");
    let env = environment(nginx);
    assert_eq!(bind_source(nginx, &env["NGINX_WEB_ROOT"]), "./web");

    // Every template placeholder has its value, or the image would leave `${NAME}` for nginx.
    for template in ["nginx/templates/default.conf.template", "nginx/tls.conf.example"] {
        for name in nginx::placeholders(&read(template)) {
            assert!(
                env.contains_key(&name),
                "{template}: ${{{name}}} is not in nginx's environment"
            );
        }
    }

    // The USB pass-through is there to uncomment.
    let text = read("docker-compose.yml");
    assert!(
        text.lines().any(|l| l.trim() == "# devices:")
            && text
                .lines()
                .any(|l| l.trim() == "#   - /dev/bus/usb:/dev/bus/usb"),
        "the commented USB pass-through is missing"
    );
}

#[test]
fn the_deployed_sdrhub_config_serves_the_simulated_scene_on_every_interface() {
    let path = repo().join("deploy/sdrhub.toml");
    let config = sdrhub::config::Config::load(Some(&path), figment::Figment::new())
        .unwrap_or_else(|e| panic!("deploy/sdrhub.toml: {e}"));
    assert_eq!(config.server.bind, "0.0.0.0:8080");
    assert!(config.simulation_enabled() && config.receivers.is_empty());
    // nginx must not cut a quiet WebSocket before sdrhub's own heartbeat timeout does.
    let read_timeout = ws_proxy_read_timeout_s();
    for (what, timeout) in [
        ("deploy/sdrhub.toml", config.server.heartbeat_timeout_s),
        (
            "the default",
            sdrhub::config::Config::default().server.heartbeat_timeout_s,
        ),
    ] {
        assert!(
            read_timeout > timeout,
            "proxy_read_timeout {read_timeout} s <= heartbeat_timeout_s {timeout} s of {what}"
        );
    }
}

/// `proxy_read_timeout` (seconds) of the WebSocket location in nginx/snippets/sdrhub.conf.
fn ws_proxy_read_timeout_s() -> f64 {
    let snippet = read("nginx/snippets/sdrhub.conf");
    let start = snippet
        .find("location ~ ^/ws(/|$) {")
        .expect("the WebSocket location");
    let block = &snippet[start..start + snippet[start..].find('}').expect("its end")];
    let value = block
        .lines()
        .find_map(|l| l.trim().strip_prefix("proxy_read_timeout "))
        .expect("proxy_read_timeout in the WebSocket location");
    let seconds = value.trim_end_matches(';').trim_end_matches('s');
    assert!(block.contains("proxy_buffering off;"), "{block}");
    seconds
        .parse()
        .unwrap_or_else(|_| panic!("proxy_read_timeout {value:?}: write it in seconds"))
}

/// The Dockerfile's instructions (continuation lines joined, comments dropped), split into
/// stages; the ARGs before the first FROM are substituted.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = read("Dockerfile");
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    let mut args = HashMap::new();
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for instruction in instructions {
        let (keyword, rest) = instruction
            .split_once(' ')
            .expect("an instruction with arguments");
        let mut rest = rest.trim().to_owned();
        if keyword == "ARG" && stages.is_empty() {
            let (name, value) = rest.split_once('=').expect("ARG NAME=default");
            args.insert(name.to_owned(), value.to_owned());
            continue;
        }
        if keyword == "FROM" {
            for (name, value) in &args {
                rest = rest.replace(&format!("${{{name}}}"), value);
            }
            stages.push(Vec::new());
        }
        stages
            .last_mut()
            .expect("instructions after a FROM")
            .push((keyword.to_owned(), rest));
    }
    stages
}

fn all<'a>(stage: &'a [(String, String)], keyword: &str) -> Vec<&'a str> {
    stage
        .iter()
        .filter(|(k, _)| k == keyword)
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn the_dockerfile_builds_with_soapy_and_runs_slim_as_a_user() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "a multi-stage build: {} FROM", stages.len());
    let build = &stages[0];
    let runtime = stages.last().unwrap();

    // Same Debian release in both stages: the binary needs the builder's glibc and libSoapySDR.
    let builder_image = all(build, "FROM")[0].split_whitespace().next().unwrap();
    let runtime_image = all(runtime, "FROM")[0].split_whitespace().next().unwrap();
    let (rust, release) = builder_image
        .strip_prefix("rust:")
        .and_then(|tag| tag.split_once('-'))
        .unwrap_or_else(|| panic!("builder {builder_image}: rust:VERSION-RELEASE"));
    assert_eq!(runtime_image, format!("debian:{release}-slim"));
    let minimum = env!("CARGO_PKG_RUST_VERSION");
    let version = |v: &str| -> Vec<u32> { v.split('.').map(|n| n.parse().unwrap()).collect() };
    assert!(
        version(rust) >= version(minimum),
        "rust {rust} < rust-version {minimum}"
    );

    let build_runs = all(build, "RUN").join("\n");
    assert!(build_runs.contains("libsoapysdr-dev") && build_runs.contains("pkg-config"));
    let cargo = all(build, "RUN")
        .into_iter()
        .find(|r| r.contains("cargo build"))
        .expect("cargo build in the build stage");
    for flag in ["--release", "--features soapy", "--locked"] {
        assert!(cargo.contains(flag), "cargo build without {flag}: {cargo}");
    }

    let runtime_runs = all(runtime, "RUN");
    let installs: Vec<&&str> = runtime_runs
        .iter()
        .filter(|r| r.contains("apt-get install"))
        .collect();
    assert!(!installs.is_empty());
    let packages = installs
        .iter()
        .map(|r| r.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    for package in ["libsoapysdr0.8", "soapysdr-module-rtlsdr"] {
        assert!(
            packages.contains(package),
            "the runtime does not install {package}"
        );
    }
    for tool in ["-dev", "pkg-config", "build-essential", "gcc", "cargo", "curl"] {
        assert!(
            !packages.contains(tool),
            "the runtime installs a build tool: {tool}"
        );
    }
    for stage in &stages {
        for run in all(stage, "RUN")
            .into_iter()
            .filter(|r| r.contains("apt-get install"))
        {
            assert!(run.contains("--no-install-recommends"), "{run}");
            assert!(
                run.contains("rm -rf /var/lib/apt/lists/*"),
                "apt lists kept: {run}"
            );
        }
    }

    let users = all(runtime, "USER");
    let user = users.last().expect("USER in the final stage");
    assert!(!["root", "0", "0:0"].contains(user), "runs as {user}");
    let health = all(runtime, "HEALTHCHECK").join(" ");
    assert!(
        health.contains("CMD [\"sdrhub-healthcheck\"]"),
        "HEALTHCHECK {health:?}"
    );
    assert_eq!(all(runtime, "EXPOSE"), ["8080"]);
    assert_eq!(all(runtime, "ENTRYPOINT"), ["[\"sdrhub\"]"]);

    // What the runtime copies from the build context exists, and the health check script is
    // what HEALTHCHECK runs.
    let copies = all(runtime, "COPY");
    for copy in &copies {
        let words: Vec<&str> = copy.split_whitespace().filter(|w| !w.starts_with("--")).collect();
        if copy.contains("--from=") {
            continue;
        }
        assert!(repo().join(words[0]).is_file(), "COPY {copy}: no {}", words[0]);
    }
    assert!(copies
        .iter()
        .any(|c| c.ends_with("deploy/healthcheck.sh /usr/local/bin/sdrhub-healthcheck")));
    assert!(copies
        .iter()
        .any(|c| c.contains("--from=build") && c.contains("sdrhub")));
}

/// Whether `.dockerignore`'s `pattern` excludes `path` (relative, `/`-separated): Docker's
/// rules for the patterns this repository uses (`*` within a name, a leading `**/`, a
/// directory excluding everything under it).
fn ignored_by(pattern: &str, path: &str) -> bool {
    fn glob(pattern: &str, text: &str) -> bool {
        match pattern.split_once('*') {
            None => pattern == text,
            Some((head, tail)) => {
                text.starts_with(head) && (head.len()..=text.len()).any(|i| glob(tail, &text[i..]))
            }
        }
    }
    let parts: Vec<&str> = path.split('/').collect();
    let (anywhere, pattern) = match pattern.strip_prefix("**/") {
        Some(rest) => (true, rest),
        None => (false, pattern.trim_start_matches('/')),
    };
    let wanted: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
    let starts = if anywhere { 0..parts.len() } else { 0..1 };
    starts.into_iter().any(|start| {
        parts.len() >= start + wanted.len() && wanted.iter().zip(&parts[start..]).all(|(p, t)| glob(p, t))
    })
}

fn files_cargo_reads(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if !["target", ".git", "node_modules"].contains(&name.as_str()) {
                files_cargo_reads(&path, out);
            }
            continue;
        }
        let relative = path.strip_prefix(repo()).unwrap().to_string_lossy().into_owned();
        if name.ends_with(".rs")
            || name == "Cargo.toml"
            || name == "Cargo.lock"
            || relative.starts_with("web/")
        {
            out.push(relative);
        }
    }
}

#[test]
fn dockerignore_keeps_the_build_inputs_and_drops_the_heavy_parts() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(
        patterns.iter().all(|p| !p.starts_with('!')),
        "exceptions are not checked here"
    );
    let ignored = |path: &str| patterns.iter().any(|p| ignored_by(p, path));
    let mut needed = vec![
        "deploy/healthcheck.sh".to_owned(),
        "deploy/sdrhub.toml".to_owned(),
    ];
    files_cargo_reads(&repo(), &mut needed);
    assert!(needed.iter().any(|p| p == "src/main.rs") && needed.iter().any(|p| p == "web/js/main.js"));
    for path in &needed {
        assert!(
            !ignored(path),
            ".dockerignore drops {path}, which the build needs"
        );
    }
    for path in [
        "target/release/sdrhub",
        ".git/HEAD",
        "tests/browser/node_modules/x/index.js",
    ] {
        assert!(ignored(path), ".dockerignore keeps {path}");
    }
}

#[test]
fn nginx_accepts_the_configuration_as_deployed() {
    let mut env = environment(service(&compose(), "nginx"));
    let upstream = env["SDRHUB_UPSTREAM"].clone();
    let (host, port) = upstream.split_once(':').expect("host:port");
    assert_eq!(host, "sdrhub", "the upstream is the compose service");
    env.insert("SDRHUB_UPSTREAM".into(), format!("127.0.0.1:{port}"));
    let layout = nginx::lay_out(&env, &[]);
    nginx::assert_config_ok(&layout);
}

#[test]
fn the_cluster_profile_runs_nats_a_node_and_two_gateways_behind_nginx() {
    let compose = compose();
    let cluster = [
        "nats",
        "acquire",
        "gateway-a",
        "gateway-b",
        "nginx-cluster",
        "postgres",
        "history-writer",
    ];
    for name in cluster {
        let service = service(&compose, name);
        assert_eq!(string_list(&service["profiles"]), ["cluster"], "{name}");
        assert_eq!(service["restart"].as_str(), Some("unless-stopped"), "{name}");
    }
    // The single hub stays the default: no profile.
    for name in ["sdrhub", "nginx"] {
        assert!(service(&compose, name)["profiles"].is_null(), "{name}");
    }
    // NATS with JetStream and its store in a declared volume.
    let nats = service(&compose, "nats");
    let command = string_list(&nats["command"]);
    assert!(command.contains(&"-js".to_string()), "{command:?}");
    let store = &command[command.iter().position(|a| a == "-sd").expect("-sd") + 1];
    let mount = mounts(nats)
        .into_iter()
        .find(|m| &m.target == store)
        .expect("the store is mounted");
    assert!(!is_bind(&mount), "the JetStream store is a named volume");
    assert!(
        compose["volumes"]
            .as_mapping()
            .is_some_and(|v| v.contains_key(mount.source.as_str())),
        "volume {} is not declared",
        mount.source
    );
    // The node, the gateways and the history writer: their role, the bus, their config (the
    // node's receivers in deploy/sdrhub.toml, the cluster's history in deploy/cluster.toml).
    for (name, role, config) in [
        ("acquire", "acquire", "./deploy/sdrhub.toml"),
        ("gateway-a", "gateway", "./deploy/cluster.toml"),
        ("gateway-b", "gateway", "./deploy/cluster.toml"),
        ("history-writer", "history-writer", "./deploy/cluster.toml"),
    ] {
        let service = service(&compose, name);
        assert_eq!(string_list(&service["command"]), [role], "{name}");
        let env = environment(service);
        assert_eq!(env["SDRHUB_BUS__URL"], "nats://nats:4222", "{name}");
        assert_eq!(bind_source(service, &env["SDRHUB_CONFIG"]), config, "{name}");
        assert_eq!(
            service["depends_on"]["nats"]["condition"].as_str(),
            Some("service_healthy"),
            "{name}"
        );
        assert!(service["ports"].is_null(), "{name} is reached through nginx only");
    }
    assert_eq!(
        environment(service(&compose, "acquire"))["SDRHUB_BUS__NODE_ID"],
        "edge-1"
    );
    for gateway in ["gateway-a", "gateway-b"] {
        let service = service(&compose, gateway);
        assert_eq!(
            string_list(&service["healthcheck"]["test"]),
            ["CMD", "sdrhub-healthcheck"]
        );
        assert_eq!(string_list(&service["expose"]), ["8080"]);
    }
    // nginx in front of both gateways, with the repository's configuration and the cluster's
    // server template; on its own host port.
    let nginx = service(&compose, "nginx-cluster");
    for gateway in ["gateway-a", "gateway-b"] {
        assert_eq!(
            nginx["depends_on"][gateway]["condition"].as_str(),
            Some("service_healthy")
        );
    }
    assert_eq!(bind_source(nginx, "/etc/nginx/templates"), "./nginx/cluster");
    assert_eq!(bind_source(nginx, "/etc/nginx/nginx.conf"), "./nginx/nginx.conf");
    assert_eq!(bind_source(nginx, "/etc/nginx/snippets"), "./nginx/snippets");
    let env = environment(nginx);
    assert_eq!(bind_source(nginx, &env["NGINX_WEB_ROOT"]), "./web");
    let template = read("nginx/cluster/default.conf.template");
    for name in nginx::placeholders(&template) {
        assert!(
            env.contains_key(&name),
            "${{{name}}} is not in nginx-cluster's environment"
        );
    }
    assert_eq!(
        [&env["SDRHUB_GATEWAY_A"], &env["SDRHUB_GATEWAY_B"]],
        ["gateway-a:8080", "gateway-b:8080"]
    );
    let ports = string_list(&nginx["ports"]);
    assert_eq!(ports, ["${SDRHUB_CLUSTER_HTTP_PORT:-8081}:80"]);
    for name in cluster {
        for mount in mounts(service(&compose, name)).into_iter().filter(is_bind) {
            assert!(
                repo().join(&mount.source).exists(),
                "{name}: {} does not exist",
                mount.source
            );
        }
    }
    // `nginx -t` of the cluster's configuration, the gateways' names replaced by loopback.
    let mut env = env;
    for key in ["SDRHUB_GATEWAY_A", "SDRHUB_GATEWAY_B"] {
        let port = env[key].rsplit(':').next().unwrap().to_string();
        env.insert(key.into(), format!("127.0.0.1:{port}"));
    }
    nginx::assert_config_ok(&nginx::lay_out_templates("cluster", &env, &[]));
}

#[test]
fn nginx_accepts_the_tls_example_once_enabled() {
    // As the example says: copied into templates/, with certificates in /etc/nginx/certs.
    let mut env = environment(service(&compose(), "nginx"));
    env.insert("SDRHUB_UPSTREAM".into(), "127.0.0.1:8080".into());
    let example = read("nginx/tls.conf.example");
    assert!(
        example.contains("include snippets/sdrhub.conf;"),
        "TLS serves the same routes"
    );
    assert!(example.contains("Strict-Transport-Security"));
    let layout = nginx::lay_out(&env, &[("tls.conf.template", example)]);
    let certs = layout.dir.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    let openssl = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(certs.join("privkey.pem"))
        .arg("-out")
        .arg(certs.join("fullchain.pem"))
        .output()
        .expect("openssl makes the throwaway certificate (apt-get install openssl; scripts/test.sh does)");
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stderr)
    );
    nginx::assert_config_ok(&layout);
}

/// Runs deploy/healthcheck.sh against `addr`; its exit status and stderr.
async fn healthcheck(addr: String) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let output = Command::new("bash")
            .arg(repo().join("deploy/healthcheck.sh"))
            .env("SDRHUB_HEALTHCHECK_ADDR", addr)
            .output()
            .expect("run bash");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_health_check_passes_only_on_a_200_from_healthz() {
    let script = read("deploy/healthcheck.sh");
    assert!(
        script.contains("SDRHUB_HEALTHCHECK_ADDR:-127.0.0.1:8080"),
        "the default is the deployed port"
    );

    let server = common::start(common::test_config());
    let (ok, stderr) = healthcheck(server.addr.to_string()).await;
    assert!(ok, "healthy sdrhub judged unhealthy: {stderr}");

    // A server that answers, but not 200.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unhealthy = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        if let Some(Ok(mut stream)) = listener.incoming().next() {
            // The whole request, then the answer, then wait for the client to hang up: closing
            // with unread bytes would reset the connection before the answer is read.
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let _ = stream.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
            let _ = stream.shutdown(std::net::Shutdown::Write);
            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
        }
    });
    let (ok, stderr) = healthcheck(unhealthy).await;
    assert!(!ok, "a 503 passed the health check");
    assert!(stderr.contains("503"), "{stderr}");

    // Nothing listening.
    let (ok, _) = healthcheck(format!("127.0.0.1:{}", nginx::free_port())).await;
    assert!(!ok, "a closed port passed the health check");

    server.stop().await.unwrap();
}

/// `major.minor` of a version string.
fn major_minor(version: &str) -> (u64, u64) {
    let mut parts = version.trim().split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

#[test]
fn the_actix_http_floor_is_the_version_the_suite_runs_against() {
    // The WebSocket handshake checks and HTTP/1 parsing come from actix-http: a build must not
    // be allowed to pick an older release than the one these tests exercise.
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let declared = manifest["dependencies"]["actix-http"]["version"]
        .as_str()
        .expect("actix-http has a version requirement");
    let lock: toml::Value = toml::from_str(&read("Cargo.lock")).unwrap();
    let locked = lock["package"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"].as_str() == Some("actix-http"))
        .and_then(|p| p["version"].as_str())
        .expect("actix-http in Cargo.lock");
    assert_eq!(
        major_minor(declared),
        major_minor(locked),
        "Cargo.toml allows actix-http {declared} but the suite runs {locked}"
    );
    assert!(major_minor(declared) >= (3, 20), "actix-http floor {declared}");
}
