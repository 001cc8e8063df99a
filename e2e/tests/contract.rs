//! The REST contract and the routes agree: every path and method the
//! OpenAPI document lists is served, and a documented path asked with
//! another method answers 405 with `Allow`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use e2e_tests::System;
use uuid::Uuid;

#[tokio::test]
async fn every_documented_route_is_served_and_other_methods_get_405_with_allow() {
    let sys = System::start().await;
    let user = Uuid::now_v7();
    let http = reqwest::Client::new();
    let doc: serde_json::Value = http
        .get(format!("{}/api/openapi.json", sys.gateway(0)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 15, "the document lists every route");
    let all = ["GET", "POST", "PUT", "PATCH", "DELETE"];
    for (path, item) in paths {
        let concrete = path
            .replace("{post_id}", &Uuid::now_v7().to_string())
            .replace("{user_id}", &Uuid::now_v7().to_string());
        let documented: Vec<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_uppercase())
            .filter(|m| all.contains(&m.as_str()))
            .collect();
        for method in all {
            let r = http
                .request(method.parse().unwrap(), format!("{}{concrete}", sys.gateway(0)))
                .bearer_auth(sys.token(user))
                .json(&serde_json::json!({}))
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            if documented.iter().any(|m| m == method) {
                assert_ne!(status, 405, "{method} {path} is documented but not served");
                assert_ne!(
                    body["error"], "no such route",
                    "{method} {path} is documented but not routed"
                );
                assert!(status < 500, "{method} {path}: {status} {body}");
            } else {
                assert_eq!(status, 405, "{method} {path}: {body}");
                let mut want = documented.clone();
                want.sort();
                assert_eq!(allow.as_deref(), Some(want.join(", ").as_str()), "{method} {path}");
                assert_eq!(body["code"], "method_not_allowed");
            }
        }
    }
    let r = http.get(format!("{}/api/nothing-here", sys.gateway(0))).send().await.unwrap();
    assert_eq!(r.status(), 404);
}
