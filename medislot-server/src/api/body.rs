//! [`JsonBody`]: a JSON request body whose errors name the field at fault.
//!
//! poem-openapi's own `Json` documents the schema but reports a bad body as one sentence. This
//! payload documents the same schema and parses the same way, and on failure walks the
//! registered schema beside the JSON it received to name the first missing or mistyped field
//! (`slots[1].starts_at`), so the problem document can point at it.

use std::str::FromStr;

use chrono::{DateTime, FixedOffset};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::error::ContentTypeError;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseFromJSON, Type};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde_json::Value;

use crate::problem::Problem;

/// A JSON request body of type `T`.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        content_type
            .split(';')
            .next()
            .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: ParseFromJSON> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;

    async fn from_request(request: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let bytes = <Vec<u8> as FromRequest>::from_request(request, body).await?;
        let value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice::<Value>(&bytes).map_err(|err| {
                Problem::malformed(format!(
                    "the body is not valid JSON (line {}, column {})",
                    err.line(),
                    err.column()
                ))
            })?
        };
        if value.is_null() && T::IS_REQUIRED {
            return Err(Problem::malformed("the request needs a JSON body").into());
        }
        // The schema check runs first: it names the field, and it is stricter than
        // poem-openapi's parser, which would take the number 7 for the string "7".
        let located = if value.is_null() {
            None
        } else {
            locate::<T>(&value)
        };
        if let Some((field, message)) = located {
            return Err(Problem::validation(field, message).into());
        }
        T::parse_from_json(Some(value)).map(Self).map_err(|err| {
            Problem::new(
                poem::http::StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                err.into_message(),
            )
            .into()
        })
    }
}

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for JsonBody<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <Self as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: <Self as Payload>::CONTENT_TYPE,
                schema: <Self as Payload>::schema_ref(),
            }],
            required: <Self as ParsePayload>::IS_REQUIRED,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match request.content_type() {
            Some(content_type) if <Self as Payload>::check_content_type(content_type) => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            Some(content_type) => Err(ContentTypeError::NotSupported {
                content_type: content_type.to_owned(),
            }
            .into()),
            // No body and no content type: fine for an optional body.
            None if !<Self as ParsePayload>::IS_REQUIRED => {
                <Self as ParsePayload>::from_request(request, body).await
            }
            None => Err(ContentTypeError::ExpectContentType.into()),
        }
    }
}

/// The first field of `value` that does not fit `T`'s schema, with what is wrong with it.
fn locate<T: Type>(value: &Value) -> Option<(String, String)> {
    let mut registry = Registry::new();
    T::register(&mut registry);
    find(&registry, &T::schema_ref(), value, "")
}

