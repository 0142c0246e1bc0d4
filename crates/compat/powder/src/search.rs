//! Jackett search (§3.4): `search&query=` asks the Torznab server the
//! master configured (`jackettHost`, `jackettKey`) in the background and
//! answers an id; `search&utime=<id>` answers the results once, then
//! `{"ended":true}`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::response::Response;
use serde_json::{Value, json};

use crate::actions::Call;
use crate::{fail, json};

/// Searches kept, newest.
const MAX_SEARCHES: usize = 32;

/// How long a search's results wait to be asked for.
const KEPT: Duration = Duration::from_secs(600);

/// Largest Torznab answer read.
const MAX_ANSWER: usize = 8 << 20;

/// Where each search is.
enum State {
    /// The server has not answered yet.
    Asking,
    /// Results to give.
    Ready(Vec<Value>),
    /// Given (or failed): the next ask ends it.
    Ended,
}

/// The searches under way or waiting to be read.
#[derive(Default)]
pub(crate) struct Searches(Mutex<HashMap<i64, (Instant, State)>>);

impl Searches {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, (Instant, State)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new search's id.
    fn start(&self) -> i64 {
        let mut all = self.lock();
        all.retain(|_, (at, _)| at.elapsed() < KEPT);
        while all.len() >= MAX_SEARCHES {
            let Some(oldest) = all.iter().min_by_key(|(_, (at, _))| *at).map(|(id, _)| *id) else {
                break;
            };
            all.remove(&oldest);
        }
        let mut id = crate::now_ms();
        while all.contains_key(&id) {
            id += 1;
        }
        all.insert(id, (Instant::now(), State::Asking));
        id
    }

    fn set(&self, id: i64, state: State) {
        if let Some(entry) = self.lock().get_mut(&id) {
            entry.1 = state;
        }
    }
}

pub(crate) async fn search(call: &Call) -> Response {
    let searches = call.state.searches.clone();
    if let Ok(id) = call.param("utime").parse::<i64>() {
        let mut all = searches.lock();
        return match all.get_mut(&id) {
            None => fail("No such Jackett response ID"),
            Some((_, State::Asking)) => json(json!({ "ended": false, "results": [] })),
            Some((_, state @ State::Ready(_))) => {
                let State::Ready(results) = std::mem::replace(state, State::Ended) else {
                    return fail("No such Jackett response ID");
                };
                json(json!({ "ended": false, "results": results }))
            }
            Some((_, State::Ended)) => {
                all.remove(&id);
                json(json!({ "ended": true }))
            }
        };
    }
    let host = call.state.settings.str("jackettHost");
    let key = call.state.settings.str("jackettKey");
    let query = call.param("query").trim().to_owned();
    if host.is_empty() || key.is_empty() {
        return fail("no jackett");
    }
    if query.is_empty() {
        return fail("A search needs a query");
    }
    let category = if call.param("type") == "movie" {
        2000
    } else {
        5000
    };
    let url = format!(
        "{}/api/v2.0/indexers/all/results/torznab/api?apikey={}&t=search&cat={category}&q={}",
        host.trim_end_matches('/'),
        crate::encode_component(&key),
        crate::encode_component(&query)
    );
    let id = searches.start();
    let node = call.state.node.clone();
    tokio::spawn(async move {
        // The master chose this address: it is asked even on this machine.
        let state = match node.fetches().get_small(&url, MAX_ANSWER, false).await {
            Ok(body) => match parse(&body) {
                Ok(results) => State::Ready(results),
                Err(e) => {
                    tracing::info!(error = %e, "Jackett's answer was not Torznab");
                    State::Ended
                }
            },
            Err(e) => {
                tracing::info!(error = %e, "Jackett did not answer");
                State::Ended
            }
        };
        searches.set(id, state);
    });
    json(json!({ "value": id }))
}

