/// The client must stay usable without the server: it depends on the wire types only.
#[test]
fn depends_on_no_server_crate() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    for forbidden in ["finconn-core", "finconn-store", "finconn-server", "finconn-providers", "sqlx", "axum"] {
        assert!(!manifest.contains(forbidden), "Cargo.toml must not mention {forbidden}");
    }
    assert!(manifest.contains("finconn-types"));
}
