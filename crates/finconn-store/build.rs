// `sqlx::migrate!` embeds the migration files at compile time; without this, adding one does not rebuild
// the crate and the binary silently keeps the old set.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
