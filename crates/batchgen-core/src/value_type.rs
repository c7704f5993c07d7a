//! The typed conversions shared by placeholders (`{{number zoom}}`) and binding suffixes
//! (`/scenes/0/clips/0/scaleX:number`): a CSV cell is text, these turn it into a JSON value.

use std::fmt::Write as _;

/// A JSON type a cell can be turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// Any JSON number: `12`, `-0.5`, `1e3` (also `+1`, `.5`, `5.`).
    Number,
    /// An integer: `12`, `-3` (also `3.0`).
    Int,
    /// `true`/`false`, also `yes`/`no`, `y`/`n`, `1`/`0`, `on`/`off`, any case.
    Bool,
    /// Any JSON document, written compactly.
    Json,
}

impl ValueType {
    /// The helper name / suffix that selects this type.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Number => "number",
            ValueType::Int => "int",
            ValueType::Bool => "bool",
            ValueType::Json => "json",
        }
    }

    /// The type named `name` (`number`, `int`, `bool`, `json`).
    pub fn from_name(name: &str) -> Option<ValueType> {
        match name {
            "number" => Some(ValueType::Number),
            "int" => Some(ValueType::Int),
            "bool" => Some(ValueType::Bool),
            "json" => Some(ValueType::Json),
            _ => None,
        }
    }

    /// Appends the JSON text for `cell` to `out`, or says why the cell is not of this type.
    /// Surrounding whitespace is ignored. On error `out` is unchanged.
    ///
    /// ```
    /// use batchgen_core::ValueType;
    /// let mut out = String::new();
    /// ValueType::Number.write_json(" 1.50 ", &mut out).unwrap();
    /// assert_eq!(out, "1.50");
    /// assert!(ValueType::Int.write_json("1.5", &mut String::new()).is_err());
    /// ```
    pub fn write_json(self, cell: &str, out: &mut String) -> Result<(), String> {
        self.write_json_as(cell, false, out)
    }

    /// [`write_json`](Self::write_json), with `decimal_comma` reading a `,` as the decimal
    /// separator of a number (`0,12` is 0.12, as spreadsheets in many locales write it; a `.`
    /// still works, thousands separators do not). Without it, a number written with a decimal
    /// comma is refused with a hint saying so.
    ///
    /// ```
    /// use batchgen_core::ValueType;
    /// let mut out = String::new();
    /// ValueType::Number.write_json_as("0,12", true, &mut out).unwrap();
    /// assert_eq!(out, "0.12");
    /// let e = ValueType::Number.write_json_as("0,12", false, &mut String::new()).unwrap_err();
    /// assert!(e.contains("decimal comma"));
    /// ```
    pub fn write_json_as(
        self,
        cell: &str,
        decimal_comma: bool,
        out: &mut String,
    ) -> Result<(), String> {
        let trimmed = cell.trim();
        let comma = matches!(self, ValueType::Number | ValueType::Int) && trimmed.contains(',');
        if comma && decimal_comma {
            if trimmed.contains('.') || trimmed.matches(',').count() > 1 {
                return Err(format!(
                    "{} has thousands separators: write the number without them, e.g. 1234,5",
                    shown(cell)
                ));
            }
            let dotted = trimmed.replace(',', ".");
            return self
                .write_json_as(&dotted, false, out)
                .map_err(|_| format!("{} is not {}", shown(cell), self.article()));
        }
        let result = self.write_plain(trimmed, cell, out);
        match result {
            Err(e) if comma && is_decimal_comma(trimmed) => Err(format!(
                "{e}: it has a decimal comma (write {}, or have decimal commas read with --decimal-comma)",
                trimmed.replace(',', ".")
            )),
            other => other,
        }
    }

    fn article(self) -> &'static str {
        match self {
            ValueType::Number => "a number",
            ValueType::Int => "an integer",
            ValueType::Bool => "a boolean",
            ValueType::Json => "JSON",
        }
    }

    fn write_plain(self, text: &str, cell: &str, out: &mut String) -> Result<(), String> {
        match self {
            ValueType::Number => {
                if is_json_number(text) && text.parse::<f64>().is_ok_and(f64::is_finite) {
                    out.push_str(text);
                    return Ok(());
                }
                match text.parse::<f64>() {
                    Ok(f) if f.is_finite() && !text.is_empty() && looks_numeric(text) => {
                        write_f64(f, out);
                        Ok(())
                    }
                    _ => Err(format!("{} is not a number", shown(cell))),
                }
            }
            ValueType::Int => {
                if let Ok(i) = text.parse::<i64>() {
                    let _ = write!(out, "{i}");
                    return Ok(());
                }
                if let Ok(u) = text.parse::<u64>() {
                    let _ = write!(out, "{u}");
                    return Ok(());
                }
                match text.parse::<f64>() {
                    Ok(f)
                        if looks_numeric(text)
                            && f.is_finite()
                            && f.fract() == 0.0
                            && f.abs() < 9.007_199_254_740_992e15 =>
                    {
                        let _ = write!(out, "{}", f as i64);
                        Ok(())
                    }
                    _ => Err(format!("{} is not an integer", shown(cell))),
                }
            }
            ValueType::Bool => {
                let b = match text.to_ascii_lowercase().as_str() {
                    "true" | "yes" | "y" | "1" | "on" => true,
                    "false" | "no" | "n" | "0" | "off" => false,
                    _ => {
                        return Err(format!(
                            "{} is not a boolean (write true or false)",
                            shown(cell)
                        ));
                    }
                };
                out.push_str(if b { "true" } else { "false" });
                Ok(())
            }
            ValueType::Json => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) => {
                    out.push_str(&v.to_string());
                    Ok(())
                }
                Err(e) => Err(format!("{} is not JSON ({e})", shown(cell))),
            },
        }
    }
}

