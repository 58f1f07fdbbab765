use super::*;

/// (request path, expected template)
const CASES: &[(&str, &str)] = &[
    // Integers.
    ("/api/users/123", "/api/users/{id}"),
    ("/api/users/0", "/api/users/{id}"),
    (
        "/api/v1/users/42/orders/7",
        "/api/v1/users/{id}/orders/{id}",
    ),
    // Fixed names stay literal.
    ("/api/users/me", "/api/users/me"),
    ("/api/v1/users", "/api/v1/users"),
    ("/api/v2/users", "/api/v2/users"),
    ("/static/app.js", "/static/app.js"),
    ("/static/app.css", "/static/app.css"),
    ("/health", "/health"),
    ("/healthz", "/healthz"),
    ("/orders", "/orders"),
    ("/settings", "/settings"),
    ("/api/users/a1b2", "/api/users/a1b2"),
    ("/repos/deadbeef", "/repos/deadbeef"),
    ("/graphql", "/graphql"),
    (
        "/.well-known/openid-configuration",
        "/.well-known/openid-configuration",
    ),
    // UUIDs, either case.
    (
        "/items/550e8400-e29b-41d4-a716-446655440000",
        "/items/{uuid}",
    ),
    (
        "/items/550E8400-E29B-41D4-A716-446655440000/tags",
        "/items/{uuid}/tags",
    ),
    // Hex ids of 8 or more characters with a digit.
    ("/objects/507f1f77bcf86cd799439011", "/objects/{hex}"),
    ("/blobs/a1b2c3d4", "/blobs/{hex}"),
    ("/blobs/a1b2c3d", "/blobs/a1b2c3d"),
    (
        "/commits/DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
        "/commits/{hex}",
    ),
    // Base64 and base64url tokens, and JWTs.
    ("/share/aB3dE5fG7hJ9kL1mN", "/share/{token}"),
    ("/share/aB3dE5fG7hJ9kL1", "/share/aB3dE5fG7hJ9kL1"),
    ("/share/Zm9vYmFyYmF6cXV4MTIz==", "/share/{token}"),
    ("/share/Zm9v%2BYmFy%2FYmF6cXV4MTIz", "/share/{token}"),
    ("/share/abcdefghijklmnop1", "/share/abcdefghijklmnop1"),
    (
        "/session/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "/session/{token}",
    ),
    // ISO dates, with and without a time of day.
    ("/reports/2024-01-31", "/reports/{date}"),
    ("/reports/2024-01-31T10:20:30Z", "/reports/{date}"),
    (
        "/reports/2024-01-31T10:20:30.123+02:00/csv",
        "/reports/{date}/csv",
    ),
    ("/reports/2024-13-01", "/reports/2024-13-01"),
    ("/reports/2024-01-31x", "/reports/2024-01-31x"),
    // E-mail addresses, raw or percent-encoded.
    ("/users/alice@example.com", "/users/{email}"),
    (
        "/users/alice.smith%2Btag%40example.co.uk/profile",
        "/users/{email}/profile",
    ),
    ("/users/alice@localhost", "/users/alice@localhost"),
    // Percent-decoding happens before recognition, and literals come out in
    // one canonical form.
    ("/files/%31%32%33", "/files/{id}"),
    ("/%7Euser", "/~user"),
    ("/%7euser", "/~user"),
    ("/a%20b", "/a%20b"),
    ("/a b", "/a%20b"),
    ("/a%2fb", "/a%2Fb"),
    ("/a%zz", "/a%25zz"),
    ("/a%", "/a%25"),
    ("/a%25zz", "/a%25zz"),
    ("/x/%FF%FE", "/x/%FF%FE"),
    ("/x/%7Bid%7D", "/x/%7Bid%7D"),
    ("/caf%C3%A9", "/café"),
    // Normalisation of slashes, queries and request-target forms.
    ("/a//b/", "/a/b"),
    ("//a///b//", "/a/b"),
    ("", "/"),
    ("/", "/"),
    ("///", "/"),
    ("*", "*"),
    ("/a?b=1", "/a"),
    ("/a/123?id=456#top", "/a/{id}"),
    ("/a#frag", "/a"),
    ("http://host/x", "/x"),
    ("HTTPS://host:8443/x/99?q", "/x/{id}"),
    ("http://host", "/"),
    ("http://host?q=1/2", "/"),
    ("/redirect?to=http://evil/x", "/redirect"),
    ("relative/path", "/relative/path"),
];

