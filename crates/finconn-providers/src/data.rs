//! The sandbox's account data ([`AccountData`]): balances, owners and transactions, generated from the
//! account's seed (its `fca_…` id) with a small hand-written PRNG, so the same seed and the same `now` always
//! give the same data, and a transaction keeps its id, amount, description and time as `now` advances.
//!
//! How it works:
//! - every account gets a 64-bit key, a hash of (seed, account name); its fixed traits (employer, pay, rent,
//!   the days its bills are due, its balance level) come from a PRNG seeded with that key;
//! - transactions are generated **per UTC day**, from a PRNG seeded with (key, day): day D always yields the
//!   same list, whatever `now` is. A fetch takes the days of its 180-day window and keeps what happened in
//!   `[now − 180 days, now]`. Each transaction's id is a hash of (key, day, index within the day);
//! - a transaction settles 1–2 days after it happened (drawn per transaction): until then it is `Pending`,
//!   afterwards `Posted`, or `Void` for about 1 card purchase in 15;
//! - the balance is drawn per UTC day around the account's level: that is `available`, and `current` adds
//!   back the pending debits. It is not the running sum of the transactions.

use finconn_core::provider::{
    AccountData, AccountRef, AccountSubcategoryOrOther, BalanceData, BalanceKind, FetchError, InstitutionAccount,
    InstitutionStatus, OwnerData, TransactionData, TransactionStatus,
};
use finconn_types::{AccountSubcategory, Permission};

use crate::sandbox::Sandbox;
use crate::scenario::AccountFile;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// How far back transactions go, in days.
pub const HISTORY_DAYS: i64 = 180;

/// Institution ids of manually entered accounts (`routing_<routing number>`): no data to fetch.
pub const MANUAL_ENTRY_PREFIX: &str = "routing_";

// Tags that keep the PRNG streams of different uses apart.
const TAG_PARAMS: u64 = 1;
const TAG_DAY: u64 = 2;
const TAG_STATUS: u64 = 3;
const TAG_ID: u64 = 4;
const TAG_BALANCE: u64 = 5;
const TAG_HOLDER: u64 = 6;
const TAG_OTHERS: u64 = 7;

// ---------------------------------------------------------------------------------------------------------
// Hashing and the PRNG
// ---------------------------------------------------------------------------------------------------------

/// splitmix64's finaliser: a good 64-bit mix.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// FNV-1a over the strings (each followed by a 0xff separator, which never occurs in UTF-8), then mixed.
pub(crate) fn hash_strs(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.as_bytes().iter().chain(&[0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    mix(h)
}

/// A key derived from `key` and some numbers.
fn derive(key: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix(key), |h, &p| mix(h ^ mix(p.wrapping_add(0x9e37_79b9_7f4a_7c15))))
}

/// splitmix64.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(key: u64, parts: &[u64]) -> Self {
        Rng(derive(key, parts))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in `0..n` (`n > 0`; the modulo bias is irrelevant here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below(hi.abs_diff(lo) + 1) as i64
    }

    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// An index into a list of `n` other than `not`.
    fn index_other_than(&mut self, n: usize, not: usize) -> usize {
        (not + 1 + self.below(n as u64 - 1) as usize) % n
    }

    /// Seconds into a day, between `from` and `to` o'clock (UTC).
    fn time(&mut self, from: i64, to: i64) -> i64 {
        self.range(from * HOUR, to * HOUR - 1)
    }
}

// ---------------------------------------------------------------------------------------------------------
// The calendar (UTC)
// ---------------------------------------------------------------------------------------------------------

/// One UTC day.
#[derive(Clone, Copy)]
struct Date {
    /// Days since 1970-01-01.
    day: i64,
    month: u32,
    /// Day of the month, 1-based.
    dom: u32,
    /// 0 = Sunday … 6 = Saturday.
    weekday: i64,
    last_of_month: bool,
}

/// (month, day of month) of a day since the epoch.
fn month_day(days: i64) -> (u32, u32) {
    let (_, month, dom) = crate::calendar::civil_from_days(days);
    (month, dom)
}

fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

impl Date {
    fn new(day: i64) -> Self {
        let (month, dom) = month_day(day);
        Date { day, month, dom, weekday: weekday(day), last_of_month: month_day(day + 1).1 == 1 }
    }

    fn weekend(&self) -> bool {
        self.weekday == 0 || self.weekday == 6
    }

