//! An account's transactions as its file gives them: the listed ones and the generated series, as of `now`.
//! Everything is a function of the file and `now`: the same file always gives the same transactions with the
//! same ids, and advancing `now` (or a test clock) only adds what has happened since and settles what has
//! settled.

use finconn_core::provider::{TransactionData, TransactionStatus};

use super::check::{AccountFile, Series};
use super::doc::{EveryDoc, SeriesKindDoc};
use crate::calendar::{civil_from_days, days_from_civil};
use crate::data::{hash_strs, Rng};

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// The account's transactions that happened by `now`, newest first.
pub(crate) fn transactions(
    institution: &str,
    account: &str,
    data: &AccountFile,
    currency: &str,
    now: i64,
) -> Vec<TransactionData> {
    let mut out: Vec<(i64, String, TransactionData)> = Vec::new();
    let mut twins: std::collections::HashMap<(i64, i64, &str), u32> = std::collections::HashMap::new();
    for t in data.transactions.iter().flatten() {
        if t.transacted_at > now {
            continue;
        }
        let provider_id = match &t.id {
            Some(id) => format!("file:{id}"),
            None => {
                // The same date, amount and description twice are two transactions: count them.
                let n = twins.entry((t.transacted_at, t.amount, t.description.as_str())).or_insert(0);
                *n += 1;
                let h = hash_strs(&[
                    institution,
                    account,
                    &t.transacted_at.to_string(),
                    &t.amount.to_string(),
                    &t.description,
                    &n.to_string(),
                ]);
                format!("sbxf_{h:016x}")
            }
        };
        let (status, status_changed_at) = if t.status == TransactionStatus::Pending || now < t.settled_at {
            (TransactionStatus::Pending, None)
        } else {
            (t.status, Some(t.settled_at))
        };
        out.push((
            t.transacted_at,
            provider_id.clone(),
            TransactionData {
                provider_id,
                amount: t.amount,
                currency: currency.to_owned(),
                description: t.description.clone(),
                transacted_at: t.transacted_at,
                status,
                status_changed_at,
            },
        ));
    }
    for (index, s) in data.series.iter().enumerate() {
        for (at, amount, description, settles_at) in occurrences(institution, account, index, s, now) {
            let h = hash_strs(&[institution, account, "series", &index.to_string(), &at.to_string()]);
            let provider_id = format!("sbxs_{h:016x}");
            let (status, status_changed_at) = if now < settles_at {
                (TransactionStatus::Pending, None)
            } else {
                (TransactionStatus::Posted, Some(settles_at))
            };
            out.push((
                at,
                provider_id.clone(),
                TransactionData {
                    provider_id,
                    amount,
                    currency: currency.to_owned(),
                    description,
                    transacted_at: at,
                    status,
                    status_changed_at,
                },
            ));
        }
    }
    out.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
    out.into_iter().map(|(_, _, t)| t).collect()
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    u32::try_from(days_from_civil(ny, nm, 1) - days_from_civil(year, month, 1)).unwrap_or(28)
}

fn weekday(day: i64) -> i64 {
    (day + 4).rem_euclid(7)
}

/// A weekend day moved back to the Friday before (payroll is paid on business days).
fn business_day(day: i64) -> i64 {
    match weekday(day) {
        6 => day - 1,
        0 => day - 2,
        _ => day,
    }
}

