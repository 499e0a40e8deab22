//! Quoting for POSIX shells: every word ftbench writes into a script from a suite, a path or
//! an option goes through here.

/// `s` as one shell word: bare when it holds only characters no shell treats specially,
/// otherwise in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    #[test]
    fn quotes_what_a_shell_would_read() {
        assert_eq!(shell_quote("suites/a.yaml"), "suites/a.yaml");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("`x`;y|z&\n"), "'`x`;y|z&\n'");
    }
}
