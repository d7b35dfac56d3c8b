//! The figures the run prints.

use crate::watch::Done;

/// Per stage: records, when it was done, rate, CPU and peak RSS; then the
/// broker's and the store's CPU over the run. CPU per million input rows is
/// the figure that holds when the machine's speed drifts, and the one the
/// stages' targets are set in.
pub fn stages(stages: &[Done], rows: u64, total: f64, platform: [(&str, Option<f64>); 2]) {
    let millions = rows as f64 / 1e6;
    println!(
        "\n{:<20} {:>10} {:>10} {:>12} {:>9} {:>7} {:>11} {:>9}",
        "stage", "records", "done at s", "records/s", "CPU s", "CPU %", "CPU s/M rows", "peak RSS"
    );
    let names = ["client", "gateway", "transform runtime", "sink"];
    for (name, d) in names.iter().zip(stages) {
        println!(
            "{:<20} {:>10} {:>10.1} {:>12.0} {:>9.1} {:>6.0}% {:>12.1} {:>5.0} MiB",
            name,
            d.records,
            d.after,
            d.records / d.after,
            d.cpu,
            100.0 * d.cpu / d.after,
            d.cpu / millions,
            d.rss
        );
    }
    // Against published per-core figures (Flink's Nexmark q4, for one):
    // the input rows over the CPU-seconds of shelfstream's own processes.
    let own_cpu: f64 = stages.iter().map(|d| d.cpu).sum();
    let runtime_and_sink: f64 = stages.iter().skip(2).map(|d| d.cpu).sum();
    println!(
        "{:<20} {:>10} {:>10} {:>12.0} {:>9.1} {:>7} {:>12.1}   rows/s per core, all four",
        "shelfstream's own",
        "",
        "",
        rows as f64 / own_cpu,
        own_cpu,
        "",
        own_cpu / millions
    );
    println!(
        "{:<20} {:>10} {:>10} {:>12.0} {:>9.1} {:>7} {:>12.1}   rows/s per core, runtime and sink",
        "",
        "",
        "",
        rows as f64 / runtime_and_sink,
        runtime_and_sink,
        "",
        runtime_and_sink / millions
    );
    for (name, cpu) in platform {
        match cpu {
            Some(cpu) => println!(
                "{name:<20} {:>10} {:>10.1} {:>12} {cpu:>9.1} {:>6.0}% {:>12.1}",
                "",
                total,
                "",
                100.0 * cpu / total,
                cpu / millions
            ),
            None => println!("{name:<20} (not started by infra/platform.sh here: no CPU figure)"),
        }
    }
}

/// Probes sent in the first seconds meet the services' first transaction
/// and batches; the steady-state figures leave them out.
const WARM_UP_S: f64 = 2.0;

pub fn latencies(p: &shelf_benches::probe::ProbeReport) {
    println!(
        "\nlatency from the gateway's 200, {} probes (one product every probe interval):",
        p.sent
    );
    let steady = format!("from {WARM_UP_S:.0} s on");
    for (from, label) in [(0.0, "all probes"), (WARM_UP_S, steady.as_str())] {
        let (visible, counted) = p.latencies(from);
        for (what, l) in [
            ("visible in products", &visible),
            ("counted in category_stats", &counted),
        ] {
            let fmt = |q: f64| l.quantile(q).map_or("-".into(), |s| format!("{s:.2} s"));
            println!(
                "  {label:<12} {what:<26} p50 {:>8}  p99 {:>8}  max {:>8}  ({} probes)",
                fmt(0.5),
                fmt(0.99),
                fmt(1.0),
                l.len(),
            );
        }
    }
    let slowest: Vec<String> = p
        .slowest(3)
        .iter()
        .map(|(n, at, s)| format!("#{n} (sent at {at:.1} s) {s:.2} s"))
        .collect();
    println!("  slowest to be visible: {}", slowest.join(", "));
    let ms = |q: f64| {
        p.checks
            .quantile(q)
            .map_or("-".into(), |s| format!("{:.0} ms", s * 1e3))
    };
    println!(
        "  a probe is timed when the check that saw it returns; checks took p50 {}, p99 {} ({} checks)",
        ms(0.5),
        ms(0.99),
        p.checks.len()
    );
}
