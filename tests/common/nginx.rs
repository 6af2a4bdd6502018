//! The repository's nginx configuration (nginx/) run by the real Debian nginx: laid out in a
//! temporary directory the way the nginx image lays it out in /etc/nginx, with its templates
//! rendered as the image renders them (only the `${NAME}` placeholders change), and started as
//! the current user on a free loopback port.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Debian's nginx (`apt-get install nginx`; scripts/test.sh installs it).
pub const NGINX: &str = "/usr/sbin/nginx";
/// The MIME types the nginx image ships as /etc/nginx/mime.types (Debian's copy).
const MIME_TYPES: &str = "/etc/nginx/mime.types";
/// How long nginx may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(10);

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file of the dashboard (the repository's web/, which nginx serves from disk), as
/// paths relative to web/ with `/` separators, sorted.
pub fn web_files() -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let relative = path.strip_prefix(root).expect("under web/");
                let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy()).collect();
                out.push(parts.join("/"));
            }
        }
    }
    let root = repo().join("web");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    files.sort();
    files
}

/// The nginx binary; fails the test (never skips it) when nginx is not installed.
pub fn nginx_binary() -> &'static Path {
    let path = Path::new(NGINX);
    assert!(
        path.is_file(),
        "{NGINX} not found: the deployment tests run the real nginx. Install it with \
         `apt-get install nginx` (scripts/test.sh does)"
    );
    path
}

/// A temporary nginx prefix holding the configuration, removed on drop.
#[derive(Debug)]
pub struct Layout {
    /// The prefix: nginx.conf, mime.types, snippets/, conf.d/ (the rendered templates).
    pub dir: PathBuf,
}

impl Drop for Layout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Replaces every `${NAME}` of `vars` in `template`, as the nginx image's envsubst does, and
/// panics if a `${NAME}` placeholder is left (the image would leave it and nginx would refuse
/// the file).
pub fn render(template: &str, vars: &HashMap<String, String>) -> String {
    let mut out = template.to_owned();
    for (name, value) in vars {
        out = out.replace(&format!("${{{name}}}"), value);
    }
    let left = placeholders(&out);
    assert!(left.is_empty(), "template placeholders without a value: {left:?}");
    out
}

