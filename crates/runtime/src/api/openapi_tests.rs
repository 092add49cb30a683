//! The OpenAPI document covers every route and is valid OpenAPI 3.

use std::collections::BTreeSet;

use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn document() -> Value {
    let text = super::document().to_json().expect("the document serializes");
    serde_json::from_str(&text).expect("the document is JSON")
}

/// (method, path) of every operation of the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if item.get(m).is_some() {
                out.insert((m.to_string(), path.clone()));
            }
        }
    }
    out
}

/// The sources of the API module: `api.rs` and every file under `api/` but test files.
fn api_sources() -> Vec<(String, String)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = vec![src.join("api.rs")];
    for e in std::fs::read_dir(src.join("api")).expect("src/api") {
        let p = e.expect("entry").path();
        let test_file = p.file_name().is_some_and(|n| n.to_string_lossy().ends_with("tests.rs"));
        if p.extension().is_some_and(|x| x == "rs") && !test_file {
            files.push(p);
        }
    }
    files.into_iter().map(|p| (p.display().to_string(), std::fs::read_to_string(&p).expect("source"))).collect()
}

/// Router calls that register a route without its `#[utoipa::path]`:
/// `.route("/p", get(a).post(b))` and the like bypass the document (and
/// `.nest` would take routes out of the handler count of `api_routes`).
const UNDOCUMENTED_CALLS: [&str; 5] = [".route(", ".route_service(", ".nest_service(", ".fallback_service(", ".nest("];

/// `(line, call)` of each call of `text` that registers a route outside the document.
fn undocumented_calls(text: &str) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or_default();
        for call in UNDOCUMENTED_CALLS {
            if code.contains(call) {
                out.push((n + 1, call));
            }
        }
    }
    out
}

/// The text of `fn name`'s body in `text` (from its opening brace to the matching one).
fn body_of<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text.find(&format!("fn {name}(")).unwrap_or_else(|| panic!("no fn {name}"));
    let open = start + text[start..].find('{').expect("a body");
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &text[open + 1..open + i];
                }
            }
            _ => {}
        }
    }
    panic!("fn {name}: unbalanced braces")
}

/// The method calls chained on the receiver of `chain` (`a.b(x).c(y(z))` gives
/// `[("b", "x"), ("c", "y(z)")]`), comments left out.
fn chained_calls(chain: &str) -> Vec<(String, String)> {
    let code: String = chain.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    let mut depth = 0;
    let (mut name, mut args, mut in_name) = (String::new(), String::new(), true);
    for c in code.chars() {
        match c {
            '(' => {
                if depth > 0 {
                    args.push(c);
                }
                depth += 1;
                in_name = false;
            }
            ')' => {
                depth -= 1;
                if depth == 0 {
                    out.push((std::mem::take(&mut name), std::mem::take(&mut args)));
                } else {
                    args.push(c);
                }
            }
            '.' | ':' if depth == 0 => {
                (name, in_name) = (String::new(), true);
            }
            c if depth > 0 => args.push(c),
            c if in_name && (c.is_alphanumeric() || c == '_') => name.push(c),
            _ => {}
        }
    }
    out
}

/// The handlers of `routes!(a, b)`, as written.
fn routes_handlers(args: &str) -> Vec<String> {
    let inner = args.trim().strip_prefix("routes!(").and_then(|a| a.strip_suffix(')'));
    let inner = inner.unwrap_or_else(|| panic!("`.routes({args})`: expected `routes!(handler, …)`"));
    inner.split(',').map(|h| h.trim().to_string()).filter(|h| !h.is_empty()).collect()
}

