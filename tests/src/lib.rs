//! Cross-crate integration and end-to-end tests of Coderoom.
//!
//! The end-to-end harness starts the real built app in a real window and drives its web view over
//! WebDriver: `tauri-driver` (crates.io) in front of Debian's `WebKitWebDriver`, which is the only
//! way to automate WebKitGTK, the engine Tauri uses on Linux. Tests run it under `xvfb-run`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fantoccini::{Client, ClientBuilder, Locator};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The app binary built by `cargo build` in the same target dir as the calling test.
/// `target_tmpdir` is the test's `env!("CARGO_TARGET_TMPDIR")`, i.e. `<target>/tmp`.
pub fn app_binary(target_tmpdir: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("CODEROOM_APP_BIN") {
        return Ok(PathBuf::from(path));
    }
    let target = Path::new(target_tmpdir)
        .parent()
        .context("CARGO_TARGET_TMPDIR has no parent")?;
    let binary = target.join("debug").join("coderoom");
    if !binary.is_file() {
        bail!(
            "the app binary {} is missing: build it first with `cargo build -p coderoom-app` \
             (the README's test command does)",
            binary.display()
        );
    }
    Ok(binary)
}

/// The CLI binary built beside the app (`coderoom-cli`), for headless learners.
pub fn cli_binary(target_tmpdir: &str) -> anyhow::Result<PathBuf> {
    let app = app_binary(target_tmpdir)?;
    let cli = app.with_file_name("coderoom-cli");
    if !cli.is_file() {
        bail!(
            "{} is missing: build it with `cargo build -p coderoom-cli`",
            cli.display()
        );
    }
    Ok(cli)
}

/// Headless learners: `coderoom-cli join` processes, each with a data dir (and so an identity)
/// of its own, stopped (killed) when dropped.
pub struct CliLearners {
    children: Vec<Child>,
    _dirs: Vec<tempfile::TempDir>,
}

impl CliLearners {
    /// Starts `count` learners named `L1`, `L2`… joining with `ticket`, each typing `text` into
    /// its workspace at `rate` keys a second, then staying `stay` seconds.
    pub fn join(
        cli: &Path,
        ticket: &str,
        count: usize,
        text: &str,
        rate: f64,
        stay: u64,
    ) -> anyhow::Result<Self> {
        let mut learners = Self {
            children: Vec::new(),
            _dirs: Vec::new(),
        };
        for n in 1..=count {
            let dir = tempfile::Builder::new()
                .prefix("coderoom-cli-learner")
                .tempdir()?;
            let source = dir.path().join("typed.py");
            std::fs::write(&source, text)?;
            let child = Command::new(cli)
                .args([
                    "join",
                    ticket,
                    "--name",
                    &format!("L{n}"),
                    "--bind",
                    "127.0.0.1:0",
                ])
                .args([
                    "--type",
                    &source.display().to_string(),
                    "--rate",
                    &rate.to_string(),
                ])
                .args(["--for", &stay.to_string(), "--no-history"])
                .env("CODEROOM_DATA_DIR", dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting a CLI learner")?;
            learners.children.push(child);
            learners._dirs.push(dir);
        }
        Ok(learners)
    }
}

impl Drop for CliLearners {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A free TCP port on loopback. The tiny window between closing and reuse is acceptable in tests.
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

fn wait_for_port(port: u16, within: Duration) -> anyhow::Result<()> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("tauri-driver did not listen on port {port} within {within:?}")
}

/// The real app in a real window, with a WebDriver session attached to its web view.
pub struct RunningApp {
    pub client: Client,
    driver: Child,
    data_dir: std::sync::Arc<tempfile::TempDir>,
}

impl RunningApp {
    /// Starts `binary` with a fresh data dir of its own and waits for its web view.
    pub async fn launch(binary: &Path) -> anyhow::Result<Self> {
        let data_dir = tempfile::Builder::new().prefix("coderoom-e2e").tempdir()?;
        Self::launch_in(binary, std::sync::Arc::new(data_dir)).await
    }