#[test]
fn template_table() {
    for &(path, expected) in CASES {
        assert_eq!(template_path(path), expected, "template of {path:?}");
    }
}

#[test]
fn fixed_paths_not_merged() {
    let pairs = [
        ("/api/users/me", "/api/users/123"),
        ("/api/v1/users", "/api/v2/users"),
        ("/static/app.js", "/static/app.css"),
        ("/health", "/healthz"),
        ("/orders", "/settings"),
    ];
    for (first, second) in pairs {
        assert_ne!(
            template_path(first),
            template_path(second),
            "{first:?} and {second:?} must stay apart"
        );
    }
}

#[test]
fn template_is_idempotent() {
    // Templates with placeholders are excluded, because `{` in a request
    // path is data and stays encoded.
    for &(path, expected) in CASES.iter().filter(|(_, expected)| !expected.contains('{')) {
        assert_eq!(
            template_path(expected),
            expected,
            "template of the template of {path:?}"
        );
    }
}

#[test]
fn long_segment_becomes_param() {
    let segment = "a".repeat(MAX_LITERAL_LEN + 1);
    assert_eq!(
        template_path(&format!("/files/{segment}")),
        "/files/{param}"
    );

    let segment = "a".repeat(MAX_LITERAL_LEN);
    assert_eq!(
        template_path(&format!("/files/{segment}")),
        format!("/files/{segment}")
    );
}

#[test]
fn deep_path_ends_in_rest() {
    let path = "/a".repeat(MAX_SEGMENTS + 10);
    let segments = template_segments(&path);

    assert_eq!(segments.len(), MAX_SEGMENTS + 1, "segment count");
    assert_eq!(segments[MAX_SEGMENTS - 1], "a", "last kept segment");
    assert_eq!(segments[MAX_SEGMENTS], REST, "segment after the limit");

    let exactly_at_limit = "/a".repeat(MAX_SEGMENTS);
    assert_eq!(
        template_segments(&exactly_at_limit).len(),
        MAX_SEGMENTS,
        "path at the limit"
    );
}

#[test]
fn hostile_paths_do_not_panic() {
    let long_path = format!("/{}", "x".repeat(10_000));
    let long_digits = format!("/{}", "9".repeat(10_000));
    let many_slashes = "/".repeat(10_000);
    let many_escapes = "%".repeat(10_000);
    let paths = [
        long_path.as_str(),
        long_digits.as_str(),
        many_slashes.as_str(),
        many_escapes.as_str(),
        "%",
        "%%",
        "%f",
        "/%c3",
        "/\u{0}/\u{7f}",
        "://",
        "http://",
        "1http://x/y",
        "/😀/%F0%9F%98%80",
        " * ",
    ];
    for path in paths {
        let template = template_path(path);
        assert!(
            template.starts_with('/') || template == ASTERISK_FORM,
            "template of {path:?} is {template:?}"
        );
        assert!(
            template.len() <= 2 * 10_000,
            "template of {path:?} is {} bytes",
            template.len()
        );
    }
}

#[test]
fn long_digits_become_id() {
    assert_eq!(
        template_path(&format!("/n/{}", "9".repeat(10_000))),
        "/n/{id}"
    );
}

#[test]
fn split_reverses_join() {
    let segments = ["a", "{id}", "a%2Fb"];
    let template = join_segments(&segments);

    assert_eq!(template, "/a/{id}/a%2Fb", "joined template");
    assert_eq!(split_template(&template), segments, "split template");
    assert!(split_template("/").is_empty(), "root has no segments");
}

#[test]
fn plain_segment_short_path_agrees() {
    let mut checked = 0;
    for (path, _) in CASES {
        for raw in path.split('/').filter(|raw| !raw.is_empty()) {
            if raw.bytes().all(is_plain_literal_byte) {
                assert_eq!(
                    template_segment(raw),
                    decoded_template_segment(raw),
                    "segment {raw:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 20, "the cases must exercise the short path");
}