#[test]
fn every_registered_route_is_documented() {
    let doc = document();
    let documented = operations(&doc);
    // No route registered around `routes!`, anywhere in the API.
    for (file, text) in api_sources() {
        let calls = undocumented_calls(text.split("#[cfg(test)]").next().unwrap_or_default());
        assert!(
            calls.is_empty(),
            "{file}: {calls:?} (line, call) register routes outside the OpenAPI document: give their handlers a \
             `#[utoipa::path]` and register them with `.routes(routes!(handler))`"
        );
    }
    // `api_routes` is `OpenApiRouter::new()` and `.routes(routes!(…))` only,
    // each handler one operation of the document, and the document has no other.
    let (_, api) = api_sources().into_iter().find(|(f, _)| f.ends_with("api.rs")).expect("api.rs");
    let body = body_of(&api, "api_routes");
    assert!(body.trim_start().starts_with("OpenApiRouter::new()"), "api_routes: {body}");
    let calls = chained_calls(body);
    let mut handlers = Vec::new();
    for (method, args) in &calls[1..] {
        assert_eq!(method, "routes", "api_routes: `.{method}({args})` is not `.routes(routes!(…))`");
        handlers.extend(routes_handlers(args));
    }
    let unique: BTreeSet<&String> = handlers.iter().collect();
    assert_eq!(unique.len(), handlers.len(), "a handler is registered twice: {handlers:?}");
    assert_eq!(handlers.len(), documented.len(), "handlers {handlers:?}\noperations {documented:?}");
    // Two handlers on one path (`routes!(get_handler, post_handler)`) are both documented.
    for (m, p) in [
        ("get", "/healthz"),
        ("get", "/api/v1/openapi.json"),
        ("post", "/api/v1/tenants/{tenant}/payments/{id}/accept"),
        ("get", "/api/v1/tenants/{tenant}/customers/{id}/notes"),
        ("post", "/api/v1/tenants/{tenant}/customers/{id}/notes"),
        ("post", "/api/v1/tenants/{tenant}/outbox/approve"),
        ("get", "/api/v1/tenants/{tenant}/reports/aged-balance"),
    ] {
        assert!(documented.contains(&(m.to_string(), p.to_string())), "{m} {p} missing");
    }
    assert!(documented.len() >= 52, "{} operations", documented.len());
}

#[test]
fn the_route_scanner_finds_any_route_outside_the_document() {
    let text = "Router::new()\n  .route(\"/a/{x}\", get(a).post(b))\n  // .route(\"/c\", get(c))\n  .route_service(\n    \"/b\",\n    s,\n  )\n  .routes(routes!(d))";
    assert_eq!(undocumented_calls(text), [(2, ".route("), (4, ".route_service(")]);
}

#[test]
fn the_chain_parser_reads_each_call_and_each_handler() {
    let body = "\n    OpenApiRouter::new()\n        .routes(routes!(a))\n        // a comment (with parentheses)\n        .routes(routes!(m::b, m::c))\n        .route(\"/x\", get(x).post(y))\n";
    let calls = chained_calls(body);
    let names: Vec<&str> = calls.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["new", "routes", "routes", "route"]);
    assert_eq!(routes_handlers(&calls[1].1), ["a"]);
    assert_eq!(routes_handlers(&calls[2].1), ["m::b", "m::c"]);
    assert_eq!(calls[3].1, "\"/x\", get(x).post(y)");
}

