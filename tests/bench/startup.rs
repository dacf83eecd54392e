//! Startup benchmark: `jib --version` and `jib --help` (no tokio runtime, no ssh before a
//! command needs them) against starting `/bin/true`, the cost of any process. Median and p95
//! of many runs; compare the difference, these machines are noisy.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 300;

fn measure(program: &str, args: &[&str]) -> (Duration, Duration) {
    let mut v: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let st = Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("runs");
            assert!(st.success(), "{program} {args:?} failed");
            t.elapsed()
        })
        .collect();
    v.sort();
    (v[RUNS / 2], v[RUNS * 95 / 100])
}

fn main() {
    let jib = env!("CARGO_BIN_EXE_jib");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (base, base95) = measure("/bin/true", &[]);
    println!("\njib startup benchmark — {RUNS} runs each (median, p95)");
    println!(
        "{:<22} {:>8.2}ms {:>8.2}ms",
        "/bin/true (baseline)",
        ms(base),
        ms(base95)
    );
    for args in [&["--version"][..], &["--help"][..], &["push", "--help"][..]] {
        let (m, p) = measure(jib, args);
        println!(
            "{:<22} {:>8.2}ms {:>8.2}ms   (+{:.2}ms over starting any process)",
            format!("jib {}", args.join(" ")),
            ms(m),
            ms(p),
            ms(m) - ms(base)
        );
    }
}
