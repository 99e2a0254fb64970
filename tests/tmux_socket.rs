//! The tmux helper (`tests/tmux`) leaves no socket file behind. tmux itself
//! leaves its socket when the server's last session ends, and every test
//! binary has a server of its own: CI left a dozen stale
//! `/tmp/tmux-0/cgdash-test-PID` files per run before the helper removed them.
//! Alone in its binary, so no other test's session keeps the server up.

mod tmux;

use tmux::Tmux;

#[test]
fn the_last_session_removes_the_servers_socket() {
    let Some(first) = Tmux::start("sock-a", 40, 10, &[], &["sleep", "30"]) else {
        return;
    };
    let path = tmux::socket_path(&format!("cgdash-test-{}", std::process::id()));
    assert!(
        path.exists(),
        "{}: no socket while a session runs",
        path.display()
    );
    let second = Tmux::start("sock-b", 40, 10, &[], &["sleep", "30"]).expect("tmux");
    drop(first);
    assert!(
        path.exists(),
        "{}: removed while another session still runs",
        path.display()
    );
    drop(second);
    assert!(!path.exists(), "{} left behind", path.display());
}
