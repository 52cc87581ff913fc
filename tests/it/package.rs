//! The first day on a bastion: the configuration the packages install passes `check` once its
//! credentials are in the folder systemd fills; the unit loads exactly what it reads; `check`
//! without AWS credentials fails and says how to give them; the maintainer scripts enable the
//! service and start it only once configured.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::fake_cloudtrail::FakeCloudTrail;
use crate::support::servers::Receiver;
use crate::support::{bin, stderr, stdout, text};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// The shipped configuration with its state in `dir` (the one line a test must change).
fn shipped_in(dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(repo("packaging/config.toml")).unwrap();
    let line = "state_dir = \"/var/lib/trailwatch\"";
    assert!(shipped.contains(line), "{shipped}");
    let cfg = dir.join("config.toml");
    let mine = format!("state_dir = \"{}/state\"", dir.display());
    std::fs::write(&cfg, shipped.replace(line, &mine)).unwrap();
    cfg
}

/// `trailwatch` with no AWS credentials anywhere but where the test puts them.
fn bare() -> Command {
    let mut c = bin();
    c.env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_SHARED_CREDENTIALS_FILE")
        .env_remove("CREDENTIALS_DIRECTORY")
        .env("HOME", "/nonexistent");
    c
}

const AWS_KEYS: &str = "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = fake\n";

#[test]
fn the_shipped_configuration_passes_check_with_systemds_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shipped_in(dir.path());
    let hook = Receiver::start(0, vec![]);
    let creds = dir.path().join("run-credentials");
    std::fs::create_dir(&creds).unwrap();
    // Without its credentials, it says which one and where it was looked for.
    let o = bare()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        stderr(&o).contains("credential dooray-url")
            && stderr(&o).contains(&creds.join("dooray-url").display().to_string()),
        "{}",
        stderr(&o)
    );
    std::fs::write(creds.join("dooray-url"), format!("{}\n", hook.url)).unwrap();
    std::fs::write(creds.join("aws-credentials"), AWS_KEYS).unwrap();
    // AWS is not reachable from the tests: the endpoint is a closed port.
    let o = bare()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let out = stdout(&o);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out.contains("configuration is valid")
            && out.contains("sink 'dooray': dooray webhook http://127.0.0.1:")
            && out.contains("rule tests: 8 of 8 passed"),
        "{out}"
    );
    assert!(!text(&o).contains("SECRET-TOKEN"), "{}", text(&o));
    assert!(hook.received().is_empty(), "check sends nothing");
}

