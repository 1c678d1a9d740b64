//! The `MediSlot-Read-After` request header on the listings that may read the replica (slots,
//! availability, next available, doctors), read strictly: a position that is sent is used or
//! refused with 422, never dropped. The refusal comes from the operation, after routing, so a
//! request to a route or method the API does not serve still gets its 404 or 405.

use medislot_pg::consistency::WalPosition;
use poem::Request;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};

use super::header_param::optional_header_param;
use crate::problem::Problem;
use crate::read_your_writes;

/// The shape of a position, as the document states it: PostgreSQL's LSN text, two
/// hexadecimal numbers of 1 to 8 digits (what [`WalPosition`] parses).
const PATTERN: &str = "^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$";

/// The caller's `MediSlot-Read-After`, if it sent one (as an operation argument, documented as
/// an optional header parameter; name it with `#[oai(name = "MediSlot-Read-After")]`). The
/// position itself is applied by the `read_your_writes` middleware, around the operation.
#[derive(Debug, Clone)]
pub(crate) struct ReadAfterHeader {
    /// The position's text, for poem-openapi's validators.
    raw: Option<String>,
}

impl ReadAfterHeader {
    fn read(request: &Request) -> Result<Self, Problem> {
        let position: Option<WalPosition> = read_your_writes::read_after_header(request)?;
        Ok(Self {
            raw: position.map(|position| position.to_string()),
        })
    }
}

optional_header_param!(
    ReadAfterHeader,
    schema: MetaSchemaRef::Inline(Box::new(MetaSchema {
        pattern: Some(PATTERN.to_owned()),
        ..MetaSchema::new("string")
    })),
    read: ReadAfterHeader::read,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_pattern_accepts_what_the_server_reads_and_nothing_else() {
        let pattern = regex::Regex::new(PATTERN).unwrap();
        for good in ["0/0", "16/B374D848", "ffffffff/FFFFFFFF"] {
            assert!(pattern.is_match(good), "{good:?}");
            assert!(good.parse::<WalPosition>().is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "latest",
            "16/B374D848/0",
            "123456789/0",
            "-1/0",
            "1/",
            "/1",
        ] {
            assert!(!pattern.is_match(bad), "{bad:?}");
            assert!(bad.trim().parse::<WalPosition>().is_err(), "{bad:?}");
        }
    }
}
