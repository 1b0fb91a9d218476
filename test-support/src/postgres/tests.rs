use super::*;

#[test]
fn a_server_starts_stops_and_starts_again() {
    let mut pg = TestPostgres::start();
    let ready = |pg: &TestPostgres| {
        Command::new(pg.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &pg.port().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    };
    assert!(ready(&pg));
    pg.psql("CREATE TABLE kept (n INT); INSERT INTO kept VALUES (7)");
    pg.stop();
    assert!(!pg.is_running());
    assert!(!ready(&pg), "still answering after stop");
    pg.restart();
    assert!(ready(&pg));
    assert_eq!(
        pg.psql("SELECT n FROM kept"),
        "7\n",
        "the data survives a restart"
    );
    let data = pg.data_dir();
    drop(pg);
    assert!(!data.exists(), "the data folder outlived the server");
}
