//! Sandbox data: the institutions, accounts and account data of test mode, read from files in one format
//! (TOML or JSON, [`doc`]). The built-in catalogue (`sandbox/institutions.toml`) is such a file; teams add
//! their own with `finconn serve --sandbox-data FILE`. Loading checks every rule and names, for each broken
//! one, the file, line and field (`bank.toml:12:1: institutions[0].accounts[2].last4: …`).

mod check;
pub mod doc;
mod locate;
pub(crate) mod series;
mod when;

use std::collections::HashSet;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use finconn_core::provider::{InstitutionStatus, LoginKind, TransactionStatus};
use serde::de::DeserializeOwned;

pub(crate) use check::{default_currency, AccountFile, CredentialRules, Entry, FileTransaction, Series};
use check::{At, Origin, Problem};
use doc::{
    AccountDoc, BalanceDoc, CredentialRulesDoc, FileDoc, InstitutionDoc, LoginDoc, OwnerDoc, SeriesDoc, StatusDoc,
    TransactionDoc, TransactionStatusDoc, When,
};
use locate::{Path, Syntax};

/// The built-in catalogue, compiled into this crate.
pub const CATALOGUE_TOML: &str = include_str!("../../sandbox/institutions.toml");
/// What error messages call the built-in catalogue.
pub const CATALOGUE_NAME: &str = "crates/finconn-providers/sandbox/institutions.toml";
/// The format version this finconn reads (`version` in every file).
pub const CATALOGUE_VERSION: i64 = 1;

/// Why sandbox data could not be loaded: one line per problem, each naming the file, line and field.
#[derive(Debug, thiserror::Error)]
#[error("the sandbox data does not load:\n{}", .0.join("\n"))]
pub struct SandboxDataError(pub Vec<String>);

impl SandboxDataError {
    pub fn problems(&self) -> &[String] {
        &self.0
    }
}

/// What a load found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub institutions: usize,
    pub accounts: usize,
    /// Transactions listed one by one in the files.
    pub listed_transactions: usize,
    pub series: usize,
}

pub(crate) fn summary(entries: &[Entry]) -> Summary {
    let own = entries.iter().filter(|e| e.accounts_from.is_none());
    Summary {
        institutions: entries.len(),
        accounts: entries.iter().map(|e| e.accounts.len()).sum(),
        listed_transactions: own
            .clone()
            .flat_map(|e| &e.data)
            .map(|d| d.transactions.as_ref().map_or(0, Vec::len))
            .sum(),
        series: own.flat_map(|e| &e.data).map(|d| d.series.len()).sum(),
    }
}

struct Source {
    name: String,
    text: String,
    syntax: Syntax,
    dir: PathBuf,
}

#[derive(Default)]
struct Loader {
    sources: Vec<Source>,
    lines: Vec<String>,
}

impl Loader {
    fn add(&mut self, name: String, text: String, syntax: Syntax, dir: PathBuf) -> usize {
        self.sources.push(Source { name, text, syntax, dir });
        self.sources.len() - 1
    }

    fn read(&mut self, path: &FsPath) -> Option<usize> {
        let name = path.display().to_string();
        let syntax = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("toml") => Syntax::Toml,
            Some("json") => Syntax::Json,
            _ => {
                self.lines.push(format!("{name}: sandbox data files end in .toml or .json"));
                return None;
            }
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let dir = path.parent().map(FsPath::to_path_buf).unwrap_or_default();
                Some(self.add(name, text, syntax, dir))
            }
            Err(e) => {
                self.lines.push(format!("{name}: cannot read it: {e}"));
                None
            }
        }
    }

    /// `file:line:column: field: message`, the position of `path` (or `offset` when known).
    fn report(&mut self, file: usize, path: &Path, offset: Option<usize>, message: &str) {
        let src = &self.sources[file];
        let offset = offset.unwrap_or_else(|| locate::offset(src.syntax, &src.text, path));
        let (line, col) = locate::line_col(&src.text, offset);
        let field = if path.0.is_empty() { String::new() } else { format!("{path}: ") };
        self.lines.push(format!("{}:{line}:{col}: {field}{message}", src.name));
    }

    fn parse<T: DeserializeOwned>(&mut self, file: usize) -> Option<T> {
        let src = &self.sources[file];
        match src.syntax {
            Syntax::Toml => {
                let de = toml::Deserializer::new(&src.text);
                match serde_path_to_error::deserialize::<_, T>(de) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        let path = Path::from_serde(e.path());
                        let inner = e.into_inner();
                        let offset = inner.span().map(|s| s.start);
                        let message = inner.message().trim().to_owned();
                        self.report(file, &path, offset, &message);
                        None
                    }
                }
            }
            Syntax::Json => {
                let mut de = serde_json::Deserializer::from_str(&src.text);
                match serde_path_to_error::deserialize::<_, T>(&mut de) {
                    Ok(v) => Some(v),
                    Err(e) => {
                        let path = Path::from_serde(e.path());
                        let inner = e.into_inner();
                        let message = inner.to_string();
                        let message = match message.rfind(" at line ") {
                            Some(i) => message[..i].to_owned(),
                            None => message,
                        };
                        let (line, col) = (inner.line(), inner.column());
                        let field = if path.0.is_empty() { String::new() } else { format!("{path}: ") };
                        let name = &self.sources[file].name;
                        self.lines.push(format!("{name}:{line}:{col}: {field}{message}"));
                        None
                    }
                }
            }
        }
    }

    /// The file's institutions, once its version is the one this finconn reads.
    fn institutions(&mut self, file: usize) -> Option<Vec<InstitutionDoc>> {
        #[derive(serde::Deserialize)]
        struct VersionOnly {
            version: Option<i64>,
        }
        let VersionOnly { version } = self.parse(file)?;
        match version {
            Some(CATALOGUE_VERSION) => {}
            Some(v) => {
                self.report(
                    file,
                    &Path::default().key("version"),
                    None,
                    &format!("version {v}: this finconn reads version {CATALOGUE_VERSION}"),
                );
                return None;
            }
            None => {
                self.report(file, &Path::default(), Some(0), "missing `version = 1` (the format's version)");
                return None;
            }
        }
        self.parse::<FileDoc>(file).map(|f| f.institutions)
    }
}