    /// Starts `binary` on `data_dir` (a second start of the same install, after a crash, say).
    /// The app listens on loopback only (`CODEROOM_BIND`): tests never reach another network.
    pub async fn launch_in(
        binary: &Path,
        data_dir: std::sync::Arc<tempfile::TempDir>,
    ) -> anyhow::Result<Self> {
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            bail!("no display: run the end-to-end tests under xvfb-run (the README's test command does)");
        }
        let port = free_port()?;
        let native_port = free_port()?;
        // WebKitWebDriver starts the app with the driver's environment, so the data dir set here
        // is the one the app sees.
        let driver = Command::new("tauri-driver")
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .env("CODEROOM_DATA_DIR", data_dir.path())
            .env("CODEROOM_BIND", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so stopping it also stops WebKitWebDriver and the app.
            .process_group(0)
            .spawn()
            .context(
                "cannot start tauri-driver: install it with `cargo install tauri-driver --locked` \
                 and Debian's webkit2gtk-driver (the README's test command does)",
            )?;
        let mut app = DriverGuard(Some(driver));
        wait_for_port(port, Duration::from_secs(15))?;

        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": binary }),
        );
        // tauri-driver listens before its WebKitWebDriver does; on a busy machine the first
        // session request can find the native driver not yet up, so try a few times.
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            let session =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities.clone())
                    .connect(&format!("http://127.0.0.1:{port}"))
                    .await;
            match session {
                Ok(client) => break client,
                Err(_) if attempt < 5 => tokio::time::sleep(Duration::from_millis(500)).await,
                Err(error) => {
                    return Err(error).context("WebDriver could not open a session on the app")
                }
            }
        };
        Ok(Self {
            client,
            driver: app.0.take().context("driver guard emptied twice")?,
            data_dir,
        })
    }

    /// The app's own processes (the app and its WebKit helpers, not the drivers), for
    /// measuring what the app costs.
    pub fn app_processes(&self) -> Vec<u32> {
        let mut parents = Vec::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                    continue;
                };
                // The fields after the command's closing parenthesis: state, then the parent.
                let Some((command, rest)) = stat.rsplit_once(')') else {
                    continue;
                };
                let name = command.split_once('(').map(|(_, n)| n).unwrap_or_default();
                if let Some(parent) = rest.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                    parents.push((pid, parent, name.to_owned()));
                }
            }
        }
        let mut tree = vec![self.driver.id()];
        let mut found = true;
        while found {
            found = false;
            for (pid, parent, _) in &parents {
                if tree.contains(parent) && !tree.contains(pid) {
                    tree.push(*pid);
                    found = true;
                }
            }
        }
        parents
            .into_iter()
            .filter(|(pid, _, name)| {
                tree.contains(pid) && name != "tauri-driver" && name != "WebKitWebDriver"
            })
            .map(|(pid, _, _)| pid)
            .collect()
    }

    /// This install's data dir (to start it again on the same one).
    pub fn data_dir(&self) -> std::sync::Arc<tempfile::TempDir> {
        std::sync::Arc::clone(&self.data_dir)
    }

    /// Kills the app and its driver at once, as a crash or a pulled plug would.
    pub fn kill(mut self) {
        stop(&mut self.driver);
    }

    /// Clicks the element `css` matches (waiting for it).
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        self.wait_for(css)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking `{css}`"))
    }

    /// Types `text` into the field `css` matches, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let field = self.wait_for(css).await?;
        field.clear().await?;
        field
            .send_keys(text)
            .await
            .with_context(|| format!("typing into `{css}`"))
    }

    /// The text of the element `css` matches (its value for form fields).
    pub async fn text_of(&self, css: &str) -> anyhow::Result<String> {
        let element = self.wait_for(css).await?;
        let tag = element.tag_name().await?.to_lowercase();
        if matches!(tag.as_str(), "input" | "textarea" | "select") {
            if let Some(value) = element.prop("value").await? {
                return Ok(value);
            }
        }
        Ok(element.text().await?)
    }

    /// Runs `script` in the page and returns its result as text.
    pub async fn script(&self, script: &str) -> anyhow::Result<serde_json::Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Waits until `probe` holds, failing with `what` after `within`.
    pub async fn until<F, Fut>(&self, within: Duration, what: &str, probe: F) -> anyhow::Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        if self.eventually(within, probe).await? {
            Ok(())
        } else {
            bail!("{what} (waited {within:?})")
        }
    }

    /// Waits until the page's text (all of it) contains `needle`.
    pub async fn until_page_says(&self, needle: &str, within: Duration) -> anyhow::Result<()> {
        let page = || async { self.script("return document.body.innerText").await };
        let said = self
            .eventually(within, || async {
                Ok(page().await?.as_str().is_some_and(|t| t.contains(needle)))
            })
            .await?;
        if !said {
            bail!(
                "the window never said {needle:?} (waited {within:?}); it shows:\n{}",
                page().await?.as_str().unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Gives a name (the first-start form) and waits for the start screen.
    pub async fn introduce(&self, name: &str) -> anyhow::Result<()> {
        self.fill("#profile-name", name).await?;
        self.click("#profile-save").await?;
        self.wait_for("#host-start").await?;
        Ok(())
    }

    /// Gives a name, hosts a class with the Python starter, and reads the ticket off the
    /// Show code view.
    pub async fn host_class(&self, name: &str) -> anyhow::Result<String> {
        self.introduce(name).await?;
        self.click("#host-start").await?;
        self.wait_for("#connection[data-state='hosting']").await?;
        self.click("#show-code").await?;
        let ticket = self.text_of("#ticket-text").await?;
        self.click("#show-code-view button.primary").await?;
        Ok(ticket)
    }

    /// Gives a name and joins the class of `ticket`, waiting until connected.
    pub async fn join_class(&self, name: &str, ticket: &str) -> anyhow::Result<()> {
        self.introduce(name).await?;
        self.fill("#join-ticket", ticket).await?;
        self.click("#join-start").await?;
        self.wait_for("#connection[data-state='connected']").await?;
        Ok(())
    }

    /// Makes a file with the file tree's "+ File" and waits for its tab.
    pub async fn new_file(&self, name: &str) -> anyhow::Result<()> {
        self.click("#new-file").await?;
        let enter = fantoccini::key::Key::Enter;
        self.fill("#file-name-input", &format!("{name}{enter}"))
            .await?;
        self.wait_for(&format!(".tab.active[data-file='{name}']"))
            .await?;
        Ok(())
    }

    /// Clicks into the editor and types `keys` as a user would; each `\n` is the Enter key
    /// (WebDriver would type a newline character, which Monaco does not take as Enter).
    pub async fn type_in_editor(&self, keys: &str) -> anyhow::Result<()> {
        self.click(".monaco-editor .view-lines").await?;
        let enter = fantoccini::key::Key::Enter.to_string();
        self.wait_for(".monaco-editor textarea")
            .await?
            .send_keys(&keys.replace('\n', &enter))
            .await
            .context("typing in the editor")
    }

    /// Waits for a CSS selector to match, with a readable error naming it. An element that
    /// the page replaces while it is being found (Monaco redraws its lines) is looked for again.
    pub async fn wait_for(&self, css: &str) -> anyhow::Result<fantoccini::elements::Element> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return Ok(element),
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(error) => {
                    let page = self
                        .script("return document.body ? document.body.innerText : '(no body)'")
                        .await
                        .map(|text| text.as_str().unwrap_or_default().to_owned())
                        .unwrap_or_else(|e| format!("(unreadable: {e})"));
                    return Err(error).with_context(|| {
                        format!("the window never showed `{css}`; it shows:\n{page}")
                    });
                }
            }
        }
    }

    /// The text Monaco has rendered, one line per view line, with its non-breaking spaces
    /// turned back into spaces. This is what the user sees, not the model behind it.
    pub async fn editor_text(&self) -> anyhow::Result<String> {
        let value = self
            .client
            .execute(
                "const lines = [...document.querySelectorAll('.monaco-editor .view-lines .view-line')];
                 lines.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
                 return lines.map(l => l.textContent.replace(/\\u00a0/g, ' ')).join('\\n');",
                vec![],
            )
            .await?;
        value
            .as_str()
            .map(str::to_owned)
            .context("the editor text is not a string")
    }

    /// Polls `probe` until it returns true or `within` runs out.
    pub async fn eventually<F, Fut>(&self, within: Duration, mut probe: F) -> anyhow::Result<bool>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<bool>>,
    {
        let deadline = Instant::now() + within;
        loop {
            if probe().await? {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the WebDriver session (which closes the app) and stops the driver.
    pub async fn close(mut self) -> anyhow::Result<()> {
        let closed = self.client.clone().close().await;
        stop(&mut self.driver);
        closed.context("closing the WebDriver session")
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        stop(&mut self.driver);
    }
}

struct DriverGuard(Option<Child>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            stop(child);
        }
    }
}

fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.wait();
}