/// (when, amount, description, when it settles) of each occurrence by `now`.
fn occurrences(institution: &str, account: &str, index: usize, s: &Series, now: i64) -> Vec<(i64, i64, String, i64)> {
    let last = s.end.map_or(now, |e| e.min(now));
    if last < s.start {
        return Vec::new();
    }
    let (first_day, last_day) = (s.start.div_euclid(DAY), last.div_euclid(DAY));
    let time_of_day = s.start.rem_euclid(DAY);
    let mut out = Vec::new();
    if s.kind == SeriesKindDoc::CardSpend {
        let (min, max) = (s.min.unwrap_or(1), s.max.unwrap_or(1));
        let per_week = s.per_week.unwrap_or(5);
        let key =
            hash_strs(&[institution, account, "card_spend", &index.to_string(), &s.seed.unwrap_or(0).to_string()]);
        for day in first_day..=last_day {
            let mut r = Rng::new(key, &[day as u64]);
            // per_week chances of 1 in 7 each: per_week / 7 purchases a day on average.
            let count = (0..per_week).filter(|_| r.below(7) == 0).count();
            for _ in 0..count {
                let at = day * DAY + r.range(8 * HOUR, 22 * HOUR - 1);
                let amount = -r.range(min, max);
                let merchant = &s.merchants[r.below(s.merchants.len() as u64) as usize];
                if at >= s.start && at <= last {
                    out.push((at, amount, merchant.clone(), at + DAY));
                }
            }
        }
        return out;
    }
    let amount = match s.kind {
        SeriesKindDoc::Rent => -s.amount.unwrap_or(0),
        _ => s.amount.unwrap_or(0),
    };
    let description = s.description.clone().unwrap_or_default();
    let payroll = s.kind == SeriesKindDoc::Payroll;
    let mut days: Vec<i64> = Vec::new();
    match s.every.unwrap_or(EveryDoc::Month) {
        EveryDoc::Day => days.extend(first_day..=last_day),
        EveryDoc::Week => days.extend((first_day..=last_day).step_by(7)),
        EveryDoc::TwoWeeks => days.extend((first_day..=last_day).step_by(14)),
        EveryDoc::SemiMonth | EveryDoc::Month => {
            let (mut y, mut m, _) = civil_from_days(first_day);
            loop {
                let doms: Vec<u32> = match s.every {
                    Some(EveryDoc::SemiMonth) => vec![1, 15],
                    _ => vec![s.day.unwrap_or(1).min(days_in_month(y, m))],
                };
                let month_start = days_from_civil(y, m, 1);
                if month_start > last_day + 3 {
                    break;
                }
                for dom in doms {
                    days.push(month_start + i64::from(dom) - 1);
                }
                (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            }
        }
    }
    for day in days {
        let day = if payroll { business_day(day) } else { day };
        let at = day * DAY + time_of_day;
        if at >= s.start && at <= last {
            out.push((at, amount, description.clone(), at));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::check::FileTransaction;

    const JAN_1_2026: i64 = 1_767_225_600;

    fn series(kind: SeriesKindDoc, every: EveryDoc) -> Series {
        Series {
            kind,
            description: Some("ACME PAYROLL".into()),
            amount: Some(250_000),
            every: Some(every),
            day: (every == EveryDoc::Month).then_some(1),
            min: None,
            max: None,
            per_week: None,
            merchants: Vec::new(),
            seed: None,
            start: JAN_1_2026 + 12 * HOUR,
            end: None,
        }
    }

    fn run(s: Series, now: i64) -> Vec<TransactionData> {
        transactions("fcinst_X", "Checking", &AccountFile { series: vec![s], ..Default::default() }, "usd", now)
    }

    #[test]
    fn payroll_on_the_first_and_fifteenth_moved_off_weekends() {
        let now = JAN_1_2026 + 90 * DAY;
        let txns = run(series(SeriesKindDoc::Payroll, EveryDoc::SemiMonth), now);
        let days: Vec<(i64, u32, u32)> = txns.iter().rev().map(|t| civil_from_days(t.transacted_at / DAY)).collect();
        // 2026-02-01 and 2026-03-01 are Sundays: paid on the Fridays before; 2026-02-15 too (Sunday).
        assert_eq!(days, [(2026, 1, 1), (2026, 1, 15), (2026, 1, 30), (2026, 2, 13), (2026, 2, 27), (2026, 3, 13)]);
        assert!(txns.iter().all(|t| t.amount == 250_000 && t.status == TransactionStatus::Posted));
    }

    #[test]
    fn rent_is_taken_out_on_the_day_clamped_to_short_months() {
        let mut s = series(SeriesKindDoc::Rent, EveryDoc::Month);
        s.day = Some(31);
        s.description = Some("RENT".into());
        let txns = run(s, JAN_1_2026 + 70 * DAY);
        let days: Vec<(i64, u32, u32)> = txns.iter().rev().map(|t| civil_from_days(t.transacted_at / DAY)).collect();
        assert_eq!(days, [(2026, 1, 31), (2026, 2, 28)]);
        assert!(txns.iter().all(|t| t.amount == -250_000));
    }

    #[test]
    fn card_spend_is_deterministic_and_settles_a_day_later() {
        let s = Series {
            kind: SeriesKindDoc::CardSpend,
            description: None,
            amount: None,
            every: None,
            day: None,
            min: Some(500),
            max: Some(9_000),
            per_week: Some(7),
            merchants: vec!["A".into(), "B".into()],
            seed: Some(42),
            start: JAN_1_2026,
            end: None,
        };
        let now = JAN_1_2026 + 70 * DAY;
        let a = run(s.clone(), now);
        assert_eq!(a, run(s.clone(), now));
        assert!((40..=100).contains(&a.len()), "about one a day: {}", a.len());
        assert!(a.iter().all(|t| (-9_000..=-500).contains(&t.amount)));
        assert!(a.iter().filter(|t| t.transacted_at > now - DAY).all(|t| t.status == TransactionStatus::Pending));
        assert!(a.iter().filter(|t| t.transacted_at <= now - DAY).all(|t| t.status == TransactionStatus::Posted));
        // Later, the same purchases with the same ids, plus new ones.
        let later = run(s.clone(), now + 10 * DAY);
        for t in a.iter().filter(|t| t.status == TransactionStatus::Posted) {
            assert!(later.contains(t), "{t:?}");
        }
        let mut other = s;
        other.seed = Some(43);
        assert_ne!(run(other, now), a, "another seed, other purchases");
    }

    #[test]
    fn listed_transactions_appear_when_they_happen_and_settle_when_they_settle() {
        let t = |at: i64, settled: i64, status| FileTransaction {
            id: None,
            amount: -1_000,
            description: "Coffee".into(),
            transacted_at: at,
            status,
            settled_at: settled,
        };
        let data = AccountFile {
            transactions: Some(vec![
                t(JAN_1_2026, JAN_1_2026 + DAY, TransactionStatus::Posted),
                t(JAN_1_2026, JAN_1_2026 + DAY, TransactionStatus::Posted),
                t(JAN_1_2026 + 5 * DAY, JAN_1_2026 + 5 * DAY, TransactionStatus::Void),
            ]),
            ..Default::default()
        };
        let at = |now| transactions("fcinst_X", "A", &data, "usd", now);
        assert_eq!(at(JAN_1_2026 - 1), vec![]);
        let first = at(JAN_1_2026 + 10);
        assert_eq!(first.len(), 2);
        assert_ne!(first[0].provider_id, first[1].provider_id, "twins are two transactions");
        assert!(first.iter().all(|t| t.status == TransactionStatus::Pending));
        let later = at(JAN_1_2026 + 6 * DAY);
        assert_eq!(later.len(), 3);
        assert_eq!(later[0].status, TransactionStatus::Void);
        assert_eq!(later[1].status, TransactionStatus::Posted);
        assert_eq!(later[1].status_changed_at, Some(JAN_1_2026 + DAY));
        assert_eq!(later[2].provider_id, first[1].provider_id);
    }
}