#[test]
fn credentials_are_found_beside_the_configuration_outside_systemd() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shipped_in(dir.path());
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(
        creds.join("dooray-url"),
        "https://hook.dooray.com/services/1/2/T\n",
    )
    .unwrap();
    std::fs::write(creds.join("aws-credentials"), AWS_KEYS).unwrap();
    let o = bare()
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("dooray webhook https://hook.dooray.com/***"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn a_second_credential_the_unit_does_not_load_is_named_with_the_drop_in_that_loads_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = shipped_in(dir.path());
    let mut text_cfg = std::fs::read_to_string(&cfg).unwrap();
    text_cfg.push_str(
        "\n[[sinks]]\nname = \"slack\"\ntype = \"slack\"\nurl = \"credential:slack-url\"\n",
    );
    std::fs::write(&cfg, text_cfg).unwrap();
    let creds = dir.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(
        creds.join("dooray-url"),
        "https://hook.dooray.com/services/1/2/T\n",
    )
    .unwrap();
    std::fs::write(
        creds.join("slack-url"),
        "https://hooks.slack.com/services/T/B/X\n",
    )
    .unwrap();
    std::fs::write(creds.join("aws-credentials"), AWS_KEYS).unwrap();
    // The installed unit: the one the package ships.
    let units = dir.path().join("units");
    std::fs::create_dir(&units).unwrap();
    std::fs::copy(
        repo("systemd/trailwatch.service"),
        units.join("trailwatch.service"),
    )
    .unwrap();
    let check = || {
        bare()
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("SYSTEMD_UNIT_PATH", &units)
            .args(["check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap()
    };
    let o = check();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stderr(&o).contains(
            "sink 'slack' reads credential:slack-url, which the installed service does not load"
        ) && stderr(&o).contains("LoadCredential=slack-url:/etc/trailwatch/credentials/slack-url"),
        "{}",
        text(&o)
    );
    assert!(
        !stderr(&o).contains("credential:dooray-url, which"),
        "{}",
        text(&o)
    );
    // The drop-in `systemctl edit` writes: loaded, and check passes.
    let dropin = units.join("trailwatch.service.d");
    std::fs::create_dir(&dropin).unwrap();
    std::fs::write(
        dropin.join("override.conf"),
        "[Service]\nLoadCredential=slack-url:/etc/trailwatch/credentials/slack-url\n",
    )
    .unwrap();
    let o = check();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn check_without_aws_credentials_fails_and_says_how_to_give_them() {
    let fake = FakeCloudTrail::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "state_dir = \"{}/state\"\n[[sources]]\nname = \"lookup\"\ntype = \"lookup_events\"\nregions = [\"us-east-1\"]\nendpoint_url = \"{}\"\n\n[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
            dir.path().display(),
            fake.url
        ),
    )
    .unwrap();
    let o = bare()
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    assert!(
        all.contains("source 'lookup': no AWS credentials were found")
            && all.contains("instance role")
            && all.contains("/etc/trailwatch/credentials/aws-credentials"),
        "{all}"
    );
    for dump in [
        "DispatchFailure",
        "ConnectorError",
        "Credentials {",
        "CredentialsNotLoaded",
    ] {
        assert!(!all.contains(dump), "an SDK debug dump: {all}");
    }
    // An instance metadata service that answers 403 (IMDS turned off on an EC2 host, a
    // container): no credentials either, said in one line, and nothing else is attempted.
    let imds = Receiver::start(0, vec![(403, None); 20]);
    let o = bare()
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds.url)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    let all = text(&o);
    assert_eq!(o.status.code(), Some(1), "{all}");
    let line = all
        .lines()
        .find(|l| l.contains("source 'lookup': no AWS credentials could be had"))
        .unwrap_or_else(|| panic!("{all}"));
    assert!(line.len() < 400, "one sentence: {line}");
    assert!(
        !imds.received().is_empty(),
        "the metadata service was asked"
    );
    for dump in ["ProviderError {", "account:ListRegions", "Credentials {"] {
        assert!(!all.contains(dump), "{dump}: {all}");
    }
    // The same keys as a systemd credential: found, and the check passes.
    let creds = dir.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("aws-credentials"), AWS_KEYS).unwrap();
    let o = bare()
        .env("CREDENTIALS_DIRECTORY", &creds)
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        stdout(&o).contains("account 111122223333"),
        "the fake's account: {}",
        stdout(&o)
    );
}

#[test]
fn the_unit_loads_exactly_what_the_shipped_configuration_reads() {
    let unit = std::fs::read_to_string(repo("systemd/trailwatch.service")).unwrap();
    let shipped = std::fs::read_to_string(repo("packaging/config.toml")).unwrap();
    let mut read: Vec<&str> = shipped
        .split("credential:")
        .skip(1)
        .map(|r| r.split('"').next().unwrap())
        .collect();
    read.push("aws-credentials");
    read.sort();
    let mut loaded: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("LoadCredential="))
        .map(|l| {
            let (name, path) = l.split_once(':').unwrap();
            assert_eq!(path, format!("/etc/trailwatch/credentials/{name}"));
            name
        })
        .collect();
    loaded.sort();
    assert_eq!(loaded, read, "{unit}");
    assert!(
        unit.lines()
            .any(|l| l.starts_with("SetCredential=aws-credentials:#")),
        "AWS keys are optional (an instance role): a default keeps the unit starting"
    );
    // The packages install the minimal configuration, the example as documentation.
    let cargo: toml::Table = std::fs::read_to_string(repo("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let deb = cargo["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap();
    let has = |src: &str, dest: &str| {
        deb.iter()
            .any(|a| a[0].as_str() == Some(src) && a[1].as_str() == Some(dest))
    };
    assert!(has("packaging/config.toml", "etc/trailwatch/config.toml"));
    assert!(has("config.toml.example", "usr/share/doc/trailwatch/"));
}

/// A root for the maintainer scripts (DPKG_ROOT), with systemd "running" and a `systemctl`
/// that logs what it is asked; `active` says whether the service runs.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new(active: bool) -> Root {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in [
            "run/systemd/system",
            "etc/trailwatch",
            "bin",
            "var/lib/private/trailwatch",
        ] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::copy(
            repo("packaging/config.toml"),
            p.join("etc/trailwatch/config.toml"),
        )
        .unwrap();
        let status = if active { 0 } else { 3 };
        std::fs::write(
            p.join("bin/systemctl"),
            format!(
                "#!/bin/sh\necho \"$*\" >> {}/systemctl.log\ncase \"$*\" in is-active*) exit {status};; esac\nexit 0\n",
                p.display()
            ),
        )
        .unwrap();
        Command::new("chmod")
            .args(["755"])
            .arg(p.join("bin/systemctl"))
            .status()
            .unwrap();
        Root { dir }
    }

    fn run(&self, script: &str, arg: &str) -> String {
        let p = self.dir.path();
        let o = Command::new("sh")
            .arg(repo(&format!("packaging/deb/{script}")))
            .arg(arg)
            .env("DPKG_ROOT", p)
            .env("PATH", format!("{}:/usr/bin:/bin", p.join("bin").display()))
            .output()
            .unwrap();
        assert!(o.status.success(), "{script} {arg}: {}", text(&o));
        stdout(&o)
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("systemctl.log")).unwrap_or_default()
    }
}