/// Loads the built-in catalogue (when `builtin`) and then `files`, in order, into one sandbox.
pub(crate) fn load(builtin: bool, files: &[PathBuf]) -> Result<Vec<Entry>, SandboxDataError> {
    let mut loader = Loader::default();
    let mut docs: Vec<(usize, Vec<InstitutionDoc>)> = Vec::new();
    if builtin {
        let i = loader.add(CATALOGUE_NAME.to_owned(), CATALOGUE_TOML.to_owned(), Syntax::Toml, PathBuf::new());
        docs.extend(loader.institutions(i).map(|d| (i, d)));
    }
    for path in files {
        if let Some(i) = loader.read(path) {
            docs.extend(loader.institutions(i).map(|d| (i, d)));
        }
    }
    entries(loader, docs)
}

/// Loads one TOML text (the built-in catalogue's format) on its own.
pub(crate) fn load_text(name: &str, text: &str) -> Result<Vec<Entry>, SandboxDataError> {
    let mut loader = Loader::default();
    let i = loader.add(name.to_owned(), text.to_owned(), Syntax::Toml, PathBuf::new());
    let docs = loader.institutions(i).map(|d| vec![(i, d)]).unwrap_or_default();
    entries(loader, docs)
}

fn entries(mut loader: Loader, docs: Vec<(usize, Vec<InstitutionDoc>)>) -> Result<Vec<Entry>, SandboxDataError> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut ids = HashSet::new();
    let mut names = HashSet::new();
    let mut any = false;
    for (file, insts) in docs {
        for (n, mut inst) in insts.into_iter().enumerate() {
            any = true;
            let path = Path::default().key("institutions").index(n);
            let mut accounts: Vec<(AccountDoc, Origin)> = std::mem::take(&mut inst.accounts)
                .into_iter()
                .enumerate()
                .map(|(j, a)| (a, Origin { file, path: path.key("accounts").index(j) }))
                .collect();
            for (j, rel) in std::mem::take(&mut inst.account_files).into_iter().enumerate() {
                let full = loader.sources[file].dir.join(&rel);
                match loader.read(&full) {
                    Some(af) => {
                        if let Some(a) = loader.parse::<AccountDoc>(af) {
                            accounts.push((a, Origin { file: af, path: Path::default() }));
                        }
                    }
                    None => {
                        let last = loader.lines.pop().unwrap_or_default();
                        loader.report(file, &path.key("account_files").index(j), None, &last);
                    }
                }
            }
            let mut at = At { origin: Origin { file, path: path.clone() }, out: &mut problems };
            let entry = check::institution(inst, accounts, &entries, &mut at);
            if !ids.insert(entry.institution.id.clone()) {
                at.out.push(Problem {
                    file,
                    path: path.key("id"),
                    message: format!("the id {} is used twice", entry.institution.id),
                });
            }
            if !names.insert(entry.institution.name.clone()) {
                at.out.push(Problem {
                    file,
                    path: path.key("name"),
                    message: format!("the name {:?} is used twice", entry.institution.name),
                });
            }
            entries.push(entry);
        }
    }
    for p in &problems {
        loader.report(p.file, &p.path, None, &p.message);
    }
    if !any && loader.lines.is_empty() {
        loader.lines.push("there are no institutions: give a sandbox data file with at least one".to_owned());
    }
    if loader.lines.is_empty() {
        Ok(entries)
    } else {
        Err(SandboxDataError(loader.lines))
    }
}

