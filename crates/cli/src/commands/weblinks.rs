//! `cairn weblink`: share links of files, which a browser opens with no
//! account (`/s/<token>`): made with a lifetime, listed, revoked.

use anyhow::{Result, bail};
use reqwest::Method;
use serde_json::{Value, json};

use super::{Out, lines};
use crate::args::WeblinkAction;
use crate::client::Client;

/// A lifetime as the user types it: `90`, `90s`, `30m`, `12h`, `7d`.
fn seconds(text: &str) -> Result<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let n: u64 = match number.parse() {
        Ok(n) if n > 0 => n,
        _ => bail!("'{text}' is not a lifetime: give 90, 90s, 30m, 12h or 7d"),
    };
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => bail!("'{text}': the unit is s, m, h or d"),
    };
    Ok(n.saturating_mul(unit))
}

/// The time from now to `ms` (Unix milliseconds), for a person.
fn left(ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let secs = ((ms - now) / 1000).max(0);
    match secs {
        s if s >= 86_400 => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
        s if s >= 3600 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

fn line(client: &Client, l: &Value) -> String {
    let ends = match (l["expired"].as_bool(), l["expires"].as_i64()) {
        (Some(true), _) => "ended".to_owned(),
        (_, Some(ms)) => format!("ends in {}", left(ms)),
        _ => "no end".to_owned(),
    };
    format!(
        "{}  {}  {}  opened {}",
        l["id"].as_str().unwrap_or(""),
        client.browser_url(l["path"].as_str().unwrap_or("")),
        ends,
        l["opened"]
    )
}

pub(super) async fn weblink(client: &Client, out: &Out, action: WeblinkAction) -> Result<()> {
    match action {
        WeblinkAction::Create { entry, expires } => {
            let body = match expires {
                Some(e) => json!({ "expires_in": seconds(&e)? }),
                None => json!({}),
            };
            let req = client
                .request(Method::POST, &format!("/entries/{entry}/links"))
                .json(&body);
            let v = client.json(req).await?;
            out.print(&v, |v| line(client, v));
        }
        WeblinkAction::Ls { entry } => {
            let v = client.get(&format!("/entries/{entry}/links")).await?;
            out.print(&v, |v| lines(v, |l| line(client, l)));
        }
        WeblinkAction::Rm { link } => {
            client
                .send(client.request(Method::DELETE, &format!("/links/{link}")))
                .await?;
            out.print(&json!({ "revoked": link }), |_| format!("revoked {link}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn lifetimes_read_as_a_person_writes_them() {
        assert_eq!(super::seconds("90").unwrap(), 90);
        assert_eq!(super::seconds("30m").unwrap(), 1800);
        assert_eq!(super::seconds("7d").unwrap(), 604_800);
        assert!(super::seconds("0").is_err());
        assert!(super::seconds("3w").is_err());
        assert!(super::seconds("soon").is_err());
    }
}
