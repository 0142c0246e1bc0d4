//! The path parameters of the native API, with the rules the engine holds
//! them to, so the document states them.

use utoipa::IntoParams;

/// An entry's id: 11 characters of `A-Z a-z 0-9 - _`.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct EntryId(#[param(pattern = r"^[A-Za-z0-9_-]{11}$")] String);

/// A blob by a digest: its BLAKE3 id or a sha256 (64 hex), a sha1 (40
/// hex) or an md5 (32 hex).
#[derive(IntoParams)]
#[into_params(names("digest"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Digest(
    #[param(pattern = r"^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})$")] String,
);

/// A blob by its BLAKE3 id (64 hex).
#[derive(IntoParams)]
#[into_params(names("digest"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct BlobId(#[param(pattern = r"^[0-9A-Fa-f]{64}$")] String);

/// A blob by a digest, or a link to it (`<BLAKE3 id>.<read key>`, both 64
/// hex), which reads a blob this node does not know from the network.
#[derive(IntoParams)]
#[into_params(names("digest"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct DigestOrLink(
    #[param(
        pattern = r"^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{40}|[0-9A-Fa-f]{64}|[0-9A-Fa-f]{64}\.[0-9A-Fa-f]{64})$"
    )]
    String,
);

/// A gateway account's login: 1 to 64 of `a-z A-Z 0-9 _ - . @`;
/// case-blind.
#[derive(IntoParams)]
#[into_params(names("login"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Login(#[param(pattern = r"^[A-Za-z0-9_.@-]{1,64}$")] String);

/// A job's id.
#[derive(IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct JobId(String);

/// A libp2p peer id (base58, as the network shows it).
#[derive(IntoParams)]
#[into_params(names("peer"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Peer(
    #[param(pattern = r"^(12D3KooW[1-9A-HJ-NP-Za-km-z]{44}|Qm[1-9A-HJ-NP-Za-km-z]{44})$")] String,
);

/// A customer's id, as the customers list shows it: 64 hex.
#[derive(IntoParams)]
#[into_params(names("owner"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Owner(#[param(pattern = r"^[0-9A-Fa-f]{64}$")] String);

/// A DHT key (any text).
#[derive(IntoParams)]
#[into_params(names("key"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct DhtKey(#[param(min_length = 1)] String);

/// A supplier position: shard `position` of every segment.
#[derive(IntoParams)]
#[into_params(names("position"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Position(#[param(minimum = 0, maximum = 255)] u8);

/// A node's nickname.
#[derive(IntoParams)]
#[into_params(names("name"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Nickname(#[param(min_length = 1)] String);

/// Bytes, as a body or an answer: any content, in the document a binary
/// string.
pub(crate) struct Binary;

impl utoipa::PartialSchema for Binary {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl utoipa::ToSchema for Binary {}

/// What every content call answers besides its own errors: the whole file
/// (200) or the range asked for (206), as the stored content type; 304
/// when the ETag (the blob id) matches `If-None-Match`; 416 for a range
/// past the end.
pub(crate) struct ContentAnswers;

impl utoipa::IntoResponses for ContentAnswers {
    fn responses() -> std::collections::BTreeMap<
        String,
        utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
    > {
        use utoipa::openapi::content::Content;
        use utoipa::openapi::response::ResponseBuilder;
        use utoipa::openapi::{Ref, RefOr};
        let bytes = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "*/*",
                    Content::new(Some(<Binary as utoipa::PartialSchema>::schema())),
                )
                .build()
        };
        let error = ResponseBuilder::new()
            .description("The range is past the end.")
            .content(
                "application/json",
                Content::new(Some(Ref::from_schema_name("Error"))),
            )
            .build();
        [
            ("200", bytes("The whole file, as its stored content type.")),
            ("206", bytes("The range asked for.")),
            (
                "304",
                ResponseBuilder::new()
                    .description("The ETag matched `If-None-Match`.")
                    .build(),
            ),
            ("416", error),
        ]
        .into_iter()
        .map(|(status, response)| (status.to_owned(), RefOr::T(response)))
        .collect()
    }
}

/// A service's name: 1 to 32 of `a-z` and `-`.
#[derive(IntoParams)]
#[into_params(names("name"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct ServiceName(#[param(pattern = r"^[a-z-]{1,32}$")] String);

/// A setting's key: its TOML path, dotted (`network.donated`).
#[derive(IntoParams)]
#[into_params(names("key"), parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct SettingKey(#[param(pattern = r"^[a-z0-9_.]{1,64}$")] String);
