//! Optional request headers read strictly, as operation arguments: poem-openapi documents each
//! as an optional header parameter, while the header's own reader decides what a sent value
//! means (used, or refused with a 422 naming the header). poem-openapi's own header parameter
//! would skip a value that is not visible ASCII and take the first of two.

/// Implements [`poem_openapi::ApiExtractor`] for `$header`, a struct with a field
/// `raw: Option<String>` (the value's text, which poem-openapi's validators check), documented
/// with the schema `$schema` (a [`MetaSchemaRef`](poem_openapi::registry::MetaSchemaRef)) and
/// read by `$read`, a `fn(&poem::Request) -> Result<$header, E>` with `E` into `poem::Error`.
macro_rules! optional_header_param {
    ($header:ty, schema: $schema:expr, read: $read:expr $(,)?) => {
        impl<'a> poem_openapi::ApiExtractor<'a> for $header {
            const TYPES: &'static [poem_openapi::ApiExtractorType] =
                &[poem_openapi::ApiExtractorType::Parameter];
            const PARAM_IS_REQUIRED: bool = false;

            type ParamType = String;
            type ParamRawType = String;

            fn register(registry: &mut poem_openapi::registry::Registry) {
                <String as poem_openapi::types::Type>::register(registry);
            }

            fn param_in() -> Option<poem_openapi::registry::MetaParamIn> {
                Some(poem_openapi::registry::MetaParamIn::Header)
            }

            fn param_schema_ref() -> Option<poem_openapi::registry::MetaSchemaRef> {
                Some($schema)
            }

            fn param_raw_type(&self) -> Option<&Self::ParamRawType> {
                self.raw.as_ref()
            }

            async fn from_request(
                request: &'a poem::Request,
                _body: &mut poem::RequestBody,
                _param_opts: poem_openapi::ExtractParamOptions<Self::ParamType>,
            ) -> poem::Result<Self> {
                Ok($read(request)?)
            }
        }
    };
}

pub(crate) use optional_header_param;