    /// Whether something due on one of `doms` happens today: on that day, or on the Friday before when it
    /// falls on a weekend.
    fn business_day_for(&self, doms: &[u32]) -> bool {
        if self.weekend() {
            return false;
        }
        (0..3).any(|ahead| {
            let t = self.day + ahead;
            let moved_back = match weekday(t) {
                6 => 1,
                0 => 2,
                _ => 0,
            };
            t - moved_back == self.day && doms.contains(&month_day(t).1)
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// Regions: currency, merchants, places
// ---------------------------------------------------------------------------------------------------------

type Names = &'static [&'static str];

struct Region {
    currency: &'static str,
    country: &'static str,
    checking: &'static str,
    coffee: Names,
    grocery: Names,
    restaurant: Names,
    fast_food: Names,
    gas: Names,
    shopping: Names,
    rideshare: Names,
    pharmacy: Names,
    convenience: Names,
    transit: &'static str,
    travel: Names,
    streaming: &'static [(&'static str, i64)],
    music: (&'static str, i64),
    cloud: (&'static str, i64),
    electric: &'static str,
    internet: &'static str,
    phone: &'static str,
    insurance: &'static str,
    p2p_out: &'static str,
    p2p_in: &'static str,
    employers: Names,
    landlords: Names,
    funds: Names,
    /// (city, state or province, postal code).
    cities: &'static [(&'static str, &'static str, &'static str)],
}

const US: Region = Region {
    currency: "usd",
    country: "US",
    checking: "checking",
    coffee: &["Starbucks", "Blue Bottle Coffee", "Philz Coffee", "Peet's Coffee", "Dunkin'"],
    grocery: &["Safeway", "Trader Joe's", "Whole Foods Market", "Costco", "Kroger"],
    restaurant: &["Chipotle", "Sweetgreen", "Shake Shack", "Olive Garden", "Thai Basil Kitchen", "DoorDash"],
    fast_food: &["McDonald's", "Taco Bell", "Subway", "Wendy's"],
    gas: &["Shell", "Chevron", "ExxonMobil"],
    shopping: &["Amazon.com", "Target", "Walmart", "Best Buy", "The Home Depot"],
    rideshare: &["Uber", "Lyft"],
    pharmacy: &["CVS Pharmacy", "Walgreens"],
    convenience: &["7-Eleven", "Circle K"],
    transit: "Clipper transit",
    travel: &["United Airlines", "Delta Air Lines", "Marriott", "Airbnb"],
    streaming: &[("Netflix", 1_549), ("Hulu", 1_799), ("Disney+", 1_399)],
    music: ("Spotify", 1_199),
    cloud: ("Apple.com/bill", 299),
    electric: "PG&E",
    internet: "Comcast Xfinity",
    phone: "Verizon Wireless",
    insurance: "GEICO",
    p2p_out: "Venmo payment",
    p2p_in: "Venmo cashout",
    employers: &["Acme Corp", "Globex", "Initech", "Rocket Rides", "Umbrella Health"],
    landlords: &["Parkside Apartments", "Bayview Property Mgmt", "Elm Street Rentals"],
    funds: &["VTI", "VXUS", "BND"],
    cities: &[
        ("San Francisco", "CA", "94111"),
        ("Austin", "TX", "78701"),
        ("Chicago", "IL", "60601"),
        ("Brooklyn", "NY", "11201"),
        ("Seattle", "WA", "98101"),
        ("Denver", "CO", "80202"),
        ("Boston", "MA", "02108"),
        ("Portland", "OR", "97205"),
    ],
};

const CA: Region = Region {
    currency: "cad",
    country: "CA",
    checking: "chequing",
    coffee: &["Tim Hortons", "Second Cup", "Starbucks"],
    grocery: &["Loblaws", "Sobeys", "Metro", "No Frills", "Costco"],
    restaurant: &["Swiss Chalet", "Earls Kitchen", "Pizza Pizza", "SkipTheDishes", "The Keg"],
    fast_food: &["A&W", "McDonald's", "Harvey's"],
    gas: &["Petro-Canada", "Esso", "Shell"],
    shopping: &["Canadian Tire", "Amazon.ca", "Walmart", "Hudson's Bay"],
    rideshare: &["Uber", "Lyft"],
    pharmacy: &["Shoppers Drug Mart", "Rexall"],
    convenience: &["Couche-Tard", "Mac's"],
    transit: "Presto transit",
    travel: &["Air Canada", "WestJet", "Fairmont Hotels"],
    streaming: &[("Netflix", 1_649), ("Crave", 1_999), ("Disney+", 1_199)],
    music: ("Spotify", 1_199),
    cloud: ("Apple.com/bill", 399),
    electric: "Hydro One",
    internet: "Rogers",
    phone: "Bell Mobility",
    insurance: "Intact Insurance",
    p2p_out: "Interac e-Transfer sent",
    p2p_in: "Interac e-Transfer received",
    employers: &["Maple Leaf Foods", "Northwind Ltd", "Shopwise Inc", "Polar Labs"],
    landlords: &["Harbourfront Residences", "Maple Court Apartments"],
    funds: &["XEQT", "VFV", "ZAG"],
    cities: &[
        ("Toronto", "ON", "M5V 2T6"),
        ("Vancouver", "BC", "V6B 1A1"),
        ("Montreal", "QC", "H2Y 1C6"),
        ("Calgary", "AB", "T2P 1J9"),
        ("Ottawa", "ON", "K1P 5J9"),
    ],
};

const FIRST_NAMES: Names = &[
    "Jenny", "Alex", "Maria", "Sam", "Priya", "Daniel", "Aisha", "Chris", "Mei", "Jordan", "Olivia", "Marcus", "Sofia",
    "Ethan", "Hana", "Lucas",
];
const LAST_NAMES: Names = &[
    "Rosen", "Garcia", "Nguyen", "Smith", "Patel", "Okafor", "Kim", "Johnson", "Lopez", "Chen", "Brown", "Schmidt",
    "Silva", "Cohen", "Tanaka", "Murphy",
];
const STREETS: Names = &["Main St", "Market St", "Oak Ave", "Maple Dr", "Pine St", "Elm St", "Cedar Ln", "Lake Rd"];

// ---------------------------------------------------------------------------------------------------------
// Accounts: what a fetch is about
// ---------------------------------------------------------------------------------------------------------

/// What kind of money an account holds and moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Profile {
    /// Ordinary checking: payroll on the 1st and 15th, rent, bills, card spending.
    Everyday,
    /// Checking of a couple: a second paycheck every other Friday.
    Joint,
    /// Checking of a high earner: $250,000+.
    HighBalance,
    /// Checking with a few dollars in it.
    Insufficient,
    Savings,
    CreditCard,
    Mortgage,
    LineOfCredit,
    Investment,
}

fn profile(a: &InstitutionAccount) -> Profile {
    use AccountSubcategory as S;
    match a.name.as_str() {
        "High Balance" => return Profile::HighBalance,
        "Insufficient Funds" => return Profile::Insufficient,
        "Joint Checking" => return Profile::Joint,
        _ => {}
    }
    let known = |s: S| a.subcategory == AccountSubcategoryOrOther::Known(s);
    match a.category.as_str() {
        "credit" if known(S::CreditCard) => Profile::CreditCard,
        "credit" if known(S::Mortgage) => Profile::Mortgage,
        "credit" => Profile::LineOfCredit,
        "investment" => Profile::Investment,
        _ if known(S::Savings) => Profile::Savings,
        _ => Profile::Everyday,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Feature {
    Balances,
    Ownership,
    Transactions,
}

impl Feature {
    fn permission(self) -> Permission {
        match self {
            Feature::Balances => Permission::Balances,
            Feature::Ownership => Permission::Ownership,
            Feature::Transactions => Permission::Transactions,
        }
    }
}

/// The account a fetch is about, once it is known to have data.
struct Target<'a> {
    seed: &'a str,
    name: &'a str,
    institution_id: &'a str,
    profile: Profile,
    region: &'static Region,
    /// What its sandbox-data file says (empty for generated data).
    file: std::sync::Arc<AccountFile>,
    /// The file's currency, or the institution's country's.
    currency: String,
}

impl Target<'_> {
    fn key(&self) -> u64 {
        hash_strs(&[self.seed, self.name])
    }
}

fn refused(message: impl Into<String>) -> FetchError {
    FetchError::Refused(message.into())
}