/// `true` for `0,12`, `-3,5`, `1,0`: digits, one comma, digits.
fn is_decimal_comma(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    match digits.split_once(',') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// The cell as shown in messages: quoted, cut to 60 characters, or "an empty cell".
pub(crate) fn shown(cell: &str) -> String {
    if cell.trim().is_empty() {
        return "an empty cell".into();
    }
    let cut: String = cell.chars().take(60).collect();
    if cut.len() < cell.len() {
        format!("{cut:?}…")
    } else {
        format!("{cell:?}")
    }
}

fn looks_numeric(text: &str) -> bool {
    // f64::from_str accepts "inf", "NaN", "infinity": JSON cannot carry them.
    text.bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
}

fn write_f64(f: f64, out: &mut String) {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        let _ = write!(out, "{}", f as i64);
    } else {
        let n = serde_json::Number::from_f64(f).expect("finite");
        let _ = write!(out, "{n}");
    }
}

/// `true` when `text` is exactly a JSON number literal (RFC 8259 grammar).
fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(c) if c.is_ascii_digit() => {
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(t: ValueType, cell: &str) -> Result<String, String> {
        let mut out = String::new();
        t.write_json(cell, &mut out).map(|()| out)
    }

    #[test]
    fn numbers() {
        assert_eq!(json(ValueType::Number, "12").unwrap(), "12");
        assert_eq!(json(ValueType::Number, "-0.25").unwrap(), "-0.25");
        assert_eq!(json(ValueType::Number, "1e3").unwrap(), "1e3");
        assert_eq!(json(ValueType::Number, "+1").unwrap(), "1");
        assert_eq!(json(ValueType::Number, ".5").unwrap(), "0.5");
        assert_eq!(json(ValueType::Number, " 5. ").unwrap(), "5");
        for bad in ["abc", "", "NaN", "inf", "1,5", "0x10", "1e999"] {
            assert!(json(ValueType::Number, bad).is_err(), "{bad}");
        }
        assert!(
            json(ValueType::Number, "abc")
                .unwrap_err()
                .contains("\"abc\" is not a number")
        );
    }

    #[test]
    fn ints() {
        assert_eq!(json(ValueType::Int, "7").unwrap(), "7");
        assert_eq!(json(ValueType::Int, "-7").unwrap(), "-7");
        assert_eq!(json(ValueType::Int, "3.0").unwrap(), "3");
        assert_eq!(
            json(ValueType::Int, "18446744073709551615").unwrap(),
            "18446744073709551615"
        );
        for bad in ["1.5", "x", "", "1e400"] {
            assert!(json(ValueType::Int, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_commas() {
        let e = json(ValueType::Number, "0,12").unwrap_err();
        assert_eq!(
            e,
            "\"0,12\" is not a number: it has a decimal comma (write 0.12, or have decimal commas read with --decimal-comma)"
        );
        assert!(
            json(ValueType::Int, "3,0")
                .unwrap_err()
                .contains("decimal comma")
        );
        assert!(
            !json(ValueType::Number, "1,2,3")
                .unwrap_err()
                .contains("decimal comma")
        );
        let comma = |t: ValueType, c: &str| {
            let mut out = String::new();
            t.write_json_as(c, true, &mut out).map(|()| out)
        };
        assert_eq!(comma(ValueType::Number, " 0,12 ").unwrap(), "0.12");
        assert_eq!(comma(ValueType::Number, "-1,5").unwrap(), "-1.5");
        assert_eq!(comma(ValueType::Number, "2.5").unwrap(), "2.5");
        assert_eq!(comma(ValueType::Int, "3,0").unwrap(), "3");
        assert!(
            comma(ValueType::Number, "1.234,5")
                .unwrap_err()
                .contains("thousands")
        );
        assert!(
            comma(ValueType::Number, "a,b")
                .unwrap_err()
                .contains("is not a number")
        );
        assert_eq!(comma(ValueType::Json, "[1,2]").unwrap(), "[1,2]");
    }

    #[test]
    fn bools() {
        for t in ["true", "TRUE", "yes", "Y", "1", "on"] {
            assert_eq!(json(ValueType::Bool, t).unwrap(), "true");
        }
        for f in ["false", "No", "n", "0", "OFF"] {
            assert_eq!(json(ValueType::Bool, f).unwrap(), "false");
        }
        assert!(json(ValueType::Bool, "maybe").is_err());
    }

    #[test]
    fn json_cells_are_reserialised_compactly() {
        assert_eq!(
            json(ValueType::Json, " {\"a\": [1, 2]} ").unwrap(),
            "{\"a\":[1,2]}"
        );
        assert_eq!(json(ValueType::Json, "\"x\"").unwrap(), "\"x\"");
        assert!(json(ValueType::Json, "{").is_err());
    }
}