#[test]
fn without_systemd_running_the_package_enables_the_service_for_the_next_boot_and_says_so() {
    // An image built in a chroot: no /run/systemd/system.
    let root = Root::new(false);
    std::fs::remove_dir_all(root.dir.path().join("run/systemd")).unwrap();
    let said = root.run("postinst", "configure");
    assert!(
        said.contains(
            "systemd is not running here: the service is enabled, and starts at the next boot"
        ) && said.contains("dooray-url")
            && said.contains("trailwatch demo"),
        "{said}"
    );
    assert_eq!(root.calls(), "enable trailwatch.service\n");
}

#[test]
fn maintainer_scripts_enable_the_service_and_start_it_once_configured() {
    // Installed before the credentials are in place: enabled, not started, and told why.
    let root = Root::new(false);
    let said = root.run("postinst", "configure");
    assert!(
        said.contains("enabled, not started") && said.contains("dooray-url"),
        "{said}"
    );
    assert_eq!(root.calls(), "daemon-reload\nenable trailwatch.service\n");
    let creds = root.dir.path().join("etc/trailwatch/credentials");
    let mode = std::fs::metadata(&creds).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
    // With the credential: started (the rpm's %post says 1).
    let root2 = Root::new(false);
    std::fs::create_dir_all(root2.dir.path().join("etc/trailwatch/credentials")).unwrap();
    std::fs::write(
        root2
            .dir
            .path()
            .join("etc/trailwatch/credentials/dooray-url"),
        "https://hook.dooray.com/x\n",
    )
    .unwrap();
    root2.run("postinst", "1");
    assert!(
        root2
            .calls()
            .ends_with("is-active --quiet trailwatch.service\nstart trailwatch.service\n"),
        "{}",
        root2.calls()
    );
    // An upgrade of a running service restarts it.
    let running = Root::new(true);
    std::fs::create_dir_all(running.dir.path().join("etc/trailwatch/credentials")).unwrap();
    std::fs::write(
        running
            .dir
            .path()
            .join("etc/trailwatch/credentials/dooray-url"),
        "x\n",
    )
    .unwrap();
    running.run("postinst", "configure");
    assert!(running.calls().ends_with("restart trailwatch.service\n"));
    // Removal stops and disables; an upgrade's prerm leaves it running.
    let before = running.calls();
    running.run("prerm", "upgrade");
    assert_eq!(running.calls(), before);
    running.run("prerm", "remove");
    assert!(running
        .calls()
        .ends_with("stop trailwatch.service\ndisable trailwatch.service\n"));
    // A purge deletes the credentials and the state.
    running.run("postrm", "purge");
    let p = running.dir.path();
    assert!(!p.join("etc/trailwatch/credentials").exists());
    assert!(!p.join("var/lib/private/trailwatch").exists());
    assert!(
        p.join("etc/trailwatch/config.toml").exists(),
        "dpkg removes conffiles itself"
    );
}
