//! What a new password must be, wherever one is set (sign-up through the API or the page,
//! `create-admin`, the bootstrap admin): 10 to 256 characters, not only whitespace, and not one
//! of the most common passwords.
//!
//! The common passwords are the list that ships with the `zxcvbn` crate (the 30,000 most
//! frequent passwords of the leaks zxcvbn was built from; MIT licence; 1,090 of them have 10
//! characters or more). zxcvbn does not hand the list out: it reads a password as the cheapest
//! sequence of list entries, dictionary words, names, dates, keyboard walks and repeats, and
//! estimates the guesses an attacker needs. A password is refused when that reading is one
//! list entry, whole (ignoring case), or when the estimate is under a million guesses
//! (zxcvbn's score 0 or 1). Every list entry is under that bound, whatever the reading (the
//! list has 30,000 entries, so an entry costs at most 30,000 guesses as itself), so the second
//! test holds the list whole; the first only names the rule more plainly.

use zxcvbn::matching::patterns::MatchPattern;

use crate::problem::Problem;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 10;

/// Longest accepted password, in characters (bounds the hashing work a request can cause).
pub const MAX_PASSWORD_CHARS: usize = 256;

/// The field every refusal names.
const FIELD: &str = "password";

/// Checks a new password against the rules above.
///
/// # Errors
/// A 422 [`Problem`] on `password` whose detail names the rule broken.
pub fn check_password_rules(password: &str) -> Result<(), Problem> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(Problem::validation(
            FIELD,
            format!("must be at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(Problem::validation(
            FIELD,
            format!("must be at most {MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if password.chars().all(char::is_whitespace) {
        return Err(Problem::validation(
            FIELD,
            "must not be only spaces or other whitespace",
        ));
    }
    match guessability(password) {
        Guessability::Common => Err(Problem::validation(
            FIELD,
            "is one of the most common passwords, which are guessed first; choose another",
        )),
        Guessability::Weak => Err(Problem::validation(
            FIELD,
            "is too easy to guess: it is, or is made of, common passwords, words, names, dates \
             or keyboard patterns; choose a longer, less predictable one",
        )),
        Guessability::Fine => Ok(()),
    }
}

/// How zxcvbn reads a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guessability {
    /// One entry of the common-password list, whole.
    Common,
    /// Under a million guesses (zxcvbn's score 0 or 1), which every list entry is.
    Weak,
    /// Neither.
    Fine,
}

fn guessability(password: &str) -> Guessability {
    // zxcvbn reads at most the first 100 characters; a longer password is in no list and
    // takes more than a million guesses.
    let chars = password.chars().count();
    if chars > 100 {
        return Guessability::Fine;
    }
    let entropy = zxcvbn::zxcvbn(password, &[]);
    if is_one_list_entry(&entropy, chars) {
        return Guessability::Common;
    }
    match entropy.score() {
        zxcvbn::Score::Zero | zxcvbn::Score::One => Guessability::Weak,
        zxcvbn::Score::Two | zxcvbn::Score::Three | zxcvbn::Score::Four => Guessability::Fine,
        // `Score` is not exhaustive: a finer score than today's five is not "weak" by itself.
        _ => Guessability::Fine,
    }
}

/// Whether zxcvbn read the whole password (of `chars` characters) as one entry of its
/// common-password list.
fn is_one_list_entry(entropy: &zxcvbn::Entropy, chars: usize) -> bool {
    let last = chars.saturating_sub(1);
    match entropy.sequence() {
        // zxcvbn does not export the type of `dictionary_name`; its default is the password
        // list (`DictionaryType::Passwords`), which the tests below hold it to.
        [only] if only.i == 0 && only.j == last => matches!(
            &only.pattern,
            MatchPattern::Dictionary(word)
                if word.dictionary_name == Default::default() && !word.reversed
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(password: &str) -> String {
        let problem = check_password_rules(password).unwrap_err();
        assert_eq!(problem.field(), Some("password"));
        problem.detail().to_owned()
    }

    #[test]
    fn each_rule_is_named() {
        assert!(refusal("nine char").contains("at least 10 characters"));
        assert!(refusal(&"x".repeat(257)).contains("at most 256 characters"));
        assert!(refusal("            ").contains("whitespace"));
        assert!(refusal("\t \u{a0}\u{3000}         ").contains("whitespace"));
        assert!(refusal("1234567890").contains("most common passwords"));
        assert!(refusal("aaaaaaaaaaaa").contains("too easy to guess"));
        assert!(refusal(&"é".repeat(100)).contains("too easy to guess"));
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for (common, reading) in [
            ("1234567890", Guessability::Common),
            ("qwertyuiop", Guessability::Common),
            ("password123", Guessability::Common),
            ("PASSWORD123", Guessability::Common),
            ("1q2w3e4r5t", Guessability::Common),
            ("liverpool1", Guessability::Common),
            // Entry 19,913 of the list, which zxcvbn reads more cheaply as `iloveyou` + `123`.
            ("iloveyou123", Guessability::Weak),
            ("ILoveYou123", Guessability::Weak),
        ] {
            assert_eq!(guessability(common), reading, "{common}");
            assert!(check_password_rules(common).is_err(), "{common}");
        }
    }

    #[test]
    fn the_passwords_of_the_docs_and_tests_are_accepted() {
        for fine in [
            "long enough",
            "other password",
            "correct horse battery staple",
            "correct-horse-battery",
            "patient-password",
            "another-password",
            "admin-password",
            "new-admin-password",
            "a-long-password",
            "bootstrap-password",
            "contract-admin-password",
            "slot-rush benchmark patient",
            "patient-password-1",
            "admin-password-1",
            "a fine long password",
            "a long, uncommon one",
            "the clinic's own phrase",
            "Tr0ub4dor&3x",
            "Zoë’s appointment — 2030",
        ] {
            assert!(
                check_password_rules(fine).is_ok(),
                "{fine} should be accepted: {:?}",
                check_password_rules(fine)
            );
        }
    }
}
