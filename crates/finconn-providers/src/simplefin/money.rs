//! Exact amounts: SimpleFIN sends decimal strings ("-33293.43"); Stripe wants integer minor units of the
//! currency. Converted digit by digit, never through floating point; a currency the server defines itself
//! (a URL) is `Other`, never guessed.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Currency {
    /// Lowercase ISO 4217 code and its number of decimals.
    Iso {
        code: String,
        exponent: u32,
    },
    Other,
}

pub fn currency(s: &str) -> Currency {
    let t = s.trim();
    if t.len() != 3 || !t.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Currency::Other;
    }
    let code = t.to_ascii_lowercase();
    let exponent = match code.as_str() {
        "bif" | "clp" | "djf" | "gnf" | "isk" | "jpy" | "kmf" | "krw" | "pyg" | "rwf" | "ugx" | "vnd" | "vuv"
        | "xaf" | "xof" | "xpf" => 0,
        "bhd" | "iqd" | "jod" | "kwd" | "lyd" | "omr" | "tnd" => 3,
        "clf" => 4,
        _ => 2,
    };
    Currency::Iso { code, exponent }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("not a decimal amount")]
    NotDecimal,
    #[error("more decimal places than the currency has")]
    TooPrecise,
    #[error("amount out of range")]
    OutOfRange,
}

pub fn to_minor_units(s: &str, exponent: u32) -> Result<i64, AmountError> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
        return Err(AmountError::NotDecimal);
    }
    let exp = exponent as usize;
    let (kept, extra) = if frac.len() > exp { frac.split_at(exp) } else { (frac, "") };
    if extra.bytes().any(|b| b != b'0') {
        return Err(AmountError::TooPrecise);
    }
    let mut value: i64 = 0;
    let padded = format!("{kept:0<exp$}");
    for b in whole.bytes().chain(padded.bytes()) {
        value =
            value.checked_mul(10).and_then(|v| v.checked_add(i64::from(b - b'0'))).ok_or(AmountError::OutOfRange)?;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_convert_exactly() {
        assert_eq!(to_minor_units("-33293.43", 2), Ok(-3_329_343));
        assert_eq!(to_minor_units("100", 2), Ok(10_000));
        assert_eq!(to_minor_units("+5.5", 2), Ok(550));
        assert_eq!(to_minor_units("0.10", 2), Ok(10));
        assert_eq!(to_minor_units(" 12.30 ", 2), Ok(1230));
        assert_eq!(to_minor_units("12.300", 2), Ok(1230));
        assert_eq!(to_minor_units(".5", 2), Ok(50));
        assert_eq!(to_minor_units("-980", 0), Ok(-980));
        assert_eq!(to_minor_units("1.234", 3), Ok(1234));
        assert_eq!(to_minor_units("0.1", 2), Ok(10), "0.1 is not 0.1000000000000000055");
        assert_eq!(to_minor_units("12.345", 2), Err(AmountError::TooPrecise));
        assert_eq!(to_minor_units("", 2), Err(AmountError::NotDecimal));
        assert_eq!(to_minor_units("1e5", 2), Err(AmountError::NotDecimal));
        assert_eq!(to_minor_units("1,000.00", 2), Err(AmountError::NotDecimal));
        assert_eq!(to_minor_units("--1", 2), Err(AmountError::NotDecimal));
        assert_eq!(to_minor_units("99999999999999999999", 2), Err(AmountError::OutOfRange));
    }

    #[test]
    fn currencies_know_their_decimals() {
        assert_eq!(currency("USD"), Currency::Iso { code: "usd".into(), exponent: 2 });
        assert_eq!(currency("JPY"), Currency::Iso { code: "jpy".into(), exponent: 0 });
        assert_eq!(currency("kwd"), Currency::Iso { code: "kwd".into(), exponent: 3 });
        assert_eq!(currency("https://www.example.com/flight-miles.json"), Currency::Other);
        assert_eq!(currency("US"), Currency::Other);
    }

    proptest! {
        #[test]
        fn formatting_then_parsing_gives_the_minor_units_back(m in -1_000_000_000_000i64..1_000_000_000_000, exponent in 0u32..=3) {
            let div = 10i64.pow(exponent);
            let sign = if m < 0 { "-" } else { "" };
            let abs = m.unsigned_abs();
            let text = if exponent == 0 {
                format!("{sign}{abs}")
            } else {
                format!("{sign}{}.{:0w$}", abs / div.unsigned_abs(), abs % div.unsigned_abs(), w = exponent as usize)
            };
            prop_assert_eq!(to_minor_units(&text, exponent), Ok(m));
        }
    }
}
