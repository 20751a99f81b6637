#![doc = include_str!("../README.md")]

pub mod calendar;
mod data;
pub mod enablebanking;
pub mod keywords;
mod markdown;
pub mod outbound;
mod sandbox;
pub mod scenario;
pub mod simplefin;

pub use data::{HISTORY_DAYS, MANUAL_ENTRY_PREFIX};
pub use sandbox::{codes, Sandbox};
pub use scenario::{SandboxDataError, Summary, CATALOGUE_TOML, CATALOGUE_VERSION};

impl Sandbox {
    /// The institutions and their accounts as Markdown tables.
    pub fn catalogue_markdown(&self) -> String {
        markdown::render(self)
    }
}

/// The embedded catalogue as Markdown tables (what the READMEs show). If the catalogue does not load, the
/// text says why instead.
pub fn catalogue_markdown() -> String {
    match Sandbox::load() {
        Ok(sandbox) => sandbox.catalogue_markdown(),
        Err(e) => format!("The sandbox catalogue does not load: {e}\n"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_readme_shows_the_current_catalogue() {
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(&super::catalogue_markdown()),
            "crates/finconn-providers/README.md is out of date: paste the output of catalogue_markdown() into it"
        );
    }

    #[test]
    fn the_project_readme_shows_the_current_catalogue() {
        let readme = include_str!("../../../README.md");
        assert!(
            readme.contains(&super::catalogue_markdown()),
            "README.md is out of date: paste the output of catalogue_markdown() under 'Sandbox institutions'"
        );
    }
}