// ---------------------------------------------------------------------------------------------------------
// Back to the file format
// ---------------------------------------------------------------------------------------------------------

/// The sandbox as one file (what `finconn sandbox-data builtin` prints): it loads back to the same sandbox.
pub(crate) fn to_file(entries: &[Entry]) -> FileDoc {
    FileDoc { version: CATALOGUE_VERSION, institutions: entries.iter().map(institution_doc).collect() }
}

fn institution_doc(e: &Entry) -> InstitutionDoc {
    let i = &e.institution;
    let (login, credential_rules) = match (i.login, e.rules) {
        (LoginKind::None, _) => (LoginDoc::None, None),
        (LoginKind::OAuth, _) => (LoginDoc::OAuth, None),
        (_, Some(CredentialRules::Mfa)) => (LoginDoc::Mfa, None),
        (_, Some(CredentialRules::SandboxKeywords)) => {
            (LoginDoc::Credentials, Some(CredentialRulesDoc::SandboxKeywords))
        }
        _ => (LoginDoc::Credentials, Some(CredentialRulesDoc::Any)),
    };
    let (status, available_in_seconds) = match i.status {
        InstitutionStatus::Active => (StatusDoc::Up, None),
        InstitutionStatus::DownScheduled { available_in_seconds } => {
            (StatusDoc::DownScheduled, Some(available_in_seconds))
        }
        InstitutionStatus::DownUnscheduled => (StatusDoc::DownUnscheduled, None),
        InstitutionStatus::Erroring => (StatusDoc::Erroring, None),
    };
    let own = e.accounts_from.is_none();
    InstitutionDoc {
        id: i.id.clone(),
        name: i.name.clone(),
        url: (!i.url.is_empty()).then(|| i.url.clone()),
        countries: i.countries.clone(),
        featured: i.featured,
        login,
        credential_rules,
        status,
        available_in_seconds,
        features: Some(i.features.iter().map(|f| f.as_str().to_owned()).collect()),
        accounts_from: e.accounts_from.as_ref().map(|(id, _)| id.clone()),
        accounts: if own {
            e.accounts.iter().zip(&e.data).map(|(a, d)| account_doc(a, d)).collect()
        } else {
            Vec::new()
        },
        account_files: Vec::new(),
    }
}

fn account_doc(a: &finconn_core::provider::InstitutionAccount, d: &AccountFile) -> AccountDoc {
    AccountDoc {
        name: a.name.clone(),
        category: a.category.clone(),
        subcategory: a.subcategory.as_str().to_owned(),
        last4: a.last4.clone(),
        payment_methods: a.supported_payment_method_types.clone(),
        purpose: a.purpose.clone(),
        currency: d.currency.clone(),
        balance: d.balance.as_ref().map(|b| BalanceDoc { current: b.current, available: b.available, used: b.used }),
        owners: d.owners.as_ref().map(|o| {
            o.iter()
                .map(|o| OwnerDoc {
                    name: o.name.clone(),
                    email: o.email.clone(),
                    phone: o.phone.clone(),
                    address: o.raw_address.clone(),
                })
                .collect()
        }),
        transactions: d.transactions.as_ref().map(|list| list.iter().map(transaction_doc).collect()),
        series: d.series.iter().map(series_doc).collect(),
    }
}

fn transaction_doc(t: &FileTransaction) -> TransactionDoc {
    TransactionDoc {
        id: t.id.clone(),
        amount: t.amount,
        description: t.description.clone(),
        transacted_at: When::Text(when::format(t.transacted_at)),
        status: Some(match t.status {
            TransactionStatus::Pending => TransactionStatusDoc::Pending,
            TransactionStatus::Posted => TransactionStatusDoc::Posted,
            TransactionStatus::Void => TransactionStatusDoc::Void,
        }),
        settled_at: (t.status != TransactionStatus::Pending).then(|| When::Text(when::format(t.settled_at))),
    }
}

fn series_doc(s: &Series) -> SeriesDoc {
    SeriesDoc {
        kind: s.kind,
        description: s.description.clone(),
        amount: s.amount,
        every: s.every,
        day: s.day,
        min: s.min,
        max: s.max,
        per_week: s.per_week,
        merchants: s.merchants.clone(),
        seed: s.seed,
        start: When::Text(when::format(s.start)),
        end: s.end.map(|e| When::Text(when::format(e))),
    }
}

/// `doc` as TOML.
pub(crate) fn to_toml(doc: &FileDoc) -> String {
    toml::to_string_pretty(doc).unwrap_or_default()
}

/// `doc` as JSON.
pub(crate) fn to_json(doc: &FileDoc) -> String {
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Shared by `Sandbox`: the loaded entries behind one pointer, swapped whole on reload.
pub(crate) type Catalog = Arc<Vec<Entry>>;

#[cfg(test)]
mod tests;
