//! How many scenarios run on each front end: the suite lists its own tests (the test harness's
//! `--list`, in a child process) and counts those of each front end. Every front-end-independent
//! scenario is meant to run on both, so the two counts must stay close.

use std::process::Command;

#[test]
fn scenarios_run_on_both_front_ends() {
    let exe = std::env::current_exe().expect("the test binary");
    let output = Command::new(exe)
        .args(["--list", "--format", "terse"])
        .output()
        .expect("the test binary lists its tests");
    assert!(output.status.success(), "{output:?}");
    let listing = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .collect();
    // a scenario's test is `…::<front>_front::name` (or `…_<front>_…` in the leak corpus)
    let on = |front: &str| {
        let module = format!("{front}_front");
        let infix = format!("_{front}_");
        names
            .iter()
            .filter(|n| n.split("::").any(|p| p == module || p.contains(&infix)))
            .count()
    };
    let (reqwest, tower) = (on("reqwest"), on("tower"));
    let reqwest_only = names
        .iter()
        .filter(|n| n.starts_with("reqwest_client::"))
        .count();
    eprintln!(
        "scenarios per front end: reqwest {reqwest}, tower {tower}; reqwest-specific \
         (reqwest_client): {reqwest_only}; {} tests in all",
        names.len()
    );
    assert!(reqwest >= 60, "reqwest scenarios: {reqwest}");
    assert!(
        tower * 10 >= reqwest * 9,
        "tower runs {tower} scenarios, reqwest {reqwest}: front-end-independent scenarios belong \
         on both"
    );
}
