//! Nearby rooms on a real (virtual) LAN: two network namespaces joined by a veth pair, the hub
//! announcing its room over mDNS in one, a learner listing rooms and joining with the short code
//! in the other. No ticket, no internet. Needs root (as CI runs) for `ip netns`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

struct Lan {
    hub_ns: String,
    learner_ns: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip")
        .args(args)
        .status()
        .expect("run ip (iproute2)");
    assert!(
        status.success(),
        "ip {} failed: this test needs root and iproute2",
        args.join(" ")
    );
}

impl Lan {
    fn new() -> Self {
        let id = std::process::id() % 100_000;
        let (hub_ns, learner_ns) = (format!("crh{id}"), format!("crl{id}"));
        let (hub_if, learner_if) = (format!("vh{id}"), format!("vl{id}"));
        ip(&["netns", "add", &hub_ns]);
        let lan = Self {
            hub_ns: hub_ns.clone(),
            learner_ns: learner_ns.clone(),
        };
        ip(&["netns", "add", &learner_ns]);
        ip(&[
            "link",
            "add",
            &hub_if,
            "type",
            "veth",
            "peer",
            "name",
            &learner_if,
        ]);
        ip(&["link", "set", &hub_if, "netns", &hub_ns]);
        ip(&["link", "set", &learner_if, "netns", &learner_ns]);
        for (ns, interface, address) in [
            (&hub_ns, &hub_if, "10.78.0.1/24"),
            (&learner_ns, &learner_if, "10.78.0.2/24"),
        ] {
            ip(&["-n", ns, "addr", "add", address, "dev", interface]);
            ip(&["-n", ns, "link", "set", interface, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
            // mDNS needs a multicast route; a classroom LAN has a default route that covers it.
            ip(&["-n", ns, "route", "add", "224.0.0.0/4", "dev", interface]);
        }
        lan
    }

    fn command(&self, ns: &str, data: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_coderoom-cli")])
            .env("CODEROOM_DATA_DIR", data);
        command
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in [&self.hub_ns, &self.learner_ns] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_nearby_room_is_found_and_joined_with_its_code() {
    let lan = Lan::new();
    let dir = tempfile::tempdir().expect("dir");
    let mut host = lan
        .command(&lan.hub_ns, &dir.path().join("hub"))
        .args(["host", "--title", "Python 101", "--for", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("host");
    let mut lines = BufReader::new(host.stdout.take().expect("stdout")).lines();
    let code = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("code: ").map(str::to_owned))
        .expect("a code");
    std::thread::spawn(move || lines.for_each(drop));

    let nearby = lan
        .command(&lan.learner_ns, &dir.path().join("a"))
        .args(["nearby", "--wait", "3"])
        .output()
        .expect("nearby");
    assert!(text(&nearby).contains("Python 101"), "{}", text(&nearby));

    let joined = lan
        .command(&lan.learner_ns, &dir.path().join("b"))
        .args(["join", "--code", &code, "--name", "Bo", "--for", "1"])
        .output()
        .expect("join");
    assert!(joined.status.success(), "{}", text(&joined));
    assert!(
        text(&joined).contains("joined: Python 101 as learner"),
        "{}",
        text(&joined)
    );

    let wrong = if code == "000000" { "000001" } else { "000000" };
    let refused = lan
        .command(&lan.learner_ns, &dir.path().join("c"))
        .args(["join", "--code", wrong, "--name", "Eve", "--for", "1"])
        .output()
        .expect("join");
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        text(&refused).contains("wrong room code"),
        "{}",
        text(&refused)
    );
    let _ = host.kill();
    let _ = host.wait();
}