/// Torznab's RSS as Powder's JackettResults.
fn parse(body: &[u8]) -> Result<Vec<Value>, String> {
    let root = xmltree::Element::parse(body).map_err(|e| e.to_string())?;
    let channel = root
        .get_child("channel")
        .ok_or_else(|| "no channel".to_owned())?;
    let mut out = Vec::new();
    for item in channel
        .children
        .iter()
        .filter_map(|n| n.as_element())
        .filter(|e| e.name == "item")
    {
        let text = |name: &str| {
            item.get_child(name)
                .and_then(|c| c.get_text())
                .map(|t| t.trim().to_owned())
        };
        let attr = |name: &str| {
            item.children
                .iter()
                .filter_map(|n| n.as_element())
                .find(|e| {
                    e.name == "attr" && e.attributes.get("name").map(String::as_str) == Some(name)
                })
                .and_then(|e| e.attributes.get("value").cloned())
        };
        let number = |v: Option<String>| v.and_then(|v| v.trim().parse::<u64>().ok());
        let mut v = json!({
            "title": text("title").unwrap_or_default(),
            "link": text("link").unwrap_or_default(),
            "seeders": number(attr("seeders")).unwrap_or(0),
            "peers": number(attr("peers")).unwrap_or(0),
            "size": number(text("size")).unwrap_or(0),
            "jackettDate": text("pubDate").and_then(|d| rfc2822_ms(&d)).unwrap_or(0),
            "isJackett": true,
            "indexer": item
                .get_child("jackettindexer")
                .and_then(|e| e.attributes.get("id").cloned())
                .unwrap_or_default(),
        });
        if let Some(m) = attr("magneturl") {
            v["magneturl"] = json!(m);
        }
        if let Some(f) = number(attr("files")) {
            v["files"] = json!(f);
        }
        out.push(v);
    }
    Ok(out)
}

/// `Mon, 07 Dec 2026 08:30:00 +0100` in Unix milliseconds.
fn rfc2822_ms(date: &str) -> Option<i64> {
    let date = date.split_once(',').map_or(date, |(_, d)| d).trim();
    let mut parts = date.split_whitespace();
    let day: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m.eq_ignore_ascii_case(month))? as i64
        + 1;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (
        hms.next()??,
        hms.next()??,
        hms.next().flatten().unwrap_or(0),
    );
    let zone = parts.next().unwrap_or("+0000");
    let offset = match zone.as_bytes().first() {
        Some(b'+') | Some(b'-') if zone.len() == 5 => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let hh: i64 = zone[1..3].parse().ok()?;
            let mm: i64 = zone[3..5].parse().ok()?;
            sign * (hh * 3600 + mm * 60)
        }
        _ => 0,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + m * 60 + s - offset) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torznab_items_become_jackett_results() {
        let xml = br#"<?xml version="1.0"?><rss version="2.0" xmlns:torznab="http://torznab.com/schemas/2015/feed"><channel><title>x</title>
          <item><title>Sintel 2010</title><link>http://j/dl/1</link><pubDate>Mon, 07 Dec 2026 08:30:00 +0100</pubDate><size>129241752</size>
            <jackettindexer id="demo">Demo</jackettindexer>
            <torznab:attr name="seeders" value="12"/><torznab:attr name="peers" value="15"/>
            <torznab:attr name="magneturl" value="magnet:?xt=urn:btih:08ada5a7a6183aae1e09d831df6748d566095a10"/></item>
          </channel></rss>"#;
        let r = parse(xml).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["title"], "Sintel 2010");
        assert_eq!(
            (r[0]["seeders"].clone(), r[0]["peers"].clone()),
            (json!(12), json!(15))
        );
        assert_eq!(r[0]["indexer"], "demo");
        assert!(r[0]["magneturl"].as_str().unwrap().starts_with("magnet:"));
        assert!(r[0].get("files").is_none());
        // 2026-12-07T07:30:00Z
        assert_eq!(r[0]["jackettDate"], 1_796_628_600_000_i64);
        assert_eq!(rfc2822_ms("Thu, 01 Jan 1970 00:00:01 +0000"), Some(1000));
    }
}
