//! Kubernetes resource quantities (`11Gi`, `500M`, `0.5Gi`, `1e9`) to bytes.

/// Parse a quantity into a whole number of units (bytes for memory), rounding up.
pub fn parse_quantity(q: &str) -> Result<u64, String> {
    quantity_value(q).map(|v| v.ceil() as u64)
}

/// A quantity's exact value in units (cores for cpu: `500m` is 0.5), for comparing two
/// quantities (a request and its limit) without rounding either.
pub fn quantity_value(q: &str) -> Result<f64, String> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{q:?} is not a quantity (e.g. 512Mi, 11Gi)"))?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "m" => 0.001,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        s if s.starts_with(['e', 'E']) => {
            let exp: i32 = s[1..]
                .parse()
                .map_err(|_| format!("{q:?} is not a quantity (e.g. 512Mi, 11Gi)"))?;
            10f64.powi(exp)
        }
        _ => return Err(format!("{q:?} is not a quantity (e.g. 512Mi, 11Gi)")),
    };
    let v = value * factor;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{q:?} must be a non-negative quantity"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::parse_quantity;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("11Gi").unwrap(), 11 << 30);
        assert_eq!(parse_quantity("512Mi").unwrap(), 512 << 20);
        assert_eq!(parse_quantity("0.5Gi").unwrap(), 512 << 20);
        assert_eq!(parse_quantity("1G").unwrap(), 1_000_000_000);
        assert_eq!(parse_quantity("1e3").unwrap(), 1000);
        assert_eq!(parse_quantity("200m").unwrap(), 1);
        assert!(parse_quantity("lots").is_err());
        assert!(parse_quantity("1Qi").is_err());
        assert!(parse_quantity("-1Gi").is_err());
    }
}