/// The `${NAME}` placeholders (upper-case names) of a template, in order of appearance.
pub fn placeholders(template: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        rest = &rest[start + 2..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !name.is_empty() && rest[name.len()..].starts_with('}') && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Lays the repository's nginx/ out in a fresh temporary prefix: nginx.conf and snippets/ as
/// they are, each `templates/*.template` (and each of `extra_templates`, name and text) rendered
/// with `vars` into conf.d/, plus one test-only file, conf.d/00-test-paths.conf, that moves
/// nginx's temporary files into the prefix (the built-in paths under /var/lib/nginx are not
/// writable for an unprivileged user).
pub fn lay_out(vars: &HashMap<String, String>, extra_templates: &[(&str, String)]) -> Layout {
    lay_out_templates("templates", vars, extra_templates)
}

/// [`lay_out`] with the templates of `nginx/<templates>` (`cluster`: the cluster profile's
/// server in front of every gateway) instead of `nginx/templates`.
pub fn lay_out_templates(
    templates: &str,
    vars: &HashMap<String, String>,
    extra_templates: &[(&str, String)],
) -> Layout {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "sdrhub-nginx-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let layout = Layout { dir: dir.clone() };
    let source = repo().join("nginx");
    std::fs::create_dir_all(dir.join("conf.d")).expect("create conf.d");
    std::fs::create_dir_all(dir.join("snippets")).expect("create snippets");
    std::fs::copy(source.join("nginx.conf"), dir.join("nginx.conf")).expect("copy nginx/nginx.conf");
    std::fs::copy(MIME_TYPES, dir.join("mime.types"))
        .unwrap_or_else(|e| panic!("{MIME_TYPES}: {e} (it comes with Debian's nginx)"));
    for entry in std::fs::read_dir(source.join("snippets")).expect("nginx/snippets") {
        let path = entry.expect("snippet").path();
        std::fs::copy(
            &path,
            dir.join("snippets").join(path.file_name().expect("a file name")),
        )
        .expect("copy a snippet");
    }
    let templates_dir = source.join(templates);
    let mut templates: Vec<(String, String)> = std::fs::read_dir(&templates_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", templates_dir.display()))
        .map(|entry| entry.expect("template").path())
        .filter(|path| path.extension().is_some_and(|e| e == "template"))
        .map(|path| {
            let name = path
                .file_name()
                .expect("a file name")
                .to_string_lossy()
                .into_owned();
            (name, std::fs::read_to_string(&path).expect("read a template"))
        })
        .collect();
    assert!(
        !templates.is_empty(),
        "{} has no *.template",
        templates_dir.display()
    );
    templates.extend(extra_templates.iter().map(|(n, t)| (n.to_string(), t.clone())));
    for (name, text) in templates {
        let conf = name.strip_suffix(".template").expect("a .template name");
        std::fs::write(dir.join("conf.d").join(conf), render(&text, vars)).expect("write conf.d");
    }
    let temp_paths: String = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"]
        .iter()
        .map(|kind| {
            format!(
                "{kind}_temp_path {};\n",
                dir.join(format!("tmp-{kind}")).display()
            )
        })
        .collect();
    std::fs::write(
        dir.join("conf.d/00-test-paths.conf"),
        format!("# tests/common/nginx.rs: temporary files inside the test's prefix.\n{temp_paths}"),
    )
    .expect("write 00-test-paths.conf");
    layout
}

/// nginx's command line for `layout`: its prefix and nginx.conf, in the foreground, with the
/// pid file in the prefix. As root, the workers stay root: the built-in `nobody` may not read
/// a checkout under a private home directory.
fn command(layout: &Layout) -> Command {
    let mut globals = format!("daemon off; pid {};", layout.dir.join("nginx.pid").display());
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        globals.push_str(" user root;");
    }
    let mut command = Command::new(nginx_binary());
    command
        .arg("-p")
        .arg(&layout.dir)
        .arg("-c")
        .arg(layout.dir.join("nginx.conf"))
        .arg("-e")
        .arg("stderr")
        .arg("-g")
        .arg(globals);
    command
}

/// `nginx -t` on `layout`.
pub fn test_config(layout: &Layout) -> Output {
    command(layout).arg("-t").output().expect("run nginx -t")
}

/// Asserts `nginx -t` accepts `layout` without a warning; returns its report.
pub fn assert_config_ok(layout: &Layout) -> String {
    let output = test_config(layout);
    let report = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "nginx -t refused the configuration:\n{report}"
    );
    assert!(report.contains("test is successful"), "nginx -t:\n{report}");
    assert!(
        !report.contains("[warn]") && !report.contains("[emerg]") && !report.contains("[alert]"),
        "nginx -t warns:\n{report}"
    );
    report
}

/// A free port on 127.0.0.1 (free when asked; nginx binds it a moment later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// The variables of docker-compose.yml's nginx service for a test: listen on `listen`,
/// proxy to `upstream`, serve the repository's web/.
pub fn vars(listen: SocketAddr, upstream: SocketAddr) -> HashMap<String, String> {
    HashMap::from([
        ("NGINX_LISTEN".to_owned(), listen.to_string()),
        ("SDRHUB_UPSTREAM".to_owned(), upstream.to_string()),
        (
            "NGINX_WEB_ROOT".to_owned(),
            repo().join("web").display().to_string(),
        ),
    ])
}

/// A running nginx, stopped (and its prefix removed) on drop.
#[derive(Debug)]
pub struct Nginx {
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
    layout: Layout,
}

impl Nginx {
    /// Lays out the repository's configuration with the upstream `upstream` and runs it on a
    /// free loopback port.
    pub fn start(upstream: SocketAddr) -> Nginx {
        Self::start_with(upstream, &[])
    }

    /// [`Nginx::start`] with extra `conf.d` templates (http context), e.g. a second access log.
    pub fn start_with(upstream: SocketAddr, extra_templates: &[(&str, String)]) -> Nginx {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        Self::run(addr, lay_out(&vars(addr, upstream), extra_templates))
    }

    /// The cluster profile's nginx (nginx/cluster/) in front of two gateways, on a free
    /// loopback port.
    pub fn start_cluster(gateway_a: SocketAddr, gateway_b: SocketAddr) -> Nginx {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut vars = vars(addr, gateway_a);
        vars.remove("SDRHUB_UPSTREAM");
        vars.insert("SDRHUB_GATEWAY_A".into(), gateway_a.to_string());
        vars.insert("SDRHUB_GATEWAY_B".into(), gateway_b.to_string());
        Self::run(addr, lay_out_templates("cluster", &vars, &[]))
    }

    fn run(addr: SocketAddr, layout: Layout) -> Nginx {
        assert_config_ok(&layout);
        // The error log goes to a file: a pipe nobody reads would fill up and stall nginx.
        let errors = std::fs::File::create(layout.dir.join("stderr.log")).expect("create stderr.log");
        let child = command(&layout)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(errors)
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx { addr, child, layout };
        nginx.wait_listening();
        nginx
    }

    fn wait_listening(&mut self) {
        let deadline = Instant::now() + START_LIMIT;
        loop {
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("nginx status") {
                panic!(
                    "nginx exited ({status}) before listening on {}:\n{}",
                    self.addr,
                    self.error_log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nginx is not listening on {} after {START_LIMIT:?}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What nginx wrote to its error log (stderr) so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.layout.dir.join("stderr.log")).unwrap_or_default()
    }

    /// The prefix nginx runs in.
    pub fn dir(&self) -> &Path {
        &self.layout.dir
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: nginx's fast shutdown (the master stops its workers and exits).
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