fn resolve<'r>(registry: &'r Registry, schema: &'r MetaSchemaRef) -> Option<&'r MetaSchema> {
    match schema {
        MetaSchemaRef::Inline(schema) => Some(schema),
        MetaSchemaRef::Reference(name) => registry.schemas.get(name),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn find(
    registry: &Registry,
    schema: &MetaSchemaRef,
    value: &Value,
    path: &str,
) -> Option<(String, String)> {
    let schema = resolve(registry, schema)?;
    let wrong = |what: &str| Some((path.to_owned(), format!("must be {what}")));
    match schema.ty {
        "object" => {
            let Value::Object(object) = value else {
                return if path.is_empty() {
                    Some(("body".to_owned(), "must be a JSON object".to_owned()))
                } else {
                    wrong("an object")
                };
            };
            for (name, property) in &schema.properties {
                let child = join(path, name);
                match object.get(*name) {
                    None => {
                        if schema.required.contains(name) {
                            return Some((child, "is required".to_owned()));
                        }
                    }
                    Some(Value::Null) => {
                        if schema.required.contains(name) {
                            return Some((child, "is required".to_owned()));
                        }
                        // An optional property is left out, not sent as null, unless its
                        // schema says it may be null.
                        if !resolve(registry, property).is_some_and(|p| p.nullable) {
                            return Some((child, "must not be null; leave it out".to_owned()));
                        }
                    }
                    Some(v) => {
                        if let Some(found) = find(registry, property, v, &child) {
                            return Some(found);
                        }
                    }
                }
            }
            None
        }
        "array" => {
            let Value::Array(items) = value else {
                return wrong("an array");
            };
            if let Some(min) = schema.min_items.filter(|min| items.len() < *min) {
                return wrong(&format!("at least {min} items"));
            }
            if let Some(max) = schema.max_items.filter(|max| items.len() > *max) {
                return wrong(&format!("at most {max} items"));
            }
            let item_schema = schema.items.as_deref()?;
            items.iter().enumerate().find_map(|(i, item)| {
                if item.is_null() {
                    return Some((format!("{path}[{i}]"), "must not be null".to_owned()));
                }
                find(registry, item_schema, item, &format!("{path}[{i}]"))
            })
        }
        "string" => {
            let Value::String(text) = value else {
                return wrong("a string");
            };
            match schema.format {
                Some("date-time") if DateTime::<FixedOffset>::from_str(text).is_err() => {
                    wrong("an RFC 3339 timestamp with an offset, such as 2030-01-31T09:00:00+01:00")
                }
                Some("uuid") if uuid::Uuid::parse_str(text).is_err() => wrong("a UUID"),
                Some("date" | "naive-date") if chrono::NaiveDate::from_str(text).is_err() => {
                    wrong("a date such as 2030-01-31")
                }
                Some("time" | "naive-time") if chrono::NaiveTime::from_str(text).is_err() => {
                    wrong("a time of day such as 09:30:00")
                }
                _ if !schema.enum_items.is_empty() && !schema.enum_items.contains(value) => {
                    let allowed: Vec<String> =
                        schema.enum_items.iter().map(Value::to_string).collect();
                    wrong(&format!("one of {}", allowed.join(", ")))
                }
                _ => {
                    let chars = text.chars().count();
                    if let Some(min) = schema.min_length.filter(|min| chars < *min) {
                        return wrong(&format!("at least {min} characters"));
                    }
                    if let Some(max) = schema.max_length.filter(|max| chars > *max) {
                        return wrong(&format!("at most {max} characters"));
                    }
                    match &schema.pattern {
                        // Patterns come from this crate's own schemas, so they compile; one
                        // that did not would check nothing here and poem-openapi would refuse.
                        Some(pattern)
                            if regex::Regex::new(pattern).is_ok_and(|re| !re.is_match(text)) =>
                        {
                            Some((path.to_owned(), pattern_rule(pattern)))
                        }
                        _ => None,
                    }
                }
            }
        }
        "integer" if !(value.is_i64() || value.is_u64()) => wrong("an integer"),
        "number" if !value.is_number() => wrong("a number"),
        "integer" | "number" => {
            let number = value.as_f64()?;
            if let Some(min) = schema.minimum.filter(|min| number < *min) {
                return wrong(&format!("at least {min}"));
            }
            if let Some(max) = schema.maximum.filter(|max| number > *max) {
                return wrong(&format!("at most {max}"));
            }
            None
        }
        "boolean" if !value.is_boolean() => wrong("true or false"),
        _ => None,
    }
}

/// What a pattern asks for, in words where this API's patterns have them.
fn pattern_rule(pattern: &str) -> String {
    match pattern {
        // A password: anything, as long as it is not all whitespace.
        r"\S" => "must not be only spaces or other whitespace".to_owned(),
        _ if pattern.contains(r"\S") => {
            "must not be blank or contain control characters".to_owned()
        }
        _ if pattern.contains('@') => {
            "must be an email address such as name@example.com".to_owned()
        }
        _ => format!("must match `{pattern}`"),
    }
}

#[cfg(test)]
mod tests {
    use poem_openapi::Object;

    use super::*;

    #[derive(Object, Debug)]
    struct Inner {
        starts_at: DateTime<FixedOffset>,
    }

    #[derive(Object, Debug)]
    struct Outer {
        name: String,
        count: Option<u32>,
        items: Vec<Inner>,
    }

    #[test]
    fn names_missing_and_mistyped_fields_with_their_path() {
        let cases = [
            (serde_json::json!({"items": []}), "name", "is required"),
            (
                serde_json::json!({"name": 5, "items": []}),
                "name",
                "must be a string",
            ),
            (
                serde_json::json!({"name": "x", "count": "many", "items": []}),
                "count",
                "must be an integer",
            ),
            (
                serde_json::json!({"name": "x", "items": [{"starts_at": "2030-01-01T10:00:00Z"}, {"starts_at": "tomorrow"}]}),
                "items[1].starts_at",
                "must be an RFC 3339",
            ),
            (serde_json::json!([1, 2]), "body", "must be a JSON object"),
        ];
        for (value, field, message) in cases {
            let (f, m) = locate::<Outer>(&value).expect("a field is at fault");
            assert_eq!(f, field, "for {value}");
            assert!(m.contains(message), "{m:?} for {value}");
        }
        let fine = serde_json::json!({"name": "x", "items": []});
        assert_eq!(locate::<Outer>(&fine), None);
    }
}
