//! The state is its owner's alone: whatever the umask, trailwatch makes its directory 0700 and
//! its files 0600 (a state made looser before is tightened); and another user who asks it
//! something is told the state is another user's, never that it may be damaged.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::support::{bin, create_user, files_config, text, T0};

/// Every folder and file under `dir` with its mode.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        out.push((
            d.display().to_string(),
            std::fs::metadata(&d).unwrap().permissions().mode() & 0o777,
        ));
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            } else if e.file_type().unwrap().is_file() {
                let m = e.metadata().unwrap().permissions().mode() & 0o777;
                out.push((e.path().display().to_string(), m));
            }
        }
    }
    out
}

fn run_once(cfg: &Path) {
    // A umask that would leave everything readable by all.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "umask 022; exec \"$0\" run --once --config {}",
            cfg.display()
        ))
        .arg(crate::support::exe())
        .env("RUST_LOG", "info")
        .env_remove("TRAILWATCH_CONFIG")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn the_state_is_its_owners_alone_even_one_made_looser_before() {
    let (dir, cfg) = files_config(
        &[create_user("cu-1", T0)],
        "group_window = \"0s\"",
        "[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
    );
    run_once(&cfg);
    let state = dir.path().join("state");
    let all = modes(&state);
    assert!(all.len() > 3, "{all:?}");
    for (path, mode) in &all {
        let want = if Path::new(path).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*mode, want, "{path}: {mode:o}");
    }
    // Loosened by hand (or made by an older version): tightened at the next start.
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(state.join("db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    run_once(&cfg);
    for (path, mode) in modes(&state) {
        assert_eq!(mode & 0o077, 0, "{path}: {mode:o}");
    }
}

#[test]
fn another_users_state_is_said_to_be_theirs_not_damaged() {
    let (dir, cfg) = files_config(
        &[create_user("cu-1", T0)],
        "group_window = \"0s\"",
        "[[sinks]]\nname = \"out\"\ntype = \"console\"\n",
    );
    run_once(&cfg);
    // The configuration readable by all, the state its owner's.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let root = Command::new("id").arg("-u").output().unwrap();
    let as_root = String::from_utf8_lossy(&root.stdout).trim() == "0";
    let ask = |args: &[&str]| {
        let mut c = if as_root {
            // Another user: nobody.
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(crate::support::exe());
            c
        } else {
            // This user, locked out of the state as another user would be.
            std::fs::set_permissions(
                dir.path().join("state"),
                std::fs::Permissions::from_mode(0o000),
            )
            .unwrap();
            bin()
        };
        c.args(args)
            .arg("--config")
            .arg(&cfg)
            .env_remove("TRAILWATCH_CONFIG")
            .output()
            .unwrap()
    };
    for args in [
        &["alerts", "list"][..],
        &["silence", "list"],
        &["state", "show"],
    ] {
        let o = ask(args);
        let said = text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {said}");
        assert!(said.contains("another user's"), "{args:?}: {said}");
        // No empty table before the error.
        assert!(
            String::from_utf8_lossy(&o.stdout).is_empty(),
            "{args:?}: {said}"
        );
        assert!(
            !said.contains("damaged") && !said.contains("move it aside"),
            "{args:?}: {said}"
        );
    }
    if !as_root {
        std::fs::set_permissions(
            dir.path().join("state"),
            std::fs::Permissions::from_mode(0o700),
        )
        .unwrap();
    }
}