/// Every `$ref` string in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_valid_openapi_3() {
    let doc = document();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");

    // Every reference resolves to a component.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let target = r
            .strip_prefix("#/")
            .unwrap_or_else(|| panic!("external reference {r}"))
            .split('/')
            .try_fold(&doc, |v, part| v.get(part));
        assert!(target.is_some(), "unresolved {r}");
    }

    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let in_path: BTreeSet<&str> = path.split('{').skip(1).filter_map(|s| s.split('}').next()).collect();
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{m} {path}: no operationId"));
            assert!(operation_ids.insert(id.to_string()), "{m} {path}: operationId `{id}` is another operation's too");
            let responses = op["responses"].as_object().expect("responses");
            assert!(!responses.is_empty(), "{m} {path}: no responses");
            for (code, r) in responses {
                assert!(r["description"].as_str().is_some_and(|d| !d.is_empty()), "{m} {path} {code}: no description");
                // Every answer that has a body says what it is.
                for (media, c) in r["content"].as_object().into_iter().flatten() {
                    assert!(c["schema"].is_object(), "{m} {path} {code} {media}: no schema");
                }
            }
            // Each operation's success answer has a body with a schema.
            let success: Vec<(&String, &Value)> = responses.iter().filter(|(c, _)| c.starts_with('2')).collect();
            assert!(!success.is_empty(), "{m} {path}: no 2xx answer");
            for (code, r) in &success {
                let media = r["content"].as_object().map(|c| c.keys().map(String::as_str).collect::<Vec<_>>());
                let media = media.unwrap_or_else(|| panic!("{m} {path} {code}: no body"));
                // Reports answer JSON or, with `?format=csv`, CSV.
                let expected: &[&str] = if path.contains("/reports/") {
                    &["application/json", "text/csv"]
                } else if path == "/metrics" {
                    &["text/plain"]
                } else if path.ends_with("/document") {
                    &["application/pdf"]
                } else if path.ends_with("/events/stream") {
                    &["text/event-stream"]
                } else {
                    &["application/json"]
                };
                assert_eq!(media, expected, "{m} {path} {code}: content types");
            }
            if path.contains("/reports/") {
                let format = op["parameters"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == "format"));
                let values = format.map(|p| p["schema"]["enum"].clone()).unwrap_or_default();
                assert_eq!(values, serde_json::json!(["json", "csv"]), "{m} {path}: the `format` parameter");
            }
            if let Some(body) = op.get("requestBody") {
                for (media, c) in body["content"].as_object().expect("request content") {
                    assert!(c["schema"].is_object(), "{m} {path} request {media}: no schema");
                }
            }
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect())
                .unwrap_or_default();
            // Each `{param}` of the path is declared, and nothing else is.
            assert_eq!(in_path, declared, "{m} {path}: path parameters");
            let names: Vec<(&str, &str)> = op["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| Some((p["name"].as_str()?, p["in"].as_str()?))).collect())
                .unwrap_or_default();
            let unique: BTreeSet<_> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{m} {path}: a parameter is declared twice");
            // Tenant routes need the bearer token; the others none.
            let secured = op["security"].as_array().is_some_and(|s| s.iter().any(|x| x.get("bearer").is_some()));
            assert_eq!(secured, path.starts_with("/api/v1/tenants/"), "{m} {path}: security");
            if secured {
                for code in ["401", "403"] {
                    assert!(op["responses"].get(code).is_some(), "{m} {path}: no {code} answer");
                }
            }
        }
    }
}

#[test]
fn every_list_documents_its_cursor() {
    let doc = document();
    let mut lists = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(op) = item.get("get") else { continue };
        let body = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let schema = match body["$ref"].as_str() {
            Some(r) => r.trim_start_matches("#/").split('/').try_fold(&doc, |v, p| v.get(p)).cloned(),
            None => Some(body.clone()),
        };
        let Some(schema) = schema else { continue };
        if schema["properties"].get("items").is_none() {
            continue;
        }
        lists += 1;
        assert!(schema["properties"].get("next_after").is_some(), "{path}: a list without `next_after`");
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == "query").filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        for p in ["limit", "after"] {
            assert!(params.contains(&p), "{path}: list without `{p}` ({params:?})");
        }
    }
    // invoices, customers, events, quarantine, connectors, payments, review,
    // messages, promises, tasks, contacts, plans, outbox, holds, disputes, notes,
    // a customer's timeline, domain events
    assert_eq!(lists, 18, "lists found in the document");
}

#[test]
#[ignore = "prints the document: cargo test -p relance-runtime print_the_document -- --ignored --nocapture"]
fn print_the_document() {
    println!("{}", serde_json::to_string_pretty(&document()).unwrap_or_default());
}
