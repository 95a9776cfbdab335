//! The console's safety: read-only mode, CSRF tokens, basic auth, and an unreachable broker.

mod common;

use common::Setup;
use herald_console::security::Users;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_hides_writes_and_refuses_posts() {
    // No form posts anywhere, and a POST with a valid-looking body is 403.
    let setup = Setup::start(|c| c.read_only = true).await;
    common::produce(
        setup.broker.bootstrap_servers(),
        "orders.dlq",
        "k",
        b"{}",
        &[],
    )
    .await;
    for path in [
        "/",
        "/topics",
        "/topics/orders.dlq",
        "/groups",
        "/dead-letters/orders.dlq",
    ] {
        let page = setup.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(
            !page.body.contains("method=\"post\""),
            "{path} shows a write"
        );
        assert!(page.body.contains("id=\"read-only\""));
    }
    let refused = setup
        .post_raw("/topics", &[("csrf", "x"), ("name", "new")])
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("read-only"));
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_csrf_token_are_refused() {
    // A forged form (no token, or another token) changes nothing.
    let setup = Setup::start(|_| {}).await;
    let forged = setup.post_raw("/topics", &[("name", "forged")]).await;
    assert_eq!(forged.status, 403);
    assert!(forged.body.contains("CSRF"));
    let wrong = setup
        .post_raw("/topics", &[("csrf", "0000"), ("name", "forged")])
        .await;
    assert_eq!(wrong.status, 403);
    assert_eq!(setup.get("/topics/forged").await.status, 404);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_guards_every_page_but_health() {
    // Without credentials 401 and a challenge; with them the page; /health stays open.
    let users = Users::parse("ops:correct horse\n").expect("users");
    let setup = Setup::start(|c| c.users = Some(users)).await;
    let response = setup
        .http
        .get(format!("{}/", setup.url))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let wrong = setup
        .http
        .get(format!("{}/", setup.url))
        .basic_auth("ops", Some("wrong"))
        .send()
        .await
        .expect("answered");
    assert_eq!(wrong.status().as_u16(), 401);
    let ok = setup
        .http
        .get(format!("{}/", setup.url))
        .basic_auth("ops", Some("correct horse"))
        .send()
        .await
        .expect("answered");
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(setup.get("/health").await.status, 200);
    setup.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_outage_shows_an_error_page_and_the_console_recovers() {
    // While the broker is down pages are 503 error pages; once it is back they work again.
    let mut setup = Setup::start(|c| c.request_timeout = std::time::Duration::from_secs(1)).await;
    assert_eq!(setup.get("/").await.status, 200);
    let (http, url) = (setup.http.clone(), setup.url.clone());
    let mut during = None;
    setup
        .broker
        .restart(|| async {
            let response = http
                .get(format!("{url}/topics"))
                .send()
                .await
                .expect("answered");
            during = Some((
                response.status().as_u16(),
                response.text().await.unwrap_or_default(),
            ));
        })
        .await
        .expect("broker restarts");
    let (status, body) = during.expect("a page during the outage");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot reach the brokers"), "{body}");
    setup.await_page("/topics", |p| p.status == 200).await;
    setup.stop().await;
}