impl Sandbox {
    /// The account behind `account`, or why `feature` cannot be fetched from it.
    fn target<'a>(&self, account: &AccountRef<'a>, feature: Feature) -> Result<Target<'a>, FetchError> {
        if account.institution_id.starts_with(MANUAL_ENTRY_PREFIX) {
            return Err(refused("manual entry accounts have no data"));
        }
        let Some(entry) = self.entry(account.institution_id) else {
            return Err(refused(format!("no such institution: {}", account.institution_id)));
        };
        let inst = &entry.institution;
        let name = &inst.name;
        match inst.status {
            InstitutionStatus::Active => {}
            InstitutionStatus::DownScheduled { .. } => {
                return Err(refused(format!("{name} is down for scheduled maintenance")))
            }
            InstitutionStatus::DownUnscheduled => return Err(refused(format!("{name} is unexpectedly unavailable"))),
            InstitutionStatus::Erroring => {
                return Err(refused(format!("an unknown error occurred while communicating with {name}")))
            }
        }
        let Some(a) = entry.accounts.iter().find(|a| a.name == account.account_name) else {
            return Err(refused(format!("{name} has no account named {:?}", account.account_name)));
        };
        if !inst.features.contains(&feature.permission()) {
            return Err(refused(format!("{name} does not share {}", feature.permission().as_str())));
        }
        if a.name == "Refresh Fails" || (a.name == "Ownership Refresh Fails" && feature == Feature::Ownership) {
            return Err(refused(format!("{name} could not return the data of {} (a simulated failure)", a.name)));
        }
        let region = if inst.countries.iter().any(|c| c == "CA") { &CA } else { &US };
        let index = entry.accounts.iter().position(|x| x.name == a.name).unwrap_or_default();
        let file = entry.data.get(index).cloned().unwrap_or_default();
        let currency = match &file.currency {
            Some(c) => c.clone(),
            None if inst.countries.iter().any(|c| c == "CA" || c == "US") => region.currency.to_owned(),
            None => crate::scenario::default_currency(&inst.countries).to_owned(),
        };
        Ok(Target {
            seed: account.seed,
            name: account.account_name,
            institution_id: account.institution_id,
            profile: profile(a),
            region,
            file,
            currency,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------
// An account's fixed traits
// ---------------------------------------------------------------------------------------------------------

/// What stays the same for an account from day to day. All drawn in a fixed order, whatever the profile.
struct Traits {
    employer: &'static str,
    employer2: &'static str,
    landlord: &'static str,
    /// Semi-monthly net pay (the second earner's, for Joint, every other Friday).
    pay: i64,
    pay2: i64,
    /// Day index modulo 14 of the second earner's Fridays (1 or 8).
    biweekly: i64,
    rent: i64,
    internet: i64,
    insurance: i64,
    streaming: (&'static str, i64),
    fund: &'static str,
    electric_dom: u32,
    internet_dom: u32,
    phone_dom: u32,
    insurance_dom: u32,
    streaming_dom: u32,
    music_dom: u32,
    cloud_dom: u32,
    /// When the card is paid (from checking, and on the card).
    card_dom: u32,
    /// When checking moves money to savings (and savings receives it), in 2..=13.
    savings_dom: u32,
    /// A credit account's statement day, or an investment account's contribution day, in 1..=18.
    statement_dom: u32,
    /// The monthly transfer to savings, payment on a loan, or contribution to an investment account.
    monthly: i64,
    /// The balance level: what is held, or (credit) owed.
    level: i64,
}

impl Traits {
    fn new(key: u64, profile: Profile, region: &Region) -> Self {
        let mut r = Rng::new(key, &[TAG_PARAMS]);
        let mut dom = |lo: i64, hi: i64| r.range(lo, hi) as u32;
        let electric_dom = dom(3, 28);
        let internet_dom = dom(3, 28);
        let phone_dom = dom(3, 28);
        let insurance_dom = dom(3, 28);
        let streaming_dom = dom(1, 28);
        let music_dom = dom(1, 28);
        let cloud_dom = dom(1, 28);
        let card_dom = dom(18, 27);
        let savings_dom = dom(2, 13);
        let statement_dom = dom(1, 18);
        let employer = r.pick(region.employers);
        let employer2 = r.pick(region.employers);
        let landlord = r.pick(region.landlords);
        let streaming = r.pick(region.streaming);
        let fund = r.pick(region.funds);
        let pay = r.range(180_000, 320_000) / 100 * 100 + r.range(0, 99);
        let pay2 = r.range(110_000, 240_000) / 100 * 100 + r.range(0, 99);
        let biweekly = r.pick(&[1, 8]);
        let rent = r.range(14, 26) * 10_000;
        let internet = r.pick(&[5_999, 6_999, 7_999, 8_999]);
        let insurance = r.range(9_000, 16_000);
        let save = r.range(4, 12) * 5_000;
        let loan_payment = r.range(180_000, 360_000);
        let loc_payment = r.range(2, 8) * 10_000;
        let contribution = r.range(5, 20) * 5_000;
        let level_draw = r.next();
        let level_in = |lo: i64, hi: i64| lo + (level_draw % (hi - lo + 1) as u64) as i64;
        let (pay, pay2, rent, monthly, level) = match profile {
            Profile::Everyday => (pay, 0, rent, save, level_in(200_000, 800_000)),
            Profile::Joint => (pay, pay2, rent + 60_000, save * 2, level_in(400_000, 1_200_000)),
            Profile::HighBalance => (pay * 5, 0, rent * 3, save * 10, level_in(27_000_000, 40_000_000)),
            Profile::Insufficient => (pay / 6, 0, 0, 0, 0),
            Profile::Savings => (0, 0, 0, save, level_in(1_000_000, 4_000_000)),
            Profile::CreditCard => (0, 0, 0, 0, level_in(30_000, 350_000)),
            Profile::Mortgage => (0, 0, 0, loan_payment, level_in(18_000_000, 45_000_000)),
            Profile::LineOfCredit => (0, 0, 0, loc_payment, level_in(200_000, 1_500_000)),
            Profile::Investment => (0, 0, 0, contribution, level_in(300_000, 2_000_000)),
        };
        Traits {
            employer,
            employer2,
            landlord,
            pay,
            pay2,
            biweekly,
            rent,
            internet,
            insurance,
            streaming,
            fund,
            electric_dom,
            internet_dom,
            phone_dom,
            insurance_dom,
            streaming_dom,
            music_dom,
            cloud_dom,
            card_dom,
            savings_dom,
            statement_dom,
            monthly,
            level,
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------------------

/// A transaction of one day, before its status is known.
struct Draft {
    /// Seconds after the day's start (UTC).
    secs: i64,
    amount: i64,
    description: String,
    /// A card purchase: the kind that is sometimes voided instead of posted.
    card: bool,
}

struct Day<'a> {
    rng: Rng,
    out: Vec<Draft>,
    region: &'a Region,
}

impl Day<'_> {
    fn push(&mut self, secs: i64, amount: i64, description: impl Into<String>, card: bool) {
        self.out.push(Draft { secs, amount, description: description.into(), card });
    }

    /// A card purchase at a merchant from `names`, `lo..=hi` minor units, between `from` and `to` o'clock.
    fn purchase(&mut self, names: Names, lo: i64, hi: i64, from: i64, to: i64) {
        let merchant = self.rng.pick(names);
        let amount = self.rng.range(lo, hi);
        let secs = self.rng.time(from, to);
        self.push(secs, -amount, merchant, true);
    }

    /// Money in or out that is not a card purchase.
    fn transfer(&mut self, amount: i64, description: impl Into<String>, from: i64, to: i64) {
        let secs = self.rng.time(from, to);
        self.push(secs, amount, description, false);
    }

    fn bill(&mut self, amount: i64, payee: &str) {
        self.transfer(-amount, payee.to_owned(), 3, 8);
    }
}

fn day_drafts(t: &Target, tr: &Traits, key: u64, day: i64) -> Vec<Draft> {
    let date = Date::new(day);
    let mut d = Day { rng: Rng::new(key, &[TAG_DAY, day as u64]), out: Vec::new(), region: t.region };
    match t.profile {
        Profile::Everyday | Profile::Joint | Profile::HighBalance => checking_day(&mut d, t.profile, tr, date),
        Profile::Insufficient => insufficient_day(&mut d, tr, date),
        Profile::Savings => savings_day(&mut d, tr, date),
        Profile::CreditCard => card_day(&mut d, tr, date),
        Profile::Mortgage => {
            if date.dom == tr.statement_dom % 5 + 1 {
                d.transfer(tr.monthly, "Payment received - thank you", 6, 18);
            }
        }
        Profile::LineOfCredit => loc_day(&mut d, tr, date),
        Profile::Investment => investment_day(&mut d, tr, date),
    }
    d.out
}

fn checking_day(d: &mut Day, profile: Profile, tr: &Traits, date: Date) {
    let r = d.region;
    // Discretionary spending scale.
    let s = if profile == Profile::HighBalance { 3 } else { 1 };
    if date.business_day_for(&[1, 15]) {
        d.transfer(tr.pay, format!("{} Payroll", tr.employer), 5, 7);
    }
    if profile == Profile::Joint && date.day.rem_euclid(14) == tr.biweekly {
        d.transfer(tr.pay2, format!("{} Direct Deposit", tr.employer2), 5, 7);
    }
    if date.dom == 1 {
        d.transfer(-tr.rent, format!("Rent - {}", tr.landlord), 2, 6);
    }
    if date.dom == tr.electric_dom {
        let amount = d.rng.range(5_500, 18_000) * s;
        d.bill(amount, r.electric);
    }
    if date.dom == tr.internet_dom {
        d.bill(tr.internet, r.internet);
    }
    if date.dom == tr.phone_dom {
        let amount = d.rng.range(6_500, 9_500);
        d.bill(amount, r.phone);
    }
    if date.dom == tr.insurance_dom {
        d.bill(tr.insurance * s, r.insurance);
    }
    if date.dom == tr.streaming_dom {
        d.bill(tr.streaming.1, tr.streaming.0);
    }
    if date.dom == tr.music_dom {
        d.bill(r.music.1, r.music.0);
    }
    if date.dom == tr.card_dom {
        let amount = d.rng.range(30_000, 150_000) * s;
        d.transfer(-amount, "Credit card payment", 6, 20);
    }
    if date.dom == tr.savings_dom || date.dom == tr.savings_dom + 14 {
        d.transfer(-tr.monthly / 2, "Transfer to savings", 6, 20);
    }
    if profile == Profile::HighBalance && date.dom == tr.statement_dom + 3 {
        let amount = d.rng.range(50, 250) * 10_000;
        d.transfer(-amount, "Transfer to brokerage", 9, 17);
    }

    // A transit fare every day at 07:30 UTC: the last 24 hours always hold a pending transaction, so
    // tests of pending → posted never depend on the seed.
    if profile != Profile::Insufficient {
        d.push(7 * 3600 + 1800, -275, r.transit, true);
    }
    let coffee = if date.weekend() { 200 } else { 450 };
    if d.rng.chance(coffee) {
        d.purchase(r.coffee, 375, 795, 7, 11);
    }
    if d.rng.chance(280) {
        d.purchase(r.grocery, 2_500 * s, 18_000 * s, 9, 21);
    }
    let eat_out = if date.weekend() { 450 } else { 220 };
    if d.rng.chance(eat_out) {
        d.purchase(r.restaurant, 1_200 * s, 8_500 * s, 11, 22);
    }
    if d.rng.chance(140) {
        d.purchase(r.gas, 2_800, 7_500, 7, 20);
    }
    if d.rng.chance(150) {
        d.purchase(r.shopping, 900 * s, 15_000 * s, 8, 23);
    }
    if d.rng.chance(80) {
        d.purchase(r.rideshare, 900, 4_500, 0, 24);
    }
    if d.rng.chance(50) {
        d.purchase(r.pharmacy, 500, 4_000, 9, 20);
    }
    if d.rng.chance(30) {
        let amount = d.rng.pick(&[2_000, 4_000, 6_000, 10_000, 20_000]);
        d.transfer(-amount, "ATM withdrawal", 8, 22);
    }
    if d.rng.chance(60) {
        let amount = d.rng.range(1_000, 12_000);
        if d.rng.chance(500) {
            d.transfer(-amount, r.p2p_out, 8, 23);
        } else {
            d.transfer(amount, r.p2p_in, 8, 23);
        }
    }
    if d.rng.chance(20) {
        let merchant = d.rng.pick(r.shopping);
        let amount = d.rng.range(900, 8_000);
        d.transfer(amount, format!("{merchant} refund"), 8, 20);
    }
}

fn insufficient_day(d: &mut Day, tr: &Traits, date: Date) {
    let r = d.region;
    if date.business_day_for(&[1, 15]) {
        d.transfer(tr.pay, format!("{} Payroll", tr.employer), 5, 7);
    }
    if date.dom == tr.phone_dom {
        let amount = d.rng.range(3_000, 4_500);
        d.bill(amount, r.phone);
    }
    if d.rng.chance(300) {
        d.purchase(r.coffee, 250, 550, 7, 11);
    }
    if d.rng.chance(300) {
        d.purchase(r.fast_food, 600, 1_400, 11, 23);
    }
    if d.rng.chance(200) {
        d.purchase(r.convenience, 199, 1_299, 7, 24);
    }
    if d.rng.chance(150) {
        let amount = d.rng.range(275, 1_000);
        d.transfer(-amount, r.transit, 6, 22);
    }
    if d.rng.chance(50) {
        let amount = d.rng.range(500, 3_000);
        if d.rng.chance(500) {
            d.transfer(-amount, r.p2p_out, 8, 23);
        } else {
            d.transfer(amount, r.p2p_in, 8, 23);
        }
    }
    if d.rng.chance(30) {
        d.transfer(-3_500, "Insufficient funds fee", 0, 4);
    }
}

fn savings_day(d: &mut Day, tr: &Traits, date: Date) {
    let checking = d.region.checking;
    if date.dom == tr.savings_dom || date.dom == tr.savings_dom + 14 {
        d.transfer(tr.monthly / 2, format!("Transfer from {checking}"), 6, 20);
    }
    if date.last_of_month {
        // About 4% a year.
        let amount = tr.level * 33 / 10_000 + d.rng.range(0, 300);
        d.transfer(amount, "Interest paid", 0, 3);
    }
    if d.rng.chance(25) {
        let amount = d.rng.range(10, 150) * 1_000;
        d.transfer(-amount, format!("Transfer to {checking}"), 8, 22);
    }
}

fn card_day(d: &mut Day, tr: &Traits, date: Date) {
    let r = d.region;
    if date.dom == tr.streaming_dom {
        d.bill(tr.streaming.1, tr.streaming.0);
    }
    if date.dom == tr.music_dom {
        d.bill(r.music.1, r.music.0);
    }
    if date.dom == tr.cloud_dom {
        d.bill(r.cloud.1, r.cloud.0);
    }
    if date.dom == tr.card_dom {
        let amount = d.rng.range(400, 2_500) * 100;
        d.transfer(amount, "Payment - thank you", 6, 20);
    }
    if d.rng.chance(250) {
        d.purchase(r.coffee, 375, 795, 7, 11);
    }
    if d.rng.chance(200) {
        d.purchase(r.grocery, 2_500, 18_000, 9, 21);
    }
    if d.rng.chance(if date.weekend() { 500 } else { 300 }) {
        d.purchase(r.restaurant, 1_200, 8_500, 11, 23);
    }
    if d.rng.chance(120) {
        d.purchase(r.gas, 2_800, 7_500, 7, 20);
    }
    if d.rng.chance(250) {
        d.purchase(r.shopping, 900, 15_000, 8, 24);
    }
    if d.rng.chance(100) {
        d.purchase(r.rideshare, 900, 4_500, 0, 24);
    }
    if d.rng.chance(15) {
        d.purchase(r.travel, 15_000, 65_000, 8, 22);
    }
    if d.rng.chance(20) {
        let merchant = d.rng.pick(r.shopping);
        let amount = d.rng.range(900, 8_000);
        d.transfer(amount, format!("{merchant} refund"), 8, 20);
    }
}

fn loc_day(d: &mut Day, tr: &Traits, date: Date) {
    if date.dom == tr.statement_dom {
        // About 9% a year.
        let amount = tr.level * 75 / 10_000 + d.rng.range(0, 500);
        d.transfer(-amount, "Interest charge", 0, 3);
    }
    if date.dom == tr.statement_dom + 10 {
        d.transfer(tr.monthly, "Payment received - thank you", 6, 18);
    }
    if d.rng.chance(30) {
        let amount = d.rng.range(5, 30) * 10_000;
        d.transfer(-amount, format!("Advance to {}", d.region.checking), 8, 20);
    }
}

fn investment_day(d: &mut Day, tr: &Traits, date: Date) {
    let fund = tr.fund;
    if date.dom == tr.statement_dom {
        d.transfer(tr.monthly, format!("Contribution from {}", d.region.checking), 6, 12);
    }
    if date.dom == tr.statement_dom + 1 {
        let amount = d.rng.range(tr.monthly * 80 / 100, tr.monthly * 98 / 100);
        d.transfer(-amount, format!("Buy {fund}"), 14, 20);
    }
    if matches!(date.month, 3 | 6 | 9 | 12) && date.dom == 24 {
        let amount = d.rng.range(3_000, 15_000);
        d.transfer(amount, format!("Dividend {fund}"), 12, 16);
    }
    if date.last_of_month {
        let amount = d.rng.range(200, 2_500);
        d.transfer(amount, "Interest on cash balance", 0, 3);
    }
}

/// The transactions that happened in `[from, now]`, newest first, with their status as of `now`.
fn transactions_between(t: &Target, from: i64, now: i64) -> Vec<TransactionData> {
    let key = t.key();
    let traits = Traits::new(key, t.profile, t.region);
    let mut found: Vec<(i64, usize, TransactionData)> = Vec::new();
    for day in from.div_euclid(DAY)..=now.div_euclid(DAY) {
        for (i, draft) in day_drafts(t, &traits, key, day).into_iter().enumerate() {
            let at = day * DAY + draft.secs;
            if at < from || at > now {
                continue;
            }
            let mut r = Rng::new(key, &[TAG_STATUS, day as u64, i as u64]);
            let settles_at = at + DAY + r.range(0, DAY - 1);
            let voided = draft.card && r.below(15) == 0;
            let (status, status_changed_at) = if now < settles_at {
                (TransactionStatus::Pending, None)
            } else if voided {
                (TransactionStatus::Void, Some(settles_at))
            } else {
                (TransactionStatus::Posted, Some(settles_at))
            };
            let id = derive(key, &[TAG_ID, day as u64, i as u64]);
            found.push((
                at,
                i,
                TransactionData {
                    provider_id: format!("sbxtxn_{id:016x}"),
                    amount: draft.amount,
                    currency: t.currency.clone(),
                    description: draft.description,
                    transacted_at: at,
                    status,
                    status_changed_at,
                },
            ));
        }
    }
    found.sort_by_key(|&(at, i, _)| std::cmp::Reverse((at, i)));
    found.into_iter().map(|(_, _, t)| t).collect()
}

// ---------------------------------------------------------------------------------------------------------
// Balances
// ---------------------------------------------------------------------------------------------------------

fn balance(t: &Target, now: i64) -> BalanceData {
    let key = t.key();
    let traits = Traits::new(key, t.profile, t.region);
    let mut r = Rng::new(key, &[TAG_BALANCE, now.div_euclid(DAY) as u64]);
    // Today's figure (available cash, or owed): within 4% of the account's level.
    let level = traits.level;
    let today = level + level * r.range(-40, 40) / 1_000;
    // What pending debits hold back (≤ 0); pending credits are not available yet.
    let pending_debits: i64 = transactions_between(t, now - 3 * DAY, now)
        .iter()
        .filter(|x| x.status == TransactionStatus::Pending && x.amount < 0)
        .map(|x| x.amount)
        .sum();
    let kind = match t.profile {
        Profile::CreditCard | Profile::LineOfCredit => {
            BalanceKind::Credit { current: -today, used: Some(today - pending_debits) }
        }
        Profile::Mortgage => BalanceKind::Credit { current: -level, used: Some(level) },
        Profile::Insufficient => {
            let available = r.range(0, 500);
            BalanceKind::Cash { current: available - pending_debits, available: Some(available) }
        }
        Profile::Everyday | Profile::Joint | Profile::HighBalance | Profile::Savings | Profile::Investment => {
            BalanceKind::Cash { current: today - pending_debits, available: Some(today) }
        }
    };
    BalanceData { as_of: now - now.rem_euclid(HOUR), currency: t.currency.clone(), kind }
}

// ---------------------------------------------------------------------------------------------------------
// Owners
// ---------------------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Person {
    first: usize,
    last: usize,
    phone: String,
    address: String,
}

fn phone(r: &mut Rng) -> String {
    format!("+1 555-{:03}-{:04}", r.range(200, 999), r.range(0, 9_999))
}

fn address(r: &mut Rng, region: &Region) -> String {
    let (city, state, postal) = r.pick(region.cities);
    let number = r.range(10, 2_999);
    let street = r.pick(STREETS);
    format!("{number} {street}, {city}, {state} {postal}, {}", region.country)
}

impl Person {
    fn draw(r: &mut Rng, region: &Region) -> Self {
        let first = r.below(FIRST_NAMES.len() as u64) as usize;
        let last = r.below(LAST_NAMES.len() as u64) as usize;
        Person { first, last, phone: phone(r), address: address(r, region) }
    }

    /// Someone with neither the first nor the last name of `other`.
    fn other_than(other: &Person, r: &mut Rng, region: &Region) -> Self {
        let first = r.index_other_than(FIRST_NAMES.len(), other.first);
        let last = r.index_other_than(LAST_NAMES.len(), other.last);
        Person { first, last, phone: phone(r), address: address(r, region) }
    }

    /// `other`'s partner: another first name, the same last name and address.
    fn partner_of(other: &Person, r: &mut Rng) -> Self {
        let first = r.index_other_than(FIRST_NAMES.len(), other.first);
        Person { first, last: other.last, phone: phone(r), address: other.address.clone() }
    }

    fn name(&self) -> String {
        format!("{} {}", FIRST_NAMES[self.first], LAST_NAMES[self.last])
    }

    fn complete(&self) -> OwnerData {
        let email = format!("{}.{}@example.com", FIRST_NAMES[self.first], LAST_NAMES[self.last]).to_lowercase();
        OwnerData {
            name: self.name(),
            email: Some(email),
            phone: Some(self.phone.clone()),
            raw_address: Some(self.address.clone()),
        }
    }

    fn name_only(&self) -> OwnerData {
        OwnerData { name: self.name(), email: None, phone: None, raw_address: None }
    }
}

fn owners(t: &Target) -> Vec<OwnerData> {
    // The holder depends on the seed alone: one seed, one holder, at every account.
    let holder = Person::draw(&mut Rng::new(hash_strs(&[t.seed]), &[TAG_HOLDER]), t.region);
    let mut r = Rng::new(t.key(), &[TAG_OTHERS]);
    match t.name {
        "Joint Checking" => vec![holder.complete(), Person::partner_of(&holder, &mut r).complete()],
        "Multiple Owners" => vec![holder.complete(), Person::other_than(&holder, &mut r, t.region).complete()],
        "Owner Name Mismatch" => vec![Person::other_than(&holder, &mut r, t.region).complete()],
        "Partial Owner Data" => vec![holder.name_only()],
        "No Owner Data" => Vec::new(),
        _ => vec![holder.complete()],
    }
}

// ---------------------------------------------------------------------------------------------------------
// The trait
// ---------------------------------------------------------------------------------------------------------

#[async_trait::async_trait]
impl AccountData for Sandbox {
    async fn balance(&self, account: AccountRef<'_>, now: i64) -> Result<BalanceData, FetchError> {
        let t = self.target(&account, Feature::Balances)?;
        Ok(match &t.file.balance {
            Some(b) => BalanceData {
                as_of: now - now.rem_euclid(HOUR),
                currency: t.currency.clone(),
                kind: if matches!(t.profile, Profile::CreditCard | Profile::LineOfCredit | Profile::Mortgage) {
                    BalanceKind::Credit { current: b.current, used: b.used }
                } else {
                    BalanceKind::Cash { current: b.current, available: b.available }
                },
            },
            None => balance(&t, now),
        })
    }

    async fn owners(&self, account: AccountRef<'_>, _now: i64) -> Result<Vec<OwnerData>, FetchError> {
        let t = self.target(&account, Feature::Ownership)?;
        Ok(match &t.file.owners {
            Some(o) => o.clone(),
            None => owners(&t),
        })
    }

    /// Generated accounts: the last 180 days. Accounts whose file gives transactions: all of them, up to `now`.
    async fn transactions(&self, account: AccountRef<'_>, now: i64) -> Result<Vec<TransactionData>, FetchError> {
        let t = self.target(&account, Feature::Transactions)?;
        if t.file.has_transactions() {
            return Ok(crate::scenario::series::transactions(t.institution_id, t.name, &t.file, &t.currency, now));
        }
        Ok(transactions_between(&t, now - HISTORY_DAYS * DAY, now))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use finconn_core::provider::Provider;

    use super::*;

    const TEST_INSTITUTION: &str = "fcinst_TestInstitution";
    const OWNERSHIP: &str = "fcinst_OwnershipAccounts";
    const SANDBOX_OAUTH: &str = "fcinst_SandboxBankOAuth";
    const CANADA: &str = "fcinst_SandboxBankCanada";
    const NOW: i64 = 1_790_000_000;

    fn sandbox() -> Sandbox {
        Sandbox::load().unwrap()
    }

    fn at<'a>(institution_id: &'a str, account_name: &'a str, seed: &'a str) -> AccountRef<'a> {
        AccountRef { institution_id, account_name, seed }
    }

    /// Every account that has data: (institution id, account name).
    fn data_accounts(s: &Sandbox) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for inst in s.institutions() {
            if inst.status != InstitutionStatus::Active {
                continue;
            }
            for a in s.accounts(&inst.id) {
                if a.name != "Refresh Fails" {
                    out.push((inst.id.clone(), a.name));
                }
            }
        }
        out
    }

    async fn txns(s: &Sandbox, inst: &str, name: &str, seed: &str, now: i64) -> Vec<TransactionData> {
        s.transactions(at(inst, name, seed), now).await.unwrap()
    }

    #[tokio::test]
    async fn the_same_seed_and_now_give_the_same_data() {
        let s = sandbox();
        for (inst, name) in data_accounts(&s) {
            let a = at(&inst, &name, "fca_determinism");
            assert_eq!(s.balance(a.clone(), NOW).await, s.balance(a.clone(), NOW).await, "{inst} / {name}");
            assert_eq!(s.owners(a.clone(), NOW).await, s.owners(a.clone(), NOW + 5_000).await, "{inst} / {name}");
            assert_eq!(s.transactions(a.clone(), NOW).await, s.transactions(a, NOW).await, "{inst} / {name}");
        }
        // A fresh sandbox (another process) agrees.
        let a = at(TEST_INSTITUTION, "Success", "fca_determinism");
        assert_eq!(s.transactions(a.clone(), NOW).await, sandbox().transactions(a, NOW).await);
    }

    #[tokio::test]
    async fn other_seeds_give_other_data() {
        let s = sandbox();
        let one = txns(&s, TEST_INSTITUTION, "Success", "fca_one", NOW).await;
        let two = txns(&s, TEST_INSTITUTION, "Success", "fca_two", NOW).await;
        assert_ne!(one, two);
        let ids: HashSet<&str> = one.iter().map(|t| t.provider_id.as_str()).collect();
        assert!(two.iter().all(|t| !ids.contains(t.provider_id.as_str())), "ids are per account");
        let a = s.balance(at(TEST_INSTITUTION, "Success", "fca_one"), NOW).await.unwrap();
        let b = s.balance(at(TEST_INSTITUTION, "Success", "fca_two"), NOW).await.unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn transactions_are_newest_first_within_180_days_with_unique_ids() {
        let s = sandbox();
        for (inst, name) in data_accounts(&s) {
            for seed in ["fca_a", "fca_b", "fca_c"] {
                let list = txns(&s, &inst, &name, seed, NOW).await;
                let at = format!("{inst} / {name} / {seed}");
                assert!(!list.is_empty(), "{at}: no transactions");
                assert!(list.windows(2).all(|w| w[0].transacted_at >= w[1].transacted_at), "{at}: order");
                for t in &list {
                    assert!(t.transacted_at <= NOW && t.transacted_at >= NOW - 180 * DAY, "{at}: {t:?}");
                    assert_ne!(t.amount, 0, "{at}: {t:?}");
                    assert!(!t.description.is_empty());
                    match t.status {
                        TransactionStatus::Pending => assert_eq!(t.status_changed_at, None),
                        TransactionStatus::Posted | TransactionStatus::Void => {
                            let changed = t.status_changed_at.unwrap();
                            assert!((DAY..2 * DAY).contains(&(changed - t.transacted_at)), "{at}: {t:?}");
                            assert!(changed <= NOW, "{at}: {t:?}");
                        }
                    }
                }
                let ids: HashSet<&str> = list.iter().map(|t| t.provider_id.as_str()).collect();
                assert_eq!(ids.len(), list.len(), "{at}: ids repeat");
            }
        }
    }

    #[tokio::test]
    async fn only_the_last_two_days_are_pending() {
        let s = sandbox();
        let list = txns(&s, TEST_INSTITUTION, "Success", "fca_pending", NOW).await;
        for t in &list {
            let age = NOW - t.transacted_at;
            if age < DAY {
                assert_eq!(t.status, TransactionStatus::Pending, "{t:?}");
            }
            if age >= 2 * DAY {
                assert_ne!(t.status, TransactionStatus::Pending, "{t:?}");
            }
        }
        assert!(list.iter().any(|t| t.status == TransactionStatus::Pending));
    }

    #[tokio::test]
    async fn old_transactions_stay_the_same_as_now_advances() {
        let s = sandbox();
        let before = txns(&s, TEST_INSTITUTION, "Success", "fca_stable", NOW).await;
        // Ten days later: what is still inside the window is unchanged, except pending → posted or void.
        let later = NOW + 10 * DAY + 12_345;
        let after = txns(&s, TEST_INSTITUTION, "Success", "fca_stable", later).await;
        let after_by_id: HashMap<&str, &TransactionData> = after.iter().map(|t| (t.provider_id.as_str(), t)).collect();
        let mut pending_seen = 0;
        for t in &before {
            let still_inside = t.transacted_at >= later - 180 * DAY;
            let Some(u) = after_by_id.get(t.provider_id.as_str()) else {
                assert!(!still_inside, "{t:?} disappeared");
                continue;
            };
            assert!(still_inside, "{t:?} should have left the window");
            assert_eq!((u.amount, &u.description, u.transacted_at), (t.amount, &t.description, t.transacted_at));
            assert_eq!(u.currency, t.currency);
            if t.status == TransactionStatus::Pending {
                pending_seen += 1;
                assert!(matches!(u.status, TransactionStatus::Posted | TransactionStatus::Void), "{u:?}");
                assert!(u.status_changed_at.is_some());
            } else {
                assert_eq!((u.status, u.status_changed_at), (t.status, t.status_changed_at));
            }
        }
        assert!(pending_seen > 0, "the example should have pending transactions");
        // The new days bring new transactions, and the oldest days are gone.
        assert!(after.iter().any(|t| t.transacted_at > NOW));
        assert!(before.iter().any(|t| t.transacted_at < later - 180 * DAY));
        // Going back in time by an hour changes nothing older than the hour.
        let earlier = txns(&s, TEST_INSTITUTION, "Success", "fca_stable", NOW - HOUR).await;
        let same: Vec<&TransactionData> = before.iter().filter(|t| t.transacted_at <= NOW - HOUR).collect();
        assert_eq!(
            earlier.iter().map(|t| &t.provider_id).collect::<Vec<_>>(),
            same.iter().map(|t| &t.provider_id).collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn every_pending_transaction_ends_posted_or_void_and_some_are_voided() {
        let s = sandbox();
        let mut voided = 0;
        let mut posted = 0;
        for seed in ["fca_v1", "fca_v2", "fca_v3", "fca_v4"] {
            for t in txns(&s, TEST_INSTITUTION, "Credit Card", seed, NOW).await {
                match t.status {
                    TransactionStatus::Void => voided += 1,
                    TransactionStatus::Posted => posted += 1,
                    TransactionStatus::Pending => {}
                }
            }
        }
        // About 1 card purchase in 15.
        let share = f64::from(voided) / f64::from(voided + posted);
        assert!((0.03..0.10).contains(&share), "void share {share}");
        // Payments, payroll, rent and transfers are never voided.
        for seed in ["fca_v1", "fca_v2"] {
            for t in txns(&s, TEST_INSTITUTION, "Success", seed, NOW).await {
                if t.status == TransactionStatus::Void {
                    assert!(t.amount < 0 && !t.description.contains("Payroll") && !t.description.contains("Rent"));
                }
            }
        }
    }

    #[tokio::test]
    async fn transaction_volumes_and_patterns_fit_the_account() {
        let s = sandbox();
        let count = |list: &[TransactionData], word: &str| list.iter().filter(|t| t.description.contains(word)).count();
        for seed in ["fca_a", "fca_b", "fca_c", "fca_d"] {
            for name in ["Success", "High Balance", "Joint Checking", "Credit Card", "Insufficient Funds"] {
                let n = txns(&s, TEST_INSTITUTION, name, seed, NOW).await.len();
                assert!((150..=560).contains(&n), "{name} / {seed}: {n} transactions");
            }
            for name in ["Mortgage", "Line of Credit", "Savings"] {
                let n = txns(&s, TEST_INSTITUTION, name, seed, NOW).await.len();
                assert!((3..=60).contains(&n), "{name} / {seed}: {n} transactions");
            }
            let success = txns(&s, TEST_INSTITUTION, "Success", seed, NOW).await;
            // Twice a month for about six months.
            assert!((11..=13).contains(&count(&success, "Payroll")), "{seed}");
            assert!((5..=7).contains(&count(&success, "Rent - ")), "{seed}");
            for t in success.iter().filter(|t| t.description.contains("Payroll")) {
                assert!(t.amount > 0);
                // Paid on a weekday.
                assert!(!Date::new(t.transacted_at.div_euclid(DAY)).weekend(), "{t:?}");
            }
            let card = txns(&s, TEST_INSTITUTION, "Credit Card", seed, NOW).await;
            assert!((5..=7).contains(&count(&card, "Payment - thank you")), "{seed}");
            assert!(card
                .iter()
                .filter(|t| t.amount > 0)
                .all(|t| t.description.contains("thank you") || t.description.contains("refund")));
            let mortgage = txns(&s, TEST_INSTITUTION, "Mortgage", seed, NOW).await;
            assert!(mortgage.iter().all(|t| t.amount > 0 && t.description.starts_with("Payment received")));
        }
    }

    #[tokio::test]
    async fn balances_fit_the_account() {
        let s = sandbox();
        for seed in ["fca_a", "fca_b", "fca_c", "fca_d", "fca_e", "fca_f"] {
            for now in [NOW, NOW + 3 * DAY + 7_777] {
                let b = |name: &'static str| {
                    let s = &s;
                    async move { s.balance(at(TEST_INSTITUTION, name, seed), now).await.unwrap() }
                };
                let cash = |d: BalanceData| match d.kind {
                    BalanceKind::Cash { current, available: Some(available) } => (current, available),
                    other => panic!("expected a cash balance, got {other:?}"),
                };
                let credit = |d: BalanceData| match d.kind {
                    BalanceKind::Credit { current, used: Some(used) } => (current, used),
                    other => panic!("expected a credit balance, got {other:?}"),
                };
                let success = b("Success").await;
                assert_eq!(success.currency, "usd");
                assert_eq!(success.as_of, now - now % 3_600);
                let (current, available) = cash(success);
                assert!((190_000..840_000).contains(&available) && available <= current, "{current} {available}");
                let (current, available) = cash(b("High Balance").await);
                assert!(available >= 25_000_000 && current >= available, "{current} {available}");
                let (current, available) = cash(b("Insufficient Funds").await);
                assert!((0..=500).contains(&available) && current >= available, "{current} {available}");
                let (current, _) = cash(b("Savings").await);
                assert!((900_000..4_200_000).contains(&current), "{current}");
                let (current, used) = credit(b("Credit Card").await);
                assert!(current < 0 && used >= -current && -current <= 400_000, "{current} {used}");
                let (current, used) = credit(b("Mortgage").await);
                assert!(current <= -18_000_000 && used == -current, "{current} {used}");
                let (current, used) = credit(b("Line of Credit").await);
                assert!((-1_600_000..-150_000).contains(&current) && used >= -current, "{current} {used}");
            }
        }
        let brokerage = s.balance(at(SANDBOX_OAUTH, "Brokerage", "fca_x"), NOW).await.unwrap();
        assert!(matches!(brokerage.kind, BalanceKind::Cash { .. }));
    }

    #[tokio::test]
    async fn the_canadian_bank_uses_cad() {
        let s = sandbox();
        for name in ["Chequing", "Savings", "Credit Card"] {
            let a = at(CANADA, name, "fca_ca");
            assert_eq!(s.balance(a.clone(), NOW).await.unwrap().currency, "cad");
            assert!(s.transactions(a.clone(), NOW).await.unwrap().iter().all(|t| t.currency == "cad"));
            for o in s.owners(a, NOW).await.unwrap() {
                assert!(o.raw_address.unwrap().ends_with(", CA"));
            }
        }
        let b = s.balance(at(CANADA, "Credit Card", "fca_ca"), NOW).await.unwrap();
        assert!(matches!(b.kind, BalanceKind::Credit { .. }));
        let b = s.balance(at(TEST_INSTITUTION, "Success", "fca_ca"), NOW).await.unwrap();
        assert_eq!(b.currency, "usd");
    }

    #[tokio::test]
    async fn credit_accounts_have_credit_balances_and_cash_accounts_cash_ones() {
        let s = sandbox();
        for (inst, name) in data_accounts(&s) {
            let category = s.accounts(&inst).into_iter().find(|a| a.name == name).unwrap().category;
            let b = s.balance(at(&inst, &name, "fca_kind"), NOW).await.unwrap();
            match b.kind {
                BalanceKind::Credit { current, .. } => {
                    assert_eq!(category, "credit", "{inst} / {name}");
                    assert!(current < 0);
                }
                BalanceKind::Cash { current, .. } => {
                    assert_ne!(category, "credit", "{inst} / {name}");
                    assert!(current >= 0);
                }
            }
        }
    }

    #[tokio::test]
    async fn owners_follow_the_ownership_accounts_purposes() {
        let s = sandbox();
        let seed = "fca_owners";
        let owners = |name: &'static str| {
            let s = &s;
            async move { s.owners(at(OWNERSHIP, name, seed), NOW).await }
        };
        let matched = owners("Owner Match").await.unwrap();
        assert_eq!(matched.len(), 1);
        let holder = &matched[0];
        assert!(holder.email.as_deref().unwrap().ends_with("@example.com"));
        assert!(holder.phone.as_deref().unwrap().starts_with("+1 555-"));
        assert!(holder.raw_address.as_deref().unwrap().ends_with(", US"));

        let mismatch = owners("Owner Name Mismatch").await.unwrap();
        assert_eq!(mismatch.len(), 1);
        assert!(mismatch[0].email.is_some() && mismatch[0].phone.is_some() && mismatch[0].raw_address.is_some());
        let first = |n: &str| n.split(' ').next().unwrap_or_default().to_owned();
        let last = |n: &str| n.split(' ').next_back().unwrap_or_default().to_owned();
        assert_ne!(first(&mismatch[0].name), first(&holder.name));
        assert_ne!(last(&mismatch[0].name), last(&holder.name));

        let partial = owners("Partial Owner Data").await.unwrap();
        assert_eq!(partial, [OwnerData { name: holder.name.clone(), email: None, phone: None, raw_address: None }]);
        assert_eq!(owners("No Owner Data").await.unwrap(), []);

        let multiple = owners("Multiple Owners").await.unwrap();
        assert_eq!(multiple.len(), 2);
        assert_eq!(&multiple[0], holder);
        assert_ne!(last(&multiple[1].name), last(&holder.name));

        assert!(matches!(owners("Ownership Refresh Fails").await, Err(FetchError::Refused(_))));
        // Its balances and transactions work.
        let a = at(OWNERSHIP, "Ownership Refresh Fails", seed);
        assert!(s.balance(a.clone(), NOW).await.is_ok());
        assert!(!s.transactions(a, NOW).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn ordinary_accounts_have_one_owner_and_joint_checking_two() {
        let s = sandbox();
        for (inst, name) in data_accounts(&s) {
            if inst == OWNERSHIP {
                continue;
            }
            let list = s.owners(at(&inst, &name, "fca_o"), NOW).await.unwrap();
            let expected = if name == "Joint Checking" { 2 } else { 1 };
            assert_eq!(list.len(), expected, "{inst} / {name}");
            assert!(list.iter().all(|o| o.email.is_some() && o.phone.is_some() && o.raw_address.is_some()));
        }
        let joint = s.owners(at(TEST_INSTITUTION, "Joint Checking", "fca_o"), NOW).await.unwrap();
        assert_ne!(joint[0].name, joint[1].name);
        assert_ne!(joint[0].email, joint[1].email);
        assert_eq!(joint[0].raw_address, joint[1].raw_address, "a household");
        // One seed, one holder.
        let success = s.owners(at(TEST_INSTITUTION, "Success", "fca_o"), NOW).await.unwrap();
        assert_eq!(success[0], joint[0]);
    }

    #[tokio::test]
    async fn failing_accounts_and_banks_refuse() {
        let s = sandbox();
        let refused = |r: Result<(), FetchError>| matches!(r, Err(FetchError::Refused(_)));
        let all_refused = |inst: &'static str, name: &'static str| {
            let s = &s;
            async move {
                let a = at(inst, name, "fca_fail");
                refused(s.balance(a.clone(), NOW).await.map(drop))
                    && refused(s.owners(a.clone(), NOW).await.map(drop))
                    && refused(s.transactions(a, NOW).await.map(drop))
            }
        };
        assert!(all_refused(TEST_INSTITUTION, "Refresh Fails").await);
        assert!(all_refused("fcinst_TestOAuthInstitution", "Refresh Fails").await);
        for down in ["fcinst_DownBankScheduled", "fcinst_DownBankUnscheduled", "fcinst_DownBankError"] {
            assert!(all_refused(down, "Checking").await, "{down}");
        }
        assert!(all_refused("fcinst_Nope", "Success").await);
        assert!(all_refused(TEST_INSTITUTION, "No Such Account").await);
        assert!(all_refused("routing_110000000", "Checking ••6789").await);
        let manual = s.balance(at("routing_110000000", "Checking ••6789", "fca_m"), NOW).await;
        assert_eq!(manual, Err(FetchError::Refused("manual entry accounts have no data".into())));
    }

    #[test]
    fn the_failing_accounts_are_the_ones_whose_purpose_says_so() {
        let s = sandbox();
        for inst in s.institutions() {
            for a in s.accounts(&inst.id) {
                let fails = a.name == "Refresh Fails" || a.name == "Ownership Refresh Fails";
                assert_eq!(a.purpose.contains("ends `failed`"), fails, "{} / {}", inst.name, a.name);
            }
        }
    }

    #[test]
    fn the_calendar_is_right() {
        // 2026-09-21 (NOW's day) is a Monday; 2024-02-29 exists; 2024-12-31 is the last of its month.
        let d = Date::new(NOW.div_euclid(DAY));
        assert_eq!((d.month, d.dom, d.weekday), (9, 21, 1));
        assert_eq!(month_day(19_782), (2, 29));
        assert!(Date::new(20_088).last_of_month);
        assert_eq!(month_day(20_089), (1, 1));
        assert_eq!(month_day(0), (1, 1));
        assert_eq!(weekday(0), 4);
        // 2026-11-15 is a Sunday: the 15th's payday moves to Friday the 13th.
        let fri = Date::new(20_770);
        assert_eq!((fri.month, fri.dom, fri.weekday), (11, 13, 5));
        assert!(fri.business_day_for(&[1, 15]));
        assert!(!Date::new(20_772).business_day_for(&[1, 15]));
    }
}
