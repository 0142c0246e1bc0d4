//! What each subcommand does, as a client of the node.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::args::{
    AccountAction, Cli, Command, FriendAction, GroupAction, IdAction, KeyAction, MetaAction,
    MsgAction, NetAction, ShareAction, TorrentAction,
};
mod metrics;
mod services;
mod settings;
mod traffic;
mod weblinks;
use crate::client::{Client, code_of, ensure_ok};

/// Does what the user typed: `node` runs the daemon; anything else asks
/// the running node.
pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    let data_dir = cairn_node::config::resolve_data_dir(cli.data_dir.as_deref());
    if let Command::Node {
        listen,
        p2p_listen,
        bootstrap,
    } = cli.command
    {
        if crate::daemon::run(&data_dir, listen, p2p_listen, bootstrap).await? {
            return Err(crate::daemon::exec_again());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Id {
        action: IdAction::Recover { file },
    } = &cli.command
    {
        // Done here, with no node running: it makes the data dir.
        let text = read_backup(file)?;
        let peer = cairn_node::identity::recover(&data_dir, &text)?;
        let out = Out { json: cli.json };
        let v = json!({ "peer_id": peer, "data_dir": data_dir });
        out.print(&v, |_| {
            format!(
                "{} is now {peer}: start `cairn node` there; its first start gets the catalog back from the network",
                data_dir.display()
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    let client = Client::for_data_dir(&data_dir, cli.api.as_deref())?;
    let out = Out { json: cli.json };
    ask_node(&client, &out, cli.command).await
}

/// Runs a subcommand other than `node`, as a client of the running node.
async fn ask_node(client: &Client, out: &Out, command: Command) -> Result<ExitCode> {
    // Progress bars would garble JSON output.
    let quiet = |asked: bool| asked || out.json;
    match command {
        Command::Node { .. } => unreachable!("handled above"),
        Command::Upload {
            paths,
            parent,
            on_conflict,
            quiet: q,
        } => return upload(client, out, &paths, parent, &on_conflict, quiet(q)).await,
        Command::Fetch {
            url,
            parent,
            name,
            on_conflict,
            quiet: q,
        } => fetch(client, out, &url, parent, name, &on_conflict, quiet(q)).await?,
        Command::Download {
            id,
            output,
            quiet: q,
        } => download(client, out, &id, &output, quiet(q)).await?,
        Command::Export {
            id,
            to,
            path,
            background,
        } => {
            let body = json!({ "folder": to, "path": path, "wait": !background });
            export(client, out, &format!("/entries/{id}/export"), body).await?;
        }
        Command::Status => status(client, out).await?,
        Command::Metrics => metrics::print(client).await?,
        Command::Open => {
            let mut link = client
                .json(client.request(Method::POST, "/node/login-link"))
                .await?;
            let url = client.browser_url(link["path"].as_str().unwrap_or_default());
            link["url"] = Value::String(url);
            out.print(&link, |l| l["url"].as_str().unwrap_or_default().to_owned());
        }
        Command::Ls {
            folder,
            sort,
            desc,
            offset,
            limit,
        } => ls(client, out, folder, sort, desc, offset, limit).await?,
        Command::Info { id } => info(client, out, &id).await?,
        Command::Mkdir { name, parent } => mkdir(client, out, &name, parent).await?,
        Command::Mv { id, name, to } => mv(client, out, &id, name, to).await?,
        Command::Rm { id, recursive } => rm(client, out, &id, recursive).await?,
        Command::Meta { action } => meta(client, out, action).await?,
        Command::Account { action } => account(client, out, action).await?,
        Command::Net { action } => net(client, out, action).await?,
        Command::Link { id } => link(client, out, &id).await?,
        Command::Weblink { action } => weblinks::weblink(client, out, action).await?,
        Command::Key { action } => key(client, out, action).await?,
        Command::Id { action } => id(client, out, action).await?,
        Command::Friend { action } => friend(client, out, action).await?,
        Command::Service { action } => services::service(client, out, action).await?,
        Command::Config { action } => settings::config(client, out, action).await?,
        Command::Msg { action } => msg(client, out, action).await?,
        Command::Share { action } => share(client, out, action).await?,
        Command::Group { action } => group(client, out, action).await?,
        Command::Torrent { action } => torrent(client, out, action).await?,
        Command::Ytdl {
            url,
            max_height,
            store,
            parent,
            quiet,
        } => ytdl(client, out, &url, max_height, store, parent, quiet).await?,
        Command::Playlist { id, hours } => {
            let torrent = id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit());
            let path = if torrent {
                format!("/torrents/{id}/playlist.m3u?hours={hours}")
            } else {
                format!("/media/{id}/playlist.m3u?hours={hours}")
            };
            let resp = client.send(client.request(Method::GET, &path)).await?;
            print!("{}", resp.text().await?);
        }
        Command::Convert { id, quiet } => {
            let path = format!("/media/{id}/convert");
            let job = client.json(client.request(Method::POST, &path)).await?;
            let job = watch_job(client, &job, &id, quiet).await?;
            out.print(&job, stored_line);
        }
        Command::Subtitle { id, file, language } => {
            let format = file
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .context("the subtitle file needs its extension (.srt, .vtt, .ass, .ssa)")?;
            let bytes = tokio::fs::read(&file)
                .await
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut query = vec![("format", format)];
            query.extend(language.map(|l| ("language", l)));
            let req = client
                .request(Method::POST, &format!("/media/{id}/subtitles"))
                .query(&query)
                .body(bytes);
            let v = client.json(req).await?;
            out.print(&v, |v| {
                format!(
                    "{}  {}",
                    v["id"].as_str().unwrap_or(""),
                    v["language"].as_str().unwrap_or("")
                )
            });
        }
        Command::Probe { id } => probe(client, out, &id).await?,
        Command::Play { id, quality, r#as } => play(client, out, &id, quality, &r#as).await?,
        Command::Place { id, drop_local } => place(client, out, &id, drop_local).await?,
        Command::Jobs { limit } => jobs(client, out, limit).await?,
        Command::Cancel { id } => cancel(client, out, &id).await?,
        Command::Stop => stop(client, out).await?,
        Command::Restart => {
            let v = client
                .json(client.request(Method::POST, "/node/restart"))
                .await?;
            out.print(&v, |_| "restarting".to_owned());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Has the node fetch `url`, following the job; prints the blob.
async fn fetch(
    client: &Client,
    out: &Out,
    url: &str,
    parent: Option<String>,
    name: Option<String>,
    on_conflict: &str,
    quiet: bool,
) -> Result<()> {
    let body = json!({ "url": url, "parent": parent, "name": name, "on_conflict": on_conflict });
    let job = client
        .json(client.request(Method::POST, "/fetch").json(&body))
        .await?;
    let job = watch_job(client, &job, url, quiet).await?;
    let entry = &job["result"]["entry"];
    out.print(&job, |_| {
        format!("{}  {url}", entry["blob"].as_str().unwrap_or(""))
    });
    Ok(())
}

/// Lists a page of `folder` (default: the root).
async fn ls(
    client: &Client,
    out: &Out,
    folder: Option<String>,
    sort: String,
    desc: bool,
    offset: u64,
    limit: u32,
) -> Result<()> {
    let mut q = vec![
        ("sort", sort),
        ("order", if desc { "desc" } else { "asc" }.to_owned()),
        ("offset", offset.to_string()),
        ("limit", limit.to_string()),
    ];
    q.extend(folder.map(|f| ("parent", f)));
    let page = client
        .json(client.request(Method::GET, "/entries").query(&q))
        .await?;
    out.print(&page, |p| {
        let mut s = String::new();
        for e in p["entries"].as_array().into_iter().flatten() {
            s += &entry_line(e);
            s.push('\n');
        }
        let shown = p["entries"].as_array().map_or(0, Vec::len);
        s += &format!("({shown} of {} entries)", p["total"]);
        s
    });
    Ok(())
}

/// Shows an entry (by id) or a blob (by digest).
async fn info(client: &Client, out: &Out, id: &str) -> Result<()> {
    let v = if is_entry_id(id) {
        client.get(&format!("/entries/{id}")).await?
    } else {
        client.get(&format!("/blobs/{id}")).await?
    };
    out.print(&v, |v| serde_json::to_string_pretty(v).unwrap_or_default());
    Ok(())
}

async fn mkdir(client: &Client, out: &Out, name: &str, parent: Option<String>) -> Result<()> {
    let v = client
        .json(
            client
                .request(Method::POST, "/folders")
                .json(&json!({ "name": name, "parent": parent })),
        )
        .await?;
    out.print(&v, |v| v["id"].as_str().unwrap_or("").to_owned());
    Ok(())
}

/// Renames (`name`) and/or moves (`to`, "root" for the root) an entry.
async fn mv(
    client: &Client,
    out: &Out,
    id: &str,
    name: Option<String>,
    to: Option<String>,
) -> Result<()> {
    let mut body = serde_json::Map::new();
    if let Some(n) = name {
        body.insert("name".into(), json!(n));
    }
    if let Some(t) = to {
        body.insert(
            "parent".into(),
            if t == "root" { Value::Null } else { json!(t) },
        );
    }
    if body.is_empty() {
        bail!("give --name and/or --to");
    }
    let v = client
        .json(
            client
                .request(Method::PATCH, &format!("/entries/{id}"))
                .json(&body),
        )
        .await?;
    out.print(&v, entry_line);
    Ok(())
}

async fn rm(client: &Client, out: &Out, id: &str, recursive: bool) -> Result<()> {
    let v = client
        .json(
            client
                .request(Method::DELETE, &format!("/entries/{id}"))
                .query(&[("recursive", recursive)]),
        )
        .await?;
    out.print(&v, |v| {
        format!("deleted {}", v["deleted"].as_str().unwrap_or(""))
    });
    Ok(())
}

/// Starts an export job (`body` as the API takes it) and prints the path
/// written, or the job when it runs on.
async fn export(client: &Client, out: &Out, call: &str, body: Value) -> Result<()> {
    let job = client
        .json(client.request(Method::POST, call).json(&body))
        .await?;
    match job["state"].as_str() {
        Some("running") => out.print(&job, |j| format!("job {}", j["id"].as_str().unwrap_or(""))),
        Some("done") => out.print(&job, |j| {
            j["result"]["path"].as_str().unwrap_or("").to_owned()
        }),
        _ => anyhow::bail!(
            "export {}: {}",
            job["state"].as_str().unwrap_or("?"),
            job["error"].as_str().unwrap_or("no reason given")
        ),
    }
    Ok(())
}

async fn link(client: &Client, out: &Out, id: &str) -> Result<()> {
    let v = client
        .get(&format!("/blobs/{}/link", blob_digest(client, id).await?))
        .await?;
    out.print(&v, |v| v["link"].as_str().unwrap_or("").to_owned());
    Ok(())
}

/// The `torrent` subcommands.
/// A backup file's text, bounded.
fn read_backup(file: &Path) -> Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(file)
        .and_then(|f| {
            f.take(cairn_node::identity::MAX_BACKUP as u64 + 1)
                .read_to_string(&mut text)
        })
        .with_context(|| format!("cannot read {}", file.display()))?;
    Ok(text)
}

/// A message as `cairn msg` prints it.
fn message_line(m: &Value) -> String {
    let (arrow, who) = if m["outgoing"] == true {
        ("->", m["recipient"].as_str().unwrap_or(""))
    } else {
        ("<-", m["sender"].as_str().unwrap_or(""))
    };
    let state = if m["state"] == "queued" {
        " (queued)"
    } else {
        ""
    };
    format!("{arrow} {who}: {}{state}", m["body"].as_str().unwrap_or(""))
}

async fn msg(client: &Client, out: &Out, action: MsgAction) -> Result<()> {
    match action {
        MsgAction::Send { to, text } => {
            let req = client
                .request(Method::POST, "/messages")
                .json(&json!({ "to": to, "text": text }));
            let v = client.json(req).await?;
            out.print(&v, message_line);
        }
        MsgAction::Ls { with } => {
            let req = client
                .request(Method::GET, "/messages")
                .query(&[("limit", "1000")]);
            let req = match &with {
                Some(w) => req.query(&[("with", w)]),
                None => req,
            };
            let v = client.json(req).await?;
            out.print(&v, |v| lines(v, message_line));
        }
        MsgAction::Listen => {
            let mut after = client.get("/events/poll?wait=0&limit=1").await?["next"]
                .as_u64()
                .unwrap_or(0);
            loop {
                let v = client
                    .get(&format!("/events/poll?after={after}&wait=30&limit=100"))
                    .await?;
                after = v["next"].as_u64().unwrap_or(after);
                for e in v["events"].as_array().into_iter().flatten() {
                    if e["type"] == "message" {
                        out.print(&e["message"], message_line);
                    } else if e["type"] == "shutdown" {
                        return Ok(());
                    }
                }
            }
        }
    }
    Ok(())
}

async fn share(client: &Client, out: &Out, action: ShareAction) -> Result<()> {
    let line = |s: &Value| {
        format!(
            "{}  {:<5} {:<24} {}",
            s["id"].as_str().unwrap_or(""),
            if s["mine"] == true { "mine" } else { "given" },
            s["label"].as_str().unwrap_or(""),
            if s["mine"] == true {
                format!("{} member(s)", s["members"].as_array().map_or(0, Vec::len))
            } else {
                format!("from {}", s["owner"].as_str().unwrap_or(""))
            }
        )
    };
    match action {
        ShareAction::Create { label, folder } => {
            let req = client
                .request(Method::POST, "/shares")
                .json(&json!({ "label": label, "folder": folder }));
            let v = client.json(req).await?;
            out.print(&v, line);
        }
        ShareAction::Ls => {
            let v = client.get("/shares").await?;
            out.print(&v, |v| lines(v, line));
        }
        ShareAction::Info { id } => {
            let v = client.get(&format!("/shares/{id}")).await?;
            out.print(&v, |v| {
                let files = lines(&v["files"], |f| {
                    format!(
                        "{:>12}  {}",
                        f["size"].as_u64().unwrap_or(0),
                        f["path"].as_str().unwrap_or("")
                    )
                });
                format!("{} (version {})\n{files}", line(&v["share"]), v["version"])
            });
        }
        ShareAction::Grant { id, to } => {
            let req = client
                .request(Method::POST, &format!("/shares/{id}/members"))
                .json(&json!({ "to": to }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                let when = if v["delivered"] == true {
                    "key handed over"
                } else {
                    "away: the key goes when it is back"
                };
                format!("granted to {} ({when})", v["peer"].as_str().unwrap_or(""))
            });
        }
        ShareAction::Revoke { id, who } => {
            client
                .send(client.request(Method::DELETE, &format!("/shares/{id}/members/{who}")))
                .await?;
            out.print(&json!({ "revoked": who }), |_| format!("revoked {who}"));
        }
        ShareAction::Rm { id } => {
            client
                .send(client.request(Method::DELETE, &format!("/shares/{id}")))
                .await?;
            out.print(&json!({ "deleted": id }), |_| format!("deleted {id}"));
        }
        ShareAction::Put { id, entry, path } => {
            let req = client
                .request(Method::POST, &format!("/shares/{id}/files"))
                .json(&json!({ "path": path, "entry": entry }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                format!(
                    "{} handed to the owner of {}",
                    v["path"].as_str().unwrap_or(""),
                    v["share"].as_str().unwrap_or("")
                )
            });
        }
        ShareAction::Export {
            id,
            file,
            to,
            path,
            background,
        } => {
            let body = json!({ "file": file, "folder": to, "path": path, "wait": !background });
            export(client, out, &format!("/shares/{id}/export"), body).await?;
        }
        ShareAction::Get {
            id,
            path,
            output,
            quiet: q,
        } => {
            let output = output
                .unwrap_or_else(|| PathBuf::from(path.rsplit('/').next().unwrap_or("share-file")));
            let req = client
                .request(Method::GET, &format!("/shares/{id}/content"))
                .query(&[("path", path.as_str())]);
            save(client, out, req, &path, &output, q || out.json).await?;
        }
    }
    Ok(())
}

async fn group(client: &Client, out: &Out, action: GroupAction) -> Result<()> {
    let line = |g: &Value| {
        format!(
            "{}  {:<5} {:<24} {} member(s){}",
            g["id"].as_str().unwrap_or(""),
            if g["mine"] == true { "mine" } else { "in" },
            g["label"].as_str().unwrap_or(""),
            g["members"].as_array().map_or(0, Vec::len),
            if g["state"] == "left" { " (left)" } else { "" }
        )
    };
    let said = |m: &Value| {
        format!(
            "{} {}: {}",
            if m["outgoing"] == true { "->" } else { "<-" },
            m["sender"].as_str().unwrap_or(""),
            m["body"].as_str().unwrap_or("")
        )
    };
    match action {
        GroupAction::Create { label } => {
            let req = client
                .request(Method::POST, "/groups")
                .json(&json!({ "label": label }));
            let v = client.json(req).await?;
            out.print(&v, line);
        }
        GroupAction::Ls => {
            let v = client.get("/groups").await?;
            out.print(&v, |v| lines(v, line));
        }
        GroupAction::Info { id } => {
            let v = client.get(&format!("/groups/{id}")).await?;
            out.print(&v, |g| {
                let members = lines(&g["members"], |m| format!("  {}", m.as_str().unwrap_or("")));
                format!(
                    "{}\ncreator {} (key epoch {})\n{members}",
                    line(g),
                    g["creator"].as_str().unwrap_or(""),
                    g["epoch"]
                )
            });
        }
        GroupAction::Invite { id, who } => {
            let req = client
                .request(Method::POST, &format!("/groups/{id}/members"))
                .json(&json!({ "to": who }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                let when = if v["delivered"] == true {
                    "handed the group"
                } else {
                    "away: handed the group when it is back"
                };
                format!("invited {} ({when})", v["peer"].as_str().unwrap_or(""))
            });
        }
        GroupAction::Remove { id, who } => {
            client
                .send(client.request(Method::DELETE, &format!("/groups/{id}/members/{who}")))
                .await?;
            out.print(&json!({ "removed": who }), |_| format!("removed {who}"));
        }
        GroupAction::Send { id, text } => {
            let req = client
                .request(Method::POST, &format!("/groups/{id}/messages"))
                .json(&json!({ "text": text }));
            let v = client.json(req).await?;
            out.print(&v, said);
        }
        GroupAction::Msgs { id } => {
            let v = client
                .json(
                    client
                        .request(Method::GET, &format!("/groups/{id}/messages"))
                        .query(&[("limit", "1000")]),
                )
                .await?;
            out.print(&v, |v| lines(v, said));
        }
        GroupAction::Leave { id } => {
            client
                .send(client.request(Method::DELETE, &format!("/groups/{id}")))
                .await?;
            out.print(&json!({ "left": id }), |_| format!("left {id}"));
        }
    }
    Ok(())
}

async fn friend(client: &Client, out: &Out, action: FriendAction) -> Result<()> {
    let line = |f: &Value| {
        format!(
            "{:<20} {:<20} {}",
            f["alias"].as_str().unwrap_or(""),
            f["nickname"].as_str().unwrap_or("-"),
            f["peer"].as_str().unwrap_or("")
        )
    };
    match action {
        FriendAction::Add { who, alias } => {
            let req = client
                .request(Method::POST, "/friends")
                .json(&json!({ "who": who, "alias": alias }));
            let v = client.json(req).await?;
            out.print(&v, line);
        }
        FriendAction::Ls => {
            let v = client.get("/friends").await?;
            out.print(&v, |v| lines(v, line));
        }
        FriendAction::Rm { who } => {
            client
                .send(client.request(Method::DELETE, &format!("/friends/{who}")))
                .await?;
            out.print(&json!({ "forgotten": who }), |_| format!("forgot {who}"));
        }
    }
    Ok(())
}

async fn id(client: &Client, out: &Out, action: IdAction) -> Result<()> {
    match action {
        IdAction::Show => {
            let v = client.get("/identity").await?;
            out.print(&v, |v| {
                format!(
                    "peer      {}\nnickname  {}\nmaster    {}",
                    v["peer_id"].as_str().unwrap_or(""),
                    v["nickname"].as_str().unwrap_or("(none)"),
                    v["master_key"].as_str().unwrap_or("")
                )
            });
        }
        IdAction::Seen => {
            let v = client.get("/people").await?;
            out.print(&v, |v| {
                lines(v, |s| {
                    format!(
                        "{:<20} {}",
                        s["nickname"].as_str().unwrap_or("-"),
                        s["peer"].as_str().unwrap_or("")
                    )
                })
            });
        }
        IdAction::Unnick => {
            let v = client
                .json(client.request(Method::DELETE, "/identity/nickname"))
                .await?;
            out.print(&v, |v| {
                format!("{} has no nickname", v["peer_id"].as_str().unwrap_or(""))
            });
        }
        IdAction::Nick { name } => {
            let req = client
                .request(Method::PUT, "/identity/nickname")
                .json(&json!({ "nickname": name }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                format!(
                    "{} is {}",
                    v["peer_id"].as_str().unwrap_or(""),
                    v["nickname"].as_str().unwrap_or("")
                )
            });
        }
        IdAction::Backup { output } => {
            let text = client
                .send(client.request(Method::GET, "/identity/backup"))
                .await?
                .text()
                .await
                .context("cannot read the backup")?;
            match output {
                Some(path) => {
                    cairn_node::private::write_whole(&path, text.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    let v = json!({ "written": path });
                    out.print(&v, |_| {
                        format!(
                            "{} written: whoever holds it can be this node; keep it safe",
                            path.display()
                        )
                    });
                }
                None => print!("{text}"),
            }
        }
        IdAction::Catalog { now } => {
            let v = if now {
                client
                    .json(client.request(Method::POST, "/identity/catalog-backup"))
                    .await?
            } else {
                client.get("/identity/catalog-backup").await?
            };
            out.print(&v, |v| {
                if v["version"] == 0 {
                    return format!("no backup yet ({} changes pending)", v["pending"]);
                }
                format!(
                    "version {} in blob {} ({} changes since)",
                    v["version"],
                    v["blob"].as_str().unwrap_or(""),
                    v["pending"]
                )
            });
        }
        IdAction::Recover { .. } => unreachable!("done before a node is asked"),
    }
    Ok(())
}

async fn key(client: &Client, out: &Out, action: KeyAction) -> Result<()> {
    let v = match action {
        KeyAction::Create { alias, size, label } => {
            let req = client
                .request(Method::POST, "/keys")
                .json(&json!({ "alias": alias, "size": size, "label": label }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                format!(
                    "{}\n{}",
                    v["public"].as_str().unwrap_or(""),
                    v["private"].as_str().unwrap_or("").trim_end()
                )
            });
            return Ok(());
        }
        KeyAction::Ls => {
            let v = client.get("/keys").await?;
            out.print(&v, |v| {
                lines(v, |k| {
                    format!(
                        "{:<20} {:>5}  {}{}",
                        k["alias"].as_str().unwrap_or(""),
                        k["size"],
                        k["label"].as_str().unwrap_or(""),
                        k["owner"]
                            .as_str()
                            .map(|o| format!("  (from {o})"))
                            .unwrap_or_default()
                    )
                })
            });
            return Ok(());
        }
        KeyAction::Get { alias, private } => {
            let v = client
                .get(&format!("/keys/{alias}?private={private}"))
                .await?;
            let field = if private { "private" } else { "public" };
            out.print(&v, |v| {
                v[field].as_str().unwrap_or("").trim_end().to_owned()
            });
            return Ok(());
        }
        KeyAction::Audit {
            alias,
            holder,
            private,
        } => {
            let req = client
                .request(Method::POST, &format!("/keys/{alias}/audit"))
                .json(&json!({ "holder": holder, "private": private }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                format!(
                    "{} {} the {} part of {}",
                    v["holder"].as_str().unwrap_or(""),
                    if v["holds"] == true {
                        "holds"
                    } else {
                        "does NOT show it holds"
                    },
                    v["part"].as_str().unwrap_or(""),
                    v["alias"].as_str().unwrap_or("")
                )
            });
            if v["holds"] != true {
                bail!("the audit failed: the holder did not prove it holds the key");
            }
            return Ok(());
        }
        KeyAction::Share { alias, to } => {
            let req = client
                .request(Method::POST, &format!("/keys/{alias}/share"))
                .json(&json!({ "to": to }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                format!(
                    "{} shared with {}",
                    v["alias"].as_str().unwrap_or(""),
                    v["to"].as_str().unwrap_or("")
                )
            });
            return Ok(());
        }
        KeyAction::Label { alias, label } => {
            let req = client
                .request(Method::PUT, &format!("/keys/{alias}/label"))
                .json(&json!({ "label": label }));
            client.json(req).await?
        }
        KeyAction::Rm { alias } => {
            client
                .send(client.request(Method::DELETE, &format!("/keys/{alias}")))
                .await?;
            json!({ "erased": alias })
        }
    };
    out.print(&v, |v| {
        v["alias"]
            .as_str()
            .map(|a| format!("{a}: {}", v["label"].as_str().unwrap_or("")))
            .unwrap_or_else(|| format!("erased {}", v["erased"].as_str().unwrap_or("")))
    });
    Ok(())
}

async fn torrent(client: &Client, out: &Out, action: TorrentAction) -> Result<()> {
    let v = match action {
        TorrentAction::Add {
            source,
            files,
            paused,
        } => add_torrent(client, &source, files, paused).await?,
        TorrentAction::Limit { hash, bps } => {
            let bps: Option<u64> = match bps.as_str() {
                "none" => None,
                n => Some(
                    n.parse()
                        .with_context(|| format!("'{n}': bytes per second, or none"))?,
                ),
            };
            let req = client
                .request(Method::PUT, &format!("/torrents/{hash}/limit"))
                .json(&json!({ "download_bps": bps }));
            client.json(req).await?
        }
        TorrentAction::Ls => {
            let v = client.get("/torrents").await?;
            out.print(&v, |v| lines(v, torrent_line));
            return Ok(());
        }
        TorrentAction::Info { hash } => client.get(&format!("/torrents/{hash}")).await?,
        TorrentAction::Pause { hash } => {
            let req = client.request(Method::POST, &format!("/torrents/{hash}/pause"));
            client.json(req).await?
        }
        TorrentAction::Resume { hash } => {
            let req = client.request(Method::POST, &format!("/torrents/{hash}/resume"));
            client.json(req).await?
        }
        TorrentAction::Rm { hash, delete_data } => {
            let path = format!("/torrents/{hash}?delete_data={delete_data}");
            client.send(client.request(Method::DELETE, &path)).await?;
            json!({ "removed": hash })
        }
    };
    out.print(&v, |v| {
        if v["info_hash"].is_string() {
            let files = lines(&v["files"], |f| {
                format!(
                    "{:>4}  {:>12}  {:>5.1}%  {}",
                    f["index"],
                    f["size"],
                    percent(f["done_bytes"].as_f64(), f["size"].as_f64()),
                    f["path"].as_str().unwrap_or("")
                )
            });
            format!("{}\n{files}", torrent_line(v))
                .trim_end()
                .to_owned()
        } else {
            v.to_string()
        }
    });
    Ok(())
}

/// Adds a magnet (or info hash) by JSON, a `.torrent` file by its bytes.
async fn add_torrent(
    client: &Client,
    source: &str,
    files: Option<Vec<usize>>,
    paused: bool,
) -> Result<Value> {
    // A URL is fetched here, by the user's machine: a link that redirects
    // to a magnet (as search engines' do) adds the magnet.
    let (source, bytes) = if source.starts_with("http://") || source.starts_with("https://") {
        match download_torrent(source).await? {
            Ok(bytes) => (source.to_owned(), Some(bytes)),
            Err(magnet) => (magnet, None),
        }
    } else {
        (source.to_owned(), None)
    };
    let is_magnet = source.starts_with("magnet:")
        || (source.len() == 40 && source.bytes().all(|b| b.is_ascii_hexdigit()));
    if is_magnet {
        let body = json!({ "magnet": source, "files": files, "paused": paused });
        return client
            .json(client.request(Method::POST, "/torrents").json(&body))
            .await;
    }
    let bytes = match bytes {
        Some(b) => b,
        None => tokio::fs::read(&source)
            .await
            .with_context(|| format!("cannot read {source}"))?,
    };
    let mut path = format!("/torrents/file?paused={paused}");
    if let Some(f) = files {
        let list: Vec<String> = f.iter().map(usize::to_string).collect();
        path.push_str(&format!("&files={}", list.join(",")));
    }
    let req = client
        .request(Method::POST, &path)
        .header("content-type", "application/x-bittorrent")
        .body(bytes);
    client.json(req).await
}

/// `<entry id>  <name>` of the file a job stored.
fn stored_line(job: &Value) -> String {
    let entry = &job["result"]["entry"];
    format!(
        "{}  {}",
        entry["id"].as_str().unwrap_or(""),
        entry["name"].as_str().unwrap_or("")
    )
}

/// The `.torrent` file at `url` (at most 64 MiB), or the magnet link it
/// redirects to.
async fn download_torrent(url: &str) -> Result<std::result::Result<Vec<u8>, String>> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()?;
    let mut url = reqwest::Url::parse(url).with_context(|| format!("'{url}' is not a URL"))?;
    for _ in 0..10 {
        let resp = http
            .get(url.clone())
            .send()
            .await
            .with_context(|| format!("cannot fetch {url}"))?;
        if resp.status().is_redirection() {
            let to = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .with_context(|| format!("{url} redirects nowhere"))?;
            if to.starts_with("magnet:") {
                return Ok(Err(to.to_owned()));
            }
            url = url.join(to)?;
            continue;
        }
        anyhow::ensure!(
            resp.status().is_success(),
            "{url} answered {}",
            resp.status()
        );
        let bytes = resp.bytes().await?;
        anyhow::ensure!(
            bytes.len() <= 64 << 20,
            "{url} is too large for a .torrent file"
        );
        return Ok(Ok(bytes.to_vec()));
    }
    anyhow::bail!("{url}: too many redirects")
}

/// `<hash>  <state>  <progress>  <name>`.
fn torrent_line(t: &Value) -> String {
    format!(
        "{}  {:<11}  {:>5.1}%  {}",
        t["info_hash"].as_str().unwrap_or(""),
        t["state"].as_str().unwrap_or(""),
        100.0 * t["progress"].as_f64().unwrap_or(0.0),
        t["name"].as_str().unwrap_or("")
    )
}

fn percent(done: Option<f64>, total: Option<f64>) -> f64 {
    match (done, total) {
        (Some(d), Some(t)) if t > 0.0 => 100.0 * d / t,
        _ => 0.0,
    }
}

/// Prints what a media file holds.
/// The media yt-dlp finds on a page; with `store`, stored (the job
/// followed).
async fn ytdl(
    client: &Client,
    out: &Out,
    url: &str,
    max_height: Option<u32>,
    store: bool,
    parent: Option<String>,
    quiet: bool,
) -> Result<()> {
    if store {
        let body = json!({ "url": url, "max_height": max_height, "parent": parent });
        let job = client
            .json(
                client
                    .request(Method::POST, "/media/remote/store")
                    .json(&body),
            )
            .await?;
        let job = watch_job(client, &job, url, quiet).await?;
        out.print(&job, stored_line);
        return Ok(());
    }
    let body = json!({ "url": url, "max_height": max_height });
    let v = client
        .json(client.request(Method::POST, "/media/remote").json(&body))
        .await?;
    out.print(&v, |v| {
        format!(
            "{}\n{}",
            v["title"].as_str().unwrap_or(""),
            v["url"].as_str().unwrap_or("")
        )
    });
    Ok(())
}

async fn probe(client: &Client, out: &Out, id: &str) -> Result<()> {
    let v = client.get(&format!("/media/{id}/probe")).await?;
    out.print(&v, |v| {
        let mut text = format!(
            "{}  {:.3} s  {} key frames\n",
            v["container"].as_str().unwrap_or(""),
            v["duration"].as_f64().unwrap_or(0.0),
            v["keyframes"].as_array().map_or(0, Vec::len)
        );
        for s in v["streams"].as_array().into_iter().flatten() {
            text.push_str(&stream_line(s));
        }
        text.trim_end().to_owned()
    });
    Ok(())
}

/// One stream of a probe: `#1 audio aac fre 2ch default`.
fn stream_line(s: &Value) -> String {
    let mut parts = vec![
        format!("#{}", s["index"]),
        s["kind"].as_str().unwrap_or("").to_owned(),
        s["codec"].as_str().unwrap_or("").to_owned(),
    ];
    if let (Some(w), Some(h)) = (s["width"].as_u64(), s["height"].as_u64()) {
        parts.push(format!("{w}x{h}"));
    }
    if let Some(c) = s["channels"].as_u64() {
        parts.push(format!("{c}ch"));
    }
    for key in ["language", "title"] {
        if let Some(t) = s[key].as_str() {
            parts.push(t.to_owned());
        }
    }
    if s["default"] == true {
        parts.push("default".into());
    }
    format!("{}\n", parts.join(" "))
}

/// Prints the URL a player plays the file from.
async fn play(
    client: &Client,
    out: &Out,
    id: &str,
    quality: Option<String>,
    how: &str,
) -> Result<()> {
    let query = quality.map(|q| format!("?quality={q}")).unwrap_or_default();
    let mut v = client.get(&format!("/media/{id}/play{query}")).await?;
    let direct = v["treatment"] == "direct";
    let path = match how {
        "auto" if direct => "content",
        "auto" | "hls" => "master",
        "stream" => "stream",
        "file" => "content",
        other => bail!("--as {other}: give auto, hls, stream or file"),
    };
    let url = client.player_url(v[path].as_str().unwrap_or(""));
    v["url"] = Value::String(url.clone());
    out.print(&v, |_| url.clone());
    Ok(())
}

/// Places a blob on suppliers and waits for it; then, if asked and it
/// was placed, drops the local copy.
async fn place(client: &Client, out: &Out, id: &str, drop_local: bool) -> Result<()> {
    let req = client
        .request(Method::POST, &format!("/blobs/{id}/place"))
        .query(&[("wait", "true")]);
    let v = client.json(req).await?;
    ensure_ok(&v)?;
    if v["state"] != "done" {
        bail!(
            "placement {}: {}",
            v["state"].as_str().unwrap_or("failed"),
            v["error"].as_str().unwrap_or("")
        );
    }
    out.print(&v, |v| placement_line(&v["result"]));
    if drop_local && v["result"]["placed"] == true {
        let v = client
            .json(client.request(Method::POST, &format!("/blobs/{id}/drop-local")))
            .await?;
        out.print(&v, |v| {
            format!("local copy removed: {} bytes freed", v["freed"])
        });
    }
    Ok(())
}

/// A placement's result, as `place` prints it.
fn placement_line(r: &Value) -> String {
    if r["placed"] == true {
        format!(
            "placed {} on {}",
            r["coding"].as_str().unwrap_or(""),
            r["suppliers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" ")
        )
    } else {
        format!("not placed: {}", r["reason"].as_str().unwrap_or(""))
    }
}

async fn jobs(client: &Client, out: &Out, limit: usize) -> Result<()> {
    let v = client
        .json(
            client
                .request(Method::GET, "/jobs")
                .query(&[("limit", limit)]),
        )
        .await?;
    out.print(&v, |v| lines(v, job_line));
    Ok(())
}

async fn cancel(client: &Client, out: &Out, id: &str) -> Result<()> {
    let v = client
        .json(client.request(Method::POST, &format!("/jobs/{id}/cancel")))
        .await?;
    out.print(&v, |v| {
        format!("cancelling {}", v["id"].as_str().unwrap_or(""))
    });
    Ok(())
}

/// Asks the node to shut down.
async fn stop(client: &Client, out: &Out) -> Result<()> {
    let v = client
        .json(client.request(Method::POST, "/node/shutdown"))
        .await?;
    out.print(&v, |_| "stopping".to_owned());
    Ok(())
}

/// One line per item of the array `list` (none when it is not one).
fn lines(list: &Value, line: impl Fn(&Value) -> String) -> String {
    list.as_array()
        .into_iter()
        .flatten()
        .map(line)
        .collect::<Vec<_>>()
        .join("\n")
}

struct Out {
    json: bool,
}

impl Out {
    fn print(&self, v: &Value, text: impl FnOnce(&Value) -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            println!("{}", text(v));
        }
    }
}

fn is_entry_id(s: &str) -> bool {
    s.parse::<cairn_core::EntryId>().is_ok()
}

fn entry_line(e: &Value) -> String {
    let kind = if e["kind"] == "folder" {
        "dir "
    } else {
        "file"
    };
    format!(
        "{}  {kind}  {:>12}  {}",
        e["id"].as_str().unwrap_or(""),
        e["size"].as_u64().unwrap_or(0),
        e["name"].as_str().unwrap_or("")
    )
}

fn job_line(j: &Value) -> String {
    let total = j["total"]
        .as_u64()
        .map(|t| t.to_string())
        .unwrap_or_else(|| "?".into());
    format!(
        "{}  {:<8} {:<9} {}/{}  {}{}",
        j["id"].as_str().unwrap_or(""),
        j["kind"].as_str().unwrap_or(""),
        j["state"].as_str().unwrap_or(""),
        j["done"],
        total,
        j["label"].as_str().unwrap_or(""),
        j["error"]
            .as_str()
            .map(|e| format!("  ({e})"))
            .unwrap_or_default()
    )
}

async fn status(client: &Client, out: &Out) -> Result<()> {
    let v = client.get("/status").await?;
    out.print(&v, |v| {
        format!(
            "cairn {} node {}\nup {} s, data dir {}\nstorage {} of {} bytes\n{} files, {} folders, {} blobs; {} jobs running",
            v["version"].as_str().unwrap_or(""),
            v["node_id"].as_str().unwrap_or(""),
            v["uptime_secs"],
            v["data_dir"].as_str().unwrap_or(""),
            v["storage_used"],
            v["storage_capacity"],
            v["counts"]["files"],
            v["counts"]["folders"],
            v["counts"]["blobs"],
            v["jobs_running"]
        )
    });
    Ok(())
}

fn bar(total: Option<u64>, label: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total.unwrap_or(0));
    let style = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(label.to_owned());
    pb
}

/// Imports each path by its local path (fast: the node reads the file
/// itself); a file outside the node's import roots is streamed over HTTP.
async fn upload(
    client: &Client,
    out: &Out,
    paths: &[PathBuf],
    parent: Option<String>,
    on_conflict: &str,
    quiet: bool,
) -> Result<ExitCode> {
    let mut failed = 0;
    let mut all = Vec::new();
    for path in paths {
        let abs =
            std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))?;
        let body = json!({ "path": abs, "parent": parent, "on_conflict": on_conflict });
        let files = match client
            .json(client.request(Method::POST, "/import").json(&body))
            .await
        {
            Ok(job) => follow_job(client, &job, &abs, quiet).await?,
            Err(e) if code_of(&e) == Some("path_not_allowed") && abs.is_file() => {
                stream_file(client, &abs, parent.as_deref(), on_conflict, quiet).await?
            }
            Err(e) => {
                eprintln!("cairn: {}: {e:#}", path.display());
                failed += 1;
                continue;
            }
        };
        for f in files {
            match f["blob"].as_str() {
                Some(blob) if !out.json => println!("{blob}  {}", f["path"].as_str().unwrap_or("")),
                Some(_) => {}
                None => {
                    failed += 1;
                    eprintln!(
                        "cairn: {}: {}",
                        f["path"].as_str().unwrap_or(""),
                        f["error"].as_str().unwrap_or("failed")
                    );
                }
            }
            all.push(f);
        }
    }
    if out.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Polls an import job, drawing its progress, and returns its files.
async fn follow_job(client: &Client, job: &Value, path: &Path, quiet: bool) -> Result<Vec<Value>> {
    let job = watch_job(client, job, &path.display().to_string(), quiet).await?;
    Ok(job["result"]["files"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Polls a job until it ends, drawing its progress; an error unless done.
async fn watch_job(client: &Client, job: &Value, label: &str, quiet: bool) -> Result<Value> {
    let id = job["id"].as_str().context("the node answered no job id")?;
    let pb = bar(job["total"].as_u64(), label, quiet);
    let job = loop {
        let job = client.get(&format!("/jobs/{id}")).await?;
        if let Some(total) = job["total"].as_u64() {
            pb.set_length(total);
        }
        pb.set_position(job["done"].as_u64().unwrap_or(0));
        if job["state"] != "running" {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    pb.finish_and_clear();
    if job["state"] != "done" {
        bail!(
            "{label}: {} ({})",
            job["state"].as_str().unwrap_or("failed"),
            job["error"].as_str().unwrap_or("")
        );
    }
    Ok(job)
}

async fn stream_file(
    client: &Client,
    path: &Path,
    parent: Option<&str>,
    on_conflict: &str,
    quiet: bool,
) -> Result<Vec<Value>> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot read {}", path.display()))?;
    let size = file.metadata().await?.len();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload".into());
    let pb = bar(Some(size), &name, quiet);
    let progress = pb.clone();
    let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).inspect(move |chunk| {
        if let Ok(c) = chunk {
            progress.inc(c.len() as u64);
        }
    });
    let mut q = vec![("name", name), ("on_conflict", on_conflict.to_owned())];
    q.extend(parent.map(|p| ("parent", p.to_owned())));
    let req = client
        .request(Method::POST, "/upload")
        .query(&q)
        .header("content-length", size)
        .body(reqwest::Body::wrap_stream(stream));
    let v = client.json(req).await?;
    pb.finish_and_clear();
    let entry = &v["entries"][0];
    Ok(vec![
        json!({ "path": path, "blob": entry["blob"], "entry": entry }),
    ])
}

async fn download(client: &Client, out: &Out, id: &str, output: &Path, quiet: bool) -> Result<()> {
    let path = if is_entry_id(id) {
        format!("/entries/{id}/content")
    } else {
        format!("/blobs/{id}/content")
    };
    save(
        client,
        out,
        client.request(Method::GET, &path),
        id,
        output,
        quiet,
    )
    .await
}

/// Writes what `req` answers to `output` (whole, or nothing: through a
/// temporary file beside it), or to standard output for "-". An output
/// that exists and is not a regular file (`/dev/null`, a pipe) is written
/// to directly: renaming a file over it would replace the device.
async fn save(
    client: &Client,
    out: &Out,
    req: reqwest::RequestBuilder,
    id: &str,
    output: &Path,
    quiet: bool,
) -> Result<()> {
    let resp = client.send(req).await?;
    let total = resp.content_length();
    let pb = bar(total, id, quiet || output == Path::new("-"));
    let mut stream = resp.bytes_stream();
    if output == Path::new("-") {
        let mut stdout = tokio::io::stdout();
        while let Some(chunk) = stream.next().await {
            stdout
                .write_all(&chunk.context("the download was cut off")?)
                .await?;
        }
        stdout.flush().await?;
        return Ok(());
    }
    let special = std::fs::metadata(output).is_ok_and(|m| !m.is_file() && !m.is_dir());
    if special {
        let mut sink = tokio::fs::OpenOptions::new()
            .write(true)
            .open(output)
            .await
            .with_context(|| format!("cannot write {}", output.display()))?;
        let mut written = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.context("the download was cut off")?;
            sink.write_all(&chunk).await?;
            written += chunk.len() as u64;
            pb.set_position(written);
        }
        sink.flush().await?;
        pb.finish_and_clear();
        out.print(&json!({ "path": output, "bytes": written }), |_| {
            format!("{written} bytes  {}", output.display())
        });
        return Ok(());
    }
    let tmp = output.with_file_name(format!(
        ".{}.cairn-part",
        output
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let mut file = tokio::fs::File::create(&tmp)
        .await
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                bail!("the download was cut off: {e}");
            }
        };
        file.write_all(&chunk).await?;
        written += chunk.len() as u64;
        pb.set_position(written);
    }
    file.sync_all().await?;
    drop(file);
    if total.is_some_and(|t| t != written) {
        let _ = tokio::fs::remove_file(&tmp).await;
        bail!(
            "the download ended after {written} of {} bytes",
            total.unwrap_or(0)
        );
    }
    tokio::fs::rename(&tmp, output)
        .await
        .with_context(|| format!("cannot write {}", output.display()))?;
    pb.finish_and_clear();
    out.print(&json!({ "path": output, "bytes": written }), |_| {
        format!("{written} bytes  {}", output.display())
    });
    Ok(())
}

async fn meta(client: &Client, out: &Out, action: MetaAction) -> Result<()> {
    let v = match action {
        MetaAction::Get { id } => client.get(&format!("/entries/{id}/metadata")).await?,
        MetaAction::Set { id, pairs } => {
            let mut body = serde_json::Map::new();
            for pair in pairs {
                let Some((k, v)) = pair.split_once('=') else {
                    bail!("'{pair}' is not key=value");
                };
                body.insert(
                    k.to_owned(),
                    if v.is_empty() { Value::Null } else { json!(v) },
                );
            }
            client
                .json(
                    client
                        .request(Method::PATCH, &format!("/entries/{id}/metadata"))
                        .json(&body),
                )
                .await?
        }
    };
    ensure_ok(&v)?;
    out.print(&v, |v| {
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(())
}

async fn account(client: &Client, out: &Out, action: AccountAction) -> Result<()> {
    match action {
        AccountAction::Create {
            login,
            email,
            storage_limit,
            traffic_limit,
            password,
        } => {
            let body = json!({
                "login": login, "email": email,
                "storage_limit": storage_limit, "traffic_limit": traffic_limit,
                "password": password,
            });
            let v = client
                .json(client.request(Method::POST, "/accounts").json(&body))
                .await?;
            out.print(&v, |v| {
                format!(
                    "{}  {}",
                    v["login"].as_str().unwrap_or(""),
                    v["key"].as_str().unwrap_or("")
                )
            });
        }
        AccountAction::Password {
            login,
            password,
            none: _,
        } => {
            let path = format!("/accounts/{}/password", login);
            let body = json!({ "password": password });
            let v = client
                .json(client.request(Method::PUT, &path).json(&body))
                .await?;
            out.print(&v, |v| v["login"].as_str().unwrap_or("").to_owned());
        }
        AccountAction::S3Key { login, rotate } => {
            let path = match &login {
                Some(login) => format!("/accounts/{login}/access-key"),
                None => "/node/access-key".to_owned(),
            };
            let req = client
                .request(Method::POST, &path)
                .json(&json!({ "rotate": rotate }));
            let v = client.json(req).await?;
            out.print(&v, |v| {
                format!(
                    "{}  {}",
                    v["access_key_id"].as_str().unwrap_or(""),
                    v["secret_access_key"].as_str().unwrap_or("")
                )
            });
        }
        AccountAction::List => {
            let v = client.get("/accounts").await?;
            out.print(&v, |v| lines(&v["accounts"], account_line));
        }
        AccountAction::Show { login } => {
            let v = client.get(&format!("/accounts/{}", login)).await?;
            out.print(&v, account_line);
        }
        AccountAction::Limits {
            login,
            storage,
            traffic,
        } => {
            let body = limits_body(storage, traffic)?;
            let req = client
                .request(Method::PATCH, &format!("/accounts/{}", login))
                .json(&body);
            let v = client.json(req).await?;
            out.print(&v, account_line);
        }
        AccountAction::Deposit {
            login,
            amount,
            unit,
        } => {
            let req = client
                .request(Method::POST, &format!("/accounts/{}/deposit", login))
                .json(&json!({ "unit": unit, "amount": amount }));
            let v = client.json(req).await?;
            out.print(&v, account_line);
        }
    }
    Ok(())
}

/// An account, its usage and balances, on one line.
fn account_line(v: &Value) -> String {
    let limit = |k: &str| {
        v[k].as_u64()
            .map_or("unlimited".to_owned(), |n| n.to_string())
    };
    format!(
        "{}  storage {}/{}  traffic 24h {}/{}  credits {}  bytes {}",
        v["login"].as_str().unwrap_or(""),
        v["storage_used"],
        limit("storage_limit"),
        v["traffic_used_24h"],
        limit("traffic_limit"),
        v["credits"],
        v["bytes"]
    )
}

/// The limits `cairn account limits` changes: a number of bytes each, or
/// "none" to lift one; a limit not given is left as it is.
fn limits_body(
    storage: Option<String>,
    traffic: Option<String>,
) -> Result<serde_json::Map<String, Value>> {
    let mut body = serde_json::Map::new();
    for (key, value) in [("storage_limit", storage), ("traffic_limit", traffic)] {
        match value.as_deref() {
            None => {}
            Some("none") => {
                body.insert(key.into(), Value::Null);
            }
            Some(n) => {
                let n: u64 = n.parse().map_err(|_| {
                    anyhow::anyhow!("{key} must be a number of bytes or \"none\", not '{n}'")
                })?;
                body.insert(key.into(), json!(n));
            }
        }
    }
    Ok(body)
}

/// The blob digest of an entry id or digest.
async fn blob_digest(client: &Client, id: &str) -> Result<String> {
    if id.len() == 11 {
        let v = client.get(&format!("/entries/{id}")).await?;
        if let Some(blob) = v["blob"].as_str() {
            return Ok(blob.to_owned());
        }
    }
    Ok(id.to_owned())
}

async fn net(client: &Client, out: &Out, action: NetAction) -> Result<()> {
    match action {
        NetAction::Status => {
            let v = client.get("/network").await?;
            out.print(&v, network_text);
        }
        NetAction::Peers => {
            let v = client.get("/network/peers").await?;
            out.print(&v, |v| lines(&v["peers"], peer_line));
        }
        NetAction::Customers => {
            let v = client.get("/network/customers").await?;
            out.print(&v, |v| lines(&v["customers"], customer_line));
        }
        NetAction::Connections => traffic::connections(client, out).await?,
        NetAction::Traffic => traffic::traffic(client, out).await?,
        NetAction::Records => traffic::records(client, out).await?,
        NetAction::Reconnect => traffic::reconnect(client, out).await?,
        NetAction::Ping { peer } => ping(client, out, &peer).await?,
        NetAction::Get { key } => dht_get(client, out, &key).await?,
        NetAction::Put { key, value } => dht_put(client, &key, value).await?,
        NetAction::Name { peer } => {
            let v = client.get(&format!("/network/name/{peer}")).await?;
            out.print(&v, |v| v["nickname"].as_str().unwrap_or("").to_owned());
        }
        NetAction::Nick { name } => {
            let v = client.get(&format!("/network/nick/{name}")).await?;
            out.print(&v, |v| v["peer"].as_str().unwrap_or("").to_owned());
        }
        NetAction::Repair => {
            let v = client.get("/network/repair").await?;
            out.print(&v, repair_line);
        }
        NetAction::Reject { owner } => reject(client, out, &owner).await?,
        NetAction::Supplier { position, peer } => supplier(client, out, position, peer).await?,
        NetAction::Find { peer } => {
            let v = client.get(&format!("/network/find/{peer}")).await?;
            out.print(&v, closest_text);
        }
    }
    Ok(())
}

/// `cairn net status` as text: one line per fact, listen address and
/// supplier.
fn network_text(v: &Value) -> String {
    let mut text = vec![
        format!("peer id    {}", v["peer_id"].as_str().unwrap_or("")),
        format!("nat        {}", v["nat"].as_str().unwrap_or("")),
        format!("peers      {}", v["peers"]),
        space_line(&v["space"]),
    ];
    for a in v["listen"].as_array().into_iter().flatten() {
        text.push(format!("listen     {}", a.as_str().unwrap_or("")));
    }
    text.push(lanes_line(&v["lanes"]));
    for s in v["suppliers"].as_array().into_iter().flatten() {
        text.push(format!(
            "supplier {} {} {}",
            s["position"],
            s["peer"].as_str().unwrap_or(""),
            if s["connected"] == true {
                "connected"
            } else {
                "offline"
            }
        ));
    }
    text.join("\n")
}

fn space_line(space: &Value) -> String {
    format!(
        "space      {} of {} bytes donated used by {} customers{}",
        space["used"],
        space["donated"],
        space["customers"],
        space["per_customer"]
            .as_u64()
            .map(|l| format!(", at most {l} each"))
            .unwrap_or_default()
    )
}

fn lanes_line(lanes: &Value) -> String {
    match lanes["port"].as_u64() {
        Some(port) => format!(
            "lanes      port {port}: {} opened, {} accepted, {} requests sent, {} served, {} over libp2p instead",
            lanes["opened"],
            lanes["accepted"],
            lanes["requests"],
            lanes["served"],
            lanes["fallbacks"]
        ),
        None => "lanes      off".into(),
    }
}

fn peer_line(p: &Value) -> String {
    format!(
        "{}  {}  {}",
        p["peer_id"].as_str().unwrap_or(""),
        p["agent"].as_str().unwrap_or("-"),
        p["rtt_ms"]
            .as_f64()
            .map_or("-".into(), |r| format!("{r:.1} ms"))
    )
}

fn customer_line(c: &Value) -> String {
    format!(
        "{}  {:<8}  {} of {} bytes, holds {} for us{}",
        c["owner"].as_str().unwrap_or(""),
        c["standing"].as_str().unwrap_or("?"),
        c["bytes"],
        c["allowance"],
        c["holds_for_us"],
        c["peer"]
            .as_str()
            .map(|p| format!("  {p}"))
            .unwrap_or_default()
    )
}

fn repair_line(v: &Value) -> String {
    format!(
        "{} blobs, {} positions: {} healthy, {} offline, {} damaged, {} repairs started",
        v["blobs"], v["positions"], v["healthy"], v["offline"], v["damaged"], v["repairs"]
    )
}

/// The peer ids of `cairn net find`, one a line.
fn closest_text(v: &Value) -> String {
    v["closest"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

async fn ping(client: &Client, out: &Out, peer: &str) -> Result<()> {
    let v = client
        .json(client.request(Method::POST, &format!("/network/ping/{peer}")))
        .await?;
    out.print(&v, |v| {
        format!("{:.2} ms", v["rtt_ms"].as_f64().unwrap_or(0.0))
    });
    Ok(())
}

/// Prints the DHT value under `key`, as text.
async fn dht_get(client: &Client, out: &Out, key: &str) -> Result<()> {
    let resp = client
        .send(client.request(Method::GET, &format!("/network/dht/{key}")))
        .await?;
    let bytes = resp.bytes().await?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    out.print(&json!({ "key": key, "value": text }), |v| {
        v["value"].as_str().unwrap_or("").to_owned()
    });
    Ok(())
}

/// Stores `value` under `key` in the DHT; prints nothing.
async fn dht_put(client: &Client, key: &str, value: String) -> Result<()> {
    client
        .send(
            client
                .request(Method::PUT, &format!("/network/dht/{key}"))
                .body(value),
        )
        .await?;
    Ok(())
}

/// Rejects a customer: its shards here are deleted.
async fn reject(client: &Client, out: &Out, owner: &str) -> Result<()> {
    let v = client
        .json(client.request(Method::POST, &format!("/network/customers/{owner}/reject")))
        .await?;
    out.print(&v, |v| format!("rejected; {} bytes freed", v["freed"]));
    Ok(())
}

/// Changes the supplier at `position` (to `peer`, or a connected spare).
async fn supplier(client: &Client, out: &Out, position: u8, peer: Option<String>) -> Result<()> {
    let req = client
        .request(Method::POST, &format!("/network/suppliers/{position}"))
        .json(&json!({ "peer": peer }));
    let v = client.json(req).await?;
    out.print(&v, |v| {
        format!(
            "position {}: {} shard files rebuilt",
            v["position"],
            v["jobs"].as_array().map_or(0, Vec::len)
        )
    });
    Ok(())
}
