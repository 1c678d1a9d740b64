//! Keeps the benchmark building and honest: every scenario runs briefly on the memory store
//! and on SQLite and PostgreSQL (the tests' server, see `medislot_pg::testing`), and its
//! invariant must hold.

use std::time::Duration;

use medislot_benches::{OpKind, Options, Scenario, StoreKind};
use sqlx::ConnectOptions as _;

async fn smoke(store: StoreKind, scenario: Scenario, duration: Duration) {
    let mut options = Options::new(store, scenario);
    options.clients = 4;
    options.duration = duration;
    options.no_files = true;
    let report = medislot_benches::run(&options)
        .await
        .expect("the benchmark runs");
    print!("{}", report.table());
    assert!(report.holds(), "invariant violated:\n{}", report.table());
    let engine = &report.phases[0];
    let book = engine.op(OpKind::Book).expect("bookings were attempted");
    assert!(
        book.successes > 0,
        "nothing was booked:\n{}",
        report.table()
    );
    assert_eq!(book.errors, 0, "store errors:\n{}", report.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_keeps_the_invariant_on_the_memory_store() {
    for scenario in [Scenario::Spread, Scenario::Hot, Scenario::Mixed] {
        smoke(StoreKind::Memory, scenario, Duration::from_millis(700)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_keeps_the_invariant_on_sqlite() {
    for scenario in [Scenario::Hot, Scenario::Mixed] {
        smoke(StoreKind::Sqlite, scenario, Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_and_strategy_keeps_the_invariant_on_postgres() {
    // Each run creates and drops a database of its own on the server.
    let server = medislot_pg::testing::admin_options().await.to_url_lossy();
    for scenario in [Scenario::Spread, Scenario::Hot, Scenario::Mixed] {
        let mut options = Options::new(StoreKind::Pg, scenario);
        options.database_url = server.to_string();
        options.clients = 4;
        options.duration = Duration::from_millis(300);
        options.no_files = true;
        options.slots = (scenario == Scenario::Spread).then_some(2_000);
        options.all_strategies = scenario == Scenario::Hot;
        let report = medislot_benches::run(&options)
            .await
            .expect("the benchmark runs");
        print!("{}", report.table());
        assert!(report.holds(), "invariant violated:\n{}", report.table());
        // A path whose SQL failed would book nothing and still hold the invariant.
        for phase in &report.phases {
            for op in &phase.ops {
                assert_eq!(op.errors, 0, "{}: {:?}", phase.name, op.first_error);
            }
        }
        if scenario == Scenario::Spread {
            let recorded = report
                .phases
                .iter()
                .find(|p| p.name == "raw for-update, recorded")
                .expect("the recorded loop is a ceiling");
            assert!(recorded.ops.iter().any(|op| op.successes > 0));
        }
        if options.database_is_local() {
            // The database's processes are on this machine: every phase that booked says what
            // its bookings cost PostgreSQL.
            for phase in report.phases.iter().filter(|p| p.invariant.is_some()) {
                let cpu = phase.db_cpu_s.unwrap_or_default();
                assert!(cpu > 0.0, "{}: no PostgreSQL CPU time", phase.name);
            }
        }
    }
}
