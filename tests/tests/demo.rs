//! `shelf demo` on the committed sample, on topics and a database of its
//! own: it must drain, reconcile every row and exit 0. Then the notebook
//! runs headless against what the demo stored, and no cell may fail.

use std::process::Command;

use shelf_tests::sink::platform_env;
use shelf_tests::{closed_port, platform, shelf_bin};

#[test]
fn the_demo_accounts_for_every_sample_row_and_the_notebook_runs_on_it() {
    let p = platform();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(shelf_bin())
        .current_dir(&root)
        .args(["demo", "--reset", "--timeout", "300"])
        .args(["--gateway-listen", &format!("127.0.0.1:{}", closed_port())])
        .envs(platform_env(&p))
        .env("SHELF_TOPIC_INGEST_PRODUCT", &p.topics.ingest_product)
        .env("SHELF_TOPIC_TRANSFORMS", &p.topics.transforms)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "rows read                            3000",
        "= unparseable (client)                 17",
        "+ rejected by the transforms           57",
        "PASS: every row is accounted for",
        "Products per price bucket",
        "Average price per category",
    ] {
        assert!(stdout.contains(line), "`{line}` missing:\n{stdout}");
    }

    // The notebook, on the demo's database (Python from infra/setup.sh).
    let python = shelf_tests::venv_python();
    let run = Command::new(python)
        .current_dir(&root)
        .args(["notebooks/run.py", "notebooks/trends.ipynb"])
        .env("SHELF_MONGO", &p.mongo)
        .env("SHELF_DB", &p.database)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "the notebook failed:\n{}\n{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
}
