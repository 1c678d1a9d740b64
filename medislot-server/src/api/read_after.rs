//! The `MediSlot-Read-After` request header on the listings that may read the replica (slots,
//! availability, next available, doctors), read strictly: a position that is sent is used or
//! refused with 422, never dropped. The refusal comes from the operation, after routing, so a
//! request to a route or method the API does not serve still gets its 404 or 405.

use medislot_pg::consistency::WalPosition;
use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaParamIn, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

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

impl<'a> ApiExtractor<'a> for ReadAfterHeader {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::Parameter];
    const PARAM_IS_REQUIRED: bool = false;

    type ParamType = String;
    type ParamRawType = String;

    fn register(registry: &mut Registry) {
        <String as Type>::register(registry);
    }

    fn param_in() -> Option<MetaParamIn> {
        Some(MetaParamIn::Header)
    }

    fn param_schema_ref() -> Option<MetaSchemaRef> {
        Some(MetaSchemaRef::Inline(Box::new(MetaSchema {
            pattern: Some(PATTERN.to_owned()),
            ..MetaSchema::new("string")
        })))
    }

    fn param_raw_type(&self) -> Option<&Self::ParamRawType> {
        self.raw.as_ref()
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let position: Option<WalPosition> = read_your_writes::read_after_header(request)?;
        Ok(Self {
            raw: position.map(|position| position.to_string()),
        })
    }
}

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
